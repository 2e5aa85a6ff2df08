/**
 * CALIBRATE on XCom values that are not JSON, against the machine's real PostgreSQL. No mocks.
 *
 * Airflow 3 stores xcom.value as JSONB, so a non-JSON value cannot be stored there. Airflow 2
 * stored bytes (bytea): `json.dumps(value, cls=XComEncoder).encode('utf-8')`, or, with
 * `[core] enable_xcom_pickling`, `pickle.dumps(value)`. The object-storage backend JSON-encodes
 * every value and never pickles, so a pickle's size says nothing about what it will count, and a
 * task whose values only pickling can carry fails at its first push after the flip. Calibration
 * must therefore not measure pickled rows: it counts them apart (`nonJson`), keeps them out of
 * every figure, and the gate fails with a reason naming them and the tasks that wrote them.
 *
 * Airflow 2 cannot be installed in this venv (it holds Airflow 3.3), so the Airflow-2-shaped
 * table is created here with plain SQL: Airflow 2.10's xcom columns, value bytea. The values are
 * produced by the venv's real Python: json.dumps(...).encode('utf-8') for plain data (what
 * XComEncoder writes for it) and pickle.dumps(...) (what Airflow 2 wrote with pickling on).
 * Both ways of reaching the DB are checked: the direct adapter, and in-pod (probes/calibrate.py
 * through Airflow's own engine), which runs the same exported SQL.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { createActivities } from '../activities/index.js';
import { ExecAirflowProbes } from '../adapters/airflow-probes.js';
import { LocalExecPort } from '../adapters/exec/local.js';
import { InPodMetadataDb } from '../adapters/in-pod-metadata-db.js';
import { PostgresMetadataDb } from '../adapters/metadata-db.js';
import { planSchema, type Plan } from '../domain/plan.js';
import { venvDir, venvPython } from './support/moto.js';
import { createTestDatabase, type TestDatabase } from './support/postgres.js';

const SLOW = { timeout: 120_000 };

/** Airflow 2.10's xcom table (airflow/models/xcom.py, PostgreSQL): value is LargeBinary = bytea. */
const AIRFLOW2_XCOM_DDL = `
  CREATE TABLE xcom (
    dag_run_id integer NOT NULL,
    task_id varchar(250) NOT NULL,
    map_index integer NOT NULL DEFAULT -1,
    key varchar(512) NOT NULL,
    dag_id varchar(250) NOT NULL,
    run_id varchar(250) NOT NULL,
    value bytea,
    "timestamp" timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (dag_run_id, task_id, map_index, key)
  )`;

/**
 * The stored bytes, as Airflow 2 wrote them, made by the venv's Python. Each row:
 * [dag_id, task_id, key, kind, base64 of the bytes or null for SQL NULL].
 */
const AIRFLOW2_VALUES = `
import base64, datetime, gzip, json, pickle, sys
def as_json(v):  # BaseXCom.serialize_value without pickling (XComEncoder == json for plain data)
    return json.dumps(v).encode("utf-8")
def as_pickle(v):  # BaseXCom.serialize_value with [core] enable_xcom_pickling = True
    return pickle.dumps(v)
rows = [
    ("etl", "extract", "return_value", "json", as_json({"rows": 10, "ok": True, "why": None})),
    ("etl", "extract", "count", "json", as_json(42)),
    ("etl", "extract", "nothing", "json", as_json(None)),
    ("etl", "transform", "return_value", "json", as_json("x" * 60000)),
    ("etl", "transform", "batch", "json", as_json([{"id": i, "v": "y" * 90} for i in range(1500)])),
    ("etl", "load", "nan", "json", as_json(float("nan"))),
    ("etl", "load", "delta", "json", as_json(-1.5)),
    ("etl", "load", "ids", "json", as_json([1, 2, 3])),
    ("ml", "train", "return_value", "pickle", as_pickle({"when": datetime.datetime(2024, 1, 1), "ids": {1, 2, 3}})),
    ("ml", "train", "weights", "pickle", as_pickle(b"\\x00" * 2_500_000)),
    ("ml", "score", "return_value", "pickle", as_pickle(frozenset({"a", "b"}))),
    ("legacy", "blob", "return_value", "other", gzip.compress(b'{"not": "json as stored"}')),
    ("etl", "load", "null_row", "null", None),
]
print(json.dumps([[d, t, k, kind, None if b is None else base64.b64encode(b).decode()] for d, t, k, kind, b in rows]))
`;

interface Airflow2Row {
  dagId: string;
  taskId: string;
  key: string;
  kind: 'json' | 'pickle' | 'other' | 'null';
  bytes: Buffer | null;
}

