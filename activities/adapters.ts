/**
 * The ports the activities need, one per external system. Real implementations
 * live in adapters/ and are built by the worker from its configuration; the
 * activities only ever see these interfaces, so tests can point them at local
 * real services.
 */
import type {
  AffectedRun,
  ComponentConfig,
  SizeBand,
  SizeQuantiles,
  CalibrationSample,
  NonJsonXComs,
  ChangeStage,
  CheckRow,
} from '../domain/evidence.js';
import type { SignatureCheck } from '../domain/engine/evidence.js';
import type { Component, Plan } from '../domain/plan.js';
import type { AnyPlan } from '../domain/runbooks.js';
import type { Heartbeat } from './heartbeat.js';
import type { ObjectReferencesPort, ObjectStorePort } from './object-store-ports.js';
import type { InspectedPlan } from '../domain/engine/plan.js';
import type {
  AirflowHealthPort,
  ClusterInspectorPort,
  DeploymentDbPort,
  ProcessInspectorPort,
} from './deployment-health-ports.js';
import type { StateStoreDbPort, StateStoreHealPort, StateStoreProbesPort } from './state-store-ports.js';
import type {
  AirflowReleasesPort,
  ComponentPowerPort,
  HelmValuesPort,
  MigrationJobPort,
  UpgradeDatabasePort,
  UpgradeInventoryPort,
} from './upgrade-ports.js';
import type { UpgradePlan } from '../domain/upgrade/plan.js';
import { adapterMissing } from './engine/errors.js';

export type { Heartbeat } from './heartbeat.js';

export interface XComSizeStats {
  rowCount: number;
  sizeBytes: SizeQuantiles;
  sizeBands: SizeBand[];
  rowsAbove: { '48KB': number; '100KB': number; '1MB': number };
  topProducers: { dagId: string; taskId: string; rows: number; maxBytes: number }[];
  /**
   * Only where the value column can hold values that are not JSON (Airflow 2's bytea): those
   * rows, which no other figure here (nor countRowsAtOrAbove) includes.
   */
  nonJson?: NonJsonXComs;
  /** The rows at or above each MeasureOptions.offloadAt threshold, in order, as applied. */
  offloadAt?: { thresholdBytes: number; rows: number }[];
  /** Measured on a sample: the counts above are estimates, within `sample.rowsBound`. */
  sample?: CalibrationSample;
}

/** A size figure by name: one of the quantiles, or the max. */
export type SizeFigure = keyof SizeQuantiles;

/**
 * A threshold to project offloads at: fixed bytes, or the smallest multiple of `roundTo`
 * strictly above a measured figure (domain/threshold.ts's rule, applied by the adapter in the
 * measuring statement so that the projection costs no second scan).
 */
export type OffloadThreshold = number | { above: SizeFigure; roundTo: number };

export interface MeasureOptions {
  /** Rows at or above each threshold (the backend offloads size >= threshold; negative = never). */
  offloadAt?: OffloadThreshold[];
  /** Measure a TABLESAMPLE SYSTEM sample of this percent of the table's pages (0 < p <= 100). */
  samplePercent?: number;
}

/** Airflow's metadata database, read-only: sizes are measured inside the DB, no value leaves it. */
export interface MetadataDbPort {
  readonly source: 'metadata-db' | 'in-pod';
  /** Sizes as the backend counts them, and the projection at `offloadAt`, in one scan. */
  measureXComSizes(options?: MeasureOptions): Promise<XComSizeStats>;
  /** Rows whose encoded size is >= each threshold (the backend's own offload rule). */
  countRowsAtOrAbove(thresholds: number[]): Promise<number[]>;
}

export interface RehearsalOutcome {
  valueBytes: number;
  objectPath: string;
  offloaded: boolean;
  breakConfirmed: boolean;
  roundTripIntact: boolean;
  healConfirmed: boolean;
  sentinelCleaned: boolean;
  timingsMs: Record<string, number>;
}

/** Python probes run inside an Airflow component (pod exec, or a local process). */
export interface AirflowProbePort {
  preflight(args: {
    component: Component;
    plan: Plan;
    runId: string;
    env: Record<string, string>;
  }): Promise<CheckRow[]>;
  resolveConfig(args: { component: Component; extraEnv?: Record<string, string> }): Promise<ComponentConfig>;
  rehearse(args: {
    component: Component;
    plan: Plan;
    runId: string;
    env: Record<string, string>;
    heartbeat: Heartbeat;
  }): Promise<RehearsalOutcome>;
}

export interface AppliedChange {
  changed: boolean;
  ref: string;
  revertHandle: string;
}

