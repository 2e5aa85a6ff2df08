/**
 * CALIBRATE's one-scan statement against the real PostgreSQL (own database, dropped after):
 *
 * - the same figures as the percentile_disc statement it replaced, on several distributions
 *   (empty, a single row, SQL NULLs, ties at the quantile ranks, JSON null, the dossier's
 *   reference distribution with large-value producers, non-ASCII, 300k small rows), with the
 *   planner's choice and with parallel costs set to zero; on the 300k-row table, with default
 *   settings, the plan is a Parallel Seq Scan under Partial and Finalize aggregates;
 * - sizes as the object-storage backend compares them on French, CJK and emoji text, checked
 *   against the provider's own serialize_value run in the venv;
 * - `samplePercent`: bounds that hold the exact figures, field-named refusals.
 *
 * The table is a minimal one with Airflow's column names and types (value jsonb, or bytea as
 * Airflow 2): the statement only reads dag_id, task_id and value.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { PermanentFault } from '../activities/engine/errors.js';
import { createActivities } from '../activities/index.js';
import type { Plan } from '../domain/plan.js';
import {
  backendSizeOfText,
  measureXComSizesStatement,
  PostgresMetadataDb,
  xcomSizeStatsFrom,
  type XComSizesRow,
  type XComTable,
} from '../adapters/metadata-db.js';
import { runAirflowPython } from './support/airflow-db.js';
import { percentileDiscSql } from './support/percentile-disc.js';
import { calibrationPlan } from './support/plans.js';
import { createTestDatabase, type TestDatabase } from './support/postgres.js';
import { REFERENCE_DISTRIBUTION, assignProducers } from './support/xcom-fixture.js';

const JSONB: XComTable = {
  qualified: 'public.xcom',
  sizeExpr: 'octet_length(value::text)',
  columnType: 'jsonb',
};

/** The old two-statement projection: rows whose size is >= each threshold. */
async function countAtOrAbove(c: pg.ClientBase, size: string, thresholds: number[]): Promise<number[]> {
  const out: number[] = [];
  for (const th of thresholds) {
    const r = await c.query<{ n: string }>(
      `SELECT count(*) AS n FROM public.xcom WHERE value IS NOT NULL AND $1::int8 >= 0 AND ${size} >= $1::int8`,
      [th],
    );
    out.push(Number(r.rows[0]?.n));
  }
  return out;
}

/** Rows of (dag_id, task_id, text size) written as JSON strings of exactly that many bytes (size >= 2). */
async function writeStrings(c: pg.ClientBase, rows: { dagId: string; taskId: string; bytes: number }[]) {
  await c.query(
    `INSERT INTO public.xcom (dag_id, task_id, value)
     SELECT d, t, to_jsonb(repeat('x', b - 2)) FROM unnest($1::text[], $2::text[], $3::int4[]) AS u(d, t, b)`,
    [rows.map((r) => r.dagId), rows.map((r) => r.taskId), rows.map((r) => r.bytes)],
  );
}

function firstRow<R>(rows: R[]): R {
  const [row] = rows;
  assert.ok(row, 'the statement returned a row');
  return row;
}

/** An XCom plan whose threshold is p99.9 rounded up to 1,000 bytes. */
const xcomPlan = (maxOffloadRows: number): Plan =>
  calibrationPlan({ name: 'calibration-scan-test', roundTo: 1000, validationDag: 'd', maxOffloadRows });

const PARALLEL = [
  'SET parallel_setup_cost = 0',
  'SET parallel_tuple_cost = 0',
  'SET min_parallel_table_scan_size = 0',
  'SET max_parallel_workers_per_gather = 2',
];