function airflow2Rows(): Promise<Airflow2Row[]> {
  return new Promise((resolve, reject) => {
    execFile(
      venvPython(),
      ['-c', AIRFLOW2_VALUES],
      { env: { PATH: path.join(venvDir(), 'bin') + ':/usr/bin:/bin', LANG: 'C.UTF-8' }, maxBuffer: 64 << 20 },
      (err, stdout, stderr) => {
        if (err) {
          reject(new Error(`${err.message}\n${stderr}`));
          return;
        }
        const raw = JSON.parse(stdout) as [string, string, string, Airflow2Row['kind'], string | null][];
        resolve(
          raw.map(([dagId, taskId, key, kind, b64]) => ({
            dagId,
            taskId,
            key,
            kind,
            bytes: b64 === null ? null : Buffer.from(b64, 'base64'),
          })),
        );
      },
    );
  });
}

async function insertRows(client: pg.Client, rows: Airflow2Row[]): Promise<void> {
  for (const [i, r] of rows.entries()) {
    await client.query(
      'INSERT INTO xcom (dag_run_id, task_id, key, dag_id, run_id, value) VALUES ($1, $2, $3, $4, $5, $6)',
      [i + 1, r.taskId, r.key, r.dagId, `manual__${i}`, r.bytes],
    );
  }
}

/** PostgreSQL's percentile_disc: the first value whose cumulative share reaches p. */
function percentileDisc(sorted: number[], p: number): number {
  return sorted[Math.max(0, Math.ceil(p * sorted.length) - 1)] ?? 0;
}

function plan(): Plan {
  return planSchema.parse({
    apiVersion: 'cutover/v1',
    kind: 'XComBackendCutover',
    name: 'calibration-faults',
    target: { kind: 'local', name: 't', envFile: '/tmp/x.env', components: [{ name: 'scheduler' }] },
    airflow: { version: '2.10', metadataDb: { access: 'direct', urlEnv: 'AIRFLOW_METADATA_DB_URL' } },
    spec: {
      xcom: {
        path: 's3://aws_default@bucket/xcom',
        threshold: { strategy: 'fixed', bytes: 1_600_000 },
        maxOffloadRows: 100,
      },
      validation: { dagId: 'etl' },
    },
    change: { mode: 'env-file' },
    approval: { approvers: ['alice'] },
  });
}

