/**
 * Times SQL files against each other on one connection, interleaved: one warm-up round, then
 * --rounds rounds, each file once per round in the given order; prints each file's median and its
 * ratio to the first file's (the baseline, e.g. bench/calibration-sql/bare.sql), and the first
 * result row, so that statements meant to agree can be seen to.
 *
 *   node dist/bench/sql-rounds.js --db NAME [--rounds 5] FILE.sql [FILE.sql ...]
 *
 * The database is one the calibration bench kept (`--keep`); nothing is written to it.
 */
import { readFileSync } from 'node:fs';
import pg from 'pg';
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
    .filter((a, i, all) => a.endsWith('.sql') && !all[i - 1]?.startsWith('--'));
  if (files.length === 0) throw new Error('no .sql files given');
  const sqls = files.map((f) => readFileSync(f, 'utf8'));
  const client = new pg.Client({
    connectionString: `postgresql://${encodeURIComponent(PG_USER)}@${PG_HOST}:${PG_PORT}/${db}`,
  });
  await client.connect();
  const times: number[][] = files.map(() => []);
  const rows: string[] = files.map(() => '');
  try {
    for (let r = -1; r < rounds; r++) {
      for (const [i, sql] of sqls.entries()) {
        const start = process.hrtime.bigint();
        const res = await client.query(sql);
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
