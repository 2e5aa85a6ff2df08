/**
 * Everything a run knows, kept in one place so the `status` query, the Web
 * UI's current details, the search attributes and the final record never
 * disagree. The same for every runbook: the runbook's own evidence is `E`.
 */
import { setCurrentDetails, upsertSearchAttributes, workflowInfo } from '@temporalio/workflow';
import type { GateVerdict, RecordedDecision, Refusal, Signer, Timed } from '../../domain/engine/evidence.js';
import type { EnginePlan } from '../../domain/engine/plan.js';
import type {
  ApprovalRequest,
  CompensationState,
  NotificationRecord,
  Outcome,
  RunInput,
  RunResult,
  RunStatus,
  StepRecord,
} from '../../domain/engine/run.js';
import { targetKey } from '../../domain/plan-key.js';
import { describeError } from './errors.js';
import {
  APPROVER,
  CRITICAL,
  OUTCOME,
  PHASE,
  PLAN,
  RECOMMENDATIONS,
  TARGET,
  VERDICT,
  WARNINGS,
} from './search-attributes.js';

/** What the engine needs to know of a runbook to run it. */
export interface RunbookMeta<E> {
  /** The plan kind (also the CutoverRunbook search attribute). */
  kind: string;
  /** The phase a run starts in. */
  firstPhase: string;
  emptyEvidence(): E;
  /** Values the runbook's validation runs put in object storage so far (a metric); 0 if none. */
  offloadedValues?(evidence: E): number;
}

/**
 * The messages a run announces (workflows/engine/notifications.ts sends them); declared here so the run
 * state and its notifier do not import each other.
 */
export interface RunNotifier {
  readonly records: NotificationRecord[];
  approvalRequested(request: ApprovalRequest): void;
  approved(): void;
  verificationFailed(stage: string, gate: GateVerdict): void;
  needsOperator(state: CompensationState): void;
  finished(result: RunResult): void;
  settled(): Promise<void>;
}

export class Run<P extends EnginePlan = EnginePlan, E = unknown> {
  phase: string;
  details = 'starting';
  readonly steps: StepRecord[] = [];
  readonly evidence: E;
  decision: RecordedDecision | null = null;
  compensation: CompensationState | null = null;
  pendingApproval: ApprovalRequest | null = null;
  readonly refusals: Refusal[] = [];
  /** The verified key that signed the start (plans with approval.allowedSigners only). */
  startSigner: Signer | null = null;
  outcome: Outcome | null = null;
  readonly target: string;
  /**
   * Names this run's change to the change adapters (journal keys, commit trailers): the workflow id alone
   * repeats when a plan is run again after an earlier run closed.
   */
  readonly changeId: string;
  /** Null for runs recorded before notifications existed (patch notifications-v1). */
  notifications: RunNotifier | null = null;
  /** The runbook judged its end not news (a scheduled assessment that found nothing new): no message. */
  quiet = false;

  constructor(
    readonly input: RunInput<P>,
    readonly meta: RunbookMeta<E>,
  ) {
    this.phase = meta.firstPhase;
    this.evidence = meta.emptyEvidence();
    this.target = targetKey(input.plan);
    this.changeId = `${workflowInfo().workflowId}@${workflowInfo().runId}`;
    upsertSearchAttributes([
      { key: TARGET, value: this.target },
      { key: PLAN, value: input.plan.name },
    ]);
  }

  get plan(): P {
    return this.input.plan;
  }

  enter(phase: string, details: string, more: string[] = []): void {
    this.phase = phase;
    this.say(details, more);
    upsertSearchAttributes([{ key: PHASE, value: phase }]);
  }

  /**
   * One sentence for people: the status query and the Web UI show the same words. `more` is a block
   * the Web UI shows under it as preformatted text (the approval request, laid out as `status` prints it).
   */
  say(details: string, more: string[] = []): void {
    this.details = details;
    const fence = '```';
    const block =
      more.length > 0 ? `\n\n${fence}\n${more.join('\n').replaceAll(fence, "'''")}\n${fence}` : '';
    setCurrentDetails(`**${this.phase}**: ${details}${block}`);
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
    this.decision = decision;
    if (decision.kind === 'approve') upsertSearchAttributes([{ key: APPROVER, value: decision.operator }]);
  }

  status(): RunStatus<E> {
    return {
      workflowId: workflowInfo().workflowId,
      runbook: this.meta.kind,
      planName: this.plan.name,
      target: this.target,
      planDigest: this.input.planDigest,
      startedBy: this.input.startedBy,
      ...(this.startSigner ? { startSigner: this.startSigner } : {}),
      phase: this.phase,
      details: this.details,
      steps: this.steps,
      evidence: this.evidence,
      decision: this.decision,
      compensation: this.compensation,
      pendingApproval: this.pendingApproval,
      refusals: this.refusals,
      outcome: this.outcome,
      ...(this.notifications ? { notifications: this.notifications.records } : {}),
    };
  }

  /** A red gate before any change: the run ends STOPPED and says nothing changed. */
  stop(phase: string, gate: GateVerdict): RunResult<E> {
    return this.finish('STOPPED', `${phase} gate red, nothing changed: ${gate.reasons.join('; ')}`);
  }

  /** A read-only runbook's end: its verdict and counts become search attributes, the outcome ASSESSED. */
  assessed(
    verdict: string,
    counts: { critical: number; warnings: number; recommendations: number },
    reason: string,
  ): RunResult<E> {
    upsertSearchAttributes([
      { key: VERDICT, value: verdict },
      { key: CRITICAL, value: counts.critical },
      { key: WARNINGS, value: counts.warnings },
      { key: RECOMMENDATIONS, value: counts.recommendations },
    ]);
    return this.finish('ASSESSED', reason);
  }

  finish(outcome: Outcome, reason: string, productionChanged = false): RunResult<E> {
    this.outcome = outcome;
    this.pendingApproval = null;
    this.enter('FINISHED', `${outcome}: ${reason}`);
    upsertSearchAttributes([{ key: OUTCOME, value: outcome }]);
    const result = { outcome, reason, productionChanged, status: this.status() };
    if (!this.quiet) this.notifications?.finished(result);
    return result;
  }
}
