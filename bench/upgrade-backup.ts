/**
 * What the upgrade's backup and rollback strategies cost on a big metadata DB, against the floor of
 * reading the same rows.
 *
 *   node dist/bench/upgrade-backup.js [--rows 1000000] [--xcom-per-ti 1] [--tasks-per-run 8] [--dags 50]
 *                                     [--jobs 1] [--also-jobs 2] [--also-z0] [--db NAME] [--keep] [--dir DIR]
 *
 * A throw-away database gets Airflow 3.3.2's schema from the venv's Airflow (`airflow db migrate`),
 * then `--rows` rows spread over task_instance and xcom (`--xcom-per-ti` XComs per task instance:
 * the default 1 gives half each), written on the server with INSERT ... SELECT generate_series, in
 * the shapes Airflow writes them: dag_bundle, `--dags` DAGs with one dag_version each, a dag_run per
 * `--tasks-per-run` task instances (hourly, run ids in time order), task instances with every column
 * a finished task fills (uuid7-shaped ids in time order, hostname, operator, executor, pickled
 * executor_config, dag_version_id) and XComs with a JSON dict each (~200 B, a 60-column list in one
 * of every 100). FK triggers are off during the load (session_replication_role = replica: the rows
 * are consistent by construction) and the secondary indexes are dropped and recreated from their own
 * definitions, so the schema is Airflow's again afterwards. Then VACUUM (ANALYZE) and CHECKPOINT.
 *
 * Then, in this order, on the same database:
 *   baseline copy     COPY <table> TO '/dev/null' for every table: every row read and formatted, the
 *                     floor of any logical dump (server side, one process)
 *   baseline count    SELECT count(*) of task_instance and xcom with PostgreSQL's parallel workers
 *   dump              PgBackup.dump: pg_dump -Fc (default compression) + SHA-256 + pg_restore --list
 *   dump -Z0          the same, uncompressed (--also-z0)
 *   verify deep       PgBackup.verifyDump({deep}): SHA-256, list, every block read back (pg_restore -f /dev/null)
 *   restore -jN       PgBackup.restore into a new database: staging DB, pg_restore -jN, ANALYZE, rename
 *                     (--jobs, and --also-jobs for a second run)
 *   clone             PgBackup.cloneDatabase: CREATE DATABASE ... TEMPLATE, STRATEGY wal_log (15's default)
 *   clone file_copy   the same with STRATEGY file_copy
 *   from clone rename PgBackup.restoreFromClone rename: the DB dropped, the clone renamed in its place
 *   from clone copy   PgBackup.restoreFromClone template: the DB dropped, copied back from the clone
 *   counts, checksums PgBackup.rowCounts / tableChecksums of dag_run, task_instance, xcom: what the
 *                     runbook's "nothing lost" check costs
 *
 * Prints a table and, last, one JSON line. The database is dropped at the end unless --keep (--db
 * reuses a kept one and skips the seeding).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { PgBackup } from '../adapters/pg-backup.js';
import { migrateAirflowDb } from '../local/airflow-db.js';
import { createDatabase, databaseUrls, dropDatabase, pgServerUrl } from '../local/postgres.js';

const { values: args } = parseArgs({
  options: {
    rows: { type: 'string', default: '1000000' },
    'xcom-per-ti': { type: 'string', default: '1' },
    'tasks-per-run': { type: 'string', default: '8' },
    dags: { type: 'string', default: '50' },
    jobs: { type: 'string', default: '1' },
    'also-jobs': { type: 'string' },
    'also-z0': { type: 'boolean', default: false },
    db: { type: 'string' },
    keep: { type: 'boolean', default: false },
    dir: { type: 'string' },
  },
});

const ROWS = Number(args.rows);
const XCOM_PER_TI = Number(args['xcom-per-ti']);
const TASKS_PER_RUN = Number(args['tasks-per-run']);
const DAGS = Number(args.dags);
const TIS = Math.round(ROWS / (1 + XCOM_PER_TI));
const RUNS = Math.ceil(TIS / TASKS_PER_RUN);
const RUNS_PER_BATCH = Math.max(1, Math.floor(250_000 / TASKS_PER_RUN));
const HISTORY = ['dag_run', 'task_instance', 'xcom'];

const fmtMs = (ms: number): string => (ms >= 10_000 ? `${(ms / 1000).toFixed(1)} s` : `${Math.round(ms)} ms`);
const fmtBytes = (b: number): string =>
  b >= 1e9
    ? `${(b / 1e9).toFixed(2)} GB`
    : b >= 1e6
      ? `${(b / 1e6).toFixed(1)} MB`
      : `${(b / 1e3).toFixed(0)} kB`;

async function timed<T>(fn: () => Promise<T>): Promise<[T, number]> {
  const t0 = performance.now();
  const out = await fn();
  return [out, performance.now() - t0];
}

/** dag_version ids: one per DAG, uuid-shaped and stable. */
const versionId = (d: string): string => `('00000000-0000-7000-8000-' || lpad(to_hex(${d}), 12, '0'))::uuid`;
/** Run r of DAG r % DAGS is at hour r / DAGS after 2023-01-01. */
const runTs = (r: string): string =>
  `(timestamptz '2023-01-01 00:00:00+00' + (${r} / ${DAGS}) * interval '1 hour')`;
