/**
 * The state-store flip's probes and validation DAG against the REAL Airflow 3.3 in the venv, a real
 * Airflow metadata DB in PostgreSQL (migrated by Airflow itself, once for this file) and a real S3 API
 * (moto), through StateStoreProbes over LocalExecPort. No mocks: the rehearsal writes through the task
 * SDK's own accessors into the real task_state_store / asset_state_store tables.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { HeadBucketCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import pg from 'pg';
import { PermanentFault } from '../activities/engine/errors.js';
import { LocalExecPort } from '../adapters/exec/local.js';
import { StateStoreProbes } from '../adapters/state-store-probes.js';
import type { Component } from '../domain/plan.js';
import {
  METASTORE_STATE_BACKEND,
  STATE_REF_MARKER,
  STATE_STORE_OBJECT_STORAGE_BACKEND,
  stateStoreEnv,
} from '../domain/state-store.js';
import { airflowBaseEnv, tempAirflowHome } from './support/airflow.js';
import {
  airflowBin,
  createAirflowTestDatabase,
  repoRoot,
  type AirflowTestDatabase,
} from './support/airflow-db.js';
import { startMoto, type MotoServer } from './support/moto.js';

const SLOW = { timeout: 240_000 };
const THRESHOLD = 1024;
const run = promisify(execFile);

void describe('state-store probes (real Airflow 3.3 + PostgreSQL metadata DB + moto S3)', () => {
  let db: AirflowTestDatabase;
  let moto: MotoServer;
  let home: { dir: string; remove(): void };
  let cwd: string;
  let base: string;
  let componentEnv: Record<string, string>;
  let probes: StateStoreProbes;
  const worker: Component = { name: 'worker' };

  before(async () => {
    [db, moto] = await Promise.all([
      createAirflowTestDatabase('cutover_state_store'),
      startMoto({ bucket: 'cutover-state' }),
    ]);
    home = tempAirflowHome();
    cwd = mkdtempSync(path.join(tmpdir(), 'cutover-state-cwd-'));
    componentEnv = {
      ...airflowBaseEnv({ airflowHome: home.dir, s3Endpoint: moto.endpoint }),
      AIRFLOW__DATABASE__SQL_ALCHEMY_CONN: db.sqlalchemyUrl,
      // The venv has no asyncpg: Airflow would derive a postgresql+asyncpg URL and fail at import.
      AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC: '',
    };
    probes = new StateStoreProbes(new LocalExecPort({ envFor: () => componentEnv, cwdFor: () => cwd }));
    base = `s3://aws_default@${moto.bucket}/state`;
  }, SLOW);

  after(async () => {
    await moto?.stop();
    await db?.drop();
    home?.remove();
    if (cwd) rmSync(cwd, { recursive: true, force: true });
  });

  async function keysUnder(prefix: string): Promise<string[]> {
    const res = await moto.s3.send(new ListObjectsV2Command({ Bucket: moto.bucket, Prefix: prefix }));
    return (res.Contents ?? []).map((o) => o.Key ?? '');
  }

  async function query<T extends pg.QueryResultRow>(sql: string): Promise<T[]> {
    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    try {
      return (await client.query<T>(sql)).rows;
    } finally {
      await client.end();
    }
  }

  async function sentinelRowsLeft(): Promise<number> {
    const [r] = await query<{ n: string }>(
      `SELECT (SELECT count(*) FROM task_state_store) + (SELECT count(*) FROM asset_state_store)
            + (SELECT count(*) FROM dag_run WHERE dag_id = '_cutover_state_rehearsal')
            + (SELECT count(*) FROM asset WHERE name LIKE '_cutover_state_rehearsal%') AS n`,
    );
    return Number(r?.n ?? -1);
  }

  void describe('state_store_resolve (VERIFY)', () => {
    void test(
      'the correct env resolves to the object-storage worker backend and leaves the metastore',
      SLOW,
      async () => {
        const got = await probes.resolve({
          component: worker,
          extraEnv: stateStoreEnv({ path: base, thresholdBytes: THRESHOLD, compression: 'gzip' }),
        });
        assert.equal(got.error, null);
        assert.deepEqual(got.problems, []);
        assert.deepEqual(got.drafts, []);
        assert.equal(got.workerBackendClass, STATE_STORE_OBJECT_STORAGE_BACKEND);
        assert.equal(got.serverBackendClass, METASTORE_STATE_BACKEND);
        assert.equal(got.path, base);
        assert.equal(got.threshold, THRESHOLD);
        assert.equal(got.compression, 'gzip');
        assert.equal(got.versions['apache-airflow'], '3.3.2');
        assert.equal(got.versions['apache-airflow-providers-common-io'], '1.11.0');
      },
    );

    void test('the PR text’s draft names are each flagged with the spelling that works', SLOW, async () => {
      const got = await probes.resolve({
        component: worker,
        extraEnv: {
          AIRFLOW__STATE_STORE__BACKEND:
            'airflow.providers.common.io.store.backend.StoreObjectStorageBackend',
          AIRFLOW__COMMON_IO__STORE_OBJECTSTORAGE_PATH: base,
          AIRFLOW__COMMON_IO__STORE_OBJECTSTORAGE_THRESHOLD: '0',
          'AIRFLOW__COMMON.IO__STATE_STORE_OBJECTSTORAGE_COMPRESSION': 'gzip',
        },
      });
      const byVar = new Map(got.drafts.map((d) => [d.variable, d]));
      assert.equal(
        byVar.get('AIRFLOW__COMMON_IO__STORE_OBJECTSTORAGE_PATH')?.use,
        'AIRFLOW__COMMON_IO__STATE_STORE_OBJECTSTORAGE_PATH',
      );
      assert.equal(
        byVar.get('AIRFLOW__COMMON_IO__STORE_OBJECTSTORAGE_THRESHOLD')?.use,
        'AIRFLOW__COMMON_IO__STATE_STORE_OBJECTSTORAGE_THRESHOLD',
      );
      assert.equal(
        byVar.get('AIRFLOW__COMMON.IO__STATE_STORE_OBJECTSTORAGE_COMPRESSION')?.use,
        'AIRFLOW__COMMON_IO__STATE_STORE_OBJECTSTORAGE_COMPRESSION',
      );
      const server = byVar.get('AIRFLOW__STATE_STORE__BACKEND');
      assert.ok(server, JSON.stringify(got.drafts));
      assert.match(server.problem, /SERVER-side store/);
      assert.match(
        server.use,
        /^AIRFLOW__WORKERS__STATE_STORE_BACKEND=airflow\.providers\.common\.io\.state_store\.backend\.StateStoreObjectStorageBackend/,
      );
      // What Airflow actually resolves with those names: no worker backend, nothing offloaded, and the
      // server-side store pointed at a module that does not exist.
      assert.equal(got.workerBackend, '');
      assert.equal(got.path, '');
      assert.match(
        got.error ?? '',
        /ModuleNotFoundError \(import \[state_store\] backend\).*airflow\.providers\.common\.io\.store/,
      );
      assert.ok(got.problems.length >= 4, got.problems.join('\n'));
      assert.doesNotMatch(JSON.stringify(got), /testing/, 'no credential in the answer');
    });

    void test('no env: no worker backend, the metastore as the server store, no problems', SLOW, async () => {
      const got = await probes.resolve({ component: worker });
      assert.equal(got.error, null);
      assert.equal(got.workerBackend, '');
      assert.equal(got.workerBackendClass, null);
      assert.equal(got.serverBackendClass, METASTORE_STATE_BACKEND);
      assert.deepEqual(got.problems, []);
    });
  });

  void describe('state_store_rehearse (the break and the heal, through the SDK accessors)', () => {
    void test(
      'threshold 1 KiB: small inline, large offloaded, marker in every row, break, heal, cleanup',
      SLOW,
      async () => {
        let beats = 0;
        const out = await probes.rehearse({
          component: worker,
          runId: 'rehearse-1k',
          env: stateStoreEnv({ path: base, thresholdBytes: THRESHOLD, compression: '' }),
          heartbeat: () => {
            beats++;
          },
        });
        assert.ok(beats >= 1);
        assert.deepEqual(out.checks, {
          offloaded: true,
          markerInDb: true,
          roundTripIntact: true,
          breakConfirmed: true,
          healConfirmed: true,
          readableAfterReflip: true,
          cleaned: true,
        });
        assert.equal(out.valueBytes.small, 20);
        assert.equal(out.valueBytes.large, THRESHOLD + 64 * 1024);
        assert.deepEqual(out.expectInline, { small: true, large: false });
        assert.deepEqual(Object.keys(out.rows).sort(), [
          'asset:large',
          'asset:small',
          'task:large',
          'task:small',
        ]);
        for (const row of Object.values(out.rows)) assert.equal(row.marker, true);
        assert.equal(out.rows['task:small']?.ref, 'inline JSON');
        // Stable paths, no uuid: <base>/<dag>/<run>/<task>/<map_index>/<key> and <base>/assets/<name>/<key>.
        assert.equal(
          out.rows['task:large']?.ref,
          `${base}/_cutover_state_rehearsal/rehearsal__rehearse-1k/sentinel/-1/large`,
        );
        assert.equal(
          out.rows['asset:large']?.ref,
          `${base}/assets/_cutover_state_rehearsal_rehearse-1k/large`,
        );
        for (const step of ['write', 'checkRows', 'revertRead', 'heal', 'healedRead', 'cleanup'])
          assert.equal(typeof out.timingsMs[step], 'number', `timing for ${step}`);
        assert.deepEqual(await keysUnder('state/'), [], 'objects cleaned up');
        assert.equal(await sentinelRowsLeft(), 0, 'rows, sentinel dag run and asset cleaned up');
      },
    );

    void test('threshold 0 with gzip: every value offloaded (.gz), still all checks pass', SLOW, async () => {
      const out = await probes.rehearse({
        component: worker,
        runId: 'rehearse-0',
        env: stateStoreEnv({ path: base, thresholdBytes: 0, compression: 'gzip' }),
      });
      assert.deepEqual(out.expectInline, { small: false, large: false });
      assert.equal(out.objectPaths.length, 4);
      for (const p of out.objectPaths) assert.match(p, /\.gz$/);
      assert.ok(Object.values(out.checks).every(Boolean), JSON.stringify(out.checks));
      assert.deepEqual(await keysUnder('state/'), []);
      assert.equal(await sentinelRowsLeft(), 0);
    });

    void test('no worker backend in the env: PermanentFault before anything is written', SLOW, async () => {
      await assert.rejects(
        probes.rehearse({
          component: worker,
          runId: 'rehearse-none',
          env: {
            // The PR text's names: present in the env, never read.
            AIRFLOW__STATE_STORE__BACKEND: STATE_STORE_OBJECT_STORAGE_BACKEND,
            AIRFLOW__COMMON_IO__STORE_OBJECTSTORAGE_PATH: base,
          },
        }),
        (err: unknown) => {
          assert.ok(err instanceof PermanentFault, String(err));
          assert.match(err.message, /\[workers\] state_store_backend resolves to ''/);
          assert.match(err.message, /nothing was written/);
          return true;
        },
      );
      assert.equal(await sentinelRowsLeft(), 0);
    });

    void test('a missing bucket is refused and not created', SLOW, async () => {
      await assert.rejects(
        probes.rehearse({
          component: worker,
          runId: 'rehearse-nobucket',
          env: stateStoreEnv({
            path: 's3://aws_default@no-such-state-bucket/state',
            thresholdBytes: THRESHOLD,
            compression: '',
          }),
        }),
        (err: unknown) => {
          assert.ok(err instanceof PermanentFault, String(err));
          assert.match(err.message, /failed at "check bucket".*does not exist/);
          return true;
        },
      );
      await assert.rejects(moto.s3.send(new HeadBucketCommand({ Bucket: 'no-such-state-bucket' })));
      assert.equal(await sentinelRowsLeft(), 0);
    });
  });

  void describe('dags/state_store_validation.py under `airflow dags test`', () => {
    async function dagsTest(extra: Record<string, string>): Promise<{ ok: boolean; output: string }> {
      const env = {
        ...componentEnv,
        ...extra,
        AIRFLOW__CORE__DAGS_FOLDER: path.join(repoRoot(), 'dags'),
      };
      try {
        const { stdout, stderr } = await run(
          airflowBin(),
          ['dags', 'test', 'state_store_backend_validation'],
          {
            env,
            cwd,
            timeout: 180_000,
            maxBuffer: 64 * 1024 * 1024,
          },
        );
        return { ok: true, output: stdout + stderr };
      } catch (err) {
        const e = err as { stdout?: string; stderr?: string; code?: number };
        if (typeof e.code !== 'number') throw err;
        return { ok: false, output: `${e.stdout ?? ''}${e.stderr ?? ''}` };
      }
    }

    void test(
      'passes with the backend unset and set; after a bare revert the next run fails loudly on the marker',
      { timeout: 600_000 },
      async () => {
        const unset = await dagsTest({});
        assert.ok(unset.ok, unset.output.slice(-3000));
        assert.match(unset.output, /retry read the task state of try 1 as data/);
        assert.match(unset.output, /downstream task read the asset state as data/);

        const flipped = await dagsTest(
          stateStoreEnv({ path: base, thresholdBytes: THRESHOLD, compression: '' }),
        );
        assert.ok(flipped.ok, flipped.output.slice(-3000));
        assert.match(flipped.output, /downstream task read the asset state as data/);
        const rows = await query<{ key: string; value: string }>(
          'SELECT key, value FROM asset_state_store ORDER BY key',
        );
        assert.deepEqual(
          rows.map((r) => r.key),
          ['large', 'small'],
        );
        for (const r of rows)
          assert.ok(r.value.startsWith(`{"${STATE_REF_MARKER}": `), r.value.slice(0, 200));
        assert.deepEqual(await keysUnder('state/assets/state_store_backend_validation/'), [
          'state/assets/state_store_backend_validation/large',
        ]);

        const reverted = await dagsTest({});
        assert.equal(reverted.ok, false, 'the run after a bare revert must fail');
        assert.match(
          reverted.output,
          /asset state left by an earlier run: '(small|large)' came back as the state-store MARKER/,
        );
      },
    );
  });
});
