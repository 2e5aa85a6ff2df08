/**
 * What the assessment reads off a deployment, as plain records (they travel through history and are
 * what the document cites). Inspectors fill them; `judge` turns them into findings. An inspector that
 * could not read a source says why in `error` instead of failing the run: an unreachable API is a
 * finding, not a crash.
 */
import type { Timed } from '../engine/evidence.js';

export interface ContainerSnapshot {
  name: string;
  ready: boolean;
  restarts: number;
  state: 'running' | 'waiting' | 'terminated' | 'unknown';
  /** The waiting or terminated reason (CrashLoopBackOff, ImagePullBackOff, PodInitializing, Completed...). */
  reason: string | null;
  message: string | null;
  /** Why the previous instance ended (OOMKilled, Error), when it restarted. */
  lastTermination: string | null;
}

export interface PodSnapshot {
  name: string;
  /** The plan component whose selector matches it; null for a pod of the release that none matches. */
  component: string | null;
  phase: string;
  /** As `kubectl get pods` shows it: Running, Init:0/1, CrashLoopBackOff, Pending... */
  status: string;
  node: string | null;
  ready: boolean;
  createdAt: string;
  initContainers: ContainerSnapshot[];
  containers: ContainerSnapshot[];
  /** PersistentVolumeClaims it mounts. */
  claims: string[];
}

export interface EventSnapshot {
  type: string;
  reason: string;
  message: string;
  object: { kind: string; name: string };
  count: number;
  lastSeen: string | null;
}

export interface ClaimSnapshot {
  name: string;
  accessModes: string[];
  phase: string;
  volume: string | null;
  storageClass: string | null;
}

export interface NodeSnapshot {
  name: string;
  ready: boolean;
}

/** A Kubernetes target: the release's pods, the namespace's events and claims, the nodes. */
export interface ClusterSnapshot extends Timed {
  source: 'kubernetes';
  namespace: string;
  /** Null when the API server could not be asked (then `error` says why). */
  namespaceExists: boolean | null;
  pods: PodSnapshot[];
  events: EventSnapshot[];
  claims: ClaimSnapshot[];
  /** Null when this worker may not list nodes (a namespaced Role): placement is then by node name only. */
  nodes: NodeSnapshot[] | null;
  /** The chart values that decide volume sharing, when the plan names the values file. */
  values: ChartValues | null;
  error: string | null;
  /** What could not be read and why (forbidden lists, an unreadable values file). */
  notes: string[];
}

/** A local target: the components its supervisor runs. */
export interface ProcessSnapshot extends Timed {
  source: 'local';
  supervisor: string | null;
  components: { name: string; running: boolean; pid: number | null; startedAt: string | null }[];
  error: string | null;
  notes: string[];
}

export type TargetSnapshot = ClusterSnapshot | ProcessSnapshot;

/** The official chart's settings that make pods share the DAG volume. */
export interface ChartValues {
  file: string;
  dagsPersistence: { enabled: boolean; accessMode: string | null; existingClaim: string | null } | null;
  gitSyncEnabled: boolean;
}

/** One job of the health endpoint: its status and last heartbeat as Airflow reports them. */
export interface HealthEntry {
  status: string | null;
  latestHeartbeat: string | null;
}

export interface JobHeartbeat {
  jobType: string;
  hostname: string;
  state: string;
  /** Seconds since the job's latest heartbeat, measured by the database's clock. */
  heartbeatAgeSeconds: number;
}

export interface DagVisibility {
  /** `count(DISTINCT dag_id)` of serialized_dag (one row per DAG version in Airflow 3). */
  serializedDags: number;
  /** `dag` rows the dag processor still sees (not stale / active). */
  activeDags: number;
  /** Distinct DAG files behind those rows. */
  dagFiles: number;
  /** Paused among the active DAGs. */
  pausedDags: number;
}

/** Airflow's own view: the health endpoint, its version, its parse problems, the metadata DB. */
export interface AirflowSnapshot extends Timed {
  api: {
    url: string;
    /** monitor/health (v2) or health (v1): null when it did not answer (see `error`). */
    health: Record<string, HealthEntry> | null;
    version: string | null;
    importErrors: { file: string; error: string }[] | null;
    dagWarnings: { dagId: string; type: string; message: string }[] | null;
    error: string | null;
    /** What could not be read (401 on the authenticated routes, ...). */
    notes: string[];
  } | null;
  db: {
    visibility: DagVisibility;
    jobs: JobHeartbeat[];
    /** alembic_version of the metadata DB. */
    revision: string | null;
  } | null;
  dbError: string | null;
}