const runId = (r: string): string =>
  `('scheduled__' || to_char(${runTs(r)} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS') || '+00:00')`;

async function seed(c: pg.Client): Promise<number> {
  const t0 = performance.now();
  await c.query('SET session_replication_role = replica');
  await c.query('SET synchronous_commit = off');
  const secondary = await c.query<{ name: string; def: string }>(
    `SELECT i.indexrelid::regclass::text AS name, pg_get_indexdef(i.indexrelid) AS def
     FROM pg_index i
     WHERE i.indrelid = ANY (ARRAY['dag_run', 'task_instance', 'xcom']::regclass[])
       AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid)`,
  );
  for (const ix of secondary.rows) await c.query(`DROP INDEX ${ix.name}`);

  await c.query(`INSERT INTO dag_bundle (name, active) VALUES ('dags-folder', true) ON CONFLICT DO NOTHING`);
  await c.query(
    `INSERT INTO dag (dag_id, is_paused, is_stale, bundle_name, fileloc, relative_fileloc, owners, timetable_type,
                      timetable_summary, partition_mapper_info, max_active_tasks, max_active_runs,
                      max_consecutive_failed_dag_runs, has_task_concurrency_limits, last_parsed_time)
     SELECT 'bench_' || d, false, false, 'dags-folder', '/opt/airflow/dags/bench_' || d || '.py', 'bench_' || d || '.py',
            'data-eng', 'airflow.timetables.interval.CronDataIntervalTimetable', '@hourly', '{}'::json, 16, 16, 0, false, now()
     FROM generate_series(0, $1::int - 1) d`,
    [DAGS],
  );
  await c.query(
    `INSERT INTO dag_version (id, version_number, dag_id, bundle_name, created_at, last_updated)
     SELECT ${versionId('d')}, 1, 'bench_' || d, 'dags-folder', timestamptz '2023-01-01', timestamptz '2023-01-01'
     FROM generate_series(0, $1::int - 1) d`,
    [DAGS],
  );
  let written = 0;
  for (let r0 = 0; r0 < RUNS; r0 += RUNS_PER_BATCH) {
    const r1 = Math.min(RUNS, r0 + RUNS_PER_BATCH) - 1;
    await c.query('BEGIN');
    await c.query(
      `INSERT INTO dag_run (id, dag_id, run_id, run_type, state, logical_date, run_after, start_date, end_date, queued_at,
                            data_interval_start, data_interval_end, conf, triggered_by, created_dag_version_id,
                            clear_number, last_scheduling_decision, created_at, updated_at)
       SELECT r + 1, 'bench_' || (r % ${DAGS}), ${runId('r')}, 'scheduled', 'success', ts, ts + interval '1 hour',
              ts + interval '1 hour 5 seconds', ts + interval '1 hour 10 minutes', ts + interval '1 hour 1 second',
              ts, ts + interval '1 hour', '{}'::jsonb, 'timetable', ${versionId(`r % ${DAGS}`)}, 0,
              ts + interval '1 hour 10 minutes', ts + interval '1 hour', ts + interval '1 hour 10 minutes'
       FROM (SELECT r, ${runTs('r')} AS ts FROM generate_series($1::int8, $2::int8) r) g`,
      [r0, r1],
    );
    // Task instances: uuid7-shaped ids (48-bit ms timestamp, then a counter) in time order, as Airflow 3 makes them.
    await c.query(
      `INSERT INTO task_instance (id, task_id, dag_id, run_id, map_index, start_date, end_date, duration, state, try_number,
                                  max_tries, hostname, unixname, pool, pool_slots, queue, priority_weight, operator,
                                  custom_operator_name, queued_dttm, scheduled_dttm, pid, executor, executor_config,
                                  updated_at, dag_version_id)
       SELECT (lpad(to_hex((extract(epoch FROM st) * 1000)::int8), 12, '0') || '7000' || '8' || lpad(to_hex(n), 15, '0'))::uuid,
              'task_' || t, 'bench_' || (r % ${DAGS}), ${runId('r')}, -1, st, st + dur, extract(epoch FROM dur), 'success', 1,
              2, 'worker-' || (n % 8) || '.airflow-worker.airflow.svc.cluster.local', 'airflow', 'default_pool', 1,
              'default', $3::int - t, 'PythonOperator', '@task', st - interval '2 seconds', st - interval '3 seconds',
              10000 + n % 50000, 'CeleryExecutor', '\\x80057d942e'::bytea, st + dur, ${versionId(`r % ${DAGS}`)}
       FROM (SELECT r, t, r * $3::int + t AS n,
                    ${runTs('r')} + interval '1 hour 5 seconds' + t * interval '30 seconds' AS st,
                    ((r * 31 + t * 17) % 600 + 1) * interval '1 second' AS dur
             FROM generate_series($1::int8, $2::int8) r, generate_series(0, $3::int - 1) t) g
       WHERE n < $4`,
      [r0, r1, TASKS_PER_RUN, TIS],
    );
    await c.query(
      `INSERT INTO xcom (dag_run_id, task_id, map_index, key, dag_id, run_id, value, timestamp)
       SELECT r + 1, 'task_' || t, -1, CASE WHEN j = 0 THEN 'return_value' ELSE 'out_' || j END, 'bench_' || (r % ${DAGS}),
              ${runId('r')},
              jsonb_build_object(
                'rows', (i * 7919) % 100000, 'status', 'ok', 'checksum', md5(i::text),
                'path', 's3://data-lake/bench_' || (r % ${DAGS}) || '/' || to_char(${runTs('r')} AT TIME ZONE 'UTC', 'YYYY/MM/DD/HH24')
                        || '/task_' || t || '/part-' || lpad(j::text, 5, '0') || '.parquet')
              || CASE WHEN i % 100 = 0
                      THEN jsonb_build_object('columns', (SELECT jsonb_agg('column_' || k) FROM generate_series(1, 60) k))
                      ELSE '{}'::jsonb END,
              ${runTs('r')} + interval '1 hour 5 seconds' + t * interval '30 seconds' + interval '20 seconds'
       FROM (SELECT r, t, j, (r * $3::int + t) * $4::int + j AS i, r * $3::int + t AS n
             FROM generate_series($1::int8, $2::int8) r, generate_series(0, $3::int - 1) t,
                  generate_series(0, $4::int - 1) j) g
       WHERE n < $5`,
      [r0, r1, TASKS_PER_RUN, XCOM_PER_TI, TIS],
    );
    await c.query('COMMIT');
    written = Math.min(TIS, (r1 + 1) * TASKS_PER_RUN) * (1 + XCOM_PER_TI);
    process.stdout.write(
      `\r  seeded ${written.toLocaleString('en-US')} rows (${fmtMs(performance.now() - t0)})   `,
    );
  }
  process.stdout.write('\n');
  await c.query(`SELECT setval('dag_run_id_seq', greatest((SELECT max(id) FROM dag_run), 1))`);
  for (const ix of secondary.rows) await c.query(ix.def);
  await c.query('RESET session_replication_role');
  await c.query('VACUUM (ANALYZE)');
  await c.query('CHECKPOINT');
  return performance.now() - t0;
}

