/**
 * In-pod calibration: the SAME SQL as the direct adapter, run by probes/calibrate.py
 * through the engine Airflow configures in a component (here a local component: the
 * venv's Airflow with AIRFLOW__DATABASE__SQL_ALCHEMY_CONN), against the machine's real
 * PostgreSQL migrated by `airflow db migrate` and seeded with the reference distribution.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { PermanentFault } from '../activities/engine/errors.js';
import { ExecAirflowProbes } from '../adapters/airflow-probes.js';
import { LocalExecPort } from '../adapters/exec/local.js';
import { InPodMetadataDb } from '../adapters/in-pod-metadata-db.js';
import { PostgresMetadataDb } from '../adapters/metadata-db.js';
import type { Component } from '../domain/plan.js';
import { createAirflowTestDatabase, type AirflowTestDatabase } from './support/airflow-db.js';
import { venvDir } from './support/moto.js';
import { createTestDatabase, PG_HOST, PG_USER, type TestDatabase } from './support/postgres.js';
import { clearXComHistory, DOSSIER, insertXComRows, referenceRows } from './support/xcom-fixture.js';

const SLOW = { timeout: 120_000 };

/** A TCP port with nothing listening. */
async function deadPort(): Promise<number> {
  const net = await import('node:net');
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

void describe('InPodMetadataDb (probes/calibrate.py through Airflow 3.3 engine, real PostgreSQL)', () => {
  let db: AirflowTestDatabase;
  let plain: TestDatabase;
  let direct: PostgresMetadataDb;
  let home: string;
  let probes: ExecAirflowProbes;
  let urls: Record<string, string>;

  /** A component per database URL: its env is what a scheduler would carry. */
  const component = (name: string): Component => ({ name });

  before(async () => {
    db = await createAirflowTestDatabase('cutover_inpod');
    plain = await createTestDatabase('cutover_inpod_plain');
    const admin = new pg.Client({ connectionString: db.url });
    await admin.connect();
    try {
      await clearXComHistory(admin);
      await insertXComRows(admin, referenceRows());
    } finally {
      await admin.end();
    }
    direct = new PostgresMetadataDb(db.url);
    home = mkdtempSync(path.join(tmpdir(), 'cutover-inpod-home-'));
    const port = await deadPort();
    urls = {
      scheduler: db.sqlalchemyUrl,
      plain: plain.sqlalchemyUrl,
      unreachable: `postgresql+psycopg2://airflow:sekrit-pw-123@127.0.0.1:${port}/airflow`,
      nodb: `postgresql+psycopg2://${PG_USER}@${PG_HOST}:5432/cutover_no_such_db_x`,
      sqlite: `sqlite:///${path.join(home, 'airflow.db')}`,
    };
    const exec = new LocalExecPort({
      envFor: (c) => {
        const url = urls[c.name];
        if (!url) throw new Error(`no component ${c.name}`);
        return {
          PATH: `${path.join(venvDir(), 'bin')}:/usr/bin:/bin`,
          HOME: home,
          LANG: 'C.UTF-8',
          AIRFLOW_HOME: home,
          AIRFLOW__CORE__LOAD_EXAMPLES: 'False',
          AIRFLOW__DATABASE__SQL_ALCHEMY_CONN: url,
          // No asyncpg in the venv: Airflow 3 would derive a postgresql+asyncpg URL and fail at import.
          AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC: '',
        };
      },
      cwdFor: () => home,
    });
    probes = new ExecAirflowProbes(exec, { python: () => [path.join(venvDir(), 'bin', 'python')] });
  }, SLOW);

  after(async () => {
    await direct?.close();
    await db?.drop();
    await plain?.drop();
    if (home) rmSync(home, { recursive: true, force: true });
  });

  void test(
    'measures the reference distribution with the same figures as the direct adapter',
    SLOW,
    async (t) => {
      const inPod = new InPodMetadataDb(probes, component('scheduler'));
      assert.equal(inPod.source, 'in-pod');
      const started = Date.now();
      const stats = await inPod.measureXComSizes();
      const measureMs = Date.now() - started;
      const thresholds = [1_600_000, 0, -1, 48_000, 100_001, 2_000_000, 1_990_000];
      const counts = await inPod.countRowsAtOrAbove(thresholds);
      t.diagnostic(`in-pod measure ${measureMs} ms (2 execs: table + sizes); ${JSON.stringify(stats)}`);

      assert.deepEqual(stats, await direct.measureXComSizes());
      assert.deepEqual(counts, await direct.countRowsAtOrAbove(thresholds));
      assert.equal(await inPod.valueColumnType(), 'jsonb');

      assert.equal(stats.rowCount, DOSSIER.rows);
      assert.deepEqual(stats.sizeBytes, {
        p50: DOSSIER.p50,
        p95: DOSSIER.p95,
        p99: DOSSIER.p99,
        p999: DOSSIER.p999,
        max: DOSSIER.max,
      });
      assert.deepEqual(stats.rowsAbove, {
        '48KB': DOSSIER.above48KB,
        '100KB': DOSSIER.above100KB,
        '1MB': DOSSIER.above1MB,
      });
      assert.equal(counts[0], DOSSIER.atOrAbove1_6MB);
      assert.equal(counts[1], DOSSIER.rows, 'threshold 0 offloads everything');
      assert.equal(counts[2], 0, 'a negative threshold never offloads');
      assert.equal(counts[5], 0);
      assert.equal(counts[6], 1, 'a value of exactly the threshold is offloaded');
    },
  );

  void test('the statements run in a read-only transaction', SLOW, async () => {
    const res = await probes.calibrate({
      component: component('scheduler'),
      statements: [{ sql: `UPDATE xcom SET key = key WHERE dag_id = $1`, params: ['etl_daily'] }],
    });
    assert.equal(res.ok, false);
    assert.ok(!res.ok);
    assert.equal(res.error.sqlstate, '25006', JSON.stringify(res.error));
    assert.match(res.error.message, /read-only transaction/);
    assert.equal(res.dialect, 'postgresql');
  });

  void test('binds $n parameters through the driver (arrays, repeats, literal %)', SLOW, async () => {
    const res = await probes.calibrate({
      component: component('scheduler'),
      statements: [
        { sql: `SELECT $2::text AS b, $1::int8[] AS a, $2::text || '%' AS pct`, params: [[1, 2], 'x'] },
        { sql: `SELECT 'no params, 100%' AS s` },
      ],
    });
    assert.ok(res.ok, JSON.stringify(res));
    assert.deepEqual(res.results, [[{ b: 'x', a: [1, 2], pct: 'x%' }], [{ s: 'no params, 100%' }]]);
  });

  void test('a database without an xcom table is a PermanentFault', SLOW, async () => {
    const inPod = new InPodMetadataDb(probes, component('plain'));
    await assert.rejects(inPod.measureXComSizes(), (err: unknown) => {
      assert.ok(err instanceof PermanentFault, String(err));
      assert.match(err.message, new RegExp(`no xcom table in ${plain.name}`));
      return true;
    });
  });

  void test('a database that does not exist is a PermanentFault', SLOW, async () => {
    const inPod = new InPodMetadataDb(probes, component('nodb'));
    await assert.rejects(inPod.countRowsAtOrAbove([1]), (err: unknown) => {
      assert.ok(err instanceof PermanentFault, String(err));
      assert.match(err.message, /database does not exist/);
      return true;
    });
  });

  void test('an unreachable database stays retryable and its password never shows', SLOW, async () => {
    const inPod = new InPodMetadataDb(probes, component('unreachable'));
    await assert.rejects(inPod.measureXComSizes(), (err: unknown) => {
      assert.ok(err instanceof Error);
      assert.ok(!(err instanceof PermanentFault), `must stay retryable: ${err.message}`);
      assert.match(err.message, /via component unreachable unreachable: OperationalError/);
      assert.doesNotMatch(`${err.message}\n${err.stack ?? ''}`, /sekrit-pw-123/);
      return true;
    });
  });

  void test('a non-PostgreSQL metadata DB is refused as a PermanentFault', SLOW, async () => {
    const inPod = new InPodMetadataDb(probes, component('sqlite'));
    await assert.rejects(inPod.measureXComSizes(), (err: unknown) => {
      assert.ok(err instanceof PermanentFault, String(err));
      assert.match(err.message, /PostgreSQL metadata DBs only.*sqlite/);
      return true;
    });
  });
});
