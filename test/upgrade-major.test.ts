/**
 * The major upgrade Airflow 2.11.2 -> 3.3.2 on the LOCAL target, every adapter the shipped one, on
 * real components: Airflow 2.11.2 from .venvs/airflow-2.11.2 (the FAB webserver in the api-server
 * role, REST /api/v1 with basic auth; the scheduler; a standalone dag-processor) under the
 * supervisor, its PostgreSQL metadata DB migrated by 2.11.2, Airflow 3.3.2 from the default venv as
 * the target (/api/v2 with a JWT), pg_dump / pg_restore, the Temporal dev server, the repo's
 * upgrade_validation DAG, a critical DAG, a DAG due every minute (the history), and the Airflow 2
 * fixtures test/fixtures/upgrade/dags-airflow2 and config-airflow2.
 *
 * 1. PREFLIGHT is red: ruff's AIR3 rules name nightly_report.py's imports removed in Airflow 3 and
 *    3.3.2's `airflow config lint` names the renamed options; the run stops at PREFLIGHT with
 *    nothing changed (2.11.2 in every component, the DB at 2.11.2's revision).
 * 2. The DAG and the config fixed (dags-airflow3, config-airflow3), the same plan: DONE, every
 *    component on 3.3.2, the schema at 3.3.2's head, history kept (row counts, every DAG run from
 *    2.11.2 still there), the critical and the validation DAG succeeded on 3.3.2.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { copyFileSync, cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { WorkflowHandle } from '@temporalio/client';
import type { Worker } from '@temporalio/worker';
import pg from 'pg';
import { AirflowUpgradeCli } from '../adapters/airflow-upgrade-cli.js';
import { planDigest } from '../domain/plan-file.js';
import { UPGRADE_WORKFLOW_TYPE } from '../domain/upgrade/kind.js';
import { upgradePlanSchema, type UpgradePlan, type UpgradePlanInput } from '../domain/upgrade/plan.js';
import type { UpgradeInput, UpgradeResult, UpgradeStatus } from '../domain/upgrade/run.js';
import { localTargetEnvFile } from '../local/airflow-env.js';
import { spawnSupervisor, type SupervisorProcess } from '../local/supervisor-process.js';
import { airflowVenvFor, repoRoot } from '../local/venv.js';
import { adaptersFromEnv, type WorkerAdapters } from '../worker/adapters-from-env.js';
import { createCutoverWorker } from '../worker/create-worker.js';
import { approveUpdate, statusQuery } from '../workflows/engine/messages.js';
import { startCutoverEnv, workflowBundle, type CutoverEnv } from './support/cutover-env.js';
import { createTestDatabase, type TestDatabase } from './support/postgres.js';

const SLOW = { timeout: 1_800_000 };
const FROM = '2.11.2';
const TO = '3.3.2';
const PASSWORD = `pw-${randomUUID()}`;
const COMPONENTS = ['api-server', 'scheduler', 'dag-processor'] as const;
const HISTORY = ['dag_run', 'task_instance', 'xcom'] as const;
const FIXTURES = path.join(repoRoot(), 'test', 'fixtures', 'upgrade');

void describe('Airflow upgrade 2.11.2 -> 3.3.2 (major) on the local target, end to end', () => {
  let env: CutoverEnv;
  let db: TestDatabase;
  let dir: string;
  let home: string;
  let dags: string;
  let envFile: string;
  let backups: string;
  let supervisor: SupervisorProcess;
  let wa: WorkerAdapters;
  let worker: Worker;
  let workerDone: Promise<void>;
  const taskQueue = `upgrade-major-${randomUUID()}`;

  const sql = async <T extends pg.QueryResultRow>(text: string, params: unknown[] = []): Promise<T[]> => {
    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    try {
      return (await client.query<T>(text, params)).rows;
    } finally {
      await client.end();
    }
  };
  const counts = async () =>
    Object.fromEntries(
      await Promise.all(
        HISTORY.map(async (t) => [
          t,
          Number((await sql<{ n: string }>(`SELECT count(*) AS n FROM ${t}`))[0]?.n),
        ]),
      ),
    ) as Record<(typeof HISTORY)[number], number>;
  const revision = async () =>
    (await sql<{ v: string }>('SELECT version_num AS v FROM alembic_version'))[0]?.v;
  const componentVersions = async (): Promise<string[]> => {
    const res = await fetch(`${supervisor.controlUrl}/components`);
    const body = (await res.json()) as { name: string; airflowVersion?: string }[];
    return body.map((c) => `${c.name}=${c.airflowVersion ?? '?'}`).sort();
  };
  const on = (version: string) => COMPONENTS.map((c) => `${c}=${version}`).sort();

  before(async () => {
    env = await startCutoverEnv();
    db = await createTestDatabase('cutover_upgrade_major');
    const migrated = await new AirflowUpgradeCli({ targetVenv: airflowVenvFor(FROM) }).migrate({
      venv: airflowVenvFor(FROM),
      dbUrl: db.sqlalchemyUrl,
    });
    assert.ok(migrated.ok, `2.11.2's migrate: ${migrated.error}`);
    dir = mkdtempSync(path.join(tmpdir(), 'cutover-upgrade-major-'));
    home = path.join(dir, 'airflow-home');
    dags = path.join(dir, 'dags');
    backups = path.join(dir, 'backups');
    mkdirSync(home);
    mkdirSync(backups);
    mkdirSync(dags);
    // The Airflow 2 deployment as it runs: its airflow.cfg with options Airflow 3 renamed, a DAG
    // with imports Airflow 3 removed, beside the validation, critical and every-minute DAGs.
    copyFileSync(path.join(FIXTURES, 'config-airflow2', 'airflow.cfg'), path.join(home, 'airflow.cfg'));
    cpSync(path.join(repoRoot(), 'dags', 'upgrade_validation.py'), path.join(dags, 'upgrade_validation.py'));
    cpSync(path.join(FIXTURES, 'dags-e2e'), dags, { recursive: true });
    cpSync(path.join(FIXTURES, 'dags-airflow2'), dags, { recursive: true });
    envFile = path.join(dir, 'airflow.env');
    writeFileSync(
      envFile,
      `${localTargetEnvFile({ airflowHome: home, sqlalchemyUrl: db.sqlalchemyUrl, s3Endpoint: 'http://127.0.0.1:9' })}AIRFLOW_VERSION=${FROM}\n`,
    );
    supervisor = await spawnSupervisor({
      envFile,
      dagsFolder: dags,
      components: [...COMPONENTS],
      password: PASSWORD,
      logFile: path.join(dir, 'supervisor.log'),
      startTimeoutMs: 900_000,
    });
    assert.equal(supervisor.apiVersion, 'v1');
    wa = adaptersFromEnv({
      ...process.env,
      CUTOVER_METADB_URL: db.url,
      CUTOVER_AIRFLOW_USER: 'admin',
      CUTOVER_AIRFLOW_PASSWORD: PASSWORD,
    });
    worker = await createCutoverWorker({
      connection: env.connection,
      taskQueue,
      adapters: wa.adapters,
      workflowBundle: await workflowBundle(),
    });
    workerDone = worker.run();
  }, SLOW);

  after(async () => {
    if (worker) {
      worker.shutdown();
      await workerDone;
      await wa.close();
    }
    await supervisor?.stop();
    await env?.close();
    await db?.drop();
    if (dir && !process.env.CUTOVER_KEEP_AIRFLOW_LOGS) rmSync(dir, { recursive: true, force: true });
    else if (dir) console.log(`kept ${dir}`);
  });

  function planFor(): UpgradePlan {
    const raw: UpgradePlanInput = {
      apiVersion: 'cutover/v1',
      kind: 'AirflowUpgrade',
      name: `upgrade-major-${randomUUID().slice(0, 8)}`,
      target: {
        kind: 'local',
        name: 'upgrade-major',
        envFile,
        components: COMPONENTS.map((name) => ({ name })),
      },
      airflow: {
        version: FROM,
        metadataDb: { access: 'direct', urlEnv: 'CUTOVER_METADB_URL' },
        api: {
          url: supervisor.apiUrl,
          usernameEnv: 'CUTOVER_AIRFLOW_USER',
          passwordEnv: 'CUTOVER_AIRFLOW_PASSWORD',
        },
      },
      change: { mode: 'env-file' },
      spec: {
        upgrade: { toVersion: TO },
        backup: { strategy: 'pg-dump', to: backups },
        validation: { criticalDags: ['critical_report'], timeout: '5m', scheduleGrace: '3m' },
      },
      approval: { approvers: ['dococeven'], timeout: '1h' },
      rollout: { timeout: '10m' },
    };
    return upgradePlanSchema.parse(raw);
  }

  async function upgrade(plan: UpgradePlan): Promise<UpgradeResult> {
    const input: UpgradeInput = { plan, planDigest: planDigest(plan), startedBy: 'alice' };
    const h: WorkflowHandle = await env.client.workflow.start(UPGRADE_WORKFLOW_TYPE, {
      taskQueue,
      workflowId: `upgrade-major-${randomUUID()}`,
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
    return (await h.result()) as UpgradeResult;
  }

  const plan = () => planFor();

  test('PREFLIGHT is red on the removed imports and the renamed options; nothing changed', SLOW, async () => {
    const head = await revision();
    const result = await upgrade(plan());
    assert.equal(result.outcome, 'STOPPED', result.reason);
    assert.match(result.reason, /^PREFLIGHT gate red, nothing changed/);
    assert.equal(result.productionChanged, false);
    const ev = result.status.evidence;
    assert.equal(ev.preflight?.major, true);
    assert.equal(ev.preflight?.gate.passed, false);
    const row = (name: string) => ev.preflight?.checks.find((c) => c.name === name);
    assert.equal(row('DAGs for Airflow 3')?.status, 'red');
    assert.equal(row('config for Airflow 3')?.status, 'red');
    // Each finding named: the file and line and rule for a DAG, the section and option for the config.
    const breaking = (ev.preflight?.dagFindings ?? []).filter((f) => f.breaking);
    assert.ok(
      breaking.some((f) => f.file === 'nightly_report.py' && f.rule === 'AIR302' && f.line > 0),
      JSON.stringify(ev.preflight?.dagFindings),
    );
    assert.ok(
      breaking.every((f) => f.file === 'nightly_report.py'),
      JSON.stringify(breaking),
    );
    assert.match(row('DAGs for Airflow 3')?.detail ?? '', /nightly_report\.py:\d+ AIR30[12]/);
    const options = (ev.preflight?.configLint ?? []).map((f) => `${f.section}.${f.option}`).sort();
    assert.ok(options.includes('scheduler.dag_dir_list_interval'), JSON.stringify(ev.preflight?.configLint));
    assert.ok(options.includes('webserver.web_server_port'), JSON.stringify(ev.preflight?.configLint));
    // Nothing changed: no rehearsal, no backup, 2.11.2 everywhere, the schema where it was.
    assert.equal(ev.rehearsal, null);
    assert.equal(ev.backup, null);
    assert.deepEqual(await componentVersions(), on(FROM));
    assert.equal(await revision(), head);
    assert.match(readFileSync(envFile, 'utf8'), new RegExp(`^AIRFLOW_VERSION=${FROM}$`, 'm'));
  });

  test('fixed DAG and config: DONE on 3.3.2, schema at head, history kept, DAGs succeed', SLOW, async () => {
    // The fixes go out before the upgrade, as they would: the DAG with Airflow 3's imports (it still
    // parses on 2.11.2 with the standard provider) and the config under Airflow 3's names.
    copyFileSync(
      path.join(FIXTURES, 'dags-airflow3', 'nightly_report.py'),
      path.join(dags, 'nightly_report.py'),
    );
    copyFileSync(path.join(FIXTURES, 'config-airflow3', 'airflow.cfg'), path.join(home, 'airflow.cfg'));
    // History made by 2.11.2: every_minute's runs, each with its task instance and XCom.
    const deadline = Date.now() + 600_000;
    while (
      Number(
        (
          await sql<{ n: string }>(
            "SELECT count(*) AS n FROM dag_run r JOIN xcom x USING (dag_id, run_id) WHERE r.dag_id = 'every_minute' AND r.state = 'success'",
          )
        )[0]?.n,
      ) < 1
    ) {
      assert.ok(Date.now() < deadline, 'every_minute made no successful run with an XCom on 2.11.2');
      await new Promise((r) => setTimeout(r, 2000));
    }
    const before = await counts();
    const runsBefore = await sql<{ id: string }>('SELECT dag_id || run_id AS id FROM dag_run ORDER BY 1');
    const result = await upgrade(plan());
    assert.equal(result.outcome, 'DONE', result.reason);
    const ev = result.status.evidence;
    assert.equal(ev.preflight?.gate.passed, true);
    assert.deepEqual(await componentVersions(), on(TO));
    assert.equal(ev.versions?.migrationsCurrent, true);
    assert.ok(ev.versions?.components.every((c) => c.airflowVersion === TO));
    assert.notEqual(await revision(), ev.preflight?.dbRevision.revision, 'the schema moved');
    assert.equal(ev.migration?.toRevision, await revision());
    assert.deepEqual(
      ev.rehearsal?.rowCounts.map((r) => r.before === r.after),
      HISTORY.map(() => true),
    );
    const after = await counts();
    for (const t of HISTORY) assert.ok(after[t] >= before[t], `${t}: ${before[t]} before, ${after[t]} after`);
    const runsAfter = new Set(
      (await sql<{ id: string }>('SELECT dag_id || run_id AS id FROM dag_run')).map((r) => r.id),
    );
    assert.ok(
      runsBefore.every((r) => runsAfter.has(r.id)),
      'every DAG run from 2.11.2 is still there',
    );
    assert.deepEqual(
      (ev.validation?.runs ?? []).map((r) => `${r.dagId}:${r.state}`),
      ['critical_report:success', 'upgrade_validation:success'],
    );
    assert.ok(ev.validation?.schedule.every((s) => s.scheduled));
    assert.match(readFileSync(envFile, 'utf8'), new RegExp(`^AIRFLOW_VERSION=${TO}$`, 'm'));
  });
});
