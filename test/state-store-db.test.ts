/**
 * CALIBRATE's state store side against a real Airflow 3.3 metadata DB (`airflow db migrate`) in
 * PostgreSQL, with rows written by Airflow's own code (test/support/state_store_seed.py) and,
 * for wrapped rows, the real object-storage backend on moto S3. No mocks.
 */
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import pg from 'pg';
import { PermanentFault } from '../activities/engine/errors.js';
import { PostgresStateStoreDb } from '../adapters/state-store-db.js';
import { createAirflowTestDatabase, type AirflowTestDatabase } from './support/airflow-db.js';
import { tempAirflowHome } from './support/airflow.js';
import { startMoto, type MotoServer } from './support/moto.js';
import { seedStateRows, stateStoreEnv, type BackendSettings, type SeededRow } from './support/state-store.js';

const SLOW = { timeout: 240_000 };
const THRESHOLD = 300;

/** PostgreSQL's percentile_disc: the first value whose cumulative share reaches p. */
function percentileDisc(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.max(0, Math.ceil(p * sorted.length) - 1)] ?? 0;
}

const bytes = (s: string) => Buffer.byteLength(s, 'utf8');

/** A JSON string value whose json.dumps text is exactly n bytes ("x...x" plus two quotes). */
const ofSize = (n: number) => 'x'.repeat(n - 2);

