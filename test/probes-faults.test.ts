/**
 * Fault cases of the evidence probes (PREFLIGHT, REHEARSE) that need a store which says no: a moto
 * server that ENFORCES authentication (test/support/moto.ts, enforceAuth) and an aws_default
 * connection whose keys its IAM does not know; plus an endpoint that refuses connections. The real
 * Airflow from the venv runs the probes through ExecAirflowProbes over LocalExecPort, as for a
 * local target. No mocks.
 *
 * What must hold: a credentials problem is a red preflight row that names it (and the other rows
 * still report), and a rehearsal that fails with a PermanentFault (retrying cannot fix keys) naming
 * it, leaving nothing behind; a connection refused stays a retryable error.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import { ApplicationFailure } from '@temporalio/common';
import { PermanentFault, toActivityFailure } from '../activities/engine/errors.js';
import { ExecAirflowProbes } from '../adapters/airflow-probes.js';
import { LocalExecPort } from '../adapters/exec/local.js';
import { renderStage } from '../domain/airflow-env.js';
import type { CheckRow } from '../domain/evidence.js';
import { planSchema, type Component, type Plan } from '../domain/plan.js';
import { airflowBaseEnv, tempAirflowHome } from './support/airflow.js';
import { freePort, startMoto, TEST_REGION, type MotoServer } from './support/moto.js';

const SLOW = { timeout: 240_000 };
const THRESHOLD = 100_000;

/** Keys moto's IAM has never issued (shaped like real ones, so only the lookup fails). */
const UNKNOWN_KEY_ID = 'AKIACUTOVERUNKNOWN01';
const UNKNOWN_SECRET = 'unknown-secret-cutover-0123456789abcdefgh';

function planFor(bucket: string): Plan {
  return planSchema.parse({
    apiVersion: 'cutover/v1',
    kind: 'XComBackendCutover',
    name: 'probe-faults',
    target: {
      kind: 'local',
      name: 'probe-faults',
      envFile: '/tmp/probe-faults.env',
      components: [{ name: 'scheduler' }],
    },
    airflow: {
      version: '3.3',
      minCommonIoProvider: '1.4.0',
      metadataDb: { access: 'direct', urlEnv: 'AIRFLOW_DB_URL' },
    },
    spec: {
      xcom: {
        path: `s3://aws_default@${bucket}/xcom`,
        threshold: { strategy: 'fixed', bytes: THRESHOLD },
        compression: '',
        maxOffloadRows: 10,
      },
      validation: { dagId: 'xcom_validation' },
    },
    change: { mode: 'env-file' },
    approval: { approvers: ['alice'] },
  });
}

function stageEnv(plan: Plan): Record<string, string> {
  return renderStage('target', { path: plan.spec.xcom.path, thresholdBytes: THRESHOLD, compression: '' }).env;
}

function row(rows: CheckRow[], prefix: string): CheckRow {
  const found = rows.find((r) => r.name.startsWith(prefix));
  assert.ok(found, `no check row named ${prefix}...: ${rows.map((r) => r.name).join(', ')}`);
  return found;
}

function show(rows: CheckRow[]): string {
  return rows.map((r) => `  [${r.status}] ${r.name}: ${r.detail}`).join('\n');
}

/** An env whose aws_default connection carries explicit keys (login/password), as operators set it. */
function envWithKeys(
  home: string,
  endpoint: string,
  keys: { accessKeyId: string; secretAccessKey: string },
  extra: Record<string, unknown> = {},
): Record<string, string> {
  const env = airflowBaseEnv({ airflowHome: home, s3Endpoint: endpoint });
  env.AIRFLOW_CONN_AWS_DEFAULT = JSON.stringify({
    conn_type: 'aws',
    login: keys.accessKeyId,
    password: keys.secretAccessKey,
    extra: { endpoint_url: endpoint, region_name: TEST_REGION, ...extra },
  });
  return env;
}

