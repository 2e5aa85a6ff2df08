/**
 * Benchmark: CALIBRATE's in-database measurement vs a bare full scan vs pulling
 * every size into Node.
 *
 *   node dist/bench/calibration.js --rows 1000000 [--shape dossier|scaled] [--runs 3]
 *                                   [--db NAME --keep] [--approaches calibrate,percentile-disc,count,bare,bare-serial,pull-cursor,pull-all]
 *
 * It creates a throw-away database, lets `airflow db migrate` make Airflow's
 * schema, writes a synthetic history with test/support/xcom-fixture.ts, then
 * runs each approach in its own child process (so each one's peak RSS is its
 * own): one warm-up round, then --runs rounds, approaches interleaved. The
 * database is dropped at the end unless --keep (--db reuses a kept one).
 *
 * Approaches:
 *   calibrate    what CALIBRATE runs: PostgresMetadataDb.measureXComSizes() with the projection at the
 *                p99.9 threshold rounded up to 100 KB: one parallel scan, everything computed in PostgreSQL
 *   percentile-disc  the statement CALIBRATE ran before issue #14 (percentile_disc: serial scan + sort),
 *                without the projection (that was a second statement, `count`)
 *   count        PostgresMetadataDb.countRowsAtOrAbove([1600000, 2000000]) (CALIBRATE's second statement before #14)
 *   bare         SELECT sum(octet_length(value::text)) FROM xcom: the floor, one scan that measures every value
 *                (PostgreSQL runs it with parallel workers; the calibration query's ordered-set aggregate runs serially)
 *   bare-serial  the same with max_parallel_workers_per_gather = 0: the like-for-like floor
 *   pull-cursor  every size streamed to Node through a cursor (FETCH 50,000) into an Int32Array, quantiles in JS
 *   pull-all     every size in one result (pg's default: an array of row objects), quantiles in JS
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { PostgresMetadataDb, xcomSizeStatsFrom, type XComSizesRow } from '../adapters/metadata-db.js';
import { percentileDiscSql } from '../test/support/percentile-disc.js';
import { createAirflowTestDatabase } from '../test/support/airflow-db.js';
import { dropDatabase, PG_HOST, PG_PORT, PG_USER } from '../test/support/postgres.js';
import { generateXComHistory, REFERENCE_DISTRIBUTION } from '../test/support/xcom-fixture.js';

const APPROACHES = [
  'calibrate',
  'percentile-disc',
  'count',
  'bare',
  'bare-serial',
  'pull-cursor',
  'pull-all',
] as const;
type Approach = (typeof APPROACHES)[number];

interface ChildResult {
  approach: Approach;
  ms: number;
  maxRssMb: number;
  sampledRssMb: number;
  summary: string;
}

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

/** The dossier's shape, unchanged (mean ~17.7 KB/row), or divided by 1000 (sizes 2 B .. 1,990 B). */
export function shapeSizes(shape: 'dossier' | 'scaled'): number[] {
  return shape === 'dossier'
    ? [...REFERENCE_DISTRIBUTION]
    : REFERENCE_DISTRIBUTION.map((s) => Math.max(2, Math.round(s / 1000)));
}

// --- child: one approach, one run -------------------------------------------------

/** percentile_disc over a sorted array: the value at rank ceil(f * n). */
function disc(sorted: Int32Array, f: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.max(0, Math.ceil(f * sorted.length) - 1)] ?? 0;
}

function summarise(sizes: Int32Array): string {
  sizes.sort();
  let a48 = 0;
  let a100 = 0;
  let a1m = 0;
  for (const b of sizes) {
    if (b > 48_000) a48++;
    if (b > 100_000) a100++;
    if (b > 1_000_000) a1m++;
  }
  return JSON.stringify({
    rows: sizes.length,
    p50: disc(sizes, 0.5),
    p95: disc(sizes, 0.95),
    p99: disc(sizes, 0.99),
    p999: disc(sizes, 0.999),
    max: sizes.length ? sizes[sizes.length - 1] : 0,
    above: [a48, a100, a1m],
  });
}