/** Where the change is written: a GitOps values file, a ConfigMap, or a local env file. */
export interface ChangePort {
  readonly mode: 'gitops' | 'configmap' | 'env-file';
  describeDestination(): string;
  diff(stage: ChangeStage): Promise<string>;
  /** Idempotent: applying a stage that is already live changes nothing and says so. */
  apply(args: { stage: ChangeStage; changeId: string }): Promise<AppliedChange>;
  /** Idempotent: reverting something already reverted changes nothing. */
  revert(args: {
    stage: ChangeStage;
    /** Null when the apply never reported back; the adapter finds its change by changeId. */
    revertHandle: string | null;
    /** Identifies one run's change: `<workflow id>@<run id>`. */
    changeId: string;
  }): Promise<{ changed: boolean; ref: string; restoredEnv: Record<string, string | null> }>;
}

/** Restarting the Airflow components and knowing when they run the wanted config. */
export interface RolloutPort {
  restartAndWait(args: {
    components: Component[];
    /** The env the live components must carry when the wait ends. */
    expectEnv: Record<string, string | null>;
    timeoutMs: number;
    heartbeat: Heartbeat;
  }): Promise<{ name: string; ready: boolean; detail: string }[]>;
}

export interface DagRunResult {
  dagId: string;
  runId: string;
  state: string;
  taskStates: Record<string, string>;
  xcomErrors: number;
  xcoms: { taskId: string; key: string; bytes: number; offloaded: boolean }[];
  objectCount: number;
}

/** Airflow's REST API: trigger, watch, clear and re-run DAG runs. */
export interface AirflowApiPort {
  runValidationDag(args: {
    dagId: string;
    runId: string;
    unpause: boolean;
    timeoutMs: number;
    heartbeat: Heartbeat;
    /** The DAG run's `conf` (the XCom validation DAG reads `large_bytes`). */
    conf?: Record<string, unknown>;
  }): Promise<DagRunResult>;
  runsSince(args: { since: string }): Promise<AffectedRun[]>;
  clearAndWait(args: {
    runs: AffectedRun[];
    timeoutMs: number;
    heartbeat: Heartbeat;
  }): Promise<(AffectedRun & { finalState: string })[]>;
  readsData(args: { run: AffectedRun }): Promise<{ readsData: boolean; detail: string }>;
}

/** The REST API's DAG runs as the upgrade needs them: with what it takes to run each again. */
export interface UpgradeDagRunsPort extends AirflowApiPort {
  runsSinceWithConf(args: {
    since: string;
  }): Promise<
    (AffectedRun & { cutover: boolean; logicalDate: string | null; conf: Record<string, unknown> })[]
  >;
  /** Unpauses the DAG (a restored `dag` table holds it as it was before the upgrade); false when it was not paused. */
  unpause(dagId: string): Promise<boolean>;
  /** Triggers `runId` again (same logical date and conf) when the DB no longer has it, and waits. */
  retrigger(args: {
    dagId: string;
    runId: string;
    logicalDate: string | null;
    conf: Record<string, unknown>;
    timeoutMs: number;
    heartbeat: Heartbeat;
  }): Promise<string>;
}

/** What a signature check needs: the signers, who claims to sign, the exact text and its signature. */
export interface VerifySignatureArgs {
  /** allowed_signers lines (the plan's approval.allowedSigners). */
  allowedSigners: readonly string[];
  /** The identity the signature must be valid for. */
  principal: string;
  message: string;
  /** Armored SSH signature. */
  signature: string;
  /** Judge the key's validity window at this time (ISO 8601) instead of now. */
  at?: string;
}

/** SSH signature verification (ssh-keygen -Y verify): a bad signature is a verdict, not an error. */
export interface SignatureVerifierPort {
  verify(args: VerifySignatureArgs): Promise<SignatureCheck>;
}

/**
 * An adapter, or a factory that builds one for a plan: one worker serves many
 * targets, and which database, cluster or repo to talk to is in the plan.
 */
/** An adapter, or a factory of one per plan (one worker serves many targets). */
export type AdapterSource<T, P = AnyPlan> = T | ((plan: P) => T);

