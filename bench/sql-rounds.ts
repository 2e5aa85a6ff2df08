/**
 * Times SQL files against each other on one connection, interleaved: one warm-up round, then
 * --rounds rounds, each file once per round in the given order; prints each file's median and its
 * ratio to the first file's (the baseline, e.g. bench/calibration-sql/bare.sql), and the first
 * result row, so that statements meant to agree can be seen to.
 *
 *   node dist/bench/sql-rounds.js --db NAME [--rounds 5] FILE.sql|live:xcom-calibration [...]
 *
 * `live:xcom-calibration` is CALIBRATE's statement as adapters/metadata-db.ts renders it now, for
 * the database's xcom table, with the thresholds bench/calibration-sql/statement-*.sql inline
 * (p99.9 rounded up to 100 kB): the frozen copies are a before/after record, this one cannot drift.
 *
 * The database is one the calibration bench kept (`--keep`); nothing is written to it.
 */
import { readFileSync } from 'node:fs';
import pg from 'pg';
import {
  measureXComSizesStatement,
  XCOM_TABLE_SQL,
  xcomTableFrom,
  type XComTableRow,
} from '../adapters/metadata-db.js';
import { PG_HOST, PG_PORT, PG_USER } from '../test/support/postgres.js';

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

async function main(): Promise<void> {
  const db = arg('db');
  if (!db) throw new Error('--db NAME is required');
  const rounds = Number(arg('rounds') ?? 5);
  const files = process.argv
    .slice(2)
    .filter((a, i, all) => (a.endsWith('.sql') || a.startsWith('live:')) && !all[i - 1]?.startsWith('--'));
  if (files.length === 0) throw new Error('no .sql files given');
  const client = new pg.Client({
    connectionString: `postgresql://${encodeURIComponent(PG_USER)}@${PG_HOST}:${PG_PORT}/${db}`,
  });
  await client.connect();
  const live = async (name: string): Promise<{ text: string; values: unknown[] }> => {
    if (name !== 'live:xcom-calibration') throw new Error(`unknown live statement ${name}`);
    const table = xcomTableFrom((await client.query<XComTableRow>(XCOM_TABLE_SQL)).rows[0], db);
    const { sql, params } = measureXComSizesStatement(table, {
      offloadAt: [{ above: 'p999', roundTo: 100_000 }],
    });
    return { text: sql, values: params };
  };
  const sqls = await Promise.all(
    files.map(async (f) => (f.startsWith('live:') ? live(f) : { text: readFileSync(f, 'utf8'), values: [] })),
  );
  const times: number[][] = files.map(() => []);
  const rows: string[] = files.map(() => '');
  try {
    for (let r = -1; r < rounds; r++) {
      for (const [i, sql] of sqls.entries()) {
        const start = process.hrtime.bigint();
        // A file goes as one simple query (it may hold several statements); a live one with its parameters.
        const res = await (sql.values.length > 0 ? client.query(sql) : client.query(sql.text));
        const ms = Number(process.hrtime.bigint() - start) / 1e6;
        if (r >= 0) times[i]?.push(ms);
        rows[i] = JSON.stringify(res.rows[0]);
      }
    }
  } finally {
    await client.end();
  }
  const median = (a: number[]) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)] ?? NaN;
  const base = median(times[0] ?? []);
  console.log(
    `| file | median ms (${rounds} rounds) | / ${files[0]} | first row |\n| --- | ---: | ---: | --- |`,
  );
  for (const [i, f] of files.entries()) {
    const m = median(times[i] ?? []);
    console.log(`| ${f} | ${m.toFixed(0)} | ${(m / base).toFixed(2)} | ${rows[i]} |`);
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
