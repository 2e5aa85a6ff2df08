/**
 * AirflowRestApi against a real Airflow 3.3 stack started once for this file: api-server,
 * scheduler and dag-processor from the venv (local/airflow-components.ts) on a throw-away
 * PostgreSQL metadata DB, moto's S3 server, and the validation DAG from dags/. The components are
 * restarted with the object-storage backend's env and then without it, as a cut-over and its
 * revert would.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import { MockActivityEnvironment } from '@temporalio/testing';
import pg from 'pg';
import { PermanentFault } from '../activities/engine/errors.js';
import {
  AirflowRestApi,
  logShowsXComFailure,
  pythonJsonBytes,
  type AirflowRestApiOptions,
} from '../adapters/airflow-api.js';
import { renderStage } from '../domain/airflow-env.js';
import type { DagRunResult } from '../activities/adapters.js';
import type { ValidationEvidence } from '../domain/evidence.js';
import { VALIDATION_MARGIN_BYTES, validateActivities } from '../activities/xcom/validate.js';
import { testPlan } from './support/plans.js';
import { startAirflowComponents, type AirflowStack } from '../local/airflow-components.js';
import { createAirflowTestDatabase, repoRoot, type AirflowTestDatabase } from './support/airflow-db.js';
import { airflowBaseEnv, tempAirflowHome } from './support/airflow.js';
import { startMoto, TEST_CREDENTIALS, TEST_REGION, type MotoServer } from './support/moto.js';

const DAG_ID = 'xcom_backend_validation';
const USER = 'admin';
const PASSWORD = `pw-${randomBytes(9).toString('hex')}`;
/** The DAG's default large value (2,000,000 bytes JSON-encoded) is above this, its control dict far below. */
const THRESHOLD = 1_000_000;
const LARGE_BYTES = 2_000_000;
const RUN_TIMEOUT_MS = 300_000;
const SLOW = { timeout: 900_000 };

const suffix = randomBytes(3).toString('hex');
const runIds = {
  base: `cutover-validate-base-${suffix}`,
  inert: `cutover-validate-inert-${suffix}`,
  sized: `cutover-validate-sized-${suffix}`,
  offload: `cutover-validate-offload-${suffix}`,
};

let db: AirflowTestDatabase;
let moto: MotoServer;
let home: { dir: string; remove(): void };
let stack: AirflowStack;
let baseEnv: Record<string, string>;
let xcomPath: string;
const timings: Record<string, number> = {};

function api(extra: Partial<AirflowRestApiOptions> = {}): AirflowRestApi {
  return new AirflowRestApi({
    baseUrl: stack.baseUrl,
    apiVersion: 'v2',
    username: USER,
    password: PASSWORD,
    xcomPath,
    s3: { endpoint: moto.endpoint, region: TEST_REGION, credentials: { ...TEST_CREDENTIALS } },
    pollIntervalMs: 200,
    ...extra,
  });
}

function backendEnv(): Record<string, string> {
  return renderStage('target', { path: xcomPath, thresholdBytes: THRESHOLD, compression: '' }).env;
}

async function s3Keys(prefix: string): Promise<{ key: string; size: number }[]> {
  const res = await moto.s3.send(new ListObjectsV2Command({ Bucket: moto.bucket, Prefix: prefix }));
  return (res.Contents ?? []).map((o) => ({ key: o.Key ?? '', size: o.Size ?? 0 }));
}

async function dagRunRows(runId: string): Promise<number> {
  const client = new pg.Client({ connectionString: db.url });
  await client.connect();
  try {
    const res = await client.query(
      'SELECT count(*)::int AS n FROM dag_run WHERE dag_id = $1 AND run_id = $2',
      [DAG_ID, runId],
    );
    return (res.rows[0] as { n: number }).n;
  } finally {
    await client.end();
  }
}

