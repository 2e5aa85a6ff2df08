/**
 * What the state store heal costs against the floor: a plain UPDATE of the same rows.
 *
 *   node dist/bench/state-store-heal.js [--rows 10000] [--large-every 10] [--batch 500]
 *                                      [--compression gzip] [--threshold 1000] [--keep]
 *
 * A throw-away Airflow 3.3 metadata DB (`airflow db migrate`) and moto S3; `--rows` task state
 * rows written through Airflow's own code with the object-storage backend configured
 * (test/support/state_store_seed.py): every `--large-every`-th value ~4 KB (offloaded: an object
 * ref), the others ~50 B (inline refs). Then, in the same run and on the same rows:
 *
 * 1. heal: ExecStateStoreHeal over LocalExecPort (a python process with Airflow, the probe,
 *    journal + compare-and-set per row, objects read back from moto), wall time and the probe's
 *    own phases;
 * 2. the healed values are copied aside, the marker rows put back (untimed), and
 * 3. baseline: one `UPDATE task_state_store SET value = <healed> FROM <copy>` of the same rows,
 *    and the same split into `--batch`-row transactions.
 *
 * Prints a table and, last, one JSON line.
 */
import { parseArgs } from 'node:util';
import pg from 'pg';
import { LocalExecPort } from '../adapters/exec/local.js';
import { ExecStateStoreHeal } from '../adapters/state-store-heal.js';
import { createAirflowTestDatabase } from '../test/support/airflow-db.js';
import { tempAirflowHome } from '../test/support/airflow.js';
import { startMoto, venvPython } from '../test/support/moto.js';
import { seedStateRows, stateStoreEnv, type BackendSettings } from '../test/support/state-store.js';

const { values: args } = parseArgs({
  options: {
    rows: { type: 'string', default: '10000' },
    'large-every': { type: 'string', default: '10' },
    batch: { type: 'string', default: '500' },
    compression: { type: 'string', default: 'gzip' },
    threshold: { type: 'string', default: '1000' },
    keep: { type: 'boolean', default: false },
  },
});

const rows = Number(args.rows);
const largeEvery = Number(args['large-every']);
const batch = Number(args.batch);

async function timed<T>(fn: () => Promise<T>): Promise<[T, number]> {
  const t0 = performance.now();
  const out = await fn();
  return [out, performance.now() - t0];
}

const fmt = (ms: number) => (ms >= 10_000 ? `${(ms / 1000).toFixed(1)} s` : `${ms.toFixed(0)} ms`);

