/**
 * What the upgrade's activities need of the outside world. The worker binds each to the plan's
 * target: databases are named, never addressed by URL, so credentials stay in the adapters.
 */
import type {
  ComponentInventory,
  ConfigLintFinding,
  DagFinding,
  DueDag,
  ProviderFinding,
  ProviderInstalled,
  TableSize,
} from '../domain/upgrade/run.js';
import type { Heartbeat } from './heartbeat.js';

export interface DumpResult {
  location: string;
  bytes: number;
  sha256: string;
  tocEntries: number;
  durationMs: number;
}

/** The target's metadata DB as a whole, on its own PostgreSQL server (pg_dump, pg_restore, admin SQL). */
export interface UpgradeDatabasePort {
  /** The live metadata DB's name (the plan's URL's database). */
  readonly database: string;
  sizeBytes(db?: string): Promise<number>;
  largestTables(n: number, db?: string): Promise<TableSize[]>;
  /** Exact counts; a table that does not exist counts 0. */
  rowCounts(tables: readonly string[], db?: string): Promise<{ table: string; rows: number }[]>;
  /** Deterministic per table over its rows ordered by primary key. */
  tableChecksums(tables: readonly string[], db?: string): Promise<Record<string, string>>;
  /** alembic_version.version_num. */
  revision(db?: string): Promise<string>;
  /** A copy of the live DB as `name` while Airflow runs (dump | restore), replacing a leftover one. */
  copyTo(name: string, heartbeat?: Heartbeat): Promise<{ durationMs: number }>;
  dropDatabase(name: string): Promise<boolean>;
  /** pg_dump -Fc of the live DB to `location` (a directory or s3://bucket/prefix), verified by listing. */
  dump(location: string, fileName: string, heartbeat?: Heartbeat): Promise<DumpResult>;
  /**
   * CREATE DATABASE name TEMPLATE live: refused while a session is connected to the live DB. A clone
   * left by an earlier attempt is replaced. Its oid lets a retried restore know it already happened.
   */
  clone(name: string): Promise<{ durationMs: number; oid: number }>;
  /**
   * The live DB replaced by the dump at `location` (checksum verified first). Idempotent: staging
   * databases an earlier attempt left (an orphaned pg_restore may still write one) are dropped with
   * their sessions, and named in `leftoversDropped`; `resumed` when only the swap was left to do.
   */
  restoreDump(
    location: string,
    sha256: string,
    heartbeat?: Heartbeat,
  ): Promise<{ durationMs: number; resumed: boolean; leftoversDropped: string[] }>;
  /**
   * The session holding Airflow's migration lock on the live DB (`pg_advisory_lock(1)`, DBLocks.MIGRATIONS,
   * taken by every `airflow db migrate`), or null: a migration is running there now.
   */
  migrationLockHolder(): Promise<{ pid: number; backendStart: string; waiting: boolean } | null>;
  /** The live DB replaced by the clone `name` (the clone is consumed). Idempotent given the clone's oid. */
  restoreClone(name: string, oid?: number): Promise<{ durationMs: number }>;
  databaseExists(name: string): Promise<boolean>;
  /** Unpaused DAGs with a next run due (dag.next_dagrun_create_after). */
  dueDags(): Promise<DueDag[]>;
  /** Each DAG's current next_dagrun_create_after (null: none, or the DAG is gone). */
  nextDue(dagIds: readonly string[]): Promise<Record<string, string | null>>;
  /** Runs SQL on the live DB (drills only: the fixture that breaks the new release's migration). */
  execute(sql: string): Promise<void>;
}

/** Airflow releases installed for the target, and their CLI against a named database. */
export interface AirflowReleasesPort {
  /** Where `version` is installed for this target (a venv), or null when it is not. */
  installed(version: string): string | null;
  /** The Airflow release a revision belongs to, per `version`'s migration map (null: unknown to it). */
  versionOfRevision(version: string, revision: string): Promise<string | null>;
  migrationSql(
    version: string,
    db: string,
  ): Promise<{ fromRevision: string; sql: string; statements: number }>;
  migrate(
    version: string,
    db: string,
    heartbeat?: Heartbeat,
  ): Promise<{ fromRevision: string; toRevision: string; durationMs: number; outputTail: string }>;
  checkMigrations(version: string, db: string): Promise<boolean>;
  downgrade(
    version: string,
    toVersion: string,
    db: string,
    heartbeat?: Heartbeat,
  ): Promise<{ durationMs: number; outputTail: string }>;
  /** The target release's `airflow config lint` over a component's live config. */
  configLint(version: string, component: string): Promise<ConfigLintFinding[]>;
  /** ruff's Airflow 3 rules over the DAG folder the components parse. */
  airflow3DagFindings(version: string, dagsFolder: string): Promise<DagFinding[]>;
  /** What the installed providers become on `version`'s install, and which it cannot run. */
  providerFindings(version: string, installed: ProviderInstalled[]): Promise<ProviderFinding[]>;
  /**
   * The providers `version`'s apache-airflow itself requires (installed with it, not chosen by the
   * deployment: Airflow 2 brings ftp, imap, sqlite, fab...); empty when `version` is not installed.
   */
  bundledProviders(version: string): string[];
}

/** The components as a whole: stopped for the migration, started on a release. */
export interface ComponentPowerPort {
  stop(args: { components: string[]; heartbeat?: Heartbeat }): Promise<{ stoppedAt: string }>;
  start(args: {
    components: string[];
    timeoutMs: number;
    heartbeat?: Heartbeat;
  }): Promise<{ components: { name: string; pid: number; startedAt: string }[]; healthyAt: string }>;
}

/** What each component reports about itself, from inside it. */
export interface UpgradeInventoryPort {
  inventory(component: string): Promise<ComponentInventory>;
}

/** What the chart's migration Job did for an image (Kubernetes targets). */
export interface MigrationJobRun {
  job: string;
  image: string;
  succeeded: boolean;
  /** The Job's own start and end (status.startTime, completionTime or the Failed condition's time). */
  startedAt: string | null;
  finishedAt: string | null;
  /** The Job controller's reason and message when it failed. */
  reason: string;
}

/**
 * The Helm chart's migration Job, applied by the GitOps tool as a plain resource
 * (migrateDatabaseJob.useHelmHooks false): cutover never creates it, it waits for the one the CD
 * made for the new image.
 */
export interface MigrationJobPort {
  readonly jobName: string;
  /** Waits until the Job running `release`'s image has completed or failed (timeoutMs: an error). */
  awaitFor(args: { release: string; timeoutMs: number; heartbeat?: Heartbeat }): Promise<MigrationJobRun>;
}

/** The Helm values in the GitOps repo, read (the change itself goes through the ChangePort). */
export interface HelmValuesPort {
  /** Where they are read, for a check's detail. */
  describe(): string;
  /** The values of `keys` at a dotted location (`.` the root); null = absent. */
  read(location: string, keys: string[]): Promise<Record<string, string | null>>;
}
