/**
 * Everything the run knows, kept in one place so the `status` query, the Web
 * UI's current details, the search attributes and the final evidence record
 * never disagree.
 */
import { setCurrentDetails, upsertSearchAttributes, workflowInfo } from '@temporalio/workflow';
import { emptyEvidence } from '../domain/cutover.js';
import type {
  ApprovalRequest,
  CutoverInput,
  CutoverResult,
  CutoverStatus,
  Evidence,
  Outcome,
  Phase,
  StepRecord,
} from '../domain/cutover.js';
import type { RecordedDecision, Refusal, Timed } from '../domain/evidence.js';
import { targetKey } from '../domain/plan-key.js';
import type { Notifications } from './notifications.js';
import { APPROVER, OUTCOME, PHASE, PLAN, TARGET } from './search-attributes.js';

export class CutoverRun {
  phase: Phase = 'CALIBRATE';
  details = 'starting';
  readonly steps: StepRecord[] = [];
  readonly evidence: Evidence = emptyEvidence();
  pendingApproval: ApprovalRequest | null = null;
  readonly refusals: Refusal[] = [];
  outcome: Outcome | null = null;
  readonly target: string;
  /**
   * Names this run's change to the change adapters (journal keys, commit trailers): the workflow id alone
   * repeats when a plan is run again after an earlier run closed.
   */
  readonly changeId: string;
  /** Null for runs recorded before notifications existed (workflows/cutover.ts, patch notifications-v1). */
  notifications: Notifications | null = null;

  constructor(readonly input: CutoverInput) {
    this.target = targetKey(input.plan);
    this.changeId = `${workflowInfo().workflowId}@${workflowInfo().runId}`;
    upsertSearchAttributes([
      { key: TARGET, value: this.target },
      { key: PLAN, value: input.plan.name },
    ]);
  }

  get plan() {
    return this.input.plan;
  }

  enter(phase: Phase, details: string): void {
    this.phase = phase;
    this.say(details);
    upsertSearchAttributes([{ key: PHASE, value: phase }]);
  }

  /** One sentence for people: the status query and the Web UI show the same words. */
  say(details: string): void {
    this.details = details;
    setCurrentDetails(`**${this.phase}**: ${details}`);
  }

  /** Runs one activity as a named step of the current phase and records how it went. */
  async step<T extends Timed>(name: string, run: () => Promise<T>, summarise: (v: T) => string): Promise<T> {
    const record: StepRecord = { phase: this.phase, step: name, status: 'running', summary: '' };
    this.steps.push(record);
    try {
      const value = await run();
      Object.assign(record, {
        status: 'ok',
        summary: summarise(value),
        startedAt: value.startedAt,
        finishedAt: value.finishedAt,
      });
      return value;
    } catch (err) {
      record.status = 'failed';
      record.summary = describeError(err);
      throw err;
    }
  }

  recordDecision(decision: RecordedDecision): void {
    this.evidence.decision = decision;
    if (decision.kind === 'approve') upsertSearchAttributes([{ key: APPROVER, value: decision.operator }]);
  }

  status(): CutoverStatus {
    return {
      workflowId: workflowInfo().workflowId,
      planName: this.plan.name,
      target: this.target,
      planDigest: this.input.planDigest,
      startedBy: this.input.startedBy,
      phase: this.phase,
      details: this.details,
      steps: this.steps,
      evidence: this.evidence,
      pendingApproval: this.pendingApproval,
      refusals: this.refusals,
      outcome: this.outcome,
      ...(this.notifications ? { notifications: this.notifications.records } : {}),
    };
  }

  finish(outcome: Outcome, reason: string, productionChanged = false): CutoverResult {
    this.outcome = outcome;
    this.pendingApproval = null;
    this.enter('FINISHED', `${outcome}: ${reason}`);
    upsertSearchAttributes([{ key: OUTCOME, value: outcome }]);
    const result = { outcome, reason, productionChanged, status: this.status() };
    this.notifications?.finished(result);
    return result;
  }
}

/** The innermost message of a Temporal failure chain: what actually went wrong. */
export function describeError(err: unknown): string {
  let e: unknown = err;
  const parts: string[] = [];
  while (e instanceof Error) {
    if (e.message && !parts.includes(e.message)) parts.push(e.message);
    e = (e as Error & { cause?: unknown }).cause;
  }
  return parts.length > 0 ? (parts[parts.length - 1] ?? 'unknown error') : String(err);
}
