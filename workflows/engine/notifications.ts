/**
 * One webhook message per state change (approval requested, approved,
 * verification failed, needs operator, and every final outcome), sent by the
 * notify activity, which also records the run's metric samples on the worker.
 *
 * Messages never hold up a decision: each is queued behind the previous one
 * (so a channel reads them in order) and the runbook carries on at once; the
 * workflow only waits for the queue before it closes, so the final message is
 * sent by a live run. A message whose attempts all fail is recorded as failed
 * in the status and changes nothing else.
 */
import { CancellationScope, workflowInfo } from '@temporalio/workflow';
import type { CompensationOutcome, MetricSamples } from '../../activities/engine/metrics.js';
import type { NotificationMessage } from '../../activities/engine/notify.js';
import type { GateVerdict } from '../../domain/engine/evidence.js';
import type {
  ApprovalRequest,
  CompensationState,
  NotificationEvent,
  NotificationRecord,
  Outcome,
  RunResult,
  StepRecord,
} from '../../domain/engine/run.js';
import { describeError } from './errors.js';
import type { Run, RunNotifier } from './run.js';
import { notifyStep } from './steps.js';

/** The patch id guarding the notify calls, so that runs recorded before them replay unchanged. */
export const NOTIFICATIONS_PATCH = 'notifications-v1';

type Fields = NotificationMessage['fields'];

const OUTCOME_EVENTS: Record<Outcome, NotificationEvent> = {
  DONE: 'done',
  PLANNED: 'planned',
  STOPPED: 'stopped',
  REJECTED: 'rejected',
  TIMED_OUT: 'timed-out',
  CANCELLED: 'cancelled',
  ROLLED_BACK: 'rolled-back',
  OPERATOR_TOOK_OVER: 'operator-took-over',
  ASSESSED: 'assessed',
};

const COMPENSATION_OUTCOMES: Partial<Record<Outcome, CompensationOutcome>> = {
  ROLLED_BACK: 'rolled_back',
  OPERATOR_TOOK_OVER: 'operator_took_over',
};

/** Both stamps come from the same worker's clock, so their difference holds across workers. */
function stepSeconds(s: StepRecord): number {
  if (!s.startedAt || !s.finishedAt) return 0;
  return Math.max(0, (Date.parse(s.finishedAt) - Date.parse(s.startedAt)) / 1000);
}

export class Notifications implements RunNotifier {
  readonly records: NotificationRecord[] = [];
  private queue: Promise<void> = Promise.resolve();
  private stepsReported = 0;
  private offloadedReported = 0;

  constructor(private readonly run: Run) {}

  approvalRequested(request: ApprovalRequest): void {
    const id = workflowInfo().workflowId;
    const approve = `npx cutover approve ${id} --operator <you> --reason "<why>" --digest ${request.planDigest}`;
    this.send(
      'approval-requested',
      `approval requested from ${request.approvers.join(' or ')} until ${request.deadline} (digest ${request.planDigest}). To approve: ${approve}`,
      {
        planDigest: request.planDigest,
        approvers: request.approvers,
        deadline: request.deadline,
        approveCommand: approve,
        rejectCommand: `npx cutover reject ${id} --operator <you> --reason "<why>" --digest ${request.planDigest}`,
        review: request.review,
      },
    );
  }

  approved(): void {
    const d = this.run.decision;
    this.send('approved', `approved by ${d?.operator} (${d?.reason}); applying the change`, {
      operator: d?.operator ?? null,
      reason: d?.reason ?? null,
      via: d?.via ?? null,
    });
  }

  verificationFailed(stage: string, gate: GateVerdict): void {
    this.send(
      'verification-failed',
      `VERIFY red for ${stage}: ${gate.reasons.join('; ')}; starting the kill-switch`,
      { stage, reasons: gate.reasons },
    );
  }

  needsOperator(state: CompensationState): void {
    const reverted = state.undoRemaining.length === 0;
    this.send(
      'needs-operator',
      `compensation step "${state.failed?.step}" failed (${state.failed?.error}); production is ${reverted ? 'reverted but not healed' : 'STILL CHANGED'}. Left to do: ${state.remaining.join(', ')}. Send retryCompensation or acknowledge.`,
      {
        failedStep: state.failed?.step ?? null,
        error: state.failed?.error ?? null,
        remaining: state.remaining,
        productionChanged: !reverted,
      },
    );
  }

  /** The final outcome; a rejection and a roll-back are this message too. */
  finished(result: RunResult): void {
    const decision = this.run.decision;
    const trigger = this.run.compensation?.trigger;
    this.send(
      OUTCOME_EVENTS[result.outcome],
      `${result.outcome}: ${result.reason}`,
      {
        outcome: result.outcome,
        reason: result.reason,
        productionChanged: result.productionChanged,
        ...(result.outcome === 'REJECTED' ? { operator: decision?.operator ?? null } : {}),
        ...(trigger ? { triggerPhase: trigger.phase, triggerError: trigger.error } : {}),
      },
      { compensation: COMPENSATION_OUTCOMES[result.outcome] ?? null },
    );
  }

  /** Resolves once every queued message is delivered, skipped or given up on; never rejects. */
  settled(): Promise<void> {
    return this.queue;
  }

  private send(
    event: NotificationEvent,
    text: string,
    fields: Fields,
    final: { compensation: CompensationOutcome | null } | null = null,
  ): void {
    const { workflowId, runId } = workflowInfo();
    const seq = this.records.length + 1;
    const key = `${workflowId}/${runId}/${event}/${seq}`;
    const record: NotificationRecord = { seq, event, key, status: 'pending' };
    this.records.push(record);
    const message: NotificationMessage = {
      key,
      event,
      seq,
      workflowId,
      runId,
      text: `${this.run.meta.kind} ${workflowId} (plan ${this.run.plan.name}): ${text}`,
      fields: { plan: this.run.plan.name, target: this.run.target, ...fields },
      metrics: { ...this.samples(final !== null), compensation: final?.compensation ?? null },
    };
    // Non-cancellable: a cancelled run still announces how it ended.
    this.queue = this.queue.then(() =>
      CancellationScope.nonCancellable(() => notifyStep(message)).then(
        (outcome) => {
          record.status = outcome;
        },
        (err: unknown) => {
          record.status = 'failed';
          record.error = describeError(err);
        },
      ),
    );
  }

  /**
   * Durations of the phases that ended since the previous message: consecutive steps of one phase form
   * one sample, and the last such run of steps waits for a later message unless the run is over (a
   * NEEDS_OPERATOR wait splits COMPENSATE's steps, but the retry continues the same sample).
   */
  private samples(final: boolean): Omit<MetricSamples, 'compensation'> {
    const steps = this.run.steps;
    const phaseDurations: MetricSamples['phaseDurations'] = [];
    let from = this.stepsReported;
    while (from < steps.length) {
      const phase = steps[from]?.phase;
      let to = from;
      let seconds = 0;
      let finished = false;
      for (let s = steps[to]; s && s.phase === phase; s = steps[++to]) {
        seconds += stepSeconds(s);
        finished ||= s.finishedAt !== undefined;
      }
      if (!phase || (to === steps.length && !final)) break;
      // A phase whose every step failed has no worker time to report, only a failure.
      if (finished) phaseDurations.push({ phase, seconds });
      from = to;
    }
    this.stepsReported = from;
    const offloaded = this.run.meta.offloadedValues?.(this.run.evidence) ?? 0;
    const offloadedValues = Math.max(0, offloaded - this.offloadedReported);
    this.offloadedReported = offloaded;
    return { phaseDurations, offloadedValues };
  }
}
