/**
 * What the end-to-end tests of the upgrade runbook (test/upgrade-{local,major,worker-kill,kube}.test.ts)
 * share: the metadata DB read directly (row counts, alembic revision), the supervisor's view of its
 * components, a local Airflow staged in a temp dir under the supervisor, the in-process worker, the
 * plan, and a run started and approved the way an operator would. The assertions stay in the tests,
 * but for the history-kept check (assertHistoryKept) that the local and the major upgrade share.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { copyFileSync, cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { WorkflowHandle } from '@temporalio/client';
import pg from 'pg';
import type { Adapters } from '../../activities/index.js';
import { planDigest } from '../../domain/plan-file.js';
import { UPGRADE_WORKFLOW_TYPE } from '../../domain/upgrade/kind.js';
import { upgradePlanSchema, type UpgradePlan, type UpgradePlanInput } from '../../domain/upgrade/plan.js';
import type { UpgradeInput, UpgradeResult, UpgradeStatus } from '../../domain/upgrade/run.js';
import { localTargetEnvFile } from '../../local/airflow-env.js';
import type { AirflowComponentName } from '../../local/component-names.js';
import { spawnSupervisor, type SupervisorProcess } from '../../local/supervisor-process.js';
import { repoRoot } from '../../local/venv.js';
import { adaptersFromEnv } from '../../worker/adapters-from-env.js';
import { createCutoverWorker } from '../../worker/create-worker.js';
import { approveUpdate, statusQuery } from '../../workflows/engine/messages.js';
import { startCutoverEnv, workflowBundle, type CutoverEnv } from './cutover-env.js';
import { createAirflowTestDatabase } from './airflow-db.js';
import type { TestDatabase } from './postgres.js';

/** The rows of one statement, on a connection of its own (the tests' reads never share a session). */
export async function query<T extends pg.QueryResultRow>(
  url: string,
  text: string,
  params: unknown[] = [],
): Promise<T[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<T>(text, params)).rows;
  } finally {
    await client.end();
  }
}

/** The row count of each history table, read in parallel. */
export async function historyCounts<K extends string>(
  url: string,
  tables: readonly K[],
): Promise<Record<K, number>> {
  return Object.fromEntries(
    await Promise.all(
      tables.map(async (t) => [
        t,
        Number((await query<{ n: string }>(url, `SELECT count(*) AS n FROM ${t}`))[0]?.n),
      ]),
    ),
  ) as Record<K, number>;
}

export interface HistorySnapshot<K extends string> {
  counts: Record<K, number>;
  /** Every DAG run, as dag_id || run_id. */
  runs: string[];
}

/** The history as it stands: each table's row count and every DAG run. */
export async function historySnapshot<K extends string>(
  url: string,
  tables: readonly K[],
): Promise<HistorySnapshot<K>> {
  const counts = await historyCounts(url, tables);
  const runs = await query<{ id: string }>(url, 'SELECT dag_id || run_id AS id FROM dag_run ORDER BY 1');
  return { counts, runs: runs.map((r) => r.id) };
}

/**
 * Asserts no history was lost since `before` (taken at `since`): no table has fewer rows, and
 * every DAG run is still there.
 */
export async function assertHistoryKept<K extends string>(
  url: string,
  tables: readonly K[],
  before: HistorySnapshot<K>,
  since: string,
): Promise<void> {
  const after = await historyCounts(url, tables);
  for (const t of tables) {
    assert.ok(after[t] >= before.counts[t], `${t}: ${before.counts[t]} before, ${after[t]} after`);
  }
  const runsAfter = new Set(
    (await query<{ id: string }>(url, 'SELECT dag_id || run_id AS id FROM dag_run')).map((r) => r.id),
  );
  assert.ok(
    before.runs.every((r) => runsAfter.has(r)),
    `every DAG run from ${since} is still there`,
  );
}

/** The schema's alembic revision (undefined on a DB Airflow never migrated). */
export async function alembicRevision(url: string): Promise<string | undefined> {
  return (await query<{ v: string }>(url, 'SELECT version_num AS v FROM alembic_version'))[0]?.v;
}

/**
 * Every component's Airflow, read inside it by the supervisor's bookkeeping of what it launched:
 * `name=version`, sorted.
 */
