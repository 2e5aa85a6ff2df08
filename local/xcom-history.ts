/**
 * Synthetic XCom history written into a schema that `airflow db migrate` made: the reference
 * distribution of the dossier (7,175 values whose quantiles are exactly its table) for the demo and
 * the calibration tests, and a server-side generator for the benchmark's millions of rows.
 *
 * What Airflow 3.3's schema asks for (read from the migrated DB):
 * - xcom (dag_run_id, task_id, map_index, key) is the primary key; dag_id,
 *   run_id, timestamp are NOT NULL; value is JSONB. dag_run_id has no foreign
 *   key; (dag_id, task_id, run_id, map_index) references task_instance.
 * - task_instance needs id (uuid), try_number, pool, pool_slots; it references
 *   dag_run (dag_id, run_id). dag_version_id and trigger_id are nullable.
 * - dag_run needs run_type and run_after; (dag_id, logical_date) is unique.
 *   Nothing references the dag table, so no dag / dag_version rows are written.
 *
 * Values are built inside PostgreSQL as JSON strings `"xxx..."`: a string of
 * n - 2 characters encodes to exactly n bytes (two quotes), both in jsonb's
 * text form and in Python's json.dumps; size 1 is the number 0. Only sizes
 * (a few KB of parameters) travel from Node, never values.
 */
import pg from 'pg';

/** The dossier's table (§1), decimal units. */
export const DOSSIER = {
  rows: 7175,
  p50: 15,
  p95: 73_000,
  p99: 307_000,
  p999: 1_520_000,
  max: 1_990_000,
  above48KB: 545,
  above100KB: 277,
  above1MB: 11,
  /** "only the ~7 largest historical rows (>1.6 MB) would offload" */
  atOrAbove1_6MB: 7,
} as const;

/**
 * The reference distribution: 7,175 sizes (ascending) whose percentile_disc
 * figures are exactly the dossier's.
 *
 * percentile_disc(f) returns the value at 1-based rank k = ceil(f * N) of the
 * sorted rows (the smallest k with k/N >= f). With N = 7175:
 *   p50   -> ceil(3587.5)   = rank 3588 = 15
 *   p95   -> ceil(6816.25)  = rank 6817 = 73,000
 *   p99   -> ceil(7103.25)  = rank 7104 = 307,000
 *   p99.9 -> ceil(7167.825) = rank 7168 = 1,520,000
 *   max   ->                  rank 7175 = 1,990,000
 * Counts fix the band edges: 545 rows > 48,000 are ranks 6631..7175; 277 rows
 * > 100,000 are ranks 6899..7175; 11 rows > 1,000,000 are ranks 7165..7175; the
 * 7 rows >= 1,600,000 are ranks 7169..7175. No size equals a band edge (48,000,
 * 100,000, 1,000,000, 1,600,000), so "> edge" and ">= edge" agree.
 * Between anchors the sizes grow geometrically (rounded), so the list is sorted
 * and every anchor rank holds its exact value.
 */
const SEGMENTS: [fromRank: number, toRank: number, fromBytes: number, toBytes: number][] = [
  [1, 3588, 4, 15],
  [3589, 6630, 16, 47_000],
  [6631, 6817, 49_000, 73_000],
  [6818, 6898, 74_000, 99_000],
  [6899, 7104, 101_000, 307_000],
  [7105, 7164, 310_000, 980_000],
  [7165, 7167, 1_100_000, 1_400_000],
  [7168, 7168, 1_520_000, 1_520_000],
  [7169, 7175, 1_610_000, 1_990_000],
];

function buildReference(): number[] {
  const sizes: number[] = [];
  for (const [r0, r1, b0, b1] of SEGMENTS) {
    for (let r = r0; r <= r1; r++) {
      const f = r1 === r0 ? 0 : (r - r0) / (r1 - r0);
      sizes.push(Math.round(b0 * Math.pow(b1 / b0, f)));
    }
  }
  return sizes;
}

export const REFERENCE_DISTRIBUTION: readonly number[] = Object.freeze(buildReference());

export interface XComRowSpec {
  dagId: string;
  taskId: string;
  bytes: number;
}