interface Row {
  step: string;
  ms: number;
  note: string;
}

async function main(): Promise<void> {
  const serverUrl = pgServerUrl();
  const name = args.db ?? `bench_upgrade_${Date.now().toString(36)}`;
  const urls = args.db ? databaseUrls(serverUrl, name) : await createDatabase(name, { serverUrl });
  const dir = args.dir ?? mkdtempSync(path.join(tmpdir(), 'cutover-bench-backup-'));
  const backup = new PgBackup({ workDir: dir });
  const made: string[] = [];
  const rows: Row[] = [];
  const add = (step: string, ms: number, note = ''): void => {
    rows.push({ step, ms, note });
    console.log(`  ${step.padEnd(22)} ${fmtMs(ms).padStart(9)}  ${note}`);
  };
  const admin = new pg.Client({ connectionString: urls.url, application_name: 'cutover-bench' });
  let seedMs = 0;
  try {
    if (!args.db) {
      const [, migrateMs] = await timed(() => migrateAirflowDb(urls.sqlalchemyUrl));
      console.log(`airflow db migrate (3.3.2): ${fmtMs(migrateMs)}`);
      await admin.connect();
      seedMs = await seed(admin);
    } else {
      await admin.connect();
    }
    const counts = await backup.rowCounts({ dbUrl: urls.url, tables: HISTORY });
    const size = await backup.databaseSize({ dbUrl: urls.url });
    const largest = await backup.largestTables({ dbUrl: urls.url, n: 4 });
    console.log(
      `database ${name}: ${fmtBytes(size.bytes)}; rows ${JSON.stringify(counts)}${seedMs ? `; seeded in ${fmtMs(seedMs)}` : ''}`,
    );
    for (const t of largest)
      console.log(
        `  ${t.table.padEnd(16)} ${fmtBytes(t.bytes).padStart(9)} (~${t.rowsEstimate ?? '?'} rows, estimate)`,
      );
    const tables = (
      await admin.query<{ t: string }>(
        "SELECT quote_ident(tablename) AS t FROM pg_tables WHERE schemaname = 'public'",
      )
    ).rows.map((r) => r.t);
    await admin.end();

    // Baselines: the floor of reading every row, in the same run.
    const [, copyMs] = await timed(async () => {
      const c = new pg.Client({ connectionString: urls.url });
      await c.connect();
      try {
        for (const t of tables) await c.query(`COPY ${t} TO '/dev/null'`);
      } finally {
        await c.end();
      }
    });
    add('baseline copy', copyMs, `COPY every table (${tables.length}) TO '/dev/null'`);
    const [, countMs] = await timed(async () => {
      const c = new pg.Client({ connectionString: urls.url });
      await c.connect();
      try {
        for (const t of ['task_instance', 'xcom']) await c.query(`SELECT count(*) FROM ${t}`);
      } finally {
        await c.end();
      }
    });
    add('baseline count', countMs, 'count(*) of task_instance + xcom, parallel workers');

    const file = path.join(dir, `${name}.dump`);
    const dump = await backup.dump({ dbUrl: urls.url, file });
    add(
      'dump',
      dump.durationMs,
      `${fmtBytes(dump.bytes)}; pg_dump ${fmtMs(dump.phases.pgDumpMs)}, sha256 ${fmtMs(dump.phases.hashMs)}, list ${fmtMs(dump.phases.listMs)}`,
    );
    let dumpZ0: Awaited<ReturnType<PgBackup['dump']>> | undefined;
    if (args['also-z0']) {
      const f0 = path.join(dir, `${name}.z0.dump`);
      dumpZ0 = await backup.dump({ dbUrl: urls.url, file: f0, compressLevel: 0 });
      add(
        'dump -Z0',
        dumpZ0.durationMs,
        `${fmtBytes(dumpZ0.bytes)}; pg_dump ${fmtMs(dumpZ0.phases.pgDumpMs)}`,
      );
      rmSync(f0, { force: true });
    }
    const verify = await backup.verifyDump({ file, sha256: dump.sha256, deep: true });
    add('verify deep', verify.durationMs, 'sha256 + list + every block read back');

    const restores: { jobs: number; rec: Awaited<ReturnType<PgBackup['restore']>> }[] = [];
    for (const jobs of [Number(args.jobs), ...(args['also-jobs'] ? [Number(args['also-jobs'])] : [])]) {
      const target = `${name}_r${jobs}`;
      made.push(target);
      const rec = await backup.restore({
        dbUrl: databaseUrls(serverUrl, target).url,
        file,
        sha256: dump.sha256,
        jobs,
      });
      restores.push({ jobs, rec });
      add(
        `restore -j${jobs}`,
        rec.durationMs,
        `pg_restore ${fmtMs(rec.phases.pgRestoreMs)}, analyze ${fmtMs(rec.phases.analyzeMs)}, verify ${fmtMs(rec.phases.verifyMs)}, swap ${fmtMs(rec.phases.swapMs)}`,
      );
      await backup.dropDatabase({ dbUrl: urls.url, name: target });
    }
    rmSync(file, { force: true });

    const clone = `${name}_pre`;
    made.push(clone);
    const c1 = await backup.cloneDatabase({ dbUrl: urls.url, cloneName: clone });
    add('clone', c1.durationMs, `TEMPLATE, strategy wal_log (default), ${fmtBytes(c1.bytes)}`);
    await backup.dropDatabase({ dbUrl: urls.url, name: clone });
    const c2 = await backup.cloneDatabase({ dbUrl: urls.url, cloneName: clone, strategy: 'file_copy' });
    add('clone file_copy', c2.durationMs, `TEMPLATE, strategy file_copy, ${fmtBytes(c2.bytes)}`);
    const back1 = await backup.restoreFromClone({ dbUrl: urls.url, cloneName: clone, cloneOid: c2.oid });
    add('from clone rename', back1.durationMs, 'DROP the DB, RENAME the clone');
    const c3 = await backup.cloneDatabase({ dbUrl: urls.url, cloneName: clone, strategy: 'file_copy' });
    add('clone file_copy again', c3.durationMs, 'the same, on the DB the rename put back');
    const back2 = await backup.restoreFromClone({ dbUrl: urls.url, cloneName: clone, mode: 'template' });
    add('from clone copy', back2.durationMs, 'DROP the DB, CREATE ... TEMPLATE clone (clone kept)');
    await backup.dropDatabase({ dbUrl: urls.url, name: clone });

    const [, countsMs] = await timed(() => backup.rowCounts({ dbUrl: urls.url, tables: HISTORY }));
    add('row counts', countsMs, HISTORY.join(', '));
    const [, sumsMs] = await timed(() => backup.tableChecksums({ dbUrl: urls.url, tables: HISTORY }));
    add('checksums', sumsMs, `${HISTORY.join(', ')} (md5 per row, PK order)`);

    // The table: times and ratios to the floor.
    const floor = copyMs;
    console.log(
      `\nrows ${(counts.task_instance ?? 0) + (counts.xcom ?? 0)} (task_instance ${counts.task_instance}, xcom ${counts.xcom}, dag_run ${counts.dag_run}); DB ${fmtBytes(size.bytes)}; archive ${fmtBytes(dump.bytes)}`,
    );
    console.log(`| step | time | / baseline copy | what |\n| --- | ---: | ---: | --- |`);
    for (const r of rows)
      console.log(`| ${r.step} | ${fmtMs(r.ms)} | ${(r.ms / floor).toFixed(2)} | ${r.note} |`);

    console.log(
      JSON.stringify({
        bench: 'upgrade-backup',
        rows: (counts.task_instance ?? 0) + (counts.xcom ?? 0),
        counts,
        dbBytes: size.bytes,
        archiveBytes: dump.bytes,
        archiveZ0Bytes: dumpZ0?.bytes ?? null,
        seedMs: Math.round(seedMs),
        steps: Object.fromEntries(rows.map((r) => [r.step, Math.round(r.ms)])),
        dumpPhases: dump.phases,
        restorePhases: Object.fromEntries(restores.map((r) => [`j${r.jobs}`, r.rec.phases])),
      }),
    );
  } finally {
    await admin.end().catch(() => undefined);
    for (const n of made) await dropDatabase(n, serverUrl).catch(() => undefined);
    if (!args.keep && !args.db) await dropDatabase(name, serverUrl);
    else console.log(`kept database ${name}`);
    if (!args.dir) rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? (err.stack ?? err.message) : String(err));
  process.exitCode = 1;
});