void describe('probe faults: wrong S3 credentials (moto enforcing auth), connection refused', () => {
  let moto: MotoServer;
  let home: { dir: string; remove(): void };
  let cwd: string;
  let probes: ExecAirflowProbes;
  let plan: Plan;
  const badKeys: Component = { name: 'bad-keys' };
  const goodKeys: Component = { name: 'good-keys' };
  const refused: Component = { name: 'refused' };

  /** Every key in the bucket, listed with keys moto knows. */
  async function allKeys(): Promise<string[]> {
    const res = await moto.s3.send(new ListObjectsV2Command({ Bucket: moto.bucket }));
    return (res.Contents ?? []).map((o) => o.Key ?? '');
  }

  before(async () => {
    moto = await startMoto({ bucket: 'cutover-xcom-auth', enforceAuth: true });
    home = tempAirflowHome();
    cwd = mkdtempSync(path.join(tmpdir(), 'cutover-probe-faults-cwd-'));
    const closedPort = await freePort();
    const envs: Record<string, Record<string, string>> = {
      [badKeys.name]: envWithKeys(home.dir, moto.endpoint, {
        accessKeyId: UNKNOWN_KEY_ID,
        secretAccessKey: UNKNOWN_SECRET,
      }),
      [goodKeys.name]: envWithKeys(home.dir, moto.endpoint, moto.credentials),
      [refused.name]: envWithKeys(
        home.dir,
        `http://127.0.0.1:${closedPort}`,
        moto.credentials,
        // Fail fast: one attempt, 1 s to connect (what the connection's extra can say in production too).
        {
          config_kwargs: {
            connect_timeout: 1,
            read_timeout: 2,
            retries: { max_attempts: 1, mode: 'standard' },
          },
        },
      ),
    };
    probes = new ExecAirflowProbes(
      new LocalExecPort({
        envFor: (c) => {
          const env = envs[c.name];
          if (!env) throw new Error(`no env for component ${c.name}`);
          return env;
        },
        cwdFor: () => cwd,
      }),
    );
    plan = planFor(moto.bucket);
  }, SLOW);

  after(async () => {
    await moto?.stop();
    home?.remove();
    if (cwd) rmSync(cwd, { recursive: true, force: true });
  });

  void test('the test store really enforces auth: unknown keys get 403 InvalidAccessKeyId', async () => {
    const { S3Client } = await import('@aws-sdk/client-s3');
    const stranger = new S3Client({
      endpoint: moto.endpoint,
      forcePathStyle: true,
      region: TEST_REGION,
      credentials: { accessKeyId: UNKNOWN_KEY_ID, secretAccessKey: UNKNOWN_SECRET },
    });
    try {
      await assert.rejects(
        stranger.send(new ListObjectsV2Command({ Bucket: moto.bucket })),
        (err: unknown) => {
          const e = err as { name?: string; $metadata?: { httpStatusCode?: number } };
          assert.equal(e.name, 'InvalidAccessKeyId');
          assert.equal(e.$metadata?.httpStatusCode, 403);
          return true;
        },
      );
    } finally {
      stranger.destroy();
    }
    assert.deepEqual(await allKeys(), [], 'the IAM user the tests list with is let in');
  });

  void describe('PREFLIGHT', () => {
    void test(
      'unknown keys: the write -> read -> delete row is red and names the credential problem; the other rows report',
      SLOW,
      async () => {
        const rows = await probes.preflight({
          component: badKeys,
          plan,
          runId: 'pf-badkeys',
          env: stageEnv(plan),
        });
        assert.equal(rows.length, 6, show(rows));
        const fn = row(rows, 'object storage');
        assert.equal(fn.status, 'red', show(rows));
        assert.match(fn.detail, /write failed: PermissionError/, fn.detail);
        assert.match(fn.detail, /error InvalidAccessKeyId, HTTP 403/, fn.detail);
        assert.match(
          fn.detail,
          /does not accept the credentials connection aws_default supplies/,
          'says what is wrong, in words',
        );
        assert.ok(!fn.detail.includes(UNKNOWN_SECRET), 'the secret never appears');
        // Every other check ran and reports on its own.
        for (const name of [
          'provider',
          'connection aws_default',
          'config resolves',
          'compression',
          'prior',
        ]) {
          assert.equal(row(rows, name).status, 'green', show(rows));
        }
        assert.match(row(rows, 'connection aws_default').detail, /resolves: type aws/);
        for (const r of rows) assert.ok(!r.detail.includes(UNKNOWN_SECRET), r.detail);
        assert.deepEqual(await allKeys(), [], 'nothing was written');
      },
    );

    void test(
      'control: keys moto knows pass the same preflight on the same enforcing store',
      SLOW,
      async () => {
        const rows = await probes.preflight({
          component: goodKeys,
          plan,
          runId: 'pf-goodkeys',
          env: stageEnv(plan),
        });
        assert.deepEqual(
          rows.filter((r) => r.status !== 'green'),
          [],
          show(rows),
        );
        assert.match(row(rows, 'object storage').detail, /PASS/);
        assert.deepEqual(await allKeys(), [], 'self-cleaned');
      },
    );
  });

  void describe('REHEARSE', () => {
    void test(
      'unknown keys: a PermanentFault (never retried) naming the credential problem, nothing left behind',
      SLOW,
      async () => {
        const err = await probes
          .rehearse({
            component: badKeys,
            plan,
            runId: 'rh-badkeys',
            env: stageEnv(plan),
            heartbeat: () => {},
          })
          .then(
            () => null,
            (e: unknown) => e,
          );
        assert.ok(err instanceof PermanentFault, `expected a PermanentFault, got ${String(err)}`);
        assert.match(err.message, /rehearsal in bad-keys failed at "check bucket": PermissionError/);
        assert.match(err.message, /error InvalidAccessKeyId, HTTP 403/);
        assert.match(err.message, /does not accept the credentials connection aws_default supplies/);
        assert.doesNotMatch(err.message, /bucket \S+ does not exist/, 'not mistaken for a missing bucket');
        assert.match(err.message, /nothing was written/);
        assert.ok(!err.message.includes(UNKNOWN_SECRET));
        // What the workflow's retry policy sees: non-retryable by type.
        const failure = toActivityFailure(err);
        assert.ok(failure instanceof ApplicationFailure);
        assert.equal(failure.type, 'PermanentFault');
        assert.equal(failure.nonRetryable, true);
        assert.deepEqual(await allKeys(), [], 'no sentinel, no bucket change');
        assert.deepEqual(readdirSync(cwd), [], 'nothing offloaded to a local relative path either');
      },
    );

    void test('control: keys moto knows rehearse cleanly on the same enforcing store', SLOW, async () => {
      const out = await probes.rehearse({
        component: goodKeys,
        plan,
        runId: 'rh-goodkeys',
        env: stageEnv(plan),
        heartbeat: () => {},
      });
      assert.equal(out.offloaded, true);
      assert.equal(out.breakConfirmed, true);
      assert.equal(out.roundTripIntact, true);
      assert.equal(out.healConfirmed, true);
      assert.equal(out.sentinelCleaned, true);
      assert.deepEqual(await allKeys(), []);
    });

    void test(
      'connection refused: a plain (retryable) Error naming the connection failure, not "bucket does not exist"',
      SLOW,
      async () => {
        const started = Date.now();
        const err = await probes
          .rehearse({
            component: refused,
            plan,
            runId: 'rh-refused',
            env: stageEnv(plan),
            heartbeat: () => {},
          })
          .then(
            () => null,
            (e: unknown) => e,
          );
        const took = Date.now() - started;
        assert.ok(err instanceof Error, String(err));
        assert.ok(
          !(err instanceof PermanentFault),
          `a refused connection must stay retryable: ${err.message}`,
        );
        assert.match(err.message, /failed at "check bucket": EndpointConnectionError: Could not connect/);
        assert.doesNotMatch(err.message, /bucket \S+ does not exist/);
        assert.equal(toActivityFailure(err), err, 'passed to Temporal as is: retried by the step policy');
        assert.ok(took < 60_000, `bounded by the connection's botocore timeouts (took ${took} ms)`);
      },
    );
  });
});
