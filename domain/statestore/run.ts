/**
 * The state-store flip's evidence and run types: shared by its workflow, the
 * CLI and the dossier.
 */
import type { HealthGateEvidence } from '../assessment/run.js';
import type { ObjectStorageEvidence } from '../lifecycle.js';
import type { CheckRow, GateVerdict, Timed } from '../engine/evidence.js';
import type { RunInput, RunResult, RunStatus } from '../engine/run.js';
import type {
  AffectedRunsEvidence,
  ApplyRecord,
  ChangePreview,
  RenderedChange,
  RerunEvidence,
  RevertRecord,
  RolloutEvidence,
  SizeBand,
  SizeQuantiles,
} from '../evidence.js';
import { emptyChangeEvidence } from '../evidence.js';
import type { StateStorePlan } from './plan.js';

/** draft-backend-key: APPLY deploys the PR text's draft key [state_store] backend instead of [workers] state_store_backend, so VERIFY fails. */
export const STATE_STORE_FAULT_INJECTIONS = ['draft-backend-key'] as const;
export type StateStoreFaultInjection = (typeof STATE_STORE_FAULT_INJECTIONS)[number];

export type StateStoreInput = RunInput<StateStorePlan> & { inject?: StateStoreFaultInjection };

export interface StoreSizes {
  /** Plain rows: the ones the quantiles describe. */
  rowCount: number;
  sizeBytes: SizeQuantiles;
  /** Absent in runs recorded before the dossier plotted the distribution. */
  sizeBands?: SizeBand[];
  /** Rows already holding the backend's marker (a worker backend is or was configured). */
  wrapped: { rows: number; inlineRefs: number; objectRefs: number };
  topProducers: { name: string; key: string; rows: number; maxBytes: number }[];
}

export interface StateStoreCalibration extends Timed {
  task: StoreSizes;
  asset: StoreSizes;
  proposal: { thresholdBytes: number; strategy: string; rationale: string };
  /** Existing plain rows at or above the threshold: what the flip would have offloaded. */
  projectedOffloadRows: number;
  maxOffloadRows: number;
  gate: GateVerdict;
}

export interface StateStorePreflight extends Timed {
  checks: CheckRow[];
  gate: GateVerdict;
}

export interface StateStoreRehearsalEvidence extends Timed {
  component: string;
  valueBytes: { small: number; large: number };
  objectPaths: string[];
  checks: {
    offloaded: boolean;
    markerInDb: boolean;
    roundTripIntact: boolean;
    breakConfirmed: boolean;
    healConfirmed: boolean;
    cleaned: boolean;
  };
  timingsMs: Record<string, number>;
  gate: GateVerdict;
}

export interface ResolvedStateStore {
  component: string;
  workerBackend: string | null;
  serverBackend: string | null;
  path: string | null;
  threshold: number | null;
  compression: string | null;
  error: string | null;
}

export interface StateStoreVerify extends Timed {
  components: ResolvedStateStore[];
  gate: GateVerdict;
}

export interface StateStoreValidation extends Timed {
  dagId: string;
  runId: string;
  state: string;
  taskStates: Record<string, string>;
  /** Objects the run's task state put under the state path (<path>/<dag>/<run>/...). */
  objectCount: number;
  gate: GateVerdict;
}

export interface StateStoreHealEvidence extends Timed {
  since: string;
  rewritten: number;
  inlineRefs: number;
  objectRefs: number;
  /** Rows whose object could not be read: left as they were, named here. */
  unreadable: { store: string; key: string; path: string | null; reason: string; where: string }[];
  markerRowsRemaining: number;
  durationMs: number;
  gate: GateVerdict;
}

export interface StateStoreEvidence extends ObjectStorageEvidence, HealthGateEvidence {
  calibration: StateStoreCalibration | null;
  preflight: StateStorePreflight | null;
  change: RenderedChange | null;
  preview: ChangePreview | null;
  rehearsal: StateStoreRehearsalEvidence | null;
  applies: ApplyRecord[];
  rollouts: RolloutEvidence[];
  verifications: StateStoreVerify[];
  validations: StateStoreValidation[];
  reverts: RevertRecord[];
  revertRollout: RolloutEvidence | null;
  heal: StateStoreHealEvidence | null;
  affected: AffectedRunsEvidence | null;
  reruns: RerunEvidence | null;
}

export function emptyStateStoreEvidence(): StateStoreEvidence {
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

export type StateStoreStatus = RunStatus<StateStoreEvidence>;
export type StateStoreResult = RunResult<StateStoreEvidence>;
