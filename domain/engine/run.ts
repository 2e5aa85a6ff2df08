/**
 * A runbook run's input, live status and final record, for every runbook: the
 * workflow, the CLI and the dossier speak about the same fields. What a
 * runbook measured and did is its own `evidence`; what the engine owns (the
 * decision, the compensation, the steps) sits beside it.
 */
import type { RecordedDecision, Refusal, Signer } from './evidence.js';
import type { StartSignature } from './signed-message.js';

/** The phases the engine itself enters; a runbook adds its own (CALIBRATE, APPLY, ...). */
export const ENGINE_PHASES = ['AWAIT_GO', 'COMPENSATE', 'NEEDS_OPERATOR', 'FINISHED'] as const;
export type EnginePhase = (typeof ENGINE_PHASES)[number];

/**
 * How a run ended. Every outcome other than DONE says whether production was
 * touched: STOPPED/REJECTED/TIMED_OUT/CANCELLED/PLANNED never reach a change.
 */
export type Outcome =
  | 'DONE'
  | 'PLANNED'
  | 'STOPPED'
  | 'REJECTED'
  | 'TIMED_OUT'
  | 'CANCELLED'
  | 'ROLLED_BACK'
  | 'OPERATOR_TOOK_OVER'
  /** A read-only runbook's end: its verdict is in its evidence (and search attributes). */
  | 'ASSESSED';

export interface RunInput<P> {
  plan: P;
  /** Digest of the normalised plan, computed by the client; approvals must quote it. */
  planDigest: string;
  /** Who started the run (for the self-approval rule). */
  startedBy: string;
  /**
   * The starter's signature over the start (`cutover start --key`), required when the plan lists
   * approval.allowedSigners; checked before anything else runs.
   */
  startSignature?: StartSignature;
  /** Dry run (`cutover plan`): ends after the evidence, before AWAIT_GO. */
  dryRun?: boolean;
  /** Skip the rehearsal; only allowed with dryRun (the rehearsal is a mandatory gate otherwise). */
  skipRehearsal?: boolean;
  /**
   * `--sample PCT`: calibrate on a TABLESAMPLE SYSTEM sample of this percent (0 < PCT <= 100)
   * instead of the whole table; the figures are estimates and a gate within their error bound
   * does not pass. Runbooks without a size calibration ignore it.
   */
  calibrationSamplePercent?: number;
  /** Fault injection for drills; each runbook lists the ones it knows (registry). */
  inject?: string;
}

export interface ApprovalRequest {
  planDigest: string;
  approvers: string[];
  startedBy: string;
  allowSelfApproval: boolean;
  /** The plan lists approval.allowedSigners: every decision must carry a valid SSH signature. */
  signaturesRequired?: boolean;
  /** The fingerprint of the key that signed the start (self-approval is also judged on it). */
  startedWithKey?: string;
  timeoutMs: number;
  /** The approval window opens when the last evidence step finishes; it closes timeoutMs later. */
  openedAfter: string;
  deadline: string;
  /** What to review before saying go, one line each. */
  review: string[];
}

export interface StepRecord {
  phase: string;
  step: string;
  status: 'running' | 'ok' | 'failed';
  summary: string;
  startedAt?: string;
  finishedAt?: string;
}

/**
 * The kill-switch's progress: the undo stack (newest change first) and then the
 * runbook's heal steps, by name. While NEEDS_OPERATOR, `failed` says where it stopped.
 */
export interface CompensationState {
  trigger: { phase: string; error: string };
  completed: string[];
  /** Set while NEEDS_OPERATOR: the step that failed and what it said. */
  failed: { step: string; error: string; attempt: number } | null;
  remaining: string[];
  /** Undo steps (from the stack) not yet completed: while any is left, production is still changed. */
  undoRemaining: string[];
  operatorActions: { action: 'retryCompensation' | 'acknowledge'; operator: string; reason: string }[];
}

/** State changes announced on the worker's webhook, one message each (activities/engine/notify.ts). */
export type NotificationEvent =
  | 'approval-requested'
  | 'approved'
  | 'verification-failed'
  | 'needs-operator'
  | 'rejected'
  | 'rolled-back'
  | 'done'
  | 'planned'
  | 'stopped'
  | 'timed-out'
  | 'cancelled'
  | 'operator-took-over'
  | 'assessed';

export interface NotificationRecord {
  seq: number;
  event: NotificationEvent;
  /** `<workflowId>/<runId>/<event>/<seq>`: the same on every retry, so a receiver can drop repeats. */
  key: string;
  /** skipped: the worker has no webhook configured. failed: every attempt failed; the run went on. */
  status: 'pending' | 'delivered' | 'skipped' | 'failed';
  error?: string;
}

export interface RunStatus<E = unknown> {
  workflowId: string;
  /** The plan's kind: which runbook this run is. */
  runbook: string;
  planName: string;
  target: string;
  planDigest: string;
  startedBy: string;
  /** The verified key that signed the start, when the plan lists approval.allowedSigners. */
  startSigner?: Signer;
  phase: string;
  /** One sentence: what is happening now (also the Web UI's current details). */
  details: string;
  steps: StepRecord[];
  /** What the runbook measured, checked and did: its own record type. */
  evidence: E;
  decision: RecordedDecision | null;
  compensation: CompensationState | null;
  pendingApproval: ApprovalRequest | null;
  refusals: Refusal[];
  outcome: Outcome | null;
  /** Webhook messages of this run; absent for runs started before notifications existed. */
  notifications?: NotificationRecord[];
}

export interface RunResult<E = unknown> {
  outcome: Outcome;
  /** Why the run ended this way, in one sentence. */
  reason: string;
  /** True when production config was changed and is still changed at the end. */
  productionChanged: boolean;
  status: RunStatus<E>;
}