export async function componentVersions(
  supervisor: Pick<SupervisorProcess, 'controlUrl'>,
): Promise<string[]> {
  const res = await fetch(`${supervisor.controlUrl}/components`);
  const body = (await res.json()) as { name: string; airflowVersion?: string }[];
  return body.map((c) => `${c.name}=${c.airflowVersion ?? '?'}`).sort();
}

/** What componentVersions answers when every one of `components` runs `version`. */
export function everyComponentOn(components: readonly string[], version: string): string[] {
  return components.map((c) => `${c}=${version}`).sort();
}

/** A new test DB with the schema Airflow `version`'s own `airflow db migrate` made (a copy of its template). */
export async function migratedTestDatabase(prefix: string, version: string): Promise<TestDatabase> {
  return createAirflowTestDatabase(prefix, { airflowVersion: version });
}

export interface LocalAirflowStage {
  /** The temp dir holding all the rest (whoever staged it removes it). */
  dir: string;
  home: string;
  dags: string;
  backups: string;
  /** The local target's env file, on `version`. */
  envFile: string;
}

/**
 * A local Airflow deployment on disk: AIRFLOW_HOME, a DAGs folder with the repo's upgrade_validation
 * DAG and the e2e fixtures (critical_report, every_minute) plus `dagFixtures`, a backups dir and
 * the env file naming `version`. `airflowCfg` is copied in as AIRFLOW_HOME/airflow.cfg.
 */
