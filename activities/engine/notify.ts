/**
 * notify: one webhook message per state change of a cut-over (Slack-compatible
 * `{"text": ...}` plus structured fields), and the run's metric samples for
 * this worker's Prometheus endpoint.
 *
 * The webhook URL comes from the worker's environment (CUTOVER_WEBHOOK_URL):
 * a Slack URL is a credential, so it never enters the plan, the workflow input
 * or history, and no error message here quotes it.
 */
import { ApplicationFailure, Context } from '@temporalio/activity';
import type { NotificationEvent } from '../../domain/engine/run.js';
import type { CutoverMetrics, MetricSamples } from './metrics.js';

export interface NotificationMessage {
  /** `<workflowId>/<runId>/<event>/<seq>`: sent unchanged by every retry. */
  key: string;
  event: NotificationEvent;
  seq: number;
  workflowId: string;
  runId: string;
  /** The sentence a person reads in the channel. */
  text: string;
  fields: Record<string, string | number | boolean | string[] | null>;
  metrics: MetricSamples;
}

/** delivered: the receiver answered 2xx. skipped: this worker has no webhook configured. */
export type NotifyOutcome = 'delivered' | 'skipped';

export interface NotifyOptions {
  webhookUrl?: string | undefined;
  metrics?: CutoverMetrics | undefined;
  /** Per attempt; the workflow's retry policy bounds the whole. */
  timeoutMs?: number;
}

/** Keys whose samples this process has recorded: a retry of the same message must not count twice. */
const RECORDED_KEYS_KEPT = 10_000;

function attempt(): number {
  try {
    return Context.current().info.attempt;
  } catch {
    // Called outside an activity (a unit test): a first attempt.
    return 1;
  }
}

/** Why a POST failed, without the URL (which may embed a token). */
function failureReason(err: unknown): string {
  const cause = (err as { cause?: { code?: unknown } } | null)?.cause;
  if (cause && typeof cause.code === 'string') return cause.code;
  if (err instanceof Error && err.name === 'TimeoutError') return 'timed out';
  return err instanceof Error ? err.name : 'unknown error';
}

export function notifyActivities({ webhookUrl, metrics, timeoutMs = 10_000 }: NotifyOptions = {}) {
  const recorded = new Set<string>();
  return {
    async notify(message: NotificationMessage): Promise<NotifyOutcome> {
      if (metrics && !recorded.has(message.key)) {
        recorded.add(message.key);
        if (recorded.size > RECORDED_KEYS_KEPT) {
          const oldest = recorded.values().next();
          if (!oldest.done) recorded.delete(oldest.value);
        }
        metrics.record(message.metrics);
      }
      if (!webhookUrl) return 'skipped';

      const body = {
        text: message.text,
        idempotencyKey: message.key,
        event: message.event,
        seq: message.seq,
        workflowId: message.workflowId,
        runId: message.runId,
        attempt: attempt(),
        fields: message.fields,
      };
      let res: Response;
      try {
        res = await fetch(webhookUrl, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'idempotency-key': message.key },
          body: JSON.stringify(body),
          signal: AbortSignal.timeout(timeoutMs),
        });
      } catch (err) {
        throw ApplicationFailure.retryable(
          `webhook unreachable (${failureReason(err)})`,
          'WebhookUnavailable',
        );
      }
      await res.body?.cancel();
      if (res.ok) return 'delivered';
      // 4xx other than timeout/rate limit: the URL or payload is wrong, and retrying sends the same.
      const permanent = res.status >= 400 && res.status < 500 && res.status !== 408 && res.status !== 429;
      throw ApplicationFailure.create({
        type: permanent ? 'WebhookRejected' : 'WebhookUnavailable',
        message: `webhook answered HTTP ${res.status}`,
        nonRetryable: permanent,
      });
    },
  };
}