void describe('CALIBRATE on an Airflow-2-shaped xcom table (bytea) holding pickled values', () => {
  let db: TestDatabase;
  let admin: pg.Client;
  let direct: PostgresMetadataDb;
  let rows: Airflow2Row[];
  let home: string;
  let inPod: InPodMetadataDb;

  const jsonRows = () => rows.filter((r) => r.kind === 'json');
  const jsonSizes = () => jsonRows().map((r) => r.bytes?.length ?? 0);

  before(async () => {
    rows = await airflow2Rows();
    db = await createTestDatabase('cutover_calib_bytea');
    admin = new pg.Client({ connectionString: db.url });
    await admin.connect();
    await admin.query(AIRFLOW2_XCOM_DDL);
    await insertRows(admin, rows);
    direct = new PostgresMetadataDb(db.sqlalchemyUrl);
    home = mkdtempSync(path.join(tmpdir(), 'cutover-calib-bytea-home-'));
    const exec = new LocalExecPort({
      envFor: () => ({
        PATH: `${path.join(venvDir(), 'bin')}:/usr/bin:/bin`,
        HOME: home,
        LANG: 'C.UTF-8',
        AIRFLOW_HOME: home,
        AIRFLOW__CORE__LOAD_EXAMPLES: 'False',
        AIRFLOW__DATABASE__SQL_ALCHEMY_CONN: db.sqlalchemyUrl,
        // No asyncpg in the venv: Airflow 3 would derive a postgresql+asyncpg URL and fail at import.
        AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC: '',
      }),
      cwdFor: () => home,
    });
    const probes = new ExecAirflowProbes(exec, { python: () => [path.join(venvDir(), 'bin', 'python')] });
    inPod = new InPodMetadataDb(probes, { name: 'scheduler' });
  }, SLOW);

  after(async () => {
    await direct?.close();
    await admin?.end();
    await db?.drop();
    if (home) rmSync(home, { recursive: true, force: true });
  });

  void it('the fixture holds what Airflow 2 wrote: JSON text and pickles (0x80 PROTO header) in bytea', async () => {
    assert.equal(await direct.valueColumnType(), 'bytea');
    const pickles = rows.filter((r) => r.kind === 'pickle');
    assert.equal(pickles.length, 3);
    for (const p of pickles) assert.equal(p.bytes?.[0], 0x80, `${p.dagId}.${p.taskId}.${p.key} is a pickle`);
    const biggestPickle = Math.max(...pickles.map((p) => p.bytes?.length ?? 0));
    assert.ok(biggestPickle > Math.max(...jsonSizes()), 'a pickle is the largest value in the table');
    for (const r of jsonRows())
      JSON.parse((r.bytes ?? Buffer.alloc(0)).toString('utf8').replace(/\bNaN\b/, 'null'));
  });

  void it('measures only the JSON rows and reports the others (count, pickles, producers)', async (t) => {
    const stats = await direct.measureXComSizes();
    t.diagnostic(JSON.stringify(stats));
    const sizes = jsonSizes().sort((a, b) => a - b);
    assert.equal(stats.rowCount, sizes.length, 'JSON rows only (the SQL NULL row holds nothing)');
    assert.deepEqual(stats.sizeBytes, {
      p50: percentileDisc(sizes, 0.5),
      p95: percentileDisc(sizes, 0.95),
      p99: percentileDisc(sizes, 0.99),
      p999: percentileDisc(sizes, 0.999),
      max: Math.max(...sizes),
    });
    assert.ok(stats.sizeBytes.max < 2_500_000, 'the 2.5 MB pickle was not measured');
    assert.deepEqual(stats.rowsAbove, {
      '48KB': sizes.filter((b) => b > 48_000).length,
      '100KB': sizes.filter((b) => b > 100_000).length,
      '1MB': 0,
    });
    assert.deepEqual(
      stats.topProducers.map((p) => [p.dagId, p.taskId, p.rows]),
      [['etl', 'transform', 2]],
    );
    assert.deepEqual(stats.nonJson, {
      rows: 4,
      pickled: 3,
      producers: [
        { dagId: 'ml', taskId: 'train', rows: 2 },
        { dagId: 'legacy', taskId: 'blob', rows: 1 },
        { dagId: 'ml', taskId: 'score', rows: 1 },
      ],
    });
    // The projections count JSON rows only as well: threshold 0 offloads every JSON row, nothing more.
    assert.deepEqual(await direct.countRowsAtOrAbove([0, 48_000, 1_000_000, -1]), [
      sizes.length,
      sizes.filter((b) => b >= 48_000).length,
      0,
      0,
    ]);
  });

  void it('the CALIBRATE gate fails with a readable reason naming the pickled rows and their tasks', async (t) => {
    const ev = await createActivities({ metadb: direct }).calibrate({ plan: plan() });
    t.diagnostic(`gate: ${JSON.stringify(ev.gate)}`);
    assert.equal(ev.source, 'metadata-db');
    assert.equal(ev.projectedOffloadRows, 0);
    assert.deepEqual(ev.nonJson?.rows, 4);
    assert.equal(ev.gate.passed, false);
    assert.equal(ev.gate.reasons.length, 1, ev.gate.reasons.join('\n'));
    const reason = ev.gate.reasons[0] ?? '';
    assert.match(
      reason,
      /^4 xcom rows hold values that are not JSON \(3 of them pickled: \[core\] enable_xcom_pickling/,
    );
    assert.match(reason, /written by ml\.train \(2\), legacy\.blob \(1\), ml\.score \(1\):/);
    assert.match(reason, /JSON-encodes every value and never pickles/);
    assert.match(reason, /left out of the figures/);
  });

  void it("in-pod (probes/calibrate.py through Airflow's engine) gives the same figures", SLOW, async () => {
    assert.equal(await inPod.valueColumnType(), 'bytea');
    assert.deepEqual(await inPod.measureXComSizes(), await direct.measureXComSizes());
    const thresholds = [0, 48_000, 1_600_000];
    assert.deepEqual(await inPod.countRowsAtOrAbove(thresholds), await direct.countRowsAtOrAbove(thresholds));
  });

  void it('once only JSON rows are left, nonJson is zero and the gate passes', async () => {
    await admin.query("DELETE FROM xcom WHERE dag_id IN ('ml', 'legacy')");
    const stats = await direct.measureXComSizes();
    assert.deepEqual(stats.nonJson, { rows: 0, pickled: 0, producers: [] });
    assert.equal(stats.rowCount, jsonRows().length);
    const ev = await createActivities({ metadb: direct }).calibrate({ plan: plan() });
    assert.deepEqual(ev.gate, { passed: true, reasons: [] });
  });
});
