/**
 * The state store's CALIBRATE statement (one parallel-safe GROUP BY per table) against the real
 * PostgreSQL (own database, dropped after): the same row, field for field, as the percentile_disc
 * statement it replaced, on several distributions (empty, SQL NULLs, ties at the quantile ranks,
 * wrapped rows of both kinds, producers tied on their largest value, non-ASCII text, assets
 * without a name, 60k random rows), with the planner's choice and with parallel costs set to
 * zero (then the plan is a Parallel Seq Scan, without percentile_disc).
 *
 * The tables are minimal ones with Airflow 3.3's column names and types (value TEXT): the
 * statement only reads the producer columns and value, and asset's name.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import {
  ASSET,
  MARKER_LIKE,
  OBJECT_REF_REGEX,
  sizesSql,
  TASK,
  type StoreSql,
} from '../adapters/state-store-db.js';
import { stateSizesPercentileDiscSql } from './support/state-store-percentile-disc.js';
import { createTestDatabase, type TestDatabase } from './support/postgres.js';

const PARALLEL = [
  'SET parallel_setup_cost = 0',
  'SET parallel_tuple_cost = 0',
  'SET min_parallel_table_scan_size = 0',
  'SET max_parallel_workers_per_gather = 2',
];

const STORES: [string, StoreSql, string][] = [
  ['task', TASK, 'task_state_store'],
  ['asset', ASSET, 'asset_state_store'],
];

const objectRef = (k: string) =>
  JSON.stringify({ __airflow_state_ref__: `s3://aws_default@bucket/state/${k}` });
const inlineRef = (k: string) => JSON.stringify({ __airflow_state_ref__: { key: k, v: [1, 2] } });

void describe('state store CALIBRATE in one parallel-safe GROUP BY, on the real PostgreSQL', () => {
  let db: TestDatabase;
  let admin: pg.Client;
  let forced: pg.Client;

  before(async () => {
    db = await createTestDatabase('ssscan');
    admin = new pg.Client({ connectionString: db.url });
    await admin.connect();
    await admin.query(`
      CREATE TABLE task_state_store (id serial PRIMARY KEY, dag_id text NOT NULL, task_id text NOT NULL,
                                     key text NOT NULL, value text);
      CREATE TABLE asset (id serial PRIMARY KEY, name text NOT NULL);
      CREATE TABLE asset_state_store (id serial PRIMARY KEY, asset_id int NOT NULL, key text NOT NULL, value text)`);
    forced = new pg.Client({ connectionString: db.url });
    await forced.connect();
    for (const s of PARALLEL) await forced.query(s);
  });
  after(async () => {
    await forced?.end();
    await admin?.end();
    await db?.drop();
  });

  /** Rows of (producer, value): task rows use dag/task/key, asset rows asset id (1..3 named, 9 not) and key. */
  async function write(rows: { d: string; t: string; k: string; v: string | null }[]): Promise<void> {
    await admin.query(
      `INSERT INTO task_state_store (dag_id, task_id, key, value)
       SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[])`,
      [rows.map((r) => r.d), rows.map((r) => r.t), rows.map((r) => r.k), rows.map((r) => r.v)],
    );
    await admin.query(
      `INSERT INTO asset_state_store (asset_id, key, value)
       SELECT CASE WHEN d LIKE 'n%' THEN 9 ELSE 1 + abs(hashtext(d)) % 3 END, k, v
       FROM unnest($1::text[], $2::text[], $3::text[]) AS u(d, k, v)`,
      [rows.map((r) => r.d), rows.map((r) => r.k), rows.map((r) => r.v)],
    );
  }

  async function reset(): Promise<void> {
    await admin.query('TRUNCATE task_state_store, asset_state_store, asset RESTART IDENTITY');
    await admin.query(`INSERT INTO asset (name) VALUES ('s3://a/one'), ('s3://a/two'), ('s3://a/three')`);
  }

  /** Both stores, 3 and 500 producers: the new statement's row equals the old one's, planner's and forced parallel plan. */
  async function compare(label: string, expectRows?: number, parallelPlan = true): Promise<void> {
    await admin.query('ANALYZE task_state_store, asset_state_store, asset');
    for (const [name, store, table] of STORES) {
      for (const top of [3, 500]) {
        const params = [MARKER_LIKE, OBJECT_REF_REGEX, top];
        const old = await admin.query<Record<string, unknown>>(stateSizesPercentileDiscSql(store), params);
        const expected = old.rows[0];
        assert.ok(expected, `${label}: the old statement returned a row`);
        if (expectRows !== undefined)
          assert.equal(Number(expected['n']), expectRows, `${label} ${name}: rows`);
        const viaPlanner = await admin.query<Record<string, unknown>>(sizesSql(store), params);
        assert.deepEqual(viaPlanner.rows, [expected], `${label} ${name} top ${top}: planner's plan`);

        const plan = await forced.query<{ 'QUERY PLAN': string }>(`EXPLAIN ${sizesSql(store)}`, params);
        const text = plan.rows.map((r) => r['QUERY PLAN']).join('\n');
        // An empty table has no pages to share out: PostgreSQL plans it serial whatever the costs.
        if (parallelPlan)
          assert.match(text, new RegExp(`Parallel Seq Scan on ${table}`), `${label} ${name}: ${text}`);
        assert.doesNotMatch(text, /percentile/, text);
        const parallel = await forced.query<Record<string, unknown>>(sizesSql(store), params);
        assert.deepEqual(parallel.rows, [expected], `${label} ${name} top ${top}: forced parallel`);
      }
    }
  }

  void it('empty tables and only SQL NULL values: zeros and no quantiles, as before', async () => {
    await reset();
    await compare('empty', 0, false);
    await write(Array.from({ length: 20 }, (_, i) => ({ d: 'd', t: 't', k: `k${i}`, v: null })));
    await compare('only NULLs', 0);
  });

  void it('ties at the quantile ranks, producers tied on their largest value', async () => {
    await reset();
    const rows: { d: string; t: string; k: string; v: string | null }[] = [];
    // 2000 rows, 4 sizes: ranks 1000, 1900, 1980 and 1998 fall on the tie boundaries.
    const sizes: [number, number][] = [
      [1000, 10],
      [900, 20],
      [80, 30],
      [20, 400],
    ];
    for (const [count, bytes] of sizes)
      for (let i = 0; i < count; i++)
        rows.push({
          d: ['p', 'q', 'r', 's'][i % 4] ?? 'p',
          t: 't',
          k: `k${i % 3}`,
          v: JSON.stringify('x'.repeat(bytes - 2)),
        });
    await write(rows);
    await compare('ties', 2000);
  });

  void it('wrapped rows (inline and object refs) are counted apart; NULLs, non-ASCII and nameless assets', async () => {
    await reset();
    const rows: { d: string; t: string; k: string; v: string | null }[] = [];
    for (let i = 0; i < 300; i++) {
      const d = `d${i % 7}`;
      rows.push({ d, t: `t${i % 5}`, k: 'k', v: JSON.stringify({ i, s: 'y'.repeat((i * 37) % 900) }) });
      if (i % 3 === 0) rows.push({ d, t: 't0', k: 'k', v: objectRef(`${i}`) });
      if (i % 5 === 0) rows.push({ d, t: 't1', k: 'k', v: inlineRef(`${i}`) });
      if (i % 11 === 0) rows.push({ d, t: 't2', k: 'k', v: null });
      // Not a marker: the key differs (the LIKE's escaped underscores), and plain text that mentions one.
      if (i % 13 === 0) rows.push({ d, t: 't3', k: 'k', v: '{"__airflow_state_refXX": "s3://b/k"}' });
      if (i % 17 === 0) rows.push({ d, t: 't4', k: 'k', v: JSON.stringify(`__airflow_state_ref__ ${i}`) });
      // Non-ASCII text as json.dumps(ensure_ascii=False) would not write it, measured in bytes as stored.
      if (i % 19 === 0) rows.push({ d, t: 't5', k: 'k', v: `"été ${'日本'.repeat(i % 9)} 😀"` });
      if (i % 23 === 0) rows.push({ d: `n${i}`, t: 't6', k: 'k', v: JSON.stringify('z'.repeat(i)) });
    }
    await write(rows);
    await compare('mixed');
  });

  void it('60k random rows over many producers', async () => {
    await reset();
    await admin.query(`
      INSERT INTO task_state_store (dag_id, task_id, key, value)
      SELECT 'd' || (i % 97), 't' || (i % 13), 'k' || (i % 3),
             CASE WHEN i % 41 = 0 THEN '{"__airflow_state_ref__": "s3://aws_default@b/k/' || i || '"}'
                  ELSE to_json(repeat('w', ((i::int8 * 2654435761) % 20000)::int))::text END
      FROM generate_series(1, 60000) i`);
    await admin.query(`
      INSERT INTO asset_state_store (asset_id, key, value)
      SELECT 1 + i % 4, 'k' || (i % 5), to_json(repeat('v', ((i::int8 * 40503) % 3000)::int))::text
      FROM generate_series(1, 60000) i`);
    await compare('random');
  });
});