void describe('state store calibration (PostgresStateStoreDb) on an Airflow-migrated PostgreSQL', () => {
  let db: AirflowTestDatabase;
  let moto: MotoServer;
  let home: { dir: string; remove(): void };
  let admin: pg.Client;
  let store: PostgresStateStoreDb;
  let backend: BackendSettings;

  before(async () => {
    [db, moto] = await Promise.all([
      createAirflowTestDatabase('ss_db'),
      startMoto({ bucket: 'cutover-state' }),
    ]);
    home = tempAirflowHome();
    admin = new pg.Client({ connectionString: db.url });
    await admin.connect();
    store = new PostgresStateStoreDb(db.url);
    backend = { path: `s3://aws_default@${moto.bucket}/state`, threshold: THRESHOLD, compression: '' };
  }, SLOW);

  after(async () => {
    await store?.close();
    await admin?.end();
    await moto?.stop();
    await db?.drop();
    home?.remove();
  });

  beforeEach(async () => {
    await admin.query(
      'TRUNCATE task_state_store, asset_state_store, dag_run, asset RESTART IDENTITY CASCADE',
    );
  });

  const env = (withBackend: boolean) =>
    stateStoreEnv({
      sqlalchemyUrl: db.sqlalchemyUrl,
      airflowHome: home.dir,
      s3Endpoint: moto.endpoint,
      ...(withBackend ? { backend } : {}),
    });

  it(
    'measures the JSON text the backend compares, counts wrapped rows apart, ranks producers',
    SLOW,
    async () => {
      // Plain history (before any flip): sizes straddling the threshold, one of exactly THRESHOLD.
      const sizes = [5, 20, 20, 64, 299, THRESHOLD, 301, 1000, 5000, 70_000];
      const plainTask = sizes.map((n, i) => ({
        dag_id: i % 2 ? 'etl' : 'ml',
        run_id: `manual__${i}`,
        task_id: i < 5 ? 'small' : 'big',
        key: 'cursor',
        value: ofSize(n),
      }));
      const plainAsset = [
        { name: 'orders', key: 'watermark', value: ofSize(40) },
        { name: 'orders', key: 'snapshot', value: ofSize(2000) },
        { name: 'clicks', key: 'watermark', value: { ts: '2026-01-01T00:00:00Z', n: 3 } },
      ];
      const plain = await seedStateRows(env(false), { task: plainTask, asset: plainAsset });
      assert.equal(plain.backend, null);
      const plainRows = plain.rows ?? [];
      for (const r of plainRows)
        assert.equal(r.stored, r.plain, 'without a backend the row holds json.dumps(value)');

      // The same values again under the backend (other keys): the backend decides per value.
      const wrapped = await seedStateRows(env(true), {
        task: plainTask.map((t) => ({ ...t, key: 'cursor_wrapped' })),
        asset: plainAsset.map((a) => ({ ...a, key: `${a.key}_wrapped` })),
      });
      assert.equal(wrapped.backend, 'StateStoreObjectStorageBackend');
      const wrappedRows = wrapped.rows ?? [];

      // The threshold's measure IS octet_length of the plain row: its twin offloads iff >= threshold.
      const twin = (r: SeededRow) => plainRows.find((p) => p.plain === r.plain && p.store === r.store);
      for (const w of wrappedRows) {
        const p = twin(w);
        assert.ok(p);
        assert.equal(
          w.refKind,
          bytes(p.stored) >= THRESHOLD ? 'object' : 'inline',
          `size ${bytes(p.stored)}`,
        );
      }

      const stats = await store.measureStateStoreSizes();
      const taskSizes = plainRows
        .filter((r) => r.store === 'task')
        .map((r) => bytes(r.stored))
        .sort((a, b) => a - b);
      assert.deepEqual(taskSizes, sizes);
      assert.equal(stats.task.rowCount, sizes.length);
      assert.deepEqual(stats.task.sizeBytes, {
        p50: percentileDisc(taskSizes, 0.5),
        p95: percentileDisc(taskSizes, 0.95),
        p99: percentileDisc(taskSizes, 0.99),
        p999: percentileDisc(taskSizes, 0.999),
        max: 70_000,
      });
      assert.equal(
        stats.task.totalBytes,
        taskSizes.reduce((a, b) => a + b, 0),
      );
      const taskObjects = wrappedRows.filter((r) => r.store === 'task' && r.refKind === 'object').length;
      assert.deepEqual(stats.task.wrapped, {
        rows: sizes.length,
        inlineRefs: sizes.length - taskObjects,
        objectRefs: taskObjects,
      });
      assert.equal(taskObjects, sizes.filter((n) => n >= THRESHOLD).length);
      assert.deepEqual(stats.task.topProducers[0], {
        dagId: 'etl',
        taskId: 'big',
        key: 'cursor',
        rows: 3,
        maxBytes: 70_000,
        totalBytes: THRESHOLD + 1000 + 70_000,
      });

      assert.equal(stats.asset.rowCount, 3);
      assert.equal(stats.asset.sizeBytes.max, 2000);
      assert.deepEqual(stats.asset.wrapped, { rows: 3, inlineRefs: 2, objectRefs: 1 });
      assert.deepEqual(stats.asset.topProducers[0], {
        assetName: 'orders',
        key: 'snapshot',
        rows: 1,
        maxBytes: 2000,
        totalBytes: 2000,
      });

      // At-or-above is inclusive (the backend offloads size >= threshold); 0 counts every plain row.
      const counts = await store.countRowsAtOrAbove([0, THRESHOLD, THRESHOLD + 1, 1_000_000]);
      assert.deepEqual(counts.task, [
        sizes.length,
        sizes.filter((n) => n >= THRESHOLD).length,
        sizes.filter((n) => n > THRESHOLD).length,
        0,
      ]);
      assert.deepEqual(counts.asset, [3, 1, 1, 0]);
    },
  );

  it('counts marker rows since a time, and refuses a negative threshold', SLOW, async () => {
    await seedStateRows(env(true), {
      task: [{ dag_id: 'd', run_id: 'r0', task_id: 't', key: 'before', value: 1 }],
    });
    const { rows } = await admin.query<{ t: Date }>('SELECT max(updated_at) AS t FROM task_state_store');
    const apply = new Date((rows[0]?.t ?? new Date()).getTime() + 1);
    await admin.query("UPDATE task_state_store SET updated_at = $1::timestamptz - interval '1 hour'", [
      apply,
    ]);
    await seedStateRows(env(true), {
      task: [{ dag_id: 'd', run_id: 'r1', task_id: 't', key: 'after', value: ofSize(THRESHOLD) }],
      asset: [{ name: 'orders', key: 'wm', value: 7 }],
    });
    await seedStateRows(env(false), {
      task: [{ dag_id: 'd', run_id: 'r1', task_id: 't', key: 'plain', value: 2 }],
    });
    assert.deepEqual(await store.countMarkerRows(apply), { task: 1, asset: 1 });
    assert.deepEqual(await store.countMarkerRows(), { task: 2, asset: 1 });
    await assert.rejects(store.countRowsAtOrAbove([100, -1]), PermanentFault);
  });
});
