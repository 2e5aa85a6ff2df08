/**
 * The state-store flip (kind StateStoreBackendCutover) on the LOCAL target, every adapter the shipped
 * one, on real components: Airflow 3.3 (api-server, scheduler, dag-processor) under the supervisor,
 * its PostgreSQL metadata DB, moto's S3 server, the Temporal dev server, the repo's
 * state_store_backend_validation DAG.
 *
 * 1. an env file carrying a draft name from the PR text: STOPPED at PREFLIGHT naming it, nothing touched
 * 2. happy path: DONE; the validation DAG wrote task and asset state through the backend and read it back
 * 3. the validation run breaks the plan's expectation: revert, the data-aware heal rewrites every row
 *    written since APPLY to its plain value, the run is re-run on the old config: ROLLED_BACK
 * 4. the worker SIGKILLed while the heal rewrites 1,500 rows: another worker finishes the run,
 *    each row rewritten exactly once (an audit trigger counts the rewrites)
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import type { WorkflowHandle } from '@temporalio/client';
import type { Worker } from '@temporalio/worker';
import pg from 'pg';
import { planDigest } from '../domain/plan-file.js';
import { STATE_STORE_WORKFLOW_TYPE } from '../domain/statestore/kind.js';
import {
  stateStorePlanSchema,
  type StateStorePlan,
  type StateStorePlanInput,
} from '../domain/statestore/plan.js';
import type { StateStoreInput, StateStoreResult, StateStoreStatus } from '../domain/statestore/run.js';
import { localTargetEnvFile } from '../local/airflow-env.js';
import { spawnSupervisor, type SupervisorProcess } from '../local/supervisor-process.js';
import { repoRoot } from '../local/venv.js';
import { adaptersFromEnv, type WorkerAdapters } from '../worker/adapters-from-env.js';
import { createCutoverWorker } from '../worker/create-worker.js';
import { approveUpdate, statusQuery } from '../workflows/engine/messages.js';
import { createAirflowTestDatabase, type AirflowTestDatabase } from './support/airflow-db.js';
import { startCutoverEnv, workflowBundle, type CutoverEnv } from './support/cutover-env.js';
import { seedStateRows, stateStoreEnv } from './support/state-store.js';
import {
  TEST_CREDENTIALS as MOTO_CREDENTIALS,
  TEST_REGION as MOTO_REGION,
  startMoto,
  type MotoServer,
} from './support/moto.js';
import { S3ObjectStore } from '../adapters/s3-object-store.js';
import { sameLifecycle } from '../domain/lifecycle.js';

const SLOW = { timeout: 900_000 };
const BUCKET = 'cutover-state-e2e';
const DAG = 'state_store_backend_validation';
const PASSWORD = `pw-${randomUUID()}`;
const COMPONENTS = ['api-server', 'scheduler', 'dag-processor'] as const;
const MARKER = '{"__airflow_state_ref__"';
const WORKER_MAIN = fileURLToPath(new URL('../worker/main.js', import.meta.url));

void describe('state-store flip on the local target, end to end', () => {
  let env: CutoverEnv;
  let db: AirflowTestDatabase;
  let moto: MotoServer;
  let dir: string;
  let envFile: string;
  let originalEnvFile: string;
  let supervisor: SupervisorProcess;
  let wa: WorkerAdapters;
  let workerEnv: NodeJS.ProcessEnv;
  let home: string;
  let worker: Worker;
  let workerDone: Promise<void>;
  const taskQueue = `state-e2e-${randomUUID()}`;

  before(async () => {
    [env, db, moto] = await Promise.all([
      startCutoverEnv(),
      createAirflowTestDatabase('cutover_state_e2e'),
      startMoto({ bucket: BUCKET }),
    ]);
    dir = mkdtempSync(path.join(tmpdir(), 'cutover-state-e2e-'));
    home = path.join(dir, 'airflow-home');
    mkdirSync(home);
    envFile = path.join(dir, 'airflow.env');
    originalEnvFile = localTargetEnvFile({
      airflowHome: home,
      sqlalchemyUrl: db.sqlalchemyUrl,
      s3Endpoint: moto.endpoint,
    });
    writeFileSync(envFile, originalEnvFile);
    supervisor = await spawnSupervisor({
      envFile,
      dagsFolder: path.join(repoRoot(), 'dags'),
      components: [...COMPONENTS],
      password: PASSWORD,
      logFile: path.join(dir, 'supervisor.log'),
    });
    workerEnv = {
      ...process.env,
      TEMPORAL_ADDRESS: env.server.address,
      TEMPORAL_NAMESPACE: 'default',
      CUTOVER_TASK_QUEUE: taskQueue,
      CUTOVER_METADB_URL: db.url,
      CUTOVER_AIRFLOW_USER: 'admin',
      CUTOVER_AIRFLOW_PASSWORD: PASSWORD,
      AWS_ENDPOINT_URL: moto.endpoint,
      AWS_ACCESS_KEY_ID: MOTO_CREDENTIALS.accessKeyId,
      AWS_SECRET_ACCESS_KEY: MOTO_CREDENTIALS.secretAccessKey,
      AWS_REGION: MOTO_REGION,
    };
    wa = adaptersFromEnv(workerEnv);
    worker = await createCutoverWorker({
      connection: env.connection,
      taskQueue,
      adapters: wa.adapters,
      workflowBundle: await workflowBundle(),
    });
    workerDone = worker.run();
  }, SLOW);

  const children = new Set<ChildProcess>();
  async function stopInProcessWorker(): Promise<void> {
    if (!worker || stopped) return;
    stopped = true;
    worker.shutdown();
    await workerDone;
    await wa.close();
  }
  let stopped = false;
  function spawnWorker(): ChildProcess {
    // Its own process group: a SIGKILL of the group takes the worker and the probe it runs.
    const child = spawn(process.execPath, [WORKER_MAIN], {
      env: workerEnv,
      stdio: ['ignore', 'ignore', 'inherit'],
      detached: true,
    });
    children.add(child);
    return child;
  }
  async function kill(child: ChildProcess): Promise<void> {
    if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
    const exited = new Promise((r) => child.once('exit', r));
    try {
      process.kill(-child.pid, 'SIGKILL');
    } catch {
      child.kill('SIGKILL');
    }
    await exited;
    children.delete(child);
  }

  after(async () => {
    for (const c of children) await kill(c);
    await stopInProcessWorker();
    await supervisor?.stop();
    await env?.close();
    await moto?.stop();
    await db?.drop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  function planFor(patch: (raw: StateStorePlanInput) => void = () => {}): StateStorePlan {
    const raw: StateStorePlanInput = {
      apiVersion: 'cutover/v1',
      kind: 'StateStoreBackendCutover',
      name: `state-e2e-${randomUUID().slice(0, 8)}`,
      target: { kind: 'local', name: 'state-e2e', envFile, components: COMPONENTS.map((name) => ({ name })) },
      airflow: {
        version: '3.3',
        metadataDb: { access: 'direct', urlEnv: 'CUTOVER_METADB_URL' },
        api: {
          url: supervisor.apiUrl,
          usernameEnv: 'CUTOVER_AIRFLOW_USER',
          passwordEnv: 'CUTOVER_AIRFLOW_PASSWORD',
        },
      },
      change: { mode: 'env-file' },
      spec: {
        // The validation DAG's ~20 B values stay inline (still wrapped), its 64 KiB ones go to S3.
        stateStore: {
          path: `s3://aws_default@${BUCKET}/state`,
          threshold: { strategy: 'fixed', bytes: 1000 },
          maxOffloadRows: 10,
        },
        validation: { dagId: DAG, unpause: true, timeout: '5m' },
      },
      approval: { approvers: ['dococeven'], timeout: '1h' },
      rollout: { timeout: '5m' },
    };
    patch(raw);
    return stateStorePlanSchema.parse(raw);
  }

  const inputFor = (plan: StateStorePlan): StateStoreInput => ({
    plan,
    planDigest: planDigest(plan),
    startedBy: 'alice',
  });
  const start = (input: StateStoreInput): Promise<WorkflowHandle> =>
    env.client.workflow.start(STATE_STORE_WORKFLOW_TYPE, {
      taskQueue,
      workflowId: `state-e2e-${randomUUID()}`,
      args: [input],
    });
  const result = (h: WorkflowHandle) => h.result() as Promise<StateStoreResult>;
  const awaitGo = async (h: WorkflowHandle): Promise<StateStoreStatus> => {
    const deadline = Date.now() + 300_000;
    while (Date.now() < deadline) {
      const s = (await h.query(statusQuery).catch(() => null)) as StateStoreStatus | null;
      if (s?.pendingApproval || s?.outcome) return s;
      await new Promise((r) => setTimeout(r, 250));
    }
    throw new Error('AWAIT_GO not reached');
  };
  const approve = (h: WorkflowHandle, digest: string) =>
    h.executeUpdate(approveUpdate, {
      args: [{ operator: 'dococeven', reason: 'evidence reviewed', digest }],
    });
  const pids = async () =>
    Promise.all(
      COMPONENTS.map(async (c) => {
        const res = await fetch(
          `${supervisor.controlUrl}/env?component=${c}&keys=AIRFLOW__WORKERS__STATE_STORE_BACKEND`,
        );
        return ((await res.json()) as { pid: number }).pid;
      }),
    );
  /** State rows holding the backend's marker, written at or after `since` (default: ever). */
  const sql = async <T extends pg.QueryResultRow>(text: string, params: unknown[] = []): Promise<T[]> => {
    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    try {
      return (await client.query<T>(text, params)).rows;
    } finally {
      await client.end();
    }
  };
  const markerRows = async (since = '1970-01-01T00:00:00Z'): Promise<number> => {
    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    try {
      const r = await client.query<{ n: string }>(
        `SELECT (SELECT count(*) FROM task_state_store WHERE value LIKE $1 AND updated_at >= $2)
              + (SELECT count(*) FROM asset_state_store WHERE value LIKE $1 AND updated_at >= $2) AS n`,
        [`${MARKER}%`, since],
      );
      return Number(r.rows[0]?.n ?? 0);
    } finally {
      await client.end();
    }
  };
  const resetToOriginal = async () => {
    writeFileSync(envFile, originalEnvFile);
    const res = await fetch(`${supervisor.controlUrl}/restart`, {
      method: 'POST',
      body: '{}',
      signal: AbortSignal.timeout(600_000),
    });
    assert.equal(res.status, 200, await res.text());
  };

  test(
    '1. a draft name from the PR text in the env file: STOPPED at PREFLIGHT, named with the right spelling',
    SLOW,
    async () => {
      const draftFile = path.join(dir, 'airflow-draft.env');
      const draft = `${originalEnvFile.trimEnd()}\nAIRFLOW__COMMON_IO__STORE_OBJECTSTORAGE_PATH=s3://aws_default@${BUCKET}/state\n`;
      writeFileSync(draftFile, draft);
      const plan = planFor((raw) => {
        if (raw.target.kind === 'local')
          raw.target = { ...raw.target, name: 'state-e2e-draft', envFile: draftFile };
      });
      const before = await pids();
      const r = await result(await start(inputFor(plan)));
      assert.equal(r.outcome, 'STOPPED', r.reason);
      assert.match(r.reason, /PREFLIGHT gate red, nothing changed/);
      assert.match(r.reason, /AIRFLOW__COMMON_IO__STORE_OBJECTSTORAGE_PATH/);
      assert.match(
        r.reason,
        /AIRFLOW__COMMON_IO__STATE_STORE_OBJECTSTORAGE_PATH/,
        'the right spelling is given',
      );
      assert.equal(r.productionChanged, false);
      assert.equal(readFileSync(draftFile, 'utf8'), draft);
      assert.equal(readFileSync(envFile, 'utf8'), originalEnvFile);
      assert.deepEqual(await pids(), before, 'no component was restarted');
    },
  );

  test(
    '2. happy path: DONE, state written through the backend (wrapped rows, objects in S3) and read back',
    SLOW,
    async () => {
      const plan = planFor();
      const input = inputFor(plan);
      const h = await start(input);
      const waiting = await awaitGo(h);
      assert.ok(waiting.pendingApproval, `${waiting.outcome}: ${JSON.stringify(waiting.steps.at(-1))}`);
      const ev0 = waiting.evidence;
      assert.ok(
        ev0.rehearsal?.checks.breakConfirmed && ev0.rehearsal.checks.healConfirmed,
        JSON.stringify(ev0.rehearsal),
      );
      assert.equal(ev0.calibration?.proposal.thresholdBytes, 1000);
      await approve(h, input.planDigest);
      const r = await result(h);
      assert.equal(r.outcome, 'DONE', r.reason);
      const ev = r.status.evidence;
      assert.ok(ev.verifications[0]?.gate.passed, JSON.stringify(ev.verifications[0]));
      const v = ev.validations[0];
      assert.equal(v?.state, 'success', JSON.stringify(v));
      assert.ok((v?.objectCount ?? 0) >= 1, 'the 64 KiB task state went to object storage');
      assert.ok((await markerRows()) >= 2, 'the validation run wrote its state wrapped in the marker');
      await resetToOriginal();
    },
  );

  test(
    '3. the validation run breaks the plan: the retention rule taken back, revert, every wrapped row rewritten, the run re-run: ROLLED_BACK',
    SLOW,
    async () => {
      const plan = planFor((raw) => {
        raw.spec.validation.maxObjects = 0;
        // Put once VERIFY held, so VALIDATE's failure must take it back too.
        raw.spec.lifecycle = { days: 30 };
      });
      const bucketStore = new S3ObjectStore({
        endpoint: moto.endpoint,
        region: MOTO_REGION,
        credentials: moto.credentials,
      });
      const lifecycleBefore = await bucketStore.getLifecycle(BUCKET);
      const input = inputFor(plan);
      const h = await start(input);
      await awaitGo(h);
      await approve(h, input.planDigest);
      const r = await result(h);
      assert.equal(r.outcome, 'ROLLED_BACK', r.reason);
      assert.match(
        r.reason,
        /^VALIDATE failed \(the run put \d+ object\(s\) in object storage, the plan allows 0\)/,
      );
      const ev = r.status.evidence;
      assert.deepEqual(r.status.compensation?.completed, [
        'revert the lifecycle rule',
        'revert target',
        'waitForRollout',
        'healRows',
        'findAffectedRuns',
        'rerunAffectedRuns',
        'leftHealthy',
      ]);
      assert.equal(ev.lifecycleApplied?.changed, true, JSON.stringify(ev.lifecycleApplied));
      assert.ok(
        sameLifecycle(await bucketStore.getLifecycle(BUCKET), lifecycleBefore),
        'the bucket holds its configuration from before the run',
      );
      bucketStore.close();
      assert.ok((ev.heal?.rewritten ?? 0) >= 2, JSON.stringify(ev.heal));
      assert.ok((ev.heal?.objectRefs ?? 0) >= 1, 'object refs were read back from S3');
      assert.equal(ev.heal?.markerRowsRemaining, 0);
      // Test 2's run left its rows wrapped on purpose (it ended DONE); none written since this APPLY is.
      const applied = ev.applies[0]?.startedAt;
      assert.ok(applied);
      assert.equal(await markerRows(applied), 0, 'no row written since APPLY holds the marker any more');
      const validation = ev.validations[0];
      assert.ok(
        ev.reruns?.runs.some((x) => x.runId === validation?.runId && x.finalState === 'success'),
        JSON.stringify(ev.reruns),
      );
      assert.equal(
        readFileSync(envFile, 'utf8'),
        originalEnvFile,
        'the env file is byte for byte what it was',
      );
    },
  );

  test(
    '4. the worker SIGKILLed during the row rewrite: another worker finishes, each row rewritten once',
    SLOW,
    async () => {
      await stopInProcessWorker();
      // Every rewrite of a marker row to a plain value, counted per row.
      await sql(`CREATE TABLE cutover_test_rewrites (row_id integer NOT NULL)`);
      await sql(`CREATE FUNCTION cutover_test_audit() RETURNS trigger AS $$
      BEGIN
        IF OLD.value LIKE '${MARKER}%' AND NEW.value NOT LIKE '${MARKER}%' THEN
          INSERT INTO cutover_test_rewrites VALUES (NEW.id);
        END IF;
        RETURN NEW;
      END $$ LANGUAGE plpgsql`);
      await sql(
        `CREATE TRIGGER cutover_test_audit AFTER UPDATE ON task_state_store FOR EACH ROW EXECUTE FUNCTION cutover_test_audit()`,
      );
      const plan = planFor((raw) => {
        raw.spec.validation.maxObjects = 0;
      });
      const input = inputFor(plan);
      const h = await start(input);
      let w = spawnWorker();
      await awaitGo(h);
      await approve(h, input.planDigest);
      // While the flip is live, tasks write 1,500 rows through the backend (every 10th one to S3).
      const deadline = Date.now() + 600_000;
      let s = (await h.query(statusQuery)) as StateStoreStatus;
      while (s.phase !== 'VALIDATE' && !s.outcome && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 250));
        s = (await h.query(statusQuery)) as StateStoreStatus;
      }
      assert.equal(s.phase, 'VALIDATE', s.details);
      const seeded = await seedStateRows(
        stateStoreEnv({
          sqlalchemyUrl: db.sqlalchemyUrl,
          airflowHome: home,
          s3Endpoint: moto.endpoint,
          backend: { path: plan.spec.stateStore.path, threshold: 1000, compression: '' },
        }),
        { generate: { task_rows: 1500, large_every: 10, rows_per_run: 100 } },
      );
      assert.equal(seeded.counts.task, 1500);
      // Kill the worker once the heal has committed some batches and not all.
      const rewrites = async () =>
        Number((await sql<{ n: string }>(`SELECT count(*) AS n FROM cutover_test_rewrites`))[0]?.n ?? 0);
      while (Date.now() < deadline && (await rewrites()) === 0) await new Promise((r) => setTimeout(r, 100));
      const atKill = await rewrites();
      await kill(w);
      assert.ok(atKill > 0 && atKill < 1500, `killed mid-rewrite (${atKill} rows rewritten)`);
      w = spawnWorker();
      const r = await result(h);
      await kill(w);
      assert.equal(r.outcome, 'ROLLED_BACK', r.reason);
      const twice = await sql<{ row_id: number; n: string }>(
        `SELECT row_id, count(*) AS n FROM cutover_test_rewrites GROUP BY row_id HAVING count(*) > 1`,
      );
      assert.deepEqual(twice, [], 'no row rewritten twice');
      const applied = r.status.evidence.applies[0]?.startedAt;
      assert.ok(applied);
      assert.equal(await markerRows(applied), 0, 'every row written since APPLY is plain again');
      const rewritten = await rewrites();
      assert.ok(rewritten >= 1500, `${rewritten} rows rewritten`);
      const healSteps = r.status.steps.filter((x) => x.step === 'rewrite wrapped state rows');
      assert.equal(healSteps.length, 1, 'one heal step, retried by Temporal on the new worker');
      assert.equal(readFileSync(envFile, 'utf8'), originalEnvFile);
    },
  );
});