/** A token and a raw call, for what the adapter deliberately does not offer (clearing one task). */
async function rawApi(method: string, p: string, body?: unknown): Promise<unknown> {
  const tokenRes = await fetch(`${stack.baseUrl}/auth/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username: USER, password: PASSWORD }),
  });
  const { access_token } = (await tokenRes.json()) as { access_token: string };
  const res = await fetch(`${stack.baseUrl}/api/v2${p}`, {
    method,
    headers: { authorization: `Bearer ${access_token}`, 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  assert.ok(res.ok, `${method} ${p}: HTTP ${res.status} ${text.slice(0, 300)}`);
  return JSON.parse(text) as unknown;
}

function runValidation(a: AirflowRestApi, runId: string, beats: unknown[] = []): Promise<DagRunResult> {
  return a.runValidationDag({
    dagId: DAG_ID,
    runId,
    unpause: true,
    timeoutMs: RUN_TIMEOUT_MS,
    heartbeat: (d) => beats.push(d),
  });
}

function show(r: DagRunResult): string {
  return JSON.stringify(r);
}

void describe('AirflowRestApi against real Airflow 3.3 components', () => {
  before(async () => {
    const t0 = performance.now();
    [db, moto] = await Promise.all([createAirflowTestDatabase('airflow_api'), startMoto()]);
    home = tempAirflowHome();
    xcomPath = `s3://aws_default@${moto.bucket}/xcom`;
    baseEnv = {
      ...airflowBaseEnv({ airflowHome: home.dir, s3Endpoint: moto.endpoint }),
      AIRFLOW__DATABASE__SQL_ALCHEMY_CONN: db.sqlalchemyUrl,
    };
    const t1 = performance.now();
    stack = await startAirflowComponents(['api-server', 'scheduler', 'dag-processor'], baseEnv, {
      dagsFolder: path.join(repoRoot(), 'dags'),
      logDir: path.join(home.dir, 'logs'),
      username: USER,
      password: PASSWORD,
    });
    timings.stackStartMs = Math.round(performance.now() - t1);
    timings.dagParsedMs = (await stack.waitForDags([DAG_ID])).durationMs;
    timings.setupMs = Math.round(performance.now() - t0);
  }, SLOW);

  after(async () => {
    await stack?.stop();
    await moto?.stop();
    await db?.drop();
    // CUTOVER_KEEP_AIRFLOW_LOGS=1 keeps AIRFLOW_HOME (component and task logs) to read after a failure.
    if (process.env.CUTOVER_KEEP_AIRFLOW_LOGS && home) console.log(`Airflow logs kept in ${home.dir}/logs`);
    else home?.remove();
    console.log(`timings: ${JSON.stringify(timings)}`);
  });

  void test('wrong password: a PermanentFault naming the endpoint and status, without the password', async () => {
    const wrong = `wrong-${randomBytes(8).toString('hex')}`;
    await assert.rejects(
      api({ password: wrong }).runValidationDag({
        dagId: DAG_ID,
        runId: 'never-triggered',
        unpause: true,
        timeoutMs: 10_000,
        heartbeat: () => undefined,
      }),
      (err: Error) => {
        assert.ok(err instanceof PermanentFault, `${err.name}: ${err.message}`);
        assert.match(err.message, /\/auth\/token answered HTTP 401/);
        assert.match(err.message, /user "admin"/);
        assert.ok(!err.message.includes(wrong), 'the password must not be in the error');
        assert.ok(!(err.stack ?? '').includes(wrong), 'nor in its stack');
        return true;
      },
    );
    assert.equal(await dagRunRows('never-triggered'), 0);
  });

  /**
   * The real api-server behind a loopback proxy that injects the fault: `fail(req)` answers 500 for
   * the requests it picks, `stall(req)` never answers them; everything else reaches Airflow.
   */
  async function faultyProxy(fault: {
    fail?: (method: string, url: string) => boolean;
    stall?: (method: string, url: string) => boolean;
  }): Promise<{ url: string; close(): Promise<void> }> {
    const upstream = new URL(stack.baseUrl);
    const held: http.ServerResponse[] = [];
    const server = http.createServer((req, res) => {
      const method = req.method ?? 'GET';
      const url = req.url ?? '/';
      if (fault.stall?.(method, url)) {
        held.push(res);
        return;
      }
      if (fault.fail?.(method, url)) {
        res.writeHead(500, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ detail: 'Internal Server Error (injected)' }));
        return;
      }
      const out = http.request(
        { host: upstream.hostname, port: upstream.port, method, path: url, headers: req.headers },
        (up) => {
          res.writeHead(up.statusCode ?? 502, up.headers);
          up.pipe(res);
        },
      );
      out.on('error', () => res.destroy());
      req.pipe(out);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as { port: number };
    return {
      url: `http://127.0.0.1:${port}`,
      close: async () => {
        for (const r of held) r.destroy();
        server.closeAllConnections();
        await new Promise<void>((resolve) => server.close(() => resolve()));
      },
    };
  }

  void test('Airflow answering 500 on the trigger: a retryable Error naming the route, nothing triggered', async () => {
    const proxy = await faultyProxy({
      fail: (m, u) => m === 'POST' && /\/dagRuns$/.test(u.split('?')[0] ?? ''),
    });
    try {
      await assert.rejects(
        api({ baseUrl: proxy.url }).runValidationDag({
          dagId: DAG_ID,
          runId: 'answered-500',
          unpause: true,
          timeoutMs: 10_000,
          heartbeat: () => undefined,
        }),
        (err: Error) => {
          assert.ok(!(err instanceof PermanentFault), `retryable, not permanent: ${err.message}`);
          assert.match(
            err.message,
            /POST \/api\/v2\/dags\/\{dag_id\}\/dagRuns answered HTTP 500: Internal Server Error \(injected\)/,
          );
          return true;
        },
      );
      assert.equal(await dagRunRows('answered-500'), 0);
    } finally {
      await proxy.close();
    }
  });

  void test('Airflow not answering in time: a retryable timeout Error naming the route', async () => {
    const proxy = await faultyProxy({ stall: (m, u) => m === 'GET' && u.startsWith('/api/v2/dags/') });
    try {
      await assert.rejects(
        api({ baseUrl: proxy.url, requestTimeoutMs: 500 }).runValidationDag({
          dagId: DAG_ID,
          runId: 'timed-out',
          unpause: true,
          timeoutMs: 10_000,
          heartbeat: () => undefined,
        }),
        (err: Error) => {
          assert.ok(!(err instanceof PermanentFault), `retryable, not permanent: ${err.message}`);
          assert.match(err.message, /GET \/api\/v2\/dags\/\{dag_id\} failed: .*timeout/i);
          return true;
        },
      );
      assert.equal(await dagRunRows('timed-out'), 0);
    } finally {
      await proxy.close();
    }
  });

  void test('a DAG the API does not know: PermanentFault with 404 context, nothing triggered', async () => {
    await assert.rejects(
      api().runValidationDag({
        dagId: 'no_such_dag',
        runId: 'x',
        unpause: true,
        timeoutMs: 10_000,
        heartbeat: () => undefined,
      }),
      (err: Error) => err instanceof PermanentFault && /DAG no_such_dag not found/.test(err.message),
    );
  });

  void test('BaseXCom: the validation run succeeds with everything inline and no objects', SLOW, async () => {
    const beats: unknown[] = [];
    const t = performance.now();
    const r = await runValidation(api(), runIds.base, beats);
    timings.baseRunMs = Math.round(performance.now() - t);
    assert.equal(r.state, 'success', show(r));
    assert.deepEqual(r.taskStates, { produce: 'success', consume: 'success' });
    assert.equal(r.xcomErrors, 0);
    assert.equal(r.objectCount, 0);
    assert.equal(r.xcoms.filter((x) => x.offloaded).length, 0, show(r));
    const large = r.xcoms.find((x) => x.taskId === 'produce' && x.key === 'return_value');
    assert.ok(large, show(r));
    // The DAG builds a string whose JSON encoding is exactly large_bytes: the API returned all of it.
    assert.equal(large.bytes, LARGE_BYTES);
    const control = r.xcoms.find((x) => x.taskId === 'produce' && x.key === 'control');
    assert.ok(control && control.bytes < 200, show(r));
    assert.ok(beats.length >= 1, 'heartbeat while waiting');
    assert.deepEqual(await s3Keys(''), []);
  });

  /** VALIDATE as the workflow runs it, on the real API: the large value sized from the stage's threshold. */
  function validateAt(thresholdBytes: number, runId: string): Promise<ValidationEvidence> {
    const plan = testPlan((p) => {
      p.spec.validation = { dagId: DAG_ID, unpause: true, timeout: '5m' };
    });
    // The activity heartbeats through its context: run it in one, as a worker would.
    const { validateRun } = validateActivities({ airflowApi: api() });
    return new MockActivityEnvironment().run(validateRun, {
      plan,
      runId,
      thresholdBytes,
    }) as Promise<ValidationEvidence>;
  }

  void test(
    'VALIDATE is red when the plan expects an offload and the run offloaded nothing (a 3 MB threshold, BaseXCom)',
    SLOW,
    async () => {
      const v = await validateAt(3_000_000, runIds.inert);
      assert.equal(v.state, 'success');
      assert.equal(v.offloadedCount, 0);
      // The value was sized above the threshold (a fixed 2 MB would have been below it).
      assert.equal(v.largestXComBytes, 3_000_000 + VALIDATION_MARGIN_BYTES);
      assert.equal(v.gate.passed, false);
      assert.match(
        v.gate.reasons.join('; '),
        /no XCom value was offloaded \(the run's large value was 3\.07 MB \(3 065 536 B\)\)/,
      );
    },
  );

  let offloadSince = '';
  let offloaded: DagRunResult | undefined;

  void test(
    'XComObjectStorageBackend below the large value: one offloaded value, its object in S3',
    SLOW,
    async () => {
      const pidsBefore = stack.components().map((c) => c.pid);
      const restarted = await stack.restart('all', { ...baseEnv, ...backendEnv() });
      timings.restartWithBackendMs = restarted.durationMs;
      timings.restartStopMs = restarted.stopMs;
      for (const c of stack.components())
        assert.ok(!pidsBefore.includes(c.pid), `${c.name} has a new process`);
      offloadSince = new Date().toISOString();
      const t2 = performance.now();
      const r = await runValidation(api(), runIds.offload);
      timings.offloadRunMs = Math.round(performance.now() - t2);
      offloaded = r;
      assert.equal(r.state, 'success', show(r));
      assert.equal(r.xcomErrors, 0);
      const off = r.xcoms.filter((x) => x.offloaded);
      assert.deepEqual(
        off.map((x) => `${x.taskId}.${x.key}`),
        ['produce.return_value'],
        show(r),
      );
      assert.ok(
        r.xcoms.some((x) => x.key === 'control' && !x.offloaded),
        show(r),
      );
      // Independently of the adapter: the backend's layout <prefix>/<dag>/<run>/<task>/<uuid>.
      const keys = await s3Keys(`xcom/${DAG_ID}/${runIds.offload}/`);
      assert.equal(r.objectCount, keys.length);
      assert.ok(r.objectCount >= 1);
      assert.match(
        keys[0]?.key ?? '',
        new RegExp(`^xcom/${DAG_ID}/${runIds.offload}/produce/[0-9a-f-]{36}$`),
      );
      // An offloaded value's size is its object's: the same 2,000,000 encoded bytes, uncompressed.
      assert.equal(off[0]?.bytes, keys[0]?.size);
      assert.equal(off[0]?.bytes, LARGE_BYTES);
    },
  );

  void test(
    'VALIDATE sizes the large value from the stage threshold: it offloads, and the gate passes',
    SLOW,
    async () => {
      const v = await validateAt(THRESHOLD, runIds.sized);
      assert.equal(v.state, 'success');
      assert.equal(v.offloadedCount, 1);
      assert.equal(v.largestXComBytes, THRESHOLD + VALIDATION_MARGIN_BYTES);
      assert.ok(v.gate.passed, v.gate.reasons.join('; '));
    },
  );

  void test(
    'retrying runValidationDag with the same run id reuses the run, never triggers a second',
    SLOW,
    async () => {
      assert.ok(offloaded, 'needs the offload run');
      const again = await runValidation(api(), runIds.offload);
      assert.deepEqual(again, offloaded);
      assert.equal(await dagRunRows(runIds.offload), 1);
      assert.equal((await s3Keys(`xcom/${DAG_ID}/${runIds.offload}/`)).length, offloaded.objectCount);
    },
  );

  void test(
    'revert breaks readers (path strings), clear + re-run heals; runsSince finds the run',
    SLOW,
    async () => {
      assert.ok(offloaded, 'needs the offload run');
      const run = { dagId: DAG_ID, runId: runIds.offload, state: 'success' };
      const a = api();

      const since = await a.runsSince({ since: offloadSince });
      assert.ok(
        since.some((x) => x.dagId === DAG_ID && x.runId === runIds.offload),
        JSON.stringify(since),
      );
      assert.ok(!since.some((x) => x.runId === runIds.base), 'the BaseXCom run started before');

      timings.revertRestartMs = (await stack.restart('all', baseEnv)).durationMs;

      const broken = await a.readsData({ run });
      assert.equal(broken.readsData, false, broken.detail);
      assert.match(broken.detail, /path string/);
      assert.match(broken.detail, /produce\.return_value/);

      // The hazard itself: re-running only the reader under BaseXCom hands it the path string, and
      // the DAG fails loudly. The adapter reads that run back and counts an XCom failure.
      await rawApi('POST', `/dags/${DAG_ID}/clearTaskInstances`, {
        dry_run: false,
        dag_run_id: runIds.offload,
        task_ids: ['consume'],
        only_failed: false,
        reset_dag_runs: true,
      });
      const readerRun = await runValidation(a, runIds.offload);
      assert.equal(readerRun.state, 'failed', show(readerRun));
      assert.equal(readerRun.taskStates.consume, 'failed');
      assert.equal(readerRun.xcomErrors, 1, show(readerRun));
      // The classifier reads only the error entries: the same task's successful first try mentions
      // XComs all over its log and still does not count, nor does an unrelated exception in it.
      const ti = (await rawApi('GET', `/dags/${DAG_ID}/dagRuns/${runIds.offload}/taskInstances/consume`)) as {
        try_number: number;
      };
      const logOf = async (tryNumber: number) =>
        (
          (await rawApi(
            'GET',
            `/dags/${DAG_ID}/dagRuns/${runIds.offload}/taskInstances/consume/logs/${tryNumber}?full_content=true`,
          )) as { content: unknown[] }
        ).content;
      const failedLog = await logOf(ti.try_number);
      const okLog = await logOf(1);
      assert.ok(ti.try_number >= 2);
      assert.equal(logShowsXComFailure(failedLog), true);
      assert.ok(JSON.stringify(okLog).toLowerCase().includes('xcom'), 'the successful log mentions xcom');
      assert.equal(logShowsXComFailure(okLog), false);
      const unrelated = {
        timestamp: new Date().toISOString(),
        level: 'error',
        event: 'Task failed with exception',
        dag_id: DAG_ID,
        error_detail: [
          {
            exc_type: 'KeyError',
            exc_value: "'customer_id'",
            frames: [{ filename: '/work/main/dags/xcom_backend_validation.py', lineno: 1, name: 'consume' }],
            exceptions: [],
          },
        ],
      };
      assert.equal(logShowsXComFailure([...okLog, unrelated]), false);

      const t2 = performance.now();
      const reruns = await a.clearAndWait({
        runs: [run],
        timeoutMs: RUN_TIMEOUT_MS,
        heartbeat: () => undefined,
      });
      timings.clearAndWaitMs = Math.round(performance.now() - t2);
      assert.deepEqual(reruns, [{ ...run, finalState: 'success' }]);

      const healed = await a.readsData({ run });
      assert.equal(healed.readsData, true, healed.detail);
      const after = await runValidation(a, runIds.offload);
      assert.equal(after.xcoms.filter((x) => x.offloaded).length, 0, show(after));
      assert.equal(after.xcoms.find((x) => x.key === 'return_value')?.bytes, LARGE_BYTES);
      // Clearing does not purge offloaded objects: the first run's object is an orphan now.
      assert.equal(after.objectCount, offloaded.objectCount);
    },
  );

  void test(
    'restarting one component waits for its fresh heartbeat; stop() leaves no process behind',
    SLOW,
    async () => {
      const before = stack.components().find((c) => c.name === 'scheduler');
      const r = await stack.restart('scheduler');
      timings.restartSchedulerMs = r.durationMs;
      const now = stack.components().find((c) => c.name === 'scheduler');
      assert.ok(before && now && before.pid !== now.pid);
      const health = (await (await fetch(`${stack.baseUrl}/api/v2/monitor/health`)).json()) as {
        scheduler: { status: string; latest_scheduler_heartbeat: string };
      };
      assert.equal(health.scheduler.status, 'healthy');
      const beat = Date.parse(health.scheduler.latest_scheduler_heartbeat.replace(/(\.\d{3})\d+/, '$1'));
      assert.ok(beat >= Date.parse(now.startedAt) - 1_000, "the heartbeat is the new process's");

      const groups = stack.components().map((c) => c.pid);
      const t = performance.now();
      await stack.stop();
      timings.stopMs = Math.round(performance.now() - t);
      for (const pgid of groups) {
        assert.throws(() => process.kill(-pgid, 0), /ESRCH/, `process group ${pgid} is gone`);
      }
      await assert.rejects(fetch(`${stack.baseUrl}/api/v2/monitor/health`), 'nothing answers on the port');
    },
  );
});

void describe('pythonJsonBytes', () => {
  void test("measures like Python's json.dumps (separators and ASCII escaping)", () => {
    assert.equal(pythonJsonBytes({ a: 1, b: [1, 2] }), '{"a": 1, "b": [1, 2]}'.length);
    assert.equal(pythonJsonBytes('h\u00e9llo \u20ac'), '"h\\u00e9llo \\u20ac"'.length);
    assert.equal(pythonJsonBytes('\u{1F600}'), '"\\ud83d\\ude00"'.length);
    assert.equal(pythonJsonBytes(null), 4);
  });
});
