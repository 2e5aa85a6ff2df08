/**
 * Activity options every runbook's steps are built from. Reads and checks
 * retry transient faults; a red gate is evidence, not an error, so it is never
 * retried; faults retrying cannot fix are non-retryable by type.
 */
import { proxyActivities, type ActivityOptions } from '@temporalio/workflow';
import type { NotifyOutcome, NotificationMessage } from '../../activities/engine/notify.js';
import { NON_RETRYABLE_TYPES } from '../../domain/failure-types.js';

/** A worker that dies mid-step is noticed within this window, whatever the step's own timeout. */
export const HEARTBEAT = '20s';

export const retry = (maximumAttempts: number): ActivityOptions['retry'] => ({
  initialInterval: '1s',
  backoffCoefficient: 2,
  maximumInterval: '30s',
  maximumAttempts,
  nonRetryableErrorTypes: [...NON_RETRYABLE_TYPES],
});

// Every activity heartbeats while it runs (activities/engine/timing.ts): a dead worker is noticed in 20 s.
export const QUICK = {
  startToCloseTimeout: '2m',
  heartbeatTimeout: HEARTBEAT,
  retry: retry(5),
} satisfies ActivityOptions;
export const READS = {
  startToCloseTimeout: '10m',
  heartbeatTimeout: HEARTBEAT,
  retry: retry(5),
} satisfies ActivityOptions;
/** Compensation must not give up easily: after these attempts the run waits for an operator. */
export const COMPENSATING = {
  heartbeatTimeout: HEARTBEAT,
  retry: retry(8),
} satisfies Partial<ActivityOptions>;

/**
 * One activity of a runbook as a typed function, with the summary the Web UI shows for it. `A` is the
 * runbook's activity interface, so a step can only name an activity that runbook registers.
 */
export function proxyStep<A extends object, K extends keyof A & string>(
  name: K,
  summary: string,
  options: ActivityOptions,
): A[K] {
  return (proxyActivities<Record<K, A[K]>>({ ...options, summary }) as Record<K, A[K]>)[name];
}

/**
 * Webhook messages are best effort: a few quick attempts (about 8 s of backoff in all), then the workflow
 * records the failure and goes on. No heartbeat: one POST with its own 10 s timeout per attempt.
 */
export const notifyStep = proxyStep<
  { notify(message: NotificationMessage): Promise<NotifyOutcome> },
  'notify'
>('notify', 'Sends the webhook message for a change of state (NOTIFY).', {
  startToCloseTimeout: '30s',
  retry: {
    initialInterval: '500ms',
    backoffCoefficient: 2,
    maximumInterval: '5s',
    maximumAttempts: 5,
    nonRetryableErrorTypes: [...NON_RETRYABLE_TYPES, 'WebhookRejected'],
  },
});
