/**
 * The whole cut-over on the LOCAL target, every adapter the shipped one, on real components:
 * Airflow 3 (api-server, scheduler, dag-processor) as processes under the supervisor, the
 * PostgreSQL metadata DB migrated by Airflow and seeded with the reference XCom history, moto's S3
 * server, the Temporal dev server, the repo's validation DAG.
 *
 * 1. happy path: DONE, the validation run offloaded the large value and read it back
 * 2. the dossier's footgun injected: VERIFY names the variable; revert; the run a "scheduled" DAG
 *    started after APPLY is cleared and re-run; ROLLED_BACK on BaseXCom
 * 3. the validation run breaks the plan's expectation: compensation heals it
 * 4. S3 unreachable at PREFLIGHT: STOPPED, nothing touched
 * 5. rejected, and an approval that times out: nothing touched
 * 6. the worker SIGKILLed during APPLY and during VALIDATE: the run finishes, one DAG run, one edit
 *
 * Scenarios run in an order that leaves Airflow on BaseXCom for the next one, resetting it where a
 * run ends with the flip live. The happy path runs first among the flips: the runs of the others
 * add 2 MB XComs to the history that calibration measures, which moves the proposed threshold.
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
import { AirflowRestApi } from '../adapters/airflow-api.js';
import { WORKFLOW_TYPE, type CutoverInput, type CutoverResult } from '../domain/cutover.js';
import { planSchema, type Plan, type PlanInput } from '../domain/plan.js';
import { localTargetEnvFile } from '../local/airflow-env.js';
import { spawnSupervisor, type SupervisorProcess } from '../local/supervisor-process.js';
import { repoRoot } from '../local/venv.js';
import { adaptersFromEnv, type WorkerAdapters } from '../worker/adapters-from-env.js';
import { createCutoverWorker } from '../worker/create-worker.js';
import { approveUpdate, rejectUpdate } from '../workflows/engine/messages.js';
import { localXComPlanInput } from './support/plans.js';
import { createAirflowTestDatabase, type AirflowTestDatabase } from './support/airflow-db.js';
import {
  inputFor,
  startCutoverEnv,
  waitForPhase,
  workflowBundle,
  type CutoverEnv,
} from './support/cutover-env.js';
import {
  TEST_CREDENTIALS as MOTO_CREDENTIALS,
  TEST_REGION as MOTO_REGION,
  startMoto,
  type MotoServer,
} from './support/moto.js';
import { seedReferenceHistory } from './support/xcom-fixture.js';

const SLOW = { timeout: 900_000 };
const BUCKET = 'cutover-local-e2e';
const DAG = 'xcom_backend_validation';
const PASSWORD = `pw-${randomUUID()}`;
const COMPONENTS = ['api-server', 'scheduler', 'dag-processor'] as const;
const WORKER_MAIN = fileURLToPath(new URL('../worker/main.js', import.meta.url));

void describe('cut-over on the local target, end to end', () => {
  let env: CutoverEnv;
  let db: AirflowTestDatabase;
  let moto: MotoServer;
  let dir: string;
  let envFile: string;
  let originalEnvFile: string;
  let supervisor: SupervisorProcess;
  let api: AirflowRestApi;
  let workerEnv: NodeJS.ProcessEnv;
  let wa: WorkerAdapters;
  let worker: Worker;
  let workerDone: Promise<void>;
  const taskQueue = `local-e2e-${randomUUID()}`;

  before(async () => {
    [env, db, moto] = await Promise.all([
      startCutoverEnv(),
      createAirflowTestDatabase('cutover_local_e2e'),
      startMoto({ bucket: BUCKET }),
    ]);
    await seedReferenceHistory(db.url);
    dir = mkdtempSync(path.join(tmpdir(), 'cutover-local-e2e-'));
    const home = path.join(dir, 'airflow-home');
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
    api = new AirflowRestApi({
      baseUrl: supervisor.apiUrl,
      apiVersion: 'v2',
      username: 'admin',
      password: PASSWORD,
      xcomPath: `s3://aws_default@${BUCKET}/xcom`,
      s3: { endpoint: moto.endpoint, region: MOTO_REGION, credentials: { ...MOTO_CREDENTIALS } },
      pollIntervalMs: 200,
    });
    await startInProcessWorker();
  }, SLOW);

  after(async () => {
    await stopInProcessWorker();
    api?.close();
    await supervisor?.stop();
    await env?.close();
    await moto?.stop();
    await db?.drop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  async function startInProcessWorker(): Promise<void> {
    wa = adaptersFromEnv(workerEnv);
    worker = await createCutoverWorker({
      connection: env.connection,
      taskQueue,
      adapters: wa.adapters,
      workflowBundle: await workflowBundle(),
    });
    workerDone = worker.run();
  }

  async function stopInProcessWorker(): Promise<void> {
    if (!worker) return;
    worker.shutdown();
    await workerDone;
    await wa.close();
  }

  function planFor(patch: (raw: PlanInput) => void = () => {}): Plan {
    const raw = localXComPlanInput({
      name: `local-e2e-${randomUUID().slice(0, 8)}`,
      envFile,
      components: COMPONENTS,
      apiUrl: supervisor.apiUrl,
      bucket: BUCKET,
      dagId: DAG,
      approver: 'dococeven',
    });
    patch(raw);
    return planSchema.parse(raw);
  }

  const start = async (input: CutoverInput): Promise<WorkflowHandle> =>
    env.client.workflow.start(WORKFLOW_TYPE, {
      taskQueue,
      workflowId: `local-e2e-${randomUUID()}`,
      args: [input],
    });
  const approve = (handle: WorkflowHandle, digest: string) =>
    handle.executeUpdate(approveUpdate, {
      args: [{ operator: 'dococeven', reason: 'evidence reviewed', digest }],
    });
  const result = (handle: WorkflowHandle) => handle.result() as Promise<CutoverResult>;

  const liveEnv = async (component: string): Promise<{ pid: number; env: Record<string, string | null> }> => {
    const keys = [
      'AIRFLOW__CORE__XCOM_BACKEND',
      'AIRFLOW__COMMON_IO__XCOM_OBJECTSTORAGE_PATH',
      'AIRFLOW__COMMON_IO__XCOM_OBJECTSTORAGE_THRESHOLD',
      'AIRFLOW__COMMON.IO__XCOM_OBJECTSTORAGE_PATH',
    ];
    const res = await fetch(`${supervisor.controlUrl}/env?component=${component}&keys=${keys.join(',')}`);
    return (await res.json()) as { pid: number; env: Record<string, string | null> };
  };
  /** POST a DAG run the way the scheduler would start one: no waiting for it. */
  const triggerDagRun = async (runId: string) => {
    const auth = await fetch(`${supervisor.apiUrl}/auth/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: 'admin', password: PASSWORD }),
    });
    const { access_token: token } = (await auth.json()) as { access_token: string };
    const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
    await fetch(`${supervisor.apiUrl}/api/v2/dags/${DAG}`, {
      method: 'PATCH',
      headers,
      body: JSON.stringify({ is_paused: false }),
    });
    const res = await fetch(`${supervisor.apiUrl}/api/v2/dags/${DAG}/dagRuns`, {
      method: 'POST',
      headers,
      body: JSON.stringify({ dag_run_id: runId, logical_date: null }),
    });
    assert.equal(res.status, 200, await res.text());
  };
  const pids = async () => Promise.all(COMPONENTS.map(async (c) => (await liveEnv(c)).pid));
  const onBaseXCom = async () => {
    for (const c of COMPONENTS) {
      const live = await liveEnv(c);
      assert.deepEqual(
        Object.values(live.env).filter((v) => v !== null),
        [],
        `${c} still carries XCom settings: ${JSON.stringify(live.env)}`,
      );
    }
  };
  /** Puts Airflow back on BaseXCom after a run that ended with the flip live. */
  const resetToBaseXCom = async () => {
    writeFileSync(envFile, originalEnvFile);
    const res = await fetch(`${supervisor.controlUrl}/restart`, {
      method: 'POST',
      body: '{}',
      signal: AbortSignal.timeout(600_000),
    });
    assert.equal(res.status, 200, await res.text());
    await onBaseXCom();
  };

  test('4. S3 unreachable at PREFLIGHT: STOPPED, the env file and Airflow untouched', SLOW, async () => {
    // The same Airflow, seen through an env file whose S3 endpoint does not answer.
    const deadFile = path.join(dir, 'airflow-dead-s3.env');
    writeFileSync(deadFile, originalEnvFile.split(moto.endpoint).join('http://127.0.0.1:9'));
    const plan = planFor((raw) => {
      if (raw.target.kind === 'local') raw.target = { ...raw.target, name: 'e2e-dead-s3', envFile: deadFile };
    });
    const before = await pids();
    const r = await result(await start(inputFor(plan)));
    assert.equal(r.outcome, 'STOPPED', r.reason);
    assert.match(r.reason, /PREFLIGHT/);
    assert.equal(r.productionChanged, false);
    assert.ok(r.status.evidence.preflight?.checks.some((c) => c.status === 'red'));
    assert.equal(
      readFileSync(deadFile, 'utf8'),
      originalEnvFile.split(moto.endpoint).join('http://127.0.0.1:9'),
    );
    assert.equal(readFileSync(envFile, 'utf8'), originalEnvFile);
    assert.deepEqual(await pids(), before, 'no component was restarted');
  });

  test('5. rejected, and an approval that times out: nothing applied', SLOW, async () => {
    const before = await pids();
    const plan = planFor();
    const handle = await start(inputFor(plan));
    await waitForPhase(handle, 'AWAIT_GO', 180_000);
    await handle.executeUpdate(rejectUpdate, {
      args: [
        { operator: 'dococeven', reason: 'not during the batch window', digest: inputFor(plan).planDigest },
      ],
    });
    const rejected = await result(handle);
    assert.equal(rejected.outcome, 'REJECTED', rejected.reason);

    const quick = planFor((raw) => {
      raw.approval.timeout = '3s';
    });
    const timedOut = await result(await start(inputFor(quick)));
    assert.equal(timedOut.outcome, 'TIMED_OUT', timedOut.reason);
    assert.equal(readFileSync(envFile, 'utf8'), originalEnvFile);
    assert.deepEqual(await pids(), before, 'no component was restarted');
    await onBaseXCom();
  });

  test('1. happy path: DONE, the large value offloaded and read back as data', SLOW, async () => {
    const plan = planFor();
    const handle = await start(inputFor(plan));
    await waitForPhase(handle, 'AWAIT_GO', 180_000);
    await approve(handle, inputFor(plan).planDigest);
    const r = await result(handle);
    assert.equal(r.outcome, 'DONE', r.reason);
    const ev = r.status.evidence;
    assert.equal(ev.calibration?.proposal.thresholdBytes, 1_600_000);
    assert.equal(ev.rollouts[0]?.gate.passed, true);
    assert.ok(ev.verifications[0]?.gate.passed);
    const v = ev.validations[0];
    assert.equal(v?.state, 'success', JSON.stringify(v));
    assert.equal(v?.xcomErrors, 0);
    assert.equal(v?.offloadedCount, 1, 'the 2 MB value went to object storage');
    assert.ok((v?.objectCount ?? 0) >= 1);
    assert.ok(v?.gate.passed);
    for (const c of COMPONENTS) {
      const live = await liveEnv(c);
      assert.equal(live.env.AIRFLOW__COMMON_IO__XCOM_OBJECTSTORAGE_THRESHOLD, '1600000', c);
    }
    await resetToBaseXCom();
  });

  test(
    '2. the footgun injected: VERIFY names the variable, revert, the run started after APPLY is re-run: ROLLED_BACK',
    SLOW,
    async () => {
      const plan = planFor();
      const input = inputFor(plan, { inject: 'env-encoding' });
      const handle = await start(input);
      const waiting = await waitForPhase(handle, 'AWAIT_GO', 180_000);
      assert.match(waiting.pendingApproval?.review.join('\n') ?? '', /FAULT INJECTION env-encoding/);
      await approve(handle, input.planDigest);
      // A scheduled DAG run that starts while the broken config is live: triggered as soon as the
      // scheduler runs with it (the end of APPLY's rollout), before VERIFY can turn it back.
      // (Airflow reserves the scheduled__ prefix for its own scheduler.)
      const scheduledRunId = `late_arrival__${randomUUID()}`;
      for (const until = Date.now() + 600_000; Date.now() < until;) {
        const live = await liveEnv('scheduler').catch(() => null);
        if (live?.env?.['AIRFLOW__COMMON.IO__XCOM_OBJECTSTORAGE_PATH']) break;
        await new Promise((r) => setTimeout(r, 200));
      }
      // The api-server may still be starting (the components come up together): try for a minute.
      for (let tries = 0; ; tries++) {
        try {
          await triggerDagRun(scheduledRunId);
          break;
        } catch (err) {
          // Only "connection refused" while the api-server starts; an answer is final.
          if (!(err instanceof TypeError) || tries >= 240) throw err;
          await new Promise((r) => setTimeout(r, 250));
        }
      }

      const r = await result(handle);
      assert.equal(r.outcome, 'ROLLED_BACK', r.reason);
      assert.equal(r.productionChanged, false);
      assert.match(r.reason, /VERIFY failed/);
      assert.match(
        r.reason,
        /AIRFLOW__COMMON\.IO__XCOM_OBJECTSTORAGE_PATH is set but Airflow never reads it/,
      );
      const comp = r.status.compensation;
      const ev = r.status.evidence;
      assert.deepEqual(comp?.completed, [
        'revert target',
        'waitForRollout',
        'findAffectedRuns',
        'rerunAffectedRuns',
        'confirmHealed',
        'leftHealthy',
      ]);
      assert.ok(
        ev.affected?.runs.some((x) => x.runId === scheduledRunId),
        JSON.stringify(ev.affected),
      );
      assert.ok(
        ev.reruns?.runs.every((x) => x.finalState === 'success'),
        JSON.stringify(ev.reruns),
      );
      assert.ok(
        ev.heal?.runs.some((x) => x.runId === scheduledRunId && x.readsData),
        JSON.stringify(ev.heal),
      );
      assert.equal(
        readFileSync(envFile, 'utf8'),
        originalEnvFile,
        'the env file is byte for byte what it was',
      );
      await onBaseXCom();
    },
  );

  test(
    '3. the validation run offloads where the plan expects none: compensation heals it',
    SLOW,
    async () => {
      const plan = planFor((raw) => {
        raw.spec.validation.maxOffloaded = 0;
      });
      const handle = await start(inputFor(plan));
      await waitForPhase(handle, 'AWAIT_GO', 180_000);
      await approve(handle, inputFor(plan).planDigest);
      const r = await result(handle);
      assert.equal(r.outcome, 'ROLLED_BACK', r.reason);
      assert.match(r.reason, /VALIDATE failed/);
      const v = r.status.evidence.validations[0];
      assert.equal(v?.state, 'success');
      assert.equal(v?.offloadedCount, 1);
      assert.equal(r.status.compensation?.trigger.phase, 'VALIDATE');
      const ev = r.status.evidence;
      assert.ok(
        ev.affected?.runs.some((x) => x.runId === v?.runId),
        'the validation run itself is re-run',
      );
      assert.ok(ev.heal?.gate.passed, JSON.stringify(ev.heal));
      assert.equal(readFileSync(envFile, 'utf8'), originalEnvFile);
      await onBaseXCom();
    },
  );

  test(
    '6. the worker SIGKILLed during APPLY and during VALIDATE: DONE, one DAG run, one edit',
    SLOW,
    async () => {
      await stopInProcessWorker();
      const plan = planFor();
      const input = inputFor(plan);
      const handle = await start(input);
      let w = spawnWorker();
      await waitForPhase(handle, 'AWAIT_GO', 180_000);
      await approve(handle, input.planDigest);
      await waitForPhase(handle, 'APPLY', 120_000);
      await kill(w);
      w = spawnWorker();
      await waitForPhase(handle, 'VALIDATE', 600_000);
      await kill(w);
      w = spawnWorker();
      const r = await result(handle);
      await kill(w);
      assert.equal(r.outcome, 'DONE', r.reason);
      const attempts = r.status.steps.filter((s) => s.step.startsWith('apply '));
      assert.equal(attempts.length, 1, 'one apply step');
      const text = readFileSync(envFile, 'utf8');
      assert.equal(
        text.split('\n').filter((l) => l.startsWith('AIRFLOW__CORE__XCOM_BACKEND=')).length,
        1,
        'one edit',
      );
      const v = r.status.evidence.validations[0];
      assert.equal(v?.state, 'success');
      const runs = await api.runsSince({ since: r.status.evidence.applies[0]?.startedAt ?? '' });
      assert.deepEqual(
        runs.filter((x) => x.dagId === DAG).map((x) => x.runId),
        [v?.runId],
        'exactly one validation DAG run despite the retried step',
      );
      await resetToBaseXCom();
      await startInProcessWorker();
    },
  );

  const children = new Set<ChildProcess>();
  function spawnWorker(): ChildProcess {
    const child = spawn(process.execPath, [WORKER_MAIN], {
      env: workerEnv,
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    children.add(child);
    return child;
  }
  async function kill(child: ChildProcess): Promise<void> {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGKILL');
    await exited;
    children.delete(child);
  }
  after(async () => {
    for (const c of children) await kill(c);
  });
});
