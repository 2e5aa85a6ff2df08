/**
 * The upgrade (kind AirflowUpgrade) on the LOCAL target, every adapter the shipped one, on real
 * components: Airflow 3.2.2 from its venv (api-server, scheduler, dag-processor) under the supervisor,
 * its PostgreSQL metadata DB migrated by 3.2.2, Airflow 3.3.2 from the default venv as the target,
 * pg_dump / pg_restore, the Temporal dev server, the repo's upgrade_validation DAG, a critical DAG
 * and a DAG due every minute.
 *
 * 1. the fail-validation drill: the switch happens, the validation DAG fails on 3.3.2; the run
 *    rolls back (the DB restored or downgraded, as the runs since the switch say), 3.2.2 runs again
 *    in every component and the runs made on 3.3.2 run again on it: ROLLED_BACK
 * 2. the break-migration drill: 3.3.2's real migration fails mid-way; the backup is restored, the
 *    history tables' checksums equal the backup's, 3.2.2 runs again: ROLLED_BACK
 * 3. the upgrade: DONE, every component on 3.3.2, the schema at its head, history kept, the
 *    critical and validation DAGs succeeded on 3.3.2, downtime measured
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
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

const SLOW = { timeout: 1_200_000 };
const FROM = '3.2.2';
const TO = '3.3.2';
const PASSWORD = `pw-${randomUUID()}`;
const COMPONENTS = ['api-server', 'scheduler', 'dag-processor'] as const;
const HISTORY = ['dag_run', 'task_instance', 'xcom'] as const;

void describe('Airflow upgrade 3.2.2 -> 3.3.2 on the local target, end to end', () => {
  let env: CutoverEnv;
  let db: TestDatabase;
  let dir: string;
  let envFile: string;
  let backups: string;
  let supervisor: SupervisorProcess;
  let wa: WorkerAdapters;
  let worker: Worker;
  let workerDone: Promise<void>;
  const taskQueue = `upgrade-e2e-${randomUUID()}`;

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
  /** Every component's Airflow, read inside it by the supervisor's bookkeeping of what it launched. */
  const componentVersions = async (): Promise<string[]> => {
    const res = await fetch(`${supervisor.controlUrl}/components`);
    const body = (await res.json()) as { name: string; airflowVersion?: string }[];
    return body.map((c) => `${c.name}=${c.airflowVersion ?? '?'}`).sort();
  };
  const on = (version: string) => COMPONENTS.map((c) => `${c}=${version}`).sort();

  before(async () => {
    env = await startCutoverEnv();
    db = await createTestDatabase('cutover_upgrade_e2e');
    const migrated = await new AirflowUpgradeCli({ targetVenv: airflowVenvFor(FROM) }).migrate({
      venv: airflowVenvFor(FROM),
      dbUrl: db.sqlalchemyUrl,
    });
    assert.ok(migrated.ok, `3.2.2's migrate: ${migrated.error}`);
    dir = mkdtempSync(path.join(tmpdir(), 'cutover-upgrade-e2e-'));
    const home = path.join(dir, 'airflow-home');
    const dags = path.join(dir, 'dags');
    backups = path.join(dir, 'backups');
    mkdirSync(home);
    mkdirSync(backups);
    mkdirSync(dags);
    cpSync(path.join(repoRoot(), 'dags', 'upgrade_validation.py'), path.join(dags, 'upgrade_validation.py'));
    cpSync(path.join(repoRoot(), 'test', 'fixtures', 'upgrade', 'dags-e2e'), dags, { recursive: true });
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
    });
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
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  function planFor(patch: (raw: UpgradePlanInput) => void = () => {}): UpgradePlan {
    const raw: UpgradePlanInput = {
      apiVersion: 'cutover/v1',
      kind: 'AirflowUpgrade',
      name: `upgrade-e2e-${randomUUID().slice(0, 8)}`,
      target: {
        kind: 'local',
        name: 'upgrade-e2e',
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
      rollout: { timeout: '5m' },
    };
    patch(raw);
    return upgradePlanSchema.parse(raw);
  }

  async function upgrade(plan: UpgradePlan, inject?: UpgradeInput['inject']): Promise<UpgradeResult> {
    const input: UpgradeInput = {
      plan,
      planDigest: planDigest(plan),
      startedBy: 'alice',
      ...(inject ? { inject } : {}),
    };
    const h: WorkflowHandle = await env.client.workflow.start(UPGRADE_WORKFLOW_TYPE, {
      taskQueue,
      workflowId: `upgrade-e2e-${randomUUID()}`,
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

  test(
    'fail-validation: rolled back after the switch; 3.2.2 in every component; the runs made on 3.3.2 run again on 3.2.2',
    SLOW,
    async () => {
      const head = await revision();
      const result = await upgrade(planFor(), 'fail-validation');
      assert.equal(result.outcome, 'ROLLED_BACK', result.reason);
      const ev = result.status.evidence;
      assert.ok(ev.started, 'the components ran on 3.3.2 before the rollback');
      assert.equal(
        ev.versions?.components.every((c) => c.airflowVersion === TO),
        true,
      );
      assert.equal(ev.validation?.gate.passed, false);
      assert.ok(ev.restore, 'the DB was brought back');
      // The method follows the runs since the switch: production runs kept by a downgrade, else the backup.
      const theirs = (ev.runsSinceSwitch?.runs ?? []).filter((r) => !r.cutover);
      assert.equal(ev.restore.method, theirs.length > 0 ? 'downgrade' : 'restore', ev.restore.reason);
      assert.deepEqual(await componentVersions(), on(FROM));
      assert.equal(ev.rolledBackVersions?.gate.passed, true);
      assert.equal(await revision(), head, 'the schema is 3.2.2’s again');
      assert.match(readFileSync(envFile, 'utf8'), new RegExp(`^AIRFLOW_VERSION=${FROM}$`, 'm'));
      const rerun = ev.retriggered?.runs ?? [];
      assert.ok(
        rerun.some((r) => r.dagId === 'critical_report'),
        'the critical DAG ran again on 3.2.2',
      );
      assert.ok(
        rerun.every((r) => r.finalState === 'success'),
        JSON.stringify(rerun),
      );
      assert.ok(
        !rerun.some((r) => r.dagId === 'upgrade_validation'),
        'the failing validation run is not repeated',
      );
    },
  );

  test(
    'break-migration: the real migration fails mid-way; the backup is restored whole; 3.2.2 runs again',
    SLOW,
    async () => {
      const head = await revision();
      const result = await upgrade(planFor(), 'break-migration');
      assert.equal(result.outcome, 'ROLLED_BACK', result.reason);
      assert.match(result.reason, /^MIGRATE failed/);
      const ev = result.status.evidence;
      assert.equal(ev.started, null, 'nothing started on 3.3.2');
      assert.equal(ev.restore?.method, 'restore');
      assert.equal(ev.restore?.checksumsMatch, true);
      assert.deepEqual(
        Object.fromEntries(ev.restore?.rowCounts.map((r) => [r.table, r.rows]) ?? []),
        Object.fromEntries(ev.backup?.rowCounts.map((r) => [r.table, r.rows]) ?? []),
      );
      assert.equal(await revision(), head);
      const drift = await sql("SELECT 1 FROM pg_indexes WHERE indexname = 'ti_dag_version_id'");
      assert.equal(drift.length, 0, 'the drill’s index went with the restore');
      assert.deepEqual(await componentVersions(), on(FROM));
      assert.ok(ev.backup && existsSync(ev.backup.location), 'the verified dump is kept');
      assert.ok((ev.backup?.tocEntries ?? 0) > 100);
    },
  );

  test('the upgrade: DONE on 3.3.2, history kept, critical DAG first, downtime measured', SLOW, async () => {
    const before = await counts();
    const runsBefore = await sql<{ id: string }>('SELECT dag_id || run_id AS id FROM dag_run ORDER BY 1');
    const result = await upgrade(planFor());
    assert.equal(result.outcome, 'DONE', result.reason);
    const ev = result.status.evidence;
    assert.deepEqual(await componentVersions(), on(TO));
    assert.equal(ev.versions?.migrationsCurrent, true);
    assert.equal(ev.rehearsal?.dropped, true);
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
      'every DAG run from before is still there',
    );
    const runs = ev.validation?.runs ?? [];
    assert.deepEqual(
      runs.map((r) => `${r.dagId}:${r.state}`),
      ['critical_report:success', 'upgrade_validation:success'],
    );
    assert.ok(ev.validation?.schedule.every((s) => s.scheduled));
    assert.match(result.reason, /downtime \d+\.\d s, migration \d+\.\d s \(rehearsed \d+\.\d s\)/);
    assert.ok(readdirSync(backups).length >= 1);
    assert.match(readFileSync(envFile, 'utf8'), new RegExp(`^AIRFLOW_VERSION=${TO}$`, 'm'));
  });
});
