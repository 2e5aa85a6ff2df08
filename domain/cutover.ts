/**
 * The XCom flip's run types: its phases, its evidence record and the engine's
 * run types specialised to them, shared by its workflow, the CLI and the dossier.
 */
import type { HealthGateEvidence } from './assessment/run.js';
import type { ObjectStorageEvidence } from './lifecycle.js';
import type {
  AffectedRunsEvidence,
  ApplyRecord,
  CalibrationEvidence,
  ChangePreview,
  HealEvidence,
  PreflightEvidence,
  RehearsalEvidence,
  RenderedChange,
  RerunEvidence,
  RevertRecord,
  RolloutEvidence,
  ValidationEvidence,
  VerifyEvidence,
} from './evidence.js';
import { emptyChangeEvidence } from './evidence.js';
import type { RunInput, RunResult, RunStatus } from './engine/run.js';
import type { Plan } from './plan.js';

export type {
  ApprovalRequest,
  CompensationState,
  NotificationEvent,
  NotificationRecord,
  Outcome,
  StepRecord,
} from './engine/run.js';

export { WORKFLOW_TYPE, XCOM_KIND } from './xcom-kind.js';
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

export type CutoverInput = RunInput<Plan> & { inject?: FaultInjection };

export const FAULT_INJECTIONS = ['env-encoding'] as const;
export type FaultInjection = (typeof FAULT_INJECTIONS)[number];

/** The heal steps after the undo stack: revert alone leaves offloaded XComs read as path strings. */
export const HEAL_STEPS = [
  'waitForRollout',
  'findAffectedRuns',
  'rerunAffectedRuns',
  'confirmHealed',
] as const;
export type HealStep = (typeof HEAL_STEPS)[number];

export interface Evidence extends ObjectStorageEvidence, HealthGateEvidence {
  calibration: CalibrationEvidence | null;
  preflight: PreflightEvidence | null;
  change: RenderedChange | null;
  preview: ChangePreview | null;
  rehearsal: RehearsalEvidence | null;
  applies: ApplyRecord[];
  rollouts: RolloutEvidence[];
  verifications: VerifyEvidence[];
  validations: ValidationEvidence[];
  /** What the kill-switch did, when it ran: reverts newest first, then the heal. */
  reverts: RevertRecord[];
  revertRollout: RolloutEvidence | null;
  affected: AffectedRunsEvidence | null;
  reruns: RerunEvidence | null;
  heal: HealEvidence | null;
}

export function emptyEvidence(): Evidence {
  return {
    calibration: null,
    preflight: null,
    change: null,
    preview: null,
    rehearsal: null,
    ...emptyChangeEvidence(),
    verifications: [],
    validations: [],
    heal: null,
  };
}

export type CutoverStatus = RunStatus<Evidence>;
export type CutoverResult = RunResult<Evidence>;
