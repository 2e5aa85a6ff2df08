/**
 * Evidence records: what each runbook step returns. They are plain, serialisable
 * data (they travel through Temporal history) and they are exactly what the
 * decision dossier prints. No record may hold a secret.
 */

import type { CheckRow, GateVerdict, Timed } from './engine/evidence.js';

export type {
  CheckRow,
  CheckStatus,
  Decision,
  GateVerdict,
  RecordedDecision,
  Refusal,
  Timed,
} from './engine/evidence.js';

// --- CALIBRATE ---------------------------------------------------------------

export interface SizeQuantiles {
  p50: number;
  p95: number;
  p99: number;
  p999: number;
  max: number;
}

/**
 * How many values fall in each power-of-two size band [fromBytes, toBytes), smallest first; empty
 * bands are left out. Measured in the same scan as the quantiles, for the dossier's plot.
 */
export interface SizeBand {
  fromBytes: number;
  toBytes: number;
  rows: number;
}

/** The bands of a histogram query's `[k, n]` pairs: band k holds 2^(k-1) <= size < 2^k (band 0 is size 0). */
export function sizeBandsFrom(pairs: readonly (readonly [number | string, number | string])[]): SizeBand[] {
  return pairs.map(([k, n]) => {
    const band = Number(k);
    return { fromBytes: band === 0 ? 0 : 2 ** (band - 1), toBytes: 2 ** band, rows: Number(n) };
  });
}

/** The band edges the histogram query compares against: 1, 2, 4, ... 2^40 (1 TB and more is one band). */
export const SIZE_BAND_EDGES_SQL = `ARRAY[${Array.from({ length: 41 }, (_, i) => 2 ** i).join(',')}]::int8[]`;

/**
 * XCom rows whose stored value is not JSON, so calibration cannot measure them as the
 * object-storage backend would (it JSON-encodes every value): only Airflow 2's bytea column
 * can hold them, e.g. pickles written with [core] enable_xcom_pickling. They are in none of
 * the other figures (row count, quantiles, bands, producers, projections).
 */
export interface NonJsonXComs {
  rows: number;
  /** Of those, pickles (protocol 2+). */
  pickled: number;
  /** The tasks that wrote most of them (at most 5). */
  producers: { dagId: string; taskId: string; rows: number }[];
}

/**
 * Calibration measured on a TABLESAMPLE SYSTEM sample (`--sample PCT`) instead of the whole
 * table: every count is the sample's scaled by 100 / percent, an estimate. The bounds assume
 * rows drawn at random (the DKW inequality: every cumulative share within epsilon of the
 * table's, at `confidence`); SYSTEM samples whole pages, and rows written together sit
 * together, so they are indicative, not guaranteed.
 */
export interface CalibrationSample {
  percent: number;
  sampledRows: number;
  confidence: number;
  epsilon: number;
  /** Each quantile's range: the sample's figures at fractions f - epsilon and f + epsilon. */
  quantileBounds: Record<'p50' | 'p95' | 'p99' | 'p999', { low: number; high: number }>;
  /** +- rows on every scaled count (epsilon x estimated rows). The max is the sample's: a lower bound. */
  rowsBound: number;
}

export interface CalibrationEvidence extends Timed {
  source: 'metadata-db' | 'in-pod';
  rowCount: number;
  sizeBytes: SizeQuantiles;
  /** Absent in runs recorded before the dossier plotted the distribution. */
  sizeBands?: SizeBand[];
  rowsAbove: { '48KB': number; '100KB': number; '1MB': number };
  topProducers: { dagId: string; taskId: string; rows: number; maxBytes: number }[];
  /** Present when the value column can hold non-JSON values (Airflow 2's bytea); rows > 0 fails the gate. */
  nonJson?: NonJsonXComs;
  proposal: { thresholdBytes: number; strategy: string; rationale: string };
  /** Historical rows at or above the threshold (the backend offloads size >= threshold). */
  projectedOffloadRows: number;
  maxOffloadRows: number;
  ramp?: { startBytes: number; projectedOffloadRows: number };
  /** Present when measured on a sample: the figures are estimates (see CalibrationSample). */
  sample?: CalibrationSample;
  gate: GateVerdict;
}

