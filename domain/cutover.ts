/**
 * The cut-over's inputs, live status and final record: shared by the workflow,
 * the CLI and the dossier, so all three speak about the same fields.
 */
import type {
  AffectedRunsEvidence,
  ApplyRecord,
  CalibrationEvidence,
  ChangePreview,
  HealEvidence,
  PreflightEvidence,
  RecordedDecision,
  Refusal,
  RehearsalEvidence,
  RenderedChange,
  RerunEvidence,
  RevertRecord,
  RolloutEvidence,
  ValidationEvidence,
  VerifyEvidence,
} from './evidence.js';
import type { Plan } from './plan.js';

export const WORKFLOW_TYPE = 'xcomBackendCutover';
export const DEFAULT_TASK_QUEUE = 'cutover';

export const PHASES = [
  'CALIBRATE',
  'PREFLIGHT',
  'RENDER',
  'REHEARSE',
  'AWAIT_GO',
  'APPLY',
  'VERIFY',
  'VALIDATE',
  'RAMP',
  'COMPENSATE',
  'NEEDS_OPERATOR',
  'FINISHED',
] as const;
export type Phase = (typeof PHASES)[number];

/**
 * How a run ended. Every outcome other than DONE says whether production was
 * touched: STOPPED/REJECTED/TIMED_OUT/CANCELLED/PLANNED never reach APPLY.
 */
export type Outcome =
  | 'DONE'
  | 'PLANNED'
  | 'STOPPED'
  | 'REJECTED'
  | 'TIMED_OUT'
  | 'CANCELLED'
  | 'ROLLED_BACK'
  | 'OPERATOR_TOOK_OVER';

export interface CutoverInput {
  plan: Plan;
  /** Digest of the normalised plan, computed by the client; approvals must quote it. */
  planDigest: string;
  /** Who started the run (for the self-approval rule). */
  startedBy: string;
  /** Dry run (`cutover plan`): ends after the evidence, before AWAIT_GO. */
  dryRun?: boolean;
  /** Skip REHEARSE; only allowed with dryRun (the rehearsal is a mandatory gate otherwise). */
  skipRehearsal?: boolean;
  /**
   * Fault injection for drills and tests: `env-encoding` deploys the first stage with the
   * reference incident's `AIRFLOW__COMMON.IO__` spelling (the lint is bypassed for the deploy
   * only), so VERIFY fails and the kill-switch runs for real.
   */
  inject?: FaultInjection;
}

export const FAULT_INJECTIONS = ['env-encoding'] as const;
export type FaultInjection = (typeof FAULT_INJECTIONS)[number];

export interface ApprovalRequest {
  planDigest: string;
  approvers: string[];
  startedBy: string;
  allowSelfApproval: boolean;
  timeoutMs: number;
  /** The approval window opens when the last evidence step finishes; it closes timeoutMs later. */
  openedAfter: string;
  deadline: string;
  /** What to review before saying go, one line each. */
  review: string[];
}

export const COMPENSATION_STEPS = [
  'revert',
  'waitForRollout',
  'findAffectedRuns',
  'rerunAffectedRuns',
  'confirmHealed',
] as const;
export type CompensationStep = (typeof COMPENSATION_STEPS)[number];

export interface CompensationState {
  trigger: { phase: Phase; error: string };
  completed: CompensationStep[];
  /** Set while NEEDS_OPERATOR: the step that failed and what it said. */
  failed: { step: CompensationStep; error: string; attempt: number } | null;
  remaining: CompensationStep[];
  reverts: RevertRecord[];
  rollout: RolloutEvidence | null;
  affected: AffectedRunsEvidence | null;
  reruns: RerunEvidence | null;
  heal: HealEvidence | null;
  operatorActions: { action: 'retryCompensation' | 'acknowledge'; operator: string; reason: string }[];
}

export interface Evidence {
  calibration: CalibrationEvidence | null;
  preflight: PreflightEvidence | null;
  change: RenderedChange | null;
  preview: ChangePreview | null;
  rehearsal: RehearsalEvidence | null;
  decision: RecordedDecision | null;
  applies: ApplyRecord[];
  rollouts: RolloutEvidence[];
  verifications: VerifyEvidence[];
  validations: ValidationEvidence[];
  compensation: CompensationState | null;
}

export function emptyEvidence(): Evidence {
  return {
    calibration: null,
    preflight: null,
    change: null,
    preview: null,
    rehearsal: null,
    decision: null,
    applies: [],
    rollouts: [],
    verifications: [],
    validations: [],
    compensation: null,
  };
}

export interface StepRecord {
  phase: Phase;
  step: string;
  status: 'running' | 'ok' | 'failed';
  summary: string;
  startedAt?: string;
  finishedAt?: string;
}

export interface CutoverStatus {
  workflowId: string;
  planName: string;
  target: string;
  planDigest: string;
  startedBy: string;
  phase: Phase;
  /** One sentence: what is happening now (also the Web UI's current details). */
  details: string;
  steps: StepRecord[];
  evidence: Evidence;
  pendingApproval: ApprovalRequest | null;
  refusals: Refusal[];
  outcome: Outcome | null;
  /** Webhook messages of this run; absent for runs started before notifications existed. */
  notifications?: NotificationRecord[];
}

/** State changes announced on the worker's webhook, one message each (activities/notify.ts). */
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
  | 'operator-took-over';

export interface NotificationRecord {
  seq: number;
  event: NotificationEvent;
  /** `<workflowId>/<runId>/<event>/<seq>`: the same on every retry, so a receiver can drop repeats. */
  key: string;
  /** skipped: the worker has no webhook configured. failed: every attempt failed; the run went on. */
  status: 'pending' | 'delivered' | 'skipped' | 'failed';
  error?: string;
}

export interface CutoverResult {
  outcome: Outcome;
  /** Why the run ended this way, in one sentence. */
  reason: string;
  /** True when production config was changed and is still changed at the end. */
  productionChanged: boolean;
  status: CutoverStatus;
}