async function main(): Promise<void> {
  const [db, moto] = await Promise.all([
    createAirflowTestDatabase('bench_ss_heal'),
    startMoto({ bucket: 'cutover-state' }),
  ]);
  const home = tempAirflowHome();
  const admin = new pg.Client({ connectionString: db.url });
  await admin.connect();
  try {
    const base = `s3://aws_default@${moto.bucket}/state`;
    const backend: BackendSettings = {
      path: base,
      threshold: Number(args.threshold),
      compression: args.compression as BackendSettings['compression'],
    };
    const env = stateStoreEnv({
      sqlalchemyUrl: db.sqlalchemyUrl,
      airflowHome: home.dir,
      s3Endpoint: moto.endpoint,
    });
    const since = (await admin.query<{ t: Date }>('SELECT now() AS t')).rows[0]?.t ?? new Date(0);
    const seeded = await seedStateRows(
      stateStoreEnv({
        sqlalchemyUrl: db.sqlalchemyUrl,
        airflowHome: home.dir,
        s3Endpoint: moto.endpoint,
        backend,
      }),
      { generate: { task_rows: rows, large_every: largeEvery, small_bytes: 40, large_bytes: 4000 } },
    );
    console.log(
      `seeded ${seeded.counts.task} rows through the backend (${seeded.counts.inline} inline refs, ${seeded.counts.object} object refs) in ${fmt(seeded.durationMs)}`,
    );
    await admin.query('CREATE TABLE bench_markers AS SELECT id, value FROM task_state_store');
    await admin.query('VACUUM (ANALYZE) task_state_store');

    const healer = new ExecStateStoreHeal(new LocalExecPort({ envFor: () => env }), {
      python: () => [venvPython()],
    });
    const [report, healMs] = await timed(() =>
      healer.heal({
        component: { name: 'scheduler' },
        changeId: 'bench',
        since,
        path: base,
        compression: backend.compression,
        batchSize: batch,
      }),
    );
    if (!report.healed || report.rewritten !== rows) {
      throw new Error(`the heal did not rewrite every row: ${JSON.stringify(report).slice(0, 2000)}`);
    }

    // The same rewrite as plain SQL: healed values aside, markers back, then UPDATE.
    await admin.query('CREATE TABLE bench_healed AS SELECT id, value FROM task_state_store');
    await admin.query('ALTER TABLE bench_healed ADD PRIMARY KEY (id)');
    const restore = () =>
      admin.query('UPDATE task_state_store t SET value = m.value FROM bench_markers m WHERE t.id = m.id');
    await restore();
    await admin.query('VACUUM (ANALYZE) task_state_store');
    const [, updateMs] = await timed(() =>
      admin.query('UPDATE task_state_store t SET value = h.value FROM bench_healed h WHERE t.id = h.id'),
    );
    await restore();
    await admin.query('VACUUM (ANALYZE) task_state_store');
    const [, batchedMs] = await timed(async () => {
      const max = Number(
        (await admin.query<{ m: number }>('SELECT max(id) AS m FROM bench_healed')).rows[0]?.m,
      );
      for (let lo = 0; lo <= max; lo += batch) {
        await admin.query('BEGIN');
        await admin.query(
          'UPDATE task_state_store t SET value = h.value FROM bench_healed h WHERE t.id = h.id AND h.id > $1 AND h.id <= $2',
          [lo, lo + batch],
        );
        await admin.query('COMMIT');
      }
    });
    const same = await admin.query<{ n: string }>(
      'SELECT count(*) AS n FROM task_state_store t JOIN bench_healed h USING (id) WHERE t.value = h.value',
    );
    if (Number(same.rows[0]?.n) !== rows) throw new Error('the baseline did not write the healed values');

    const d = report.durationsMs;
    const table = [
      [
        'rows (inline / object refs)',
        `${rows} (${report.stores.task.inlineRefs} / ${report.stores.task.objectRefs})`,
      ],
      ['heal, exec wall (python + Airflow import + probe)', fmt(healMs)],
      ['- probe total', fmt(d.total)],
      ['-- select batches', fmt(d.select)],
      ['-- resolve refs (object reads)', fmt(d.resolve)],
      ['-- journal + CAS update, per batch txn', fmt(d.write)],
      ['baseline: one UPDATE', fmt(updateMs)],
      [`baseline: UPDATE in ${batch}-row transactions`, fmt(batchedMs)],
      ['ratio heal wall / one UPDATE', `${(healMs / updateMs).toFixed(1)}x`],
      ['ratio heal write phase / batched UPDATE', `${(d.write / batchedMs).toFixed(1)}x`],
    ];
    const w = Math.max(...table.map((r) => (r[0] ?? '').length));
    for (const [k, v] of table) console.log(`${(k ?? '').padEnd(w)}  ${v ?? ''}`);
    console.log(
      JSON.stringify({
        bench: 'state-store-heal',
        rows,
        inlineRefs: report.stores.task.inlineRefs,
        objectRefs: report.stores.task.objectRefs,
        batch,
        compression: backend.compression,
        healWallMs: Math.round(healMs),
        probeMs: d,
        updateMs: Math.round(updateMs),
        batchedUpdateMs: Math.round(batchedMs),
        ratioWallToUpdate: Number((healMs / updateMs).toFixed(2)),
        ratioWriteToBatched: Number((d.write / batchedMs).toFixed(2)),
      }),
    );
  } finally {
    await admin.end();
    await moto.stop();
    if (args.keep) console.log(`kept database ${db.name}`);
    else await db.drop();
    home.remove();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