export function stageLocalAirflow(o: {
  prefix: string;
  version: string;
  sqlalchemyUrl: string;
  dagFixtures?: string[];
  airflowCfg?: string;
}): LocalAirflowStage {
  const dir = mkdtempSync(path.join(tmpdir(), `cutover-${o.prefix}-`));
  try {
    const home = path.join(dir, 'airflow-home');
    const dags = path.join(dir, 'dags');
    const backups = path.join(dir, 'backups');
    mkdirSync(home);
    mkdirSync(backups);
    mkdirSync(dags);
    if (o.airflowCfg) copyFileSync(o.airflowCfg, path.join(home, 'airflow.cfg'));
    cpSync(path.join(repoRoot(), 'dags', 'upgrade_validation.py'), path.join(dags, 'upgrade_validation.py'));
    cpSync(path.join(repoRoot(), 'test', 'fixtures', 'upgrade', 'dags-e2e'), dags, { recursive: true });
    for (const fixture of o.dagFixtures ?? []) cpSync(fixture, dags, { recursive: true });
    const envFile = path.join(dir, 'airflow.env');
    writeFileSync(
      envFile,
      `${localTargetEnvFile({ airflowHome: home, sqlalchemyUrl: o.sqlalchemyUrl, s3Endpoint: 'http://127.0.0.1:9' })}AIRFLOW_VERSION=${o.version}\n`,
    );
    return { dir, home, dags, backups, envFile };
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}

/** The supervisor running `components` of the staged deployment, its log in the stage's dir. */
export function startStagedSupervisor(
  stage: LocalAirflowStage,
  o: { components: readonly AirflowComponentName[]; password: string; startTimeoutMs?: number },
): Promise<SupervisorProcess> {
  return spawnSupervisor({
    envFile: stage.envFile,
    dagsFolder: stage.dags,
    components: [...o.components],
    password: o.password,
    logFile: path.join(stage.dir, 'supervisor.log'),
    ...(o.startTimeoutMs === undefined ? {} : { startTimeoutMs: o.startTimeoutMs }),
  });
}

/** The environment a worker reads its metadata DB and Airflow API credentials from (user admin). */
export function airflowWorkerEnv(dbUrl: string, password: string): NodeJS.ProcessEnv {
  return {
    ...process.env,
    CUTOVER_METADB_URL: dbUrl,
    CUTOVER_AIRFLOW_USER: 'admin',
    CUTOVER_AIRFLOW_PASSWORD: password,
  };
}

export interface InProcessWorker {
  /** Shuts the worker down and waits for it to end. */
  stop(): Promise<void>;
}

/** A cutover worker in this process on `taskQueue`, with real activities over `adapters`. */
export async function startInProcessWorker(o: {
  env: CutoverEnv;
  taskQueue: string;
  adapters: Adapters;
}): Promise<InProcessWorker> {
  const worker = await createCutoverWorker({
    connection: o.env.connection,
    taskQueue: o.taskQueue,
    adapters: o.adapters,
    workflowBundle: await workflowBundle(),
  });
  const done = worker.run();
  return {
    stop: async () => {
      worker.shutdown();
      await done;
    },
  };
}

/** Where an upgrade run is started: the Temporal env, the task queue its worker serves, its ids' prefix. */
export interface UpgradeRunner {
  env: CutoverEnv;
  taskQueue: string;
  name: string;
}

/** The components every local rig runs under the supervisor. */
export const LOCAL_COMPONENTS = ['api-server', 'scheduler', 'dag-processor'] as const;

export interface LocalUpgradeRig extends UpgradeRunner {
  db: TestDatabase;
  stage: LocalAirflowStage;
  supervisor: SupervisorProcess;
  from: string;
  components: readonly AirflowComponentName[];
  /** The Airflow API's admin password (a new one per rig). */
  password: string;
  /** Stops what start made, last first: the worker, the supervisor, the stage dir, the DB, Temporal. */
  close(): Promise<void>;
}

/**
 * Everything a local upgrade test named `name` runs against: the Temporal dev server, a DB
 * (cutover_<name>) migrated by `from`, the staged deployment under the supervisor
 * (LOCAL_COMPONENTS, user admin with a new password), a task queue <name>-<uuid> and, with
 * `inProcessWorker`, a worker in this process with the shipped adapters from the environment
 * serving it. What was started is stopped again if a later step fails (a test's after() has no rig
 * to close then). `keepDir` keeps the stage dir (its logs) and prints where it is.
 */
export async function startLocalUpgradeRig(
  name: string,
  o: {
    from: string;
    inProcessWorker?: boolean;
    airflowCfg?: string;
    dagFixtures?: string[];
    startTimeoutMs?: number;
    keepDir?: boolean;
  },
): Promise<LocalUpgradeRig> {
  const taskQueue = `${name}-${randomUUID()}`;
  const password = `pw-${randomUUID()}`;
  const components = LOCAL_COMPONENTS;
  const closers: (() => Promise<void> | void)[] = [];
  const close = async () => {
    for (const c of closers.splice(0).reverse()) await c();
  };
  try {
    const env = await startCutoverEnv();
    closers.push(() => env.close());
    const db = await migratedTestDatabase(`cutover_${name.replace(/-/g, '_')}`, o.from);
    closers.push(() => db.drop());
    const stage = stageLocalAirflow({
      prefix: name,
      version: o.from,
      sqlalchemyUrl: db.sqlalchemyUrl,
      ...(o.airflowCfg ? { airflowCfg: o.airflowCfg } : {}),
      ...(o.dagFixtures ? { dagFixtures: o.dagFixtures } : {}),
    });
    closers.push(() => {
      if (o.keepDir) console.log(`kept ${stage.dir}`);
      else rmSync(stage.dir, { recursive: true, force: true });
    });
    const supervisor = await startStagedSupervisor(stage, {
      components,
      password,
      ...(o.startTimeoutMs === undefined ? {} : { startTimeoutMs: o.startTimeoutMs }),
    });
    closers.push(() => supervisor.stop());
    if (o.inProcessWorker) {
      const wa = adaptersFromEnv(airflowWorkerEnv(db.url, password));
      closers.push(() => wa.close());
      const worker = await startInProcessWorker({ env, taskQueue, adapters: wa.adapters });
      closers.push(() => worker.stop());
    }
    return { env, taskQueue, name, db, stage, supervisor, from: o.from, components, password, close };
  } catch (err) {
    await close();
    throw err;
  }
}

/**
 * The reads the local tests assert on, over the rig that `rig()` answers once before() made it:
 * `sql` on its DB, its alembic `revision`, the supervisor's `componentVersions`, and `on(version)`,
 * what those are when every one of `components` runs `version`.
 */
export function rigReads(rig: () => Pick<LocalUpgradeRig, 'db' | 'supervisor' | 'components'>) {
  return {
    sql: <T extends pg.QueryResultRow>(text: string) => query<T>(rig().db.url, text),
    revision: () => alembicRevision(rig().db.url),
    componentVersions: () => componentVersions(rig().supervisor),
    on: (version: string) => everyComponentOn(rig().components, version),
  };
}

/** The target of a local upgrade plan: `components` under the supervisor, changed through `envFile`. */
export function localUpgradeTarget(
  name: string,
  envFile: string,
  components: readonly string[],
): UpgradePlanInput['target'] {
  return { kind: 'local', name, envFile, components: components.map((c) => ({ name: c })) };
}

/**
 * An upgrade plan `from` -> `to`, named `<prefix>-<8 hex>`: the metadata DB direct from
 * CUTOVER_METADB_URL, the API at `apiUrl` with CUTOVER_AIRFLOW_USER / _PASSWORD, a pg-dump backup
 * to `backups`, approver dococeven; parsed by the real schema.
 */
export function upgradePlan(o: {
  prefix: string;
  target: UpgradePlanInput['target'];
  change: UpgradePlanInput['change'];
  from: string;
  to: string;
  apiUrl: string;
  backups: string;
  validation: NonNullable<UpgradePlanInput['spec']>['validation'];
  rolloutTimeout: string;
}): UpgradePlan {
  const raw: UpgradePlanInput = {
    apiVersion: 'cutover/v1',
    kind: 'AirflowUpgrade',
    name: `${o.prefix}-${randomUUID().slice(0, 8)}`,
    target: o.target,
    airflow: {
      version: o.from,
      metadataDb: { access: 'direct', urlEnv: 'CUTOVER_METADB_URL' },
      api: {
        url: o.apiUrl,
        usernameEnv: 'CUTOVER_AIRFLOW_USER',
        passwordEnv: 'CUTOVER_AIRFLOW_PASSWORD',
      },
    },
    change: o.change,
    spec: {
      upgrade: { toVersion: o.to },
      backup: { strategy: 'pg-dump', to: o.backups },
      validation: o.validation,
    },
    approval: { approvers: ['dococeven'], timeout: '1h' },
    rollout: { timeout: o.rolloutTimeout },
  };
  return upgradePlanSchema.parse(raw);
}

/** The validation of the local e2e tests: critical_report first, then upgrade_validation. */
export const LOCAL_VALIDATION = { criticalDags: ['critical_report'], timeout: '5m', scheduleGrace: '3m' };

/**
 * The upgrade plan of a local rig to `to`: its components through its env file, the supervisor's
 * API, backups in its stage, LOCAL_VALIDATION.
 */
export function localUpgradePlan(
  rig: LocalUpgradeRig,
  o: { to: string; rolloutTimeout: string },
): UpgradePlan {
  return upgradePlan({
    prefix: rig.name,
    target: localUpgradeTarget(rig.name, rig.stage.envFile, rig.components),
    change: { mode: 'env-file' },
    from: rig.from,
    to: o.to,
    apiUrl: rig.supervisor.apiUrl,
    backups: rig.stage.backups,
    validation: LOCAL_VALIDATION,
    rolloutTimeout: o.rolloutTimeout,
  });
}

/**
 * Starts the upgrade workflow and approves it as dococeven when it asks (on the digest of the plan
 * it runs), or returns once it ended without asking.
 */
export async function startUpgrade(
  runner: UpgradeRunner,
  plan: UpgradePlan,
  inject?: UpgradeInput['inject'],
): Promise<WorkflowHandle> {
  const input: UpgradeInput = {
    plan,
    planDigest: planDigest(plan),
    startedBy: 'alice',
    ...(inject ? { inject } : {}),
  };
  const h: WorkflowHandle = await runner.env.client.workflow.start(UPGRADE_WORKFLOW_TYPE, {
    taskQueue: runner.taskQueue,
    workflowId: `${runner.name}-${randomUUID()}`,
    args: [input],
  });
  for (;;) {
    const s = (await h.query(statusQuery).catch(() => null)) as UpgradeStatus | null;
    if (s?.outcome) break;
    if (s?.pendingApproval) {
      await h.executeUpdate(approveUpdate, {
        args: [{ operator: 'dococeven', reason: 'evidence reviewed', digest: input.planDigest }],
      });
      break;
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  return h;
}

/** startUpgrade, then the run's result. */
export async function runUpgrade(
  runner: UpgradeRunner,
  plan: UpgradePlan,
  inject?: UpgradeInput['inject'],
): Promise<UpgradeResult> {
  return (await (await startUpgrade(runner, plan, inject)).result()) as UpgradeResult;
}
