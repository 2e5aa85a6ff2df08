/**
 * The upgrade's evidence and run types: shared by its workflow, its activities, the CLI and the
 * dossier.
 */
import type { HealthGateEvidence } from '../assessment/run.js';
import type { CheckRow, GateVerdict, Timed } from '../engine/evidence.js';
import type { RunInput, RunResult, RunStatus } from '../engine/run.js';
import type { AffectedRun, ChangeEvidence } from '../evidence.js';
import { emptyChangeEvidence } from '../evidence.js';
import type { UpgradePlan } from './plan.js';

/**
 * Drills: `break-migration` makes the real migration fail mid-way (a row the new release's migration
 * cannot take, put in during DRAIN), `fail-validation` makes the validation DAG fail on the new
 * release (its run conf asks it to), so the rollback runs.
 */
export const UPGRADE_FAULT_INJECTIONS = ['break-migration', 'fail-validation'] as const;
export type UpgradeFaultInjection = (typeof UPGRADE_FAULT_INJECTIONS)[number];

export type UpgradeInput = RunInput<UpgradePlan> & { inject?: UpgradeFaultInjection };

/** The tables whose rows the upgrade must keep: counted before and after every DB change. */
export const HISTORY_TABLES = ['dag_run', 'task_instance', 'xcom'] as const;

export interface ProviderInstalled {
  name: string;
  version: string;
  /** The provider's own `apache-airflow` requirement (its dist metadata), '' when it states none. */
  requiresAirflow: string;
}

/** What a component reports about itself (probes/upgrade_inventory.py inside it). */
export interface ComponentInventory {
  component: string;
  airflowVersion: string | null;
  python: string | null;
  providers: ProviderInstalled[];
  /** The DAG folder the component parses (the Airflow 3 rules read it). */
  dagsFolder: string | null;
  error: string | null;
}

export interface ConfigLintFinding {
  section: string;
  option: string;
  message: string;
}

export interface DagFinding {
  file: string;
  line: number;
  rule: string;
  message: string;
  /** The DAG breaks on the new release (removed or moved to a provider), not a suggested update. */
  breaking: boolean;
}

export interface ProviderFinding {
  name: string;
  installed: string;
  /** The version the target's install holds, null when it has none. */
  target: string | null;
  problem: string;
  /** The new release cannot run it: it excludes the release, or the target's install lacks it. */
  blocking: boolean;
  /** The target's install lacks it (absent in records made before this was kept). */
  missingInTarget?: boolean;
}

export interface TableSize {
  table: string;
  rows: number;
  bytes: number;
}

export interface MigrationSql {
  fromRevision: string;
  statements: number;
  bytes: number;
  /** The SQL itself, cut at 32 KB for the history (`truncated` says so); the approver reads it. */
  text: string;
  truncated: boolean;
}

export interface UpgradePreflight extends Timed {
  from: string;
  to: string;
  major: boolean;
  components: ComponentInventory[];
  /** The install the new release runs from on this target (a venv on a local target). */
  targetInstall: string | null;
  dbRevision: { revision: string; version: string | null };
  migrationSql: MigrationSql | null;
  db: { sizeBytes: number; largestTables: TableSize[] };
  providers: ProviderFinding[];
  configLint: ConfigLintFinding[];
  dagFindings: DagFinding[];
  checks: CheckRow[];
  gate: GateVerdict;
}

export interface RowCount {
  table: string;
  before: number;
  after: number;
}

export interface UpgradeRehearsal extends Timed {
  database: string;
  copyMs: number;
  migrateMs: number;
  fromRevision: string;
  toRevision: string;
  migrationsCurrent: boolean;
  rowCounts: RowCount[];
  dropped: boolean;
  gate: GateVerdict;
}

export interface BackupRecord extends Timed {
  strategy: 'pg-dump' | 'clone';
  /** A file, an s3:// object or a database name: never a URL with credentials. */
  location: string;
  bytes: number | null;
  sha256: string | null;
  /** `pg_restore --list` entries of the dump (verified readable); null for a clone. */
  tocEntries: number | null;
  /** A clone's database oid: a retried restore finds the clone already renamed into place by it. */
  cloneOid?: number;
  durationMs: number;
  rowCounts: { table: string; rows: number }[];
  checksums: Record<string, string>;
}

export interface DueDag {
  dagId: string;
  /** When the scheduler was due to create its next run (dag.next_dagrun_create_after). */
  dueAt: string;
}