/** Large values (> 48 KB) go to the diagnostic DAGs, as in the dossier; six producers so "top 5" cuts one. */
export const LARGE_PRODUCERS: readonly { dagId: string; taskId: string; weight: number }[] = [
  { dagId: 'diagnostic__s42', taskId: 'decide', weight: 200 },
  { dagId: 'diagnostic__s41', taskId: 'decide', weight: 150 },
  { dagId: 'diagnostic__s40', taskId: 'decide', weight: 100 },
  { dagId: 'diagnostic__s42', taskId: 'trajectory', weight: 60 },
  { dagId: 'diagnostic__s41', taskId: 'trajectory', weight: 25 },
  { dagId: 'diagnostic__s40', taskId: 'trajectory', weight: 10 },
];

const SMALL_PRODUCERS: readonly [string, string][] = [
  ['etl_daily', 'extract'],
  ['etl_daily', 'transform'],
  ['etl_daily', 'load'],
  ['reporting', 'publish'],
  ['diagnostic__s42', 'collect'],
  ['diagnostic__s41', 'collect'],
  ['diagnostic__s40', 'collect'],
];

/**
 * Gives each size a producer: small ones round-robin over ordinary tasks, large
 * ones (> 48 KB) over LARGE_PRODUCERS by smooth weighted round-robin, which for
 * 545 large rows hands out exactly the weights (200/150/100/60/25/10).
 */
export function assignProducers(sizes: readonly number[], largeAbove = 48_000): XComRowSpec[] {
  const current = LARGE_PRODUCERS.map(() => 0);
  const total = LARGE_PRODUCERS.reduce((s, p) => s + p.weight, 0);
  let small = 0;
  return sizes.map((bytes) => {
    if (bytes > largeAbove) {
      let best = 0;
      LARGE_PRODUCERS.forEach((p, i) => {
        current[i] = (current[i] ?? 0) + p.weight;
        if ((current[i] ?? 0) > (current[best] ?? 0)) best = i;
      });
      current[best] = (current[best] ?? 0) - total;
      const p = LARGE_PRODUCERS[best];
      if (!p) throw new Error('unreachable');
      return { dagId: p.dagId, taskId: p.taskId, bytes };
    }
    const pair = SMALL_PRODUCERS[small++ % SMALL_PRODUCERS.length];
    if (!pair) throw new Error('unreachable');
    return { dagId: pair[0], taskId: pair[1], bytes };
  });
}

/** The reference distribution with its producers. */
export function referenceRows(): XComRowSpec[] {
  return assignProducers(REFERENCE_DISTRIBUTION);
}

/** SQL building a JSON value of exactly `n` encoded bytes from an integer expression. */
function valueOfSize(n: string): string {
  return `CASE WHEN ${n} < 2 THEN '0'::jsonb ELSE to_jsonb(repeat('x', ${n} - 2)) END`;
}

async function inTransaction<T>(client: pg.ClientBase, fn: () => Promise<T>): Promise<T> {
  await client.query('BEGIN');
  try {
    const out = await fn();
    await client.query('COMMIT');
    return out;
  } catch (err) {
    await client.query('ROLLBACK');
    throw err;
  }
}

async function requireJsonbValue(client: pg.ClientBase): Promise<void> {
  const res = await client.query<{ t: string | null }>(
    `SELECT data_type AS t FROM information_schema.columns
     WHERE table_schema = current_schema() AND table_name = 'xcom' AND column_name = 'value'`,
  );
  const t = res.rows[0]?.t;
  if (t !== 'jsonb')
    throw new Error(
      `the fixture writes Airflow 3's schema (xcom.value jsonb); found ${t ?? 'no xcom table'}`,
    );
}

/** Empties the XCom history (xcom, task_instance, dag_run and what hangs off them) between tests. */
export async function clearXComHistory(client: pg.ClientBase): Promise<void> {
  await client.query('TRUNCATE xcom, task_instance, dag_run RESTART IDENTITY CASCADE');
}

/**
 * Writes explicit rows: each (dag, task) pushes one return_value per run, so row
 * k of a producer lands in run fixture__<k>. Writes into an empty history (call
 * clearXComHistory first).
 */
