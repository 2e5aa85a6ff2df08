/**
 * The deployment assessment on a LOCAL target, end to end on real components: Airflow 3.3 from PyPI
 * run by the supervisor (api-server, scheduler, dag-processor) on a PostgreSQL metadata DB migrated
 * by Airflow, the repo's DAGs, the Temporal dev server and a real worker. Healthy first; then the
 * REST API refusing the worker's password; then the scheduler killed, which the health endpoint
 * reports once its heartbeat goes stale.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import type { Worker } from '@temporalio/worker';
import { stringify } from 'yaml';
import { main } from '../client/cli.js';
import type { AssessmentPlanInput } from '../domain/assessment/plan.js';
import type { AssessmentEvidence } from '../domain/assessment/run.js';
import type { RunResult } from '../domain/engine/run.js';
import { localTargetEnvFile } from '../local/airflow-env.js';
import { spawnSupervisor, type SupervisorProcess } from '../local/supervisor-process.js';
import { repoRoot } from '../local/venv.js';
import { adaptersFromEnv, type WorkerAdapters } from '../worker/adapters-from-env.js';
import { createCutoverWorker } from '../worker/create-worker.js';
import { createAirflowTestDatabase, type AirflowTestDatabase } from './support/airflow-db.js';
import { startCutoverEnv, workflowBundle, type CutoverEnv } from './support/cutover-env.js';

const SLOW = { timeout: 600_000 };
const PASSWORD = `pw-${randomUUID()}`;
const COMPONENTS = ['api-server', 'scheduler', 'dag-processor'] as const;

let env: CutoverEnv;
let db: AirflowTestDatabase;
let dir: string;
let envFile: string;
let supervisor: SupervisorProcess;
let wa: WorkerAdapters;
let worker: Worker;
let workerDone: Promise<void>;
const taskQueue = `assess-local-${randomUUID()}`;

before(async () => {
  [env, db] = await Promise.all([startCutoverEnv(), createAirflowTestDatabase('cutover_assess_local')]);
  dir = mkdtempSync(path.join(tmpdir(), 'cutover-assess-local-'));
  const home = path.join(dir, 'airflow-home');
  mkdirSync(home);
  envFile = path.join(dir, 'airflow.env');
  writeFileSync(
    envFile,
    localTargetEnvFile({
      airflowHome: home,
      sqlalchemyUrl: db.sqlalchemyUrl,
      s3Endpoint: 'http://127.0.0.1:9',
    }),
  );
  supervisor = await spawnSupervisor({
    envFile,
    dagsFolder: path.join(repoRoot(), 'dags'),
    components: [...COMPONENTS],
    password: PASSWORD,
    logFile: path.join(dir, 'supervisor.log'),
  });
  wa = adaptersFromEnv({
    ...process.env,
    CUTOVER_METADB_URL: db.url,
    CUTOVER_AIRFLOW_USER: 'admin',
    CUTOVER_AIRFLOW_PASSWORD: PASSWORD,
    CUTOVER_WRONG_PASSWORD: 'not-the-password',
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
  worker?.shutdown();
  await workerDone;
  await wa?.close();
  await supervisor?.stop();
  await env?.close();
  await db?.drop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function plan(passwordEnv = 'CUTOVER_AIRFLOW_PASSWORD'): AssessmentPlanInput {
  return {
    apiVersion: 'cutover/v1',
    kind: 'DeploymentAssessment',
    name: 'assess-local-e2e',
    target: { kind: 'local', name: 'e2e', envFile, components: COMPONENTS.map((name) => ({ name })) },
    airflow: {
      version: '3.3',
      metadataDb: { access: 'direct', urlEnv: 'CUTOVER_METADB_URL' },
      api: { url: supervisor.apiUrl, usernameEnv: 'CUTOVER_AIRFLOW_USER', passwordEnv },
    },
  };
}

async function assess(p: AssessmentPlanInput) {
  const file = path.join(dir, `plan-${randomUUID()}.yaml`);
  writeFileSync(file, stringify(p));
  let stdout = '';
  let stderr = '';
  const code = await main(['assess', '--plan', file, '--json'], {
    stdout: { write: (s: string) => (stdout += s) },
    stderr: { write: (s: string) => (stderr += s) },
    env: {
      TEMPORAL_ADDRESS: env.server.address,
      TEMPORAL_NAMESPACE: 'default',
      CUTOVER_TASK_QUEUE: taskQueue,
      CUTOVER_OPERATOR: 'alice',
    },
  });
  assert.ok(stdout.trim().startsWith('{'), `no JSON result (exit ${code}): ${stderr}`);
  return { code, result: JSON.parse(stdout) as RunResult<AssessmentEvidence> };
}

test('a healthy local stack: OPERATIONAL, no finding, every component running', SLOW, async (t) => {
  const { code, result } = await assess(plan());
  const a = result.status.evidence.assessment;
  assert.ok(a, result.reason);
  assert.deepEqual(
    a.findings.map((f) => `${f.severity} ${f.title}`),
    [],
  );
  assert.equal(a.verdict, 'OPERATIONAL');
  assert.equal(code, 0);
  assert.ok(
    a.components.every((c) => c.state === 'running'),
    JSON.stringify(a.components),
  );
  const api = result.status.evidence.airflow?.api;
  assert.equal(api?.health?.['scheduler']?.status, 'healthy');
  assert.match(api?.version ?? '', /^3\.3\./);
  assert.deepEqual(api?.importErrors, [], 'the repo DAGs import');
  assert.ok(
    (result.status.evidence.airflow?.db?.visibility.serializedDags ?? 0) > 0,
    'the repo DAGs are visible',
  );
  const steps = result.status.steps;
  const ms = Date.parse(steps.at(-1)?.finishedAt ?? '') - Date.parse(steps[0]?.startedAt ?? '');
  t.diagnostic(`assessment of the local stack took ${ms} ms of worker time`);
});

test('the REST API refuses the password: a named warning, the health endpoint still read', SLOW, async () => {
  const { result } = await assess(plan('CUTOVER_WRONG_PASSWORD'));
  const a = result.status.evidence.assessment;
  assert.equal(a?.verdict, 'DEGRADED');
  const f = a?.findings.find((x) => x.id.startsWith('api-not-read:'));
  assert.ok(f, JSON.stringify(a?.findings));
  assert.match(f.evidence.join(' '), /refused the credentials of user "admin"/);
  assert.ok(!JSON.stringify(result).includes('not-the-password'), 'the password never appears');
  assert.equal(result.status.evidence.airflow?.api?.health?.['scheduler']?.status, 'healthy');
});

test(
  'the scheduler killed: not running, and its heartbeat reported stale by the health endpoint',
  SLOW,
  async () => {
    const res = await fetch(`${supervisor.controlUrl}/components`);
    const running = (await res.json()) as { name: string; pid: number }[];
    const pid = running.find((c) => c.name === 'scheduler')?.pid;
    assert.ok(pid, JSON.stringify(running));
    process.kill(-pid, 'SIGKILL');
    // The supervisor sees the process gone at once; Airflow calls the scheduler dead once its heartbeat
    // is older than scheduler_health_check_threshold (30 s). Assess until both show.
    const deadline = Date.now() + 180_000;
    for (;;) {
      const { code, result } = await assess(plan());
      const a = result.status.evidence.assessment;
      assert.ok(a, result.reason);
      const stale = a.findings.find((f) => f.id === 'heartbeat-stale:scheduler');
      const gone = a.findings.find((f) => f.id === 'component-missing:scheduler');
      if (stale && gone) {
        assert.equal(a.verdict, 'DOWN');
        assert.equal(code, 1);
        assert.equal(stale.severity, 'critical');
        assert.match(stale.evidence[0] ?? '', /scheduler\.status = unhealthy, latest heartbeat 20\d\d-/);
        assert.equal(a.components.find((c) => c.component === 'scheduler')?.state, 'failed');
        break;
      }
      assert.ok(
        Date.now() < deadline,
        `the scheduler was never reported dead: ${JSON.stringify(a.findings)}`,
      );
    }
  },
);