async function runApproach(approach: Approach, url: string): Promise<string> {
  if (approach === 'calibrate' || approach === 'count') {
    const db = new PostgresMetadataDb(url);
    try {
      if (approach === 'count') return JSON.stringify(await db.countRowsAtOrAbove([1_600_000, 2_000_000]));
      const s = await db.measureXComSizes({ offloadAt: [{ above: 'p999', roundTo: 100_000 }] });
      return JSON.stringify({
        rows: s.rowCount,
        ...s.sizeBytes,
        above: [s.rowsAbove['48KB'], s.rowsAbove['100KB'], s.rowsAbove['1MB']],
      });
    } finally {
      await db.close();
    }
  }
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    if (approach === 'percentile-disc') {
      const r = await client.query<XComSizesRow>(percentileDiscSql('octet_length(value::text)', 'xcom'));
      const row = r.rows[0];
      if (!row) throw new Error('the percentile_disc statement returned no row');
      const s = xcomSizeStatsFrom(row);
      return JSON.stringify({
        rows: s.rowCount,
        ...s.sizeBytes,
        above: [s.rowsAbove['48KB'], s.rowsAbove['100KB'], s.rowsAbove['1MB']],
      });
    }
    if (approach === 'bare' || approach === 'bare-serial') {
      if (approach === 'bare-serial') await client.query('SET max_parallel_workers_per_gather = 0');
      const r = await client.query<{ s: string }>(
        'SELECT sum(octet_length(value::text))::int8 AS s FROM xcom',
      );
      return JSON.stringify({ totalBytes: Number(r.rows[0]?.s ?? 0) });
    }
    if (approach === 'pull-all') {
      const r = await client.query<{ b: number }>(
        'SELECT octet_length(value::text) AS b FROM xcom WHERE value IS NOT NULL',
      );
      const sizes = Int32Array.from(r.rows, (row) => row.b);
      return summarise(sizes);
    }
    // pull-cursor
    await client.query('BEGIN READ ONLY');
    await client.query(
      'DECLARE sizes NO SCROLL CURSOR FOR SELECT octet_length(value::text) FROM xcom WHERE value IS NOT NULL',
    );
    let buf = new Int32Array(1 << 20);
    let n = 0;
    for (;;) {
      const r = await client.query<[number]>({ text: 'FETCH 50000 FROM sizes', rowMode: 'array' });
      if (r.rows.length === 0) break;
      if (n + r.rows.length > buf.length) {
        const bigger = new Int32Array(Math.max(buf.length * 2, n + r.rows.length));
        bigger.set(buf.subarray(0, n));
        buf = bigger;
      }
      for (const row of r.rows) buf[n++] = row[0];
    }
    await client.query('COMMIT');
    return summarise(buf.slice(0, n));
  } finally {
    await client.end();
  }
}

async function child(approach: Approach, url: string): Promise<void> {
  let sampled = process.memoryUsage().rss;
  const timer = setInterval(() => {
    sampled = Math.max(sampled, process.memoryUsage().rss);
  }, 20);
  const t0 = performance.now();
  const summary = await runApproach(approach, url);
  const ms = performance.now() - t0;
  clearInterval(timer);
  sampled = Math.max(sampled, process.memoryUsage().rss);
  const result: ChildResult = {
    approach,
    ms: Math.round(ms),
    maxRssMb: Math.round(process.resourceUsage().maxRSS / 1024),
    sampledRssMb: Math.round(sampled / (1024 * 1024)),
    summary,
  };
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

// --- parent -----------------------------------------------------------------------

function runChild(approach: Approach, url: string): Promise<ChildResult> {
  const self = fileURLToPath(import.meta.url);
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [self, '--child', approach, '--url', url], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    p.stdout.on('data', (d: Buffer) => (out += d.toString()));
    p.on('error', reject);
    p.on('close', (code) => {
      const line = out.trim().split('\n').pop() ?? '';
      if (code !== 0 || !line) {
        resolve({ approach, ms: NaN, maxRssMb: NaN, sampledRssMb: NaN, summary: `FAILED (exit ${code})` });
        return;
      }
      resolve(JSON.parse(line) as ChildResult);
    });
  });
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? (s[m] ?? NaN) : ((s[m - 1] ?? NaN) + (s[m] ?? NaN)) / 2;
}