export async function insertXComRows(client: pg.ClientBase, rows: readonly XComRowSpec[]): Promise<void> {
  if (rows.length === 0) return;
  await requireJsonbValue(client);
  await inTransaction(client, async () => {
    await client.query(
      `CREATE TEMP TABLE cutover_fixture_src ON COMMIT DROP AS
       SELECT d AS dag_id, t AS task_id, b AS bytes,
              (row_number() OVER (PARTITION BY d, t ORDER BY o) - 1)::int AS r
       FROM unnest($1::text[], $2::text[], $3::int4[]) WITH ORDINALITY AS u(d, t, b, o)`,
      [rows.map((r) => r.dagId), rows.map((r) => r.taskId), rows.map((r) => r.bytes)],
    );
    await client.query(
      `INSERT INTO dag_run (dag_id, run_id, run_type, state, logical_date, run_after, start_date, end_date, queued_at)
       SELECT DISTINCT dag_id, 'fixture__' || lpad(r::text, 6, '0'), 'scheduled', 'success',
              ts, ts, ts, ts + interval '1 minute', ts
       FROM (SELECT dag_id, r, timestamptz '2026-01-01 00:00:00+00' + r * interval '1 hour' AS ts
             FROM cutover_fixture_src) s`,
    );
    await client.query(
      `INSERT INTO task_instance (id, dag_id, task_id, run_id, map_index, try_number, max_tries, pool, pool_slots,
                                  state, start_date, end_date)
       SELECT gen_random_uuid(), dag_id, task_id, 'fixture__' || lpad(r::text, 6, '0'), -1, 1, 0, 'default_pool', 1,
              'success', timestamptz '2026-01-01 00:00:00+00' + r * interval '1 hour',
              timestamptz '2026-01-01 00:00:30+00' + r * interval '1 hour'
       FROM cutover_fixture_src`,
    );
    await client.query(
      `INSERT INTO xcom (dag_run_id, task_id, map_index, key, dag_id, run_id, value, timestamp)
       SELECT dr.id, s.task_id, -1, 'return_value', s.dag_id, dr.run_id, ${valueOfSize('s.bytes')},
              dr.logical_date + interval '30 seconds'
       FROM cutover_fixture_src s
       JOIN dag_run dr ON dr.dag_id = s.dag_id AND dr.run_id = 'fixture__' || lpad(s.r::text, 6, '0')`,
    );
  });
}

export interface GenerateOptions {
  rows: number;
  /** Sizes sampled (evenly, by a fixed permutation) from this list; default REFERENCE_DISTRIBUTION. */
  sizes?: readonly number[];
  /** XComs per task instance (return_value plus k1..); default 4. */
  keysPerTask?: number;
  /** Task instances per DAG run; default 8. */
  tasksPerRun?: number;
  /** DAGs the runs rotate over; default 10. */
  dags?: number;
  /** Rows per INSERT batch (each batch commits); default 500,000. */
  batchRows?: number;
  onProgress?: (writtenRows: number) => void;
}

/**
 * Server-side generator for big volumes (INSERT ... SELECT generate_series):
 * row i belongs to task instance i / keysPerTask, run (i / keysPerTask) /
 * tasksPerRun, DAG bench_<run % dags>; run ids and task-instance ids grow in
 * time order as Airflow's do, so every index is appended to rather than
 * written at random. Its size is sizes[(i * 2654435761) mod
 * len]: the multiplier is coprime with 7,175, so every 7,175 consecutive rows
 * hold the reference distribution exactly once, in a scrambled order.
 * Writes into an empty history.
 */