export interface DrainRecord extends Timed {
  stoppedAt: string;
  components: string[];
  /** Unpaused DAGs and when each next falls due: the ones due while Airflow is down are checked after. */
  schedule: DueDag[];
}

export interface MigrationRecord extends Timed {
  fromRevision: string;
  toRevision: string;
  durationMs: number;
  outputTail: string;
  /** The activity attempt that answered (> 1: a worker died during an earlier one). */
  attempt?: number;
  /** This attempt ran `airflow db migrate` itself (false: an earlier attempt's migration did the work). */
  ranHere?: boolean;
  /** What this attempt found of an earlier one: its migration still running (waited for), or done. */
  foundOfEarlier?: string | null;
}

export interface ComponentsStarted extends Timed {
  version: string;
  components: { name: string; pid: number; startedAt: string }[];
  /** When every component answered healthy: the end of the downtime on a switch. */
  healthyAt: string;
}

export interface VersionsRecord extends Timed {
  expected: string;
  components: { component: string; airflowVersion: string | null; error: string | null }[];
  migrationsCurrent: boolean;
  gate: GateVerdict;
}

export interface UpgradeRunRecord {
  dagId: string;
  runId: string;
  state: string;
  critical: boolean;
  durationMs: number;
}

export interface ScheduleCheck {
  dagId: string;
  dueAt: string;
  /** The scheduler created the due run (next_dagrun_create_after moved past dueAt). */
  scheduled: boolean;
}

export interface UpgradeValidation extends Timed {
  runs: UpgradeRunRecord[];
  schedule: ScheduleCheck[];
  gate: GateVerdict;
}

export interface RestoreRecord extends Timed {
  method: 'restore' | 'downgrade';
  /** Why this method: the runs since the switch, the plan's rollback.method. */
  reason: string;
  durationMs: number;
  rowCounts: { table: string; rows: number }[];
  /** Key tables' checksums equal to the backup's (restore), or null when not comparable (downgrade). */
  checksumsMatch: boolean | null;
  /** The activity attempt that answered (> 1: a worker died during an earlier one). */
  attempt?: number;
  /** What this attempt found of earlier ones: the restore already done, or their staging DBs dropped. */
  foundOfEarlier?: string | null;
}

export interface RunsSinceSwitch extends Timed {
  since: string;
  runs: (AffectedRun & { cutover: boolean; logicalDate: string | null; conf: Record<string, unknown> })[];
}

export interface Retriggered extends Timed {
  runs: { dagId: string; runId: string; how: 'rerun' | 'retrigger'; finalState: string }[];
}

export interface UpgradeEvidence extends ChangeEvidence, HealthGateEvidence {
  preflight: UpgradePreflight | null;
  rehearsal: UpgradeRehearsal | null;
  backup: BackupRecord | null;
  drain: DrainRecord | null;
  migration: MigrationRecord | null;
  started: ComponentsStarted | null;
  versions: VersionsRecord | null;
  validation: UpgradeValidation | null;
  runsSinceSwitch: RunsSinceSwitch | null;
  restore: RestoreRecord | null;
  restarted: ComponentsStarted | null;
  rolledBackVersions: VersionsRecord | null;
  retriggered: Retriggered | null;
}

export function emptyUpgradeEvidence(): UpgradeEvidence {
  return {
    preflight: null,
    rehearsal: null,
    backup: null,
    drain: null,
    migration: null,
    started: null,
    versions: null,
    validation: null,
    runsSinceSwitch: null,
    restore: null,
    restarted: null,
    rolledBackVersions: null,
    retriggered: null,
    ...emptyChangeEvidence(),
  };
}

/** The history tables hold the same rows in both readings (table -> checksum). */
export function sameHistory(a: Record<string, string>, b: Record<string, string>): boolean {
  const tables = new Set([...Object.keys(a), ...Object.keys(b)]);
  return [...tables].every((t) => a[t] === b[t]);
}

/** Scheduler down -> healthy on the new release: what users of Airflow waited. */
export function downtimeMs(ev: UpgradeEvidence): number | null {
  const from = ev.drain?.stoppedAt;
  const to = ev.started?.healthyAt;
  return from && to ? Date.parse(to) - Date.parse(from) : null;
}

export type UpgradeStatus = RunStatus<UpgradeEvidence>;
export type UpgradeResult = RunResult<UpgradeEvidence>;