void describe('CALIBRATE in one parallel scan, on the real PostgreSQL', () => {
  let db: TestDatabase;
  let admin: pg.Client;
  let metadb: PostgresMetadataDb;

  before(async () => {
    db = await createTestDatabase('calscan');
    admin = new pg.Client({ connectionString: db.url });
    await admin.connect();
    await admin.query(
      `CREATE TABLE public.xcom (id serial PRIMARY KEY, dag_id text NOT NULL, task_id text NOT NULL, value jsonb)`,
    );
    metadb = new PostgresMetadataDb(db.url);
  });
  after(async () => {
    await metadb?.close();
    await admin?.end();
    await db?.drop();
  });

  /** The new statement, with the planner's choice or a forced parallel plan, against the old one. */
  async function compare(
    label: string,
    size = 'octet_length(value::text)',
    parallelPlan = true,
  ): Promise<void> {
    await admin.query('ANALYZE public.xcom');
    const old = await admin.query<XComSizesRow>(percentileDiscSql(size));
    const expected = xcomSizeStatsFrom(firstRow(old.rows));
    const thresholds = [0, 15, 16, 48_000, 1_600_000, -1, expected.sizeBytes.max, expected.sizeBytes.max + 1];
    const counts = await countAtOrAbove(admin, size, thresholds);
    const roundTo = 1000;
    const proposed = (Math.floor(expected.sizeBytes.p999 / roundTo) + 1) * roundTo;
    const [proposedCount] = await countAtOrAbove(admin, size, [proposed]);
    const options = { offloadAt: [{ above: 'p999' as const, roundTo }, ...thresholds] };
    const offloadAt = [proposed, ...thresholds].map((t, i) => ({
      thresholdBytes: t,
      rows: (i === 0 ? proposedCount : counts[i - 1]) ?? -1,
    }));

    const viaAdapter = await metadb.measureXComSizes(options);
    assert.deepEqual(viaAdapter, { ...expected, offloadAt }, `${label}: the adapter's figures`);

    const forced = new pg.Client({ connectionString: db.url });
    await forced.connect();
    try {
      for (const s of PARALLEL) await forced.query(s);
      const { sql, params } = measureXComSizesStatement(JSONB, options);
      const plan = await forced.query<{ 'QUERY PLAN': string }>(`EXPLAIN ${sql}`, params);
      const text = plan.rows.map((r) => r['QUERY PLAN']).join('\n');
      // Whether the planner also splits the aggregate depends on its estimates for a table this
      // small; the big-table test below checks the Partial / Finalize plan with default settings.
      if (parallelPlan) assert.match(text, /Parallel Seq Scan on xcom/, `${label}: ${text}`);
      assert.doesNotMatch(text, /percentile/, text);
      const res = await forced.query<XComSizesRow>(sql, params);
      assert.deepEqual(
        xcomSizeStatsFrom(firstRow(res.rows)),
        { ...expected, offloadAt },
        `${label}: forced parallel`,
      );
    } finally {
      await forced.end();
    }
  }

  void it('empty table: zeros, as before', async () => {
    await admin.query('TRUNCATE public.xcom');
    await compare('empty', undefined, false);
    const stats = await metadb.measureXComSizes();
    assert.equal(stats.rowCount, 0);
    assert.deepEqual(stats.sizeBytes, { p50: 0, p95: 0, p99: 0, p999: 0, max: 0 });
  });

  void it('a single row', async () => {
    await admin.query('TRUNCATE public.xcom');
    await writeStrings(admin, [{ dagId: 'd', taskId: 't', bytes: 60_000 }]);
    await compare('single row', undefined, false);
  });

  void it('SQL NULL values are left out; JSON null counts 4 bytes', async () => {
    await admin.query('TRUNCATE public.xcom');
    await admin.query(
      `INSERT INTO public.xcom (dag_id, task_id, value) SELECT 'd', 't', NULL FROM generate_series(1, 50)`,
    );
    await compare('only SQL NULLs', undefined, false);
    await admin.query(
      `INSERT INTO public.xcom (dag_id, task_id, value) SELECT 'd', 't', 'null'::jsonb FROM generate_series(1, 7)`,
    );
    await writeStrings(admin, [{ dagId: 'd', taskId: 't', bytes: 9 }]);
    await compare('NULLs, JSON nulls and one string', undefined, false);
    assert.equal((await metadb.measureXComSizes()).rowCount, 8);
  });

  void it('ties: equal sizes across the quantile ranks, equal producers', async () => {
    await admin.query('TRUNCATE public.xcom');
    const rows: { dagId: string; taskId: string; bytes: number }[] = [];
    // 2000 rows, 4 sizes; ranks 1000, 1900, 1980 and 1998 fall on the tie boundaries.
    for (let i = 0; i < 1000; i++) rows.push({ dagId: 'a', taskId: 't', bytes: 10 });
    for (let i = 0; i < 900; i++) rows.push({ dagId: 'a', taskId: 't', bytes: 20 });
    for (let i = 0; i < 80; i++) rows.push({ dagId: 'a', taskId: 't', bytes: 30 });
    // Large values: producers tied on count and on max, ranked by name.
    for (const d of ['p', 'q', 'r', 's', 'u', 'v']) {
      rows.push({ dagId: d, taskId: 'big', bytes: 50_000 }, { dagId: d, taskId: 'big', bytes: 50_000 });
    }
    for (let i = 0; i < 8; i++) rows.push({ dagId: 'z', taskId: 'one', bytes: 2_000_000 });
    await writeStrings(admin, rows);
    await compare('ties');
  });

  void it("the dossier's reference distribution, with large-value producers", async () => {
    await admin.query('TRUNCATE public.xcom');
    await writeStrings(
      admin,
      assignProducers(REFERENCE_DISTRIBUTION).map((r) => ({
        dagId: r.dagId,
        taskId: r.taskId,
        bytes: r.bytes,
      })),
    );
    await compare('reference');
    const stats = await metadb.measureXComSizes();
    assert.deepEqual(stats.sizeBytes, {
      p50: 15,
      p95: 73_000,
      p99: 307_000,
      p999: 1_520_000,
      max: 1_990_000,
    });
  });

  void it('pseudo-random sizes over many magnitudes, and non-ASCII text measured the new way', async () => {
    await admin.query('TRUNCATE public.xcom');
    await admin.query(
      `INSERT INTO public.xcom (dag_id, task_id, value)
       SELECT 'd' || (i % 7), 't' || (i % 3), to_jsonb(repeat('y', ((i * 2654435761) % 120000)::int))
       FROM generate_series(1, 2000) i`,
    );
    await compare('random');
    await admin.query(
      `INSERT INTO public.xcom (dag_id, task_id, value)
       SELECT 'n', 't', to_jsonb(repeat(chr(233), i) || repeat(chr(26085), i % 5) || repeat(chr(128512), i % 3))
       FROM generate_series(1, 400) i`,
    );
    await compare('non-ASCII', backendSizeOfText('value::text'));
  });

  void it('on a big enough table, with default settings: Parallel Seq Scan, Partial and Finalize aggregates', async () => {
    await admin.query('TRUNCATE public.xcom');
    await admin.query(
      `INSERT INTO public.xcom (dag_id, task_id, value)
       SELECT 'd' || (i % 10), 't' || (i % 8), to_jsonb(repeat('z', ((i * 2654435761) % 400)::int))
       FROM generate_series(1, 300000) i`,
    );
    await admin.query('VACUUM ANALYZE public.xcom');
    const { sql, params } = measureXComSizesStatement(JSONB, {
      offloadAt: [{ above: 'p999', roundTo: 100 }],
    });
    const plan = await admin.query<{ 'QUERY PLAN': string }>(`EXPLAIN ${sql}`, params);
    const text = plan.rows.map((r) => r['QUERY PLAN']).join('\n');
    assert.match(text, /Parallel Seq Scan on xcom/, text);
    assert.match(text, /Partial HashAggregate|Partial GroupAggregate/, text);
    assert.match(text, /Finalize (HashAggregate|GroupAggregate)/, text);
    // Each value is rendered once per row, by the scan, with no per-row node above it for that.
    const verbose = await admin.query<{ 'QUERY PLAN': string }>(`EXPLAIN VERBOSE ${sql}`, params);
    const vtext = verbose.rows.map((r) => r['QUERY PLAN']).join('\n');
    assert.equal(vtext.split('(xcom.value)::text').length - 1, 1, vtext);
    assert.match(vtext, /Parallel Seq Scan on public\.xcom[^\n]*\n\s+Output: \(xcom\.value\)::text,/, vtext);
    assert.doesNotMatch(vtext, /ProjectSet|clock_timestamp/, vtext);
    await compare('300k small rows');
  });

  void it("sizes non-ASCII text as the backend compares it (the provider's serialize_value in the venv)", async () => {
    await admin.query('TRUNCATE public.xcom');
    // For each value: what Airflow 3 stores (JSON of serde's serialize), the length the backend's
    // source compares, and the backend's own decision at that threshold and one byte above.
    const backend = await runAirflowPython<
      Record<string, { stored: string; compared: number; offloadsAt: boolean; inlineAbove: boolean }>
    >(db.sqlalchemyUrl, BACKEND_DECIDES);
    const keys = Object.keys(backend);
    assert.ok(keys.length >= 8);
    for (const key of keys) {
      const b = backend[key];
      assert.ok(b);
      // The compared size is exactly where the backend starts offloading.
      assert.ok(
        b.offloadsAt && b.inlineAbove,
        `${key}: the backend offloads at ${b.compared} and not at ${b.compared + 1}`,
      );
      await admin.query(`INSERT INTO public.xcom (dag_id, task_id, value) VALUES ($1, 't', $2::jsonb)`, [
        key,
        b.stored,
      ]);
    }
    const r = await admin.query<{ dag_id: string; b: string; raw: number }>(
      `SELECT dag_id, ${backendSizeOfText('value::text')} AS b, octet_length(value::text) AS raw FROM public.xcom`,
    );
    for (const row of r.rows) assert.equal(Number(row.b), backend[row.dag_id]?.compared, row.dag_id);
    // The issue's example: ten é measure 42 bytes of jsonb text, the backend compares 82.
    const tenE = r.rows.find((x) => x.dag_id === 'ten_e_dict');
    assert.deepEqual([tenE?.raw, Number(tenE?.b)], [42, 82]);
    // Calibration and the projection use the backend's size.
    const sizes = keys.map((k) => backend[k]?.compared ?? -1).sort((a, b) => a - b);
    const stats = await metadb.measureXComSizes({ offloadAt: sizes });
    assert.equal(stats.sizeBytes.max, sizes[sizes.length - 1]);
    assert.deepEqual(
      stats.offloadAt?.map((o) => o.rows),
      sizes.map((s) => sizes.filter((x) => x >= s).length),
    );
    assert.deepEqual(
      await metadb.countRowsAtOrAbove(sizes),
      stats.offloadAt?.map((o) => o.rows),
    );
  });

  void it('samplePercent: estimates with bounds that hold the exact figures; bad percents are refused by name', async () => {
    await admin.query('TRUNCATE public.xcom');
    await admin.query(
      `INSERT INTO public.xcom (dag_id, task_id, value)
       SELECT 'd', 't', to_jsonb(repeat('y', ((i * 2654435761) % 5000)::int)) FROM generate_series(1, 40000) i`,
    );
    await admin.query('ANALYZE public.xcom');
    const exact = await metadb.measureXComSizes({ offloadAt: [{ above: 'p999', roundTo: 1000 }] });
    const est = await metadb.measureXComSizes({
      offloadAt: [{ above: 'p999', roundTo: 1000 }],
      samplePercent: 50,
    });
    const s = est.sample;
    assert.ok(
      s && s.percent === 50 && s.sampledRows > 0 && s.sampledRows < exact.rowCount,
      JSON.stringify(s),
    );
    for (const q of ['p50', 'p95', 'p99', 'p999'] as const) {
      const { low, high } = s.quantileBounds[q];
      assert.ok(low <= est.sizeBytes[q] && est.sizeBytes[q] <= high, `${q} within its own bounds`);
      assert.ok(
        low <= exact.sizeBytes[q] && exact.sizeBytes[q] <= high,
        `${q}: exact ${exact.sizeBytes[q]} in [${low}, ${high}]`,
      );
    }
    const [e] = exact.offloadAt ?? [];
    const [p] = est.offloadAt ?? [];
    assert.ok(
      e && p && Math.abs(p.rows - e.rows) <= s.rowsBound,
      `${p?.rows} +- ${s.rowsBound} holds ${e?.rows}`,
    );
    assert.ok(Math.abs(est.rowCount - exact.rowCount) <= s.rowsBound);
    assert.equal(exact.sample, undefined);

    // The gate: a sample alone never passes when the allowance is within its bound; the exact scan does.
    const { calibrate } = createActivities({ metadb });
    const bound = s.rowsBound;
    const allowance = e.rows + Math.floor(bound / 2); // exactly: passes; sampled: within the bound
    const exactEv = await calibrate({ plan: xcomPlan(allowance) });
    assert.equal(exactEv.projectedOffloadRows, e.rows);
    assert.deepEqual(exactEv.gate, { passed: true, reasons: [] });
    const sampledEv = await calibrate({ plan: xcomPlan(allowance), samplePercent: 50 });
    assert.equal(sampledEv.sample?.percent, 50);
    assert.equal(sampledEv.gate.passed, false);
    assert.match(
      sampledEv.gate.reasons.join('\n'),
      /50% sample: about .* within the error bound of the plan's maxOffloadRows/,
    );
    // Far above the bound, the sample may pass.
    const wide = await calibrate({ plan: xcomPlan(exact.rowCount * 2), samplePercent: 50 });
    assert.deepEqual(wide.gate, { passed: true, reasons: [] });
    await assert.rejects(
      calibrate({ plan: xcomPlan(10), samplePercent: 0 }),
      /^PermanentFault: samplePercent: must be/,
    );
    for (const bad of [0, -5, 100.5, Number.NaN]) {
      await assert.rejects(metadb.measureXComSizes({ samplePercent: bad }), (err: unknown) => {
        assert.ok(err instanceof PermanentFault);
        assert.match(err.message, /^samplePercent: must be a number above 0 and at most 100/);
        return true;
      });
    }
  });
});