export async function generateXComHistory(client: pg.ClientBase, opts: GenerateOptions): Promise<void> {
  const sizes = opts.sizes ?? REFERENCE_DISTRIBUTION;
  const k = opts.keysPerTask ?? 4;
  const tpr = opts.tasksPerRun ?? 8;
  const dags = opts.dags ?? 10;
  const perRun = k * tpr;
  const runs = Math.ceil(opts.rows / perRun);
  const runsPerBatch = Math.max(1, Math.floor((opts.batchRows ?? 500_000) / perRun));
  await requireJsonbValue(client);
  for (let r0 = 0; r0 < runs; r0 += runsPerBatch) {
    const r1 = Math.min(runs, r0 + runsPerBatch) - 1;
    await inTransaction(client, async () => {
      await client.query(
        `INSERT INTO dag_run (id, dag_id, run_id, run_type, state, logical_date, run_after, start_date, end_date, queued_at)
         SELECT r + 1, 'bench_' || (r % $3), ${runId('r')}, 'scheduled', 'success', ts, ts, ts, ts, ts
         FROM (SELECT r, ${runTs('r')} AS ts FROM generate_series($1::int8, $2::int8) AS r) g`,
        [r0, r1, dags],
      );
      await client.query(
        `INSERT INTO task_instance (id, dag_id, task_id, run_id, map_index, try_number, max_tries, pool, pool_slots, state)
         SELECT ${orderedUuid('r', 'r * $3 + t')}, 'bench_' || (r % $4), 'task_' || t, ${runId('r')}, -1, 1, 0,
                'default_pool', 1, 'success'
         FROM generate_series($1::int8, $2::int8) AS r, generate_series(0, $3::int - 1) AS t`,
        [r0, r1, tpr, dags],
      );
      await client.query(
        `INSERT INTO xcom (dag_run_id, task_id, map_index, key, dag_id, run_id, value, timestamp)
         SELECT r + 1, 'task_' || t, -1, CASE WHEN j = 0 THEN 'return_value' ELSE 'k' || j END,
                'bench_' || (r % $6), ${runId('r')}, ${valueOfSize('($5::int4[])[(1 + (i * 2654435761) % $7)::int]')},
                ${runTs('r')}
         FROM (SELECT r, t, j, (r * $3 + t) * $4 + j AS i
               FROM generate_series($1::int8, $2::int8) AS r,
                    generate_series(0, $3::int - 1) AS t,
                    generate_series(0, $4::int - 1) AS j) g
         WHERE i < $8`,
        [r0, r1, tpr, k, sizes, dags, sizes.length, opts.rows],
      );
    });
    opts.onProgress?.(Math.min(opts.rows, (r1 + 1) * perRun));
  }
  await client.query(`SELECT setval('dag_run_id_seq', greatest((SELECT max(id) FROM dag_run), 1))`);
}

/** Run r starts r minutes after 2020-01-01 UTC. */
function runTs(r: string): string {
  return `(timestamptz '2020-01-01 00:00:00+00' + ${r} * interval '1 minute')`;
}

/** Airflow's own run_id form (scheduled__<logical date>): sorts in time order, like the real ones. */
function runId(r: string): string {
  return `('scheduled__' || to_char(timestamp '2020-01-01 00:00:00' + ${r} * interval '1 minute', 'YYYY-MM-DD"T"HH24:MI:SS') || '+00:00')`;
}

/**
 * A uuid7-shaped id (48-bit ms timestamp, version 7, variant 8, then a counter).
 * Airflow 3 makes task_instance.id with uuid7, so ids arrive in time order; random
 * ids (gen_random_uuid) made the primary-key index the bottleneck past ~2M rows
 * (about 1,000 task instances/s).
 */
function orderedUuid(r: string, n: string): string {
  const ms = `(extract(epoch from ${runTs(r)}) * 1000)::int8`;
  return `(lpad(to_hex(${ms}), 12, '0') || '7000' || '8' || lpad(to_hex(${n}), 15, '0'))::uuid`;
}

export interface SeedResult {
  rows: number;
  durationMs: number;
}

/** Writes the reference distribution (7,175 rows with their producers) into the database at `url`. */
export async function seedReferenceHistory(url: string): Promise<SeedResult> {
  const started = performance.now();
  const client = new pg.Client({ connectionString: url, application_name: 'cutover-local-seed' });
  await client.connect();
  try {
    const rows = referenceRows();
    await insertXComRows(client, rows);
    return { rows: rows.length, durationMs: Math.round(performance.now() - started) };
  } finally {
    await client.end();
  }
}