// --- PREFLIGHT ---------------------------------------------------------------

export interface PreflightEvidence extends Timed {
  checks: CheckRow[];
  gate: GateVerdict;
}

// --- RENDER ------------------------------------------------------------------

export interface LintFinding {
  variable: string;
  problem: string;
  suggestion?: string;
}

/** One applied configuration: the flip itself, or one step of a threshold ramp. */
export interface ChangeStage {
  label: string;
  thresholdBytes: number;
  env: Record<string, string>;
}

export interface RenderedChange extends Timed {
  stages: ChangeStage[];
  lint: { passed: boolean; findings: LintFinding[] };
}

export interface ChangePreview extends Timed {
  /** Where the change lands: a values file and key, a ConfigMap, an env file. */
  destination: string;
  /** Unified diff of the first stage against what is live now ('' = nothing to change). */
  diff: string;
}

// --- REHEARSE ----------------------------------------------------------------

export interface RehearsalEvidence extends Timed {
  valueBytes: number;
  objectPath: string;
  offloaded: boolean;
  /** BaseXCom read the row and got the path string back: the revert hazard is real. */
  breakConfirmed: boolean;
  roundTripIntact: boolean;
  /** Re-emitting under BaseXCom returned the data: revert + re-run heals. */
  healConfirmed: boolean;
  sentinelCleaned: boolean;
  timingsMs: Record<string, number>;
  gate: GateVerdict;
}

// --- APPLY -------------------------------------------------------------------

export interface ApplyRecord extends Timed {
  stage: string;
  mode: 'gitops' | 'configmap' | 'env-file';
  /** False when the destination already held exactly this change (idempotent re-apply). */
  changed: boolean;
  /** What identifies the deployed change: a merge commit, a ConfigMap resourceVersion. */
  ref: string;
  /** Opaque handle the change adapter needs to undo exactly this apply. Never a secret. */
  revertHandle: string;
}

export interface RolloutEvidence extends Timed {
  components: { name: string; ready: boolean; detail: string }[];
  gate: GateVerdict;
}

// --- VERIFY ------------------------------------------------------------------

export interface ComponentConfig {
  component: string;
  pod: string;
  path: string | null;
  threshold: number | null;
  compression: string | null;
  xcomClass: string | null;
  error: string | null;
}

export interface VerifyEvidence extends Timed {
  components: ComponentConfig[];
  gate: GateVerdict;
}

// --- VALIDATE ----------------------------------------------------------------

export interface ValidationEvidence extends Timed {
  dagId: string;
  runId: string;
  state: string;
  taskStates: Record<string, string>;
  xcomErrors: number;
  inlineCount: number;
  offloadedCount: number;
  largestXComBytes: number;
  objectCount: number;
  gate: GateVerdict;
}

// --- COMPENSATE --------------------------------------------------------------

export interface RevertRecord extends Timed {
  stage: string;
  ref: string;
  changed: boolean;
  /** What the destination holds again for the change's keys (null = absent). */
  restoredEnv: Record<string, string | null>;
}

export interface AffectedRun {
  dagId: string;
  runId: string;
  state: string;
}

export interface AffectedRunsEvidence extends Timed {
  since: string;
  runs: AffectedRun[];
}

export interface RerunEvidence extends Timed {
  runs: (AffectedRun & { finalState: string })[];
}

export interface HealEvidence extends Timed {
  runs: { dagId: string; runId: string; readsData: boolean; detail: string }[];
  gate: GateVerdict;
}

/** The records every runbook that changes Airflow's config keeps: its deploys and their undo. */
export interface ChangeEvidence {
  applies: ApplyRecord[];
  rollouts: RolloutEvidence[];
  reverts: RevertRecord[];
  revertRollout: RolloutEvidence | null;
  affected: AffectedRunsEvidence | null;
  reruns: RerunEvidence | null;
}

export function emptyChangeEvidence(): ChangeEvidence {
  return { applies: [], rollouts: [], reverts: [], revertRollout: null, affected: null, reruns: null };
}