/** Runs in the venv: the provider's serialize_value decides, with its threshold patched per value. */
const BACKEND_DECIDES = `
import json, tempfile
from airflow.sdk import ObjectStoragePath
from airflow.sdk.serde import serialize
from airflow.utils.json import XComEncoder
import airflow.providers.common.io.xcom.backend as backend
base = ObjectStoragePath("file://" + tempfile.mkdtemp())
backend._get_base_path = lambda: base
backend._get_compression = lambda: None
values = {
    "ten_e_dict": {"accented_texts": "\\u00e9" * 10},
    "french": "L'\\u00e9t\\u00e9 o\\u00f9 na\\u00eet le ma\\u00efs, \\u00e7a co\\u00fbte 5 \\u20ac",
    "french_dict": {"r\\u00e9sum\\u00e9": ["caf\\u00e9", "cr\\u00e8me br\\u00fbl\\u00e9e"], "na\\u00efve": True},
    "cjk": "\\u6771\\u4eac\\u90fd\\u306e\\u30c7\\u30fc\\u30bf \\ud55c\\uad6d\\uc5b4 \\u4e2d\\u6587",
    "emoji": "deploy \\U0001F680 done \\U0001F389\\U0001F44D",
    "mixed_list": ["a", "\\u00e9", "\\u4e2d", "\\U0001F600", 1, None, {"\\u00fc": "\\U00010348"}],
    "del_char": "a\\x7fb",
    "controls": "line\\nbreak\\ttab \\u0001",
    "ascii": {"decision": "hold", "n": 3},
}
def offloads(value, threshold):
    backend._get_threshold = lambda: threshold
    out = backend.XComObjectStorageBackend.serialize_value(value, dag_id="d", run_id="r", task_id="t")
    return isinstance(out, str) and out.startswith("file://")
out = {}
for key, value in values.items():
    compared = len(json.dumps(value, cls=XComEncoder).encode("utf-8"))
    out[key] = {
        "stored": json.dumps(serialize(value)),
        "compared": compared,
        "offloadsAt": offloads(value, compared),
        "inlineAbove": not offloads(value, compared + 1),
    }
print(json.dumps(out))
`;