export interface Adapters {
  metadb?: AdapterSource<MetadataDbPort>;
  probes?: AdapterSource<AirflowProbePort>;
  change?: AdapterSource<ChangePort>;
  rollout?: AdapterSource<RolloutPort>;
  airflowApi?: AdapterSource<AirflowApiPort>;
  /** The state store's tables (task_state_store, asset_state_store), measured in the DB. */
  stateStoreDb?: AdapterSource<StateStoreDbPort>;
  /** The state-store probes inside a component: resolve the config, rehearse the flip. */
  stateStoreProbes?: AdapterSource<StateStoreProbesPort>;
  /** The data-aware heal of state rows written under the object-storage backend. */
  stateStoreHeal?: AdapterSource<StateStoreHealPort>;
  /** The bucket a backend flip writes to: lifecycle configuration and listing. */
  objectStore?: AdapterSource<ObjectStorePort>;
  /** The metadata DB's references to objects in that bucket. */
  objectReferences?: AdapterSource<ObjectReferencesPort>;
  /** The target's pods, events, claims and nodes (kubernetes) for the deployment health checks. */
  clusterInspector?: AdapterSource<ClusterInspectorPort, InspectedPlan>;
  /** The components a local target's supervisor runs. */
  processInspector?: AdapterSource<ProcessInspectorPort, InspectedPlan>;
  /** Airflow's health, version, import errors and DAG warnings over its REST API. */
  airflowHealth?: AdapterSource<AirflowHealthPort, InspectedPlan>;
  /** DAG visibility and job heartbeats in the metadata DB. */
  deploymentDb?: AdapterSource<DeploymentDbPort, InspectedPlan>;
  /** Checks the SSH signatures of starts and decisions when a plan lists approval.allowedSigners. */
  signatures?: SignatureVerifierPort;
  /** The upgrade: the metadata DB as a whole (backup, restore, copies, counts, schedule). */
  upgradeDb?: AdapterSource<UpgradeDatabasePort, UpgradePlan>;
  /** The upgrade: the Airflow releases installed for the target and their CLI. */
  airflowReleases?: AdapterSource<AirflowReleasesPort, UpgradePlan>;
  /** The upgrade: the components stopped and started as a whole. */
  componentPower?: AdapterSource<ComponentPowerPort, UpgradePlan>;
  /** The upgrade: each component's release and providers, read inside it. */
  upgradeInventory?: AdapterSource<UpgradeInventoryPort, UpgradePlan>;
  /** The upgrade: the REST API of the release running (v1 on Airflow 2, v2 on Airflow 3). */
  upgradeDagRuns?: AdapterSource<UpgradeDagRunsPort, UpgradePlan>;
  /** The upgrade on Kubernetes: the Helm chart's migration Job the GitOps tool applies. */
  migrationJob?: AdapterSource<MigrationJobPort, UpgradePlan>;
  /** The upgrade on Kubernetes: the Helm values in the GitOps repo, read by PREFLIGHT. */
  helmValues?: AdapterSource<HelmValuesPort, UpgradePlan>;
}

/** The plan a key's factory takes: a change runbook's plan, or any inspected one. */
type PlanFor<K extends keyof Adapters> =
  NonNullable<Adapters[K]> extends infer S ? (S extends (plan: infer P) => unknown ? P : never) : never;

export function resolveAdapter<T extends object, P>(
  source: AdapterSource<T, P> | undefined,
  plan: P,
): T | undefined {
  return typeof source === 'function' ? (source as (plan: P) => T)(plan) : source;
}

/**
 * How AdapterMissing names each adapter: operators read these in failed steps, and tests match
 * them, so they are written once here.
 */
export const ADAPTER_NAMES: Readonly<Record<keyof Adapters, string>> = {
  metadb: 'metadata-DB',
  probes: 'Airflow probe',
  change: 'change (gitops / configmap / env-file)',
  rollout: 'rollout (Kubernetes / local processes)',
  airflowApi: 'Airflow REST API',
  stateStoreDb: 'state-store metadata DB',
  stateStoreProbes: 'state-store probe',
  stateStoreHeal: 'state-store heal',
  objectStore: 'object storage (S3)',
  objectReferences: 'object references (metadata DB)',
  clusterInspector: 'Kubernetes inspection',
  processInspector: 'local supervisor inspection',
  airflowHealth: 'Airflow health (REST API)',
  deploymentDb: 'deployment health (metadata DB)',
  signatures: 'signature verification (ssh-keygen)',
  upgradeDb: 'metadata DB backup and restore (pg_dump / pg_restore)',
  airflowReleases: 'Airflow releases (venvs and their CLI)',
  componentPower: 'component stop/start (local supervisor, Kubernetes scale)',
  upgradeInventory: 'component inventory (probe)',
  upgradeDagRuns: 'Airflow REST API (DAG runs across releases)',
  migrationJob: 'the Helm chart migration Job (Kubernetes)',
  helmValues: 'Helm values (GitOps repo)',
};

/** The port behind `Adapters[K]` (ports are objects, so excluding functions leaves the port). */
export type AdapterPort<K extends keyof Adapters> = Exclude<
  NonNullable<Adapters[K]>,
  (plan: never) => unknown
>;

/**
 * The adapter for `plan`, or a non-retryable AdapterMissing saying what this step could not do
 * (`needs`, e.g. 'revert the change') without it.
 */
export function requireAdapter<K extends keyof Adapters>(
  adapters: Adapters,
  key: K,
  plan: PlanFor<K>,
  needs: string,
): AdapterPort<K> {
  // Each key's source is a port or a factory over that key's plan; the union of all keys is too wide
  // for the compiler to follow, so the source is read as this key's shape.
  const source = adapters[key] as unknown as AdapterPort<K> | ((p: PlanFor<K>) => AdapterPort<K>) | undefined;
  const adapter = typeof source === 'function' ? source(plan) : source;
  if (!adapter) throw adapterMissing(ADAPTER_NAMES[key], needs);
  return adapter;
}