async function parent(): Promise<void> {
  const rows = Number(arg('rows') ?? 1_000_000);
  if (!Number.isSafeInteger(rows) || rows <= 0) throw new Error('--rows takes a positive integer');
  const shape = (arg('shape') ?? (rows <= 1_000_000 ? 'dossier' : 'scaled')) as 'dossier' | 'scaled';
  if (shape !== 'dossier' && shape !== 'scaled') throw new Error('--shape is dossier or scaled');
  const runs = Number(arg('runs') ?? 3);
  const keep = process.argv.includes('--keep');
  const approaches = (arg('approaches')?.split(',') ?? [...APPROACHES]) as Approach[];
  for (const a of approaches) if (!APPROACHES.includes(a)) throw new Error(`unknown approach ${a}`);

  const reuse = arg('db');
  let name: string;
  let url: string;
  let created = false;
  if (reuse) {
    name = reuse;
    url = `postgresql://${encodeURIComponent(PG_USER)}@${PG_HOST}:${PG_PORT}/${name}`;
    console.log(`reusing database ${name}`);
  } else {
    const db = await createAirflowTestDatabase('cutover_bench', { viaTemplate: false });
    name = db.name;
    url = db.url;
    created = true;
    console.log(`database ${name}: airflow db migrate ${db.schemaMs} ms`);
  }
  const cleanup = async () => {
    if (!created || keep) {
      console.log(`kept database ${name}`);
      return;
    }
    created = false;
    await dropDatabase(name);
    console.log(`dropped database ${name}`);
  };
  process.once('SIGINT', () => {
    void cleanup().finally(() => process.exit(130));
  });

  try {
    const generated = reuse ? null : await generate(url, rows, shape);
    const results = new Map<Approach, ChildResult[]>(approaches.map((a) => [a, []]));
    for (let round = 0; round <= runs; round++) {
      for (const a of approaches) {
        const r = await runChild(a, url);
        console.log(
          `  ${round === 0 ? 'warm-up' : `run ${round}`} ${a}: ${r.ms} ms, maxRSS ${r.maxRssMb} MB -> ${r.summary}`,
        );
        if (round > 0) results.get(a)?.push(r);
      }
    }
    const med = (a: Approach) => median((results.get(a) ?? []).map((r) => r.ms));
    const rss = (a: Approach) => Math.max(...(results.get(a) ?? []).map((r) => r.maxRssMb));
    console.log(`\n| approach | median ms (${runs} runs) | peak RSS MB |\n| --- | ---: | ---: |`);
    for (const a of approaches) console.log(`| ${a} | ${med(a).toFixed(0)} | ${rss(a)} |`);
    const ratio = (x: number, y: number) => (Number.isFinite(x / y) ? (x / y).toFixed(2) : 'n/a');
    for (const c of ['calibrate', 'percentile-disc'] as const)
      for (const b of ['bare', 'bare-serial'] as const)
        if (approaches.includes(c) && approaches.includes(b))
          console.log(`${c} / ${b} = ${ratio(med(c), med(b))}`);
    if (approaches.includes('percentile-disc') && approaches.includes('count') && approaches.includes('bare'))
      console.log(
        `before #14 (percentile-disc + count) / bare = ${ratio(med('percentile-disc') + med('count'), med('bare'))}`,
      );
    for (const p of ['pull-cursor', 'pull-all'] as const)
      if (approaches.includes('calibrate') && approaches.includes(p))
        console.log(`${p} / calibrate = ${ratio(med(p), med('calibrate'))}`);
    const failed = approaches.filter((a) => (results.get(a) ?? []).some((r) => !Number.isFinite(r.ms)));
    if (failed.length > 0) process.exitCode = 1;
    console.log(
      JSON.stringify({
        bench: 'calibration',
        rows,
        shape,
        runs,
        ...(generated ?? {}),
        approaches: Object.fromEntries(approaches.map((a) => [a, { medianMs: med(a), peakRssMb: rss(a) }])),
        failed,
      }),
    );
  } finally {
    await cleanup();
  }
}

interface Generated {
  generateS: number;
  xcomSize: string;
  databaseSize: string;
}

async function generate(url: string, rows: number, shape: 'dossier' | 'scaled'): Promise<Generated> {
  const client = new pg.Client({ connectionString: url });
  client.on('error', () => undefined); // an interrupted run drops the DB under it
  await client.connect();
  try {
    const t0 = performance.now();
    await generateXComHistory(client, {
      rows,
      sizes: shapeSizes(shape),
      batchRows: 250_000,
      onProgress: (n) => {
        const s = (performance.now() - t0) / 1000;
        console.log(`  generated ${n.toLocaleString('en')} rows in ${s.toFixed(0)} s`);
      },
    });
    const genS = (performance.now() - t0) / 1000;
    const t1 = performance.now();
    await client.query('VACUUM (ANALYZE) xcom');
    const vacS = (performance.now() - t1) / 1000;
    const size = await client.query<{ t: string; x: string }>(
      `SELECT pg_size_pretty(pg_total_relation_size('xcom')) AS x, pg_size_pretty(pg_database_size(current_database())) AS t`,
    );
    const out = {
      generateS: Math.round(genS),
      xcomSize: size.rows[0]?.x ?? '?',
      databaseSize: size.rows[0]?.t ?? '?',
    };
    console.log(
      `generated ${rows.toLocaleString('en')} rows (${shape}) in ${genS.toFixed(0)} s, vacuum ${vacS.toFixed(0)} s; xcom ${out.xcomSize}, database ${out.databaseSize}`,
    );
    return out;
  } finally {
    await client.end();
  }
}

const childApproach = arg('child');
const main = childApproach ? child(childApproach as Approach, arg('url') ?? '') : parent();
main.catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exitCode = 1;
});
