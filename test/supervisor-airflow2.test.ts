/**
 * Airflow 2.11.2 (the FROM version of the major upgrade) under the same supervisor, from its own
 * venv because the env file says AIRFLOW_VERSION=2.11.2: `airflow webserver` in the api-server role
 * (REST /api/v1 with basic auth, health at /health), the scheduler, the triggerer and a standalone
 * dag-processor, on a real PostgreSQL metadata DB migrated by 2.11.2. A DAG runs through /api/v1;
 * LocalRollout stops the stack (the task runner included) and starts it again.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { LocalRollout } from '../adapters/local-rollout.js';
import { migrateAirflowDb } from '../local/airflow-db.js';
import { spawnSupervisor, type SupervisorProcess } from '../local/supervisor-process.js';
import {
  ALL,
  DAGS,
  alive,
  assertComponentVersions,
  assertDagSeesVersion,
  pgidOf,
  session,
  startSleeper,
  targetEnvFile,
} from './support/component-versions.js';
import { createTestDatabase, type TestDatabase } from './support/postgres.js';

const SLOW = { timeout: 1_800_000 };
const V2 = '2.11.2';

void describe(`Airflow ${V2} under the supervisor`, () => {
  let db: TestDatabase;
  let dir: string;
  let envFile: string;
  let supervisor: SupervisorProcess;
  const password = `pw-${randomUUID()}`;

  before(async () => {
    db = await createTestDatabase('sv_airflow2');
    dir = mkdtempSync(path.join(tmpdir(), 'cutover-sv-airflow2-'));
    const home = path.join(dir, 'airflow-home');
    mkdirSync(home);
    envFile = path.join(dir, 'airflow.env');
    writeFileSync(
      envFile,
      targetEnvFile({ airflowHome: home, sqlalchemyUrl: db.sqlalchemyUrl, airflowVersion: V2 }),
    );
  }, SLOW);

  after(async () => {
    await supervisor?.stop();
    await db?.drop();
    if (dir && !process.env.CUTOVER_KEEP_AIRFLOW_LOGS) rmSync(dir, { recursive: true, force: true });
    else if (dir) console.log(`kept ${dir}`);
  });

  test(`${V2} starts, answers /health and runs a DAG through /api/v1; stop and start`, SLOW, async () => {
    const figures: Record<string, number> = {};
    let t = performance.now();
    const lap = (name: string) => {
      figures[name] = Math.round(performance.now() - t);
      t = performance.now();
    };
    await migrateAirflowDb(db.sqlalchemyUrl, { airflowVersion: V2 });
    lap(`migrate ${V2}`);
    supervisor = await spawnSupervisor({
      envFile,
      dagsFolder: DAGS,
      components: [...ALL],
      password,
      logFile: path.join(dir, 'supervisor.log'),
      startTimeoutMs: 900_000,
    });
    lap(`start ${V2}`);
    assert.equal(supervisor.airflowVersion, V2);
    assert.equal(supervisor.apiVersion, 'v1');

    // Health: Airflow 2's public /health, with the standalone dag-processor's heartbeat in it.
    const health = await fetch(`${supervisor.apiUrl}/health`);
    const h = (await health.json()) as Record<string, { status: string | null }>;
    assert.equal(health.status, 200);
    for (const k of ['metadatabase', 'scheduler', 'triggerer', 'dag_processor'])
      assert.equal(h[k]?.status, 'healthy', `${k}: ${JSON.stringify(h)}`);
    const v3health = await fetch(`${supervisor.apiUrl}/api/v2/monitor/health`);
    await v3health.arrayBuffer();
    assert.equal(v3health.status, 404, 'no Airflow 3 API on a 2.x stack');

    // The REST API: basic auth with the admin's password, and only with it.
    const api = session(supervisor.apiUrl, 'v1', password);
    assert.equal((await api.request<{ version: string }>('GET', '/version')).body.version, V2);
    const wrong = await fetch(`${supervisor.apiUrl}/api/v1/dags`, {
      headers: { authorization: `Basic ${Buffer.from('admin:not-the-password').toString('base64')}` },
    });
    await wrong.arrayBuffer();
    // 403, not 401: Flask-AppBuilder defaults AUTH_ROLE_PUBLIC to "Public", so 2.11.2's
    // check_authentication lets a request whose credentials fail through as the Public role, which
    // may do nothing.
    assert.equal(wrong.status, 403);

    // Airflow 2.11.2 inside every component, and a DAG run through /api/v1.
    await assertComponentVersions({ controlUrl: supervisor.controlUrl, envFile, version: V2 });
    await assertDagSeesVersion(api, 'on-v2', V2);
    lap(`DAG run on ${V2}`);

    // Airflow 2's StandardTaskRunner puts the task in a process group of its own: the stop reaches it.
    const sleeper = await startSleeper(api, 'sleeping', path.join(dir, 'sleeper.pid'));
    console.log(`sleeper task pid ${sleeper}, group ${pgidOf(sleeper)}`);
    const rollout = new LocalRollout({ stateFile: supervisor.stateFile });
    t = performance.now();
    const stopped = await rollout.stop({ components: [...ALL] });
    lap(`stop ${V2}`);
    assert.deepEqual(
      stopped.map((s) => [s.component, s.action, s.airflowVersion]),
      ALL.map((n) => [n, 'stopped', V2]),
    );
    for (const s of stopped) assert.ok(s.pid !== null && !alive(s.pid), `${s.component} is gone`);
    assert.ok(!alive(sleeper), `the task runner (pid ${sleeper}) was stopped with the scheduler`);

    // Started again on the same DB: the admin exists already, with this password.
    const started = await rollout.start({ components: [...ALL] });
    lap(`start again ${V2}`);
    assert.deepEqual(
      started.map((s) => [s.component, s.action, s.airflowVersion]),
      ALL.map((n) => [n, 'started', V2]),
    );
    assert.equal((await api.request<{ version: string }>('GET', '/version')).body.version, V2);

    // The password went to Airflow through stdin and files, never into a log.
    const logs = path.join(dir, 'airflow-logs');
    for (const f of readdirSync(logs, { recursive: true, withFileTypes: true }))
      if (f.isFile()) {
        const file = path.join(f.parentPath, f.name);
        assert.ok(!readFileSync(file, 'utf8').includes(password), `the password is in ${file}`);
      }
    assert.ok(!readFileSync(path.join(dir, 'supervisor.log'), 'utf8').includes(password));
    console.log(`figures (ms): ${JSON.stringify(figures)}`);
  });
});
