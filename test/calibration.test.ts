/**
 * CALIBRATE against the machine's real PostgreSQL and Airflow's own schema
 * (`airflow db migrate`, once for this file; the history is emptied between
 * tests). No mocks.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { createActivities } from '../activities/index.js';
import { PermanentFault } from '../activities/engine/errors.js';
import {
  metadataDbFromEnv,
  PostgresMetadataDb,
  scrubCredentials,
  toLibpqUrl,
} from '../adapters/metadata-db.js';
import type { Plan } from '../domain/plan.js';
import {
  createAirflowTestDatabase,
  runAirflowPython,
  type AirflowTestDatabase,
} from './support/airflow-db.js';
import { calibrationPlan } from './support/plans.js';
import { createTestDatabase, PG_HOST, PG_PORT } from './support/postgres.js';
import {
  clearXComHistory,
  DOSSIER,
  insertXComRows,
  REFERENCE_DISTRIBUTION,
  referenceRows,
} from './support/xcom-fixture.js';

const AIRFLOW_WRITES_XCOMS = `
import json, sys
from airflow.models.xcom import XComModel
from airflow.sdk.serde import serialize
from airflow.utils.json import XComEncoder
from airflow.utils.session import create_session
dag_id, task_id, run_id = sys.argv[1:4]
values = {
    "decision_dict": {"decision": "hold", "scores": [0.5, 1, 2], "meta": {"ok": True, "why": None}, "n": -3},
    "list": [1, 2, 3, "x", [], {}],
    "string": "hello",
    "int": 42,
    "none": None,
    "big_string": "y" * 200000,
    "non_ascii": "h\\u00e9llo \\u20ac",
    "nested_tuple": {"pair": (1, 2)},
    "float_exp": [1e-07],
}
out = {}
with create_session() as session:
    for key, value in values.items():
        XComModel.set(key=key, value=serialize(value), dag_id=dag_id, task_id=task_id, run_id=run_id,
                      serialize=False, session=session)
        out[key] = len(json.dumps(value, cls=XComEncoder).encode("utf-8"))
print(json.dumps(out))
`;

function plan(maxOffloadRows: number, extra: { ramp?: { startBytes: number } } = {}): Plan {
  return calibrationPlan({
    name: 'calibration-test',
    roundTo: 100000,
    validationDag: 'diagnostic__s42',
    maxOffloadRows,
    ...extra,
  });
}

/** Top producers of large (> 48 KB) values computed in JS from the fixture rows, to cross-check the SQL. */
function expectedTopProducers() {
  const by = new Map<string, { dagId: string; taskId: string; rows: number; maxBytes: number }>();
  for (const r of referenceRows()) {
    if (r.bytes <= 48_000) continue;
    const k = `${r.dagId}\u0000${r.taskId}`;
    const cur = by.get(k) ?? { dagId: r.dagId, taskId: r.taskId, rows: 0, maxBytes: 0 };
    cur.rows += 1;
    cur.maxBytes = Math.max(cur.maxBytes, r.bytes);
    by.set(k, cur);
  }
  return [...by.values()].sort((a, b) => b.rows - a.rows || b.maxBytes - a.maxBytes).slice(0, 5);
}

/** A TCP port with nothing listening: bind, note the port, close. */
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

function messagesOf(err: unknown): string {
  const parts: string[] = [];
  let cur: unknown = err;
  while (cur instanceof Error) {
    parts.push(cur.name, cur.message, cur.stack ?? '');
    cur = cur.cause;
  }
  parts.push(String(err));
  return parts.join('\n');
}

void describe('CALIBRATE on an Airflow-migrated PostgreSQL', () => {
  let db: AirflowTestDatabase;
  let admin: pg.Client;
  let metadb: PostgresMetadataDb;

  before(async () => {
    db = await createAirflowTestDatabase('cutover_calib');
    admin = new pg.Client({ connectionString: db.url });
    await admin.connect();
    metadb = new PostgresMetadataDb(db.sqlalchemyUrl); // the SQLAlchemy spelling Airflow's config uses
  });

  after(async () => {
    await metadb?.close();
    await admin?.end();
    await db?.drop();
  });

  void it('the migrated schema stores xcom.value as jsonb', async (t) => {
    t.diagnostic(`the schema took ${db.schemaMs} ms (${db.name}, a copy of ${db.template})`);
    assert.equal(await metadb.valueColumnType(), 'jsonb');
  });

  void describe('on the reference distribution (written once, read by each test)', () => {
    before(async () => {
      await clearXComHistory(admin);
      await insertXComRows(admin, referenceRows());
    });

    void it('measures the dossier table exactly', async (t) => {
      assert.equal(REFERENCE_DISTRIBUTION.length, DOSSIER.rows);
      const stats = await metadb.measureXComSizes();
      t.diagnostic(`calibration on the reference distribution: ${JSON.stringify(stats)}`);
      // The dossier (§1): 7 175 rows; p50 15 B, p95 73 KB, p99 307 KB, p99.9 1.52 MB,
      // max 1.99 MB; 545 rows > 48KB, 277 > 100KB, 11 > 1MB (decimal units).
      assert.equal(stats.rowCount, 7175);
      assert.deepEqual(stats.sizeBytes, {
        p50: 15,
        p95: 73_000,
        p99: 307_000,
        p999: 1_520_000,
        max: 1_990_000,
      });
      assert.deepEqual(stats.rowsAbove, { '48KB': 545, '100KB': 277, '1MB': 11 });
      // The plot's size bands, from the same scan: each value in the band of its bit length.
      const expectedBands = new Map<number, number>();
      for (const size of REFERENCE_DISTRIBUTION) {
        const band = size === 0 ? 0 : size.toString(2).length;
        expectedBands.set(band, (expectedBands.get(band) ?? 0) + 1);
      }
      assert.deepEqual(
        stats.sizeBands,
        [...expectedBands.entries()]
          .sort(([a], [b]) => a - b)
          .map(([k, rows]) => ({ fromBytes: k === 0 ? 0 : 2 ** (k - 1), toBytes: 2 ** k, rows })),
      );
      assert.equal(
        stats.sizeBands.reduce((sum, b) => sum + b.rows, 0),
        7175,
      );
      assert.deepEqual(stats.topProducers, expectedTopProducers());
      assert.deepEqual(
        stats.topProducers.map((p) => [p.dagId, p.taskId, p.rows]),
        [
          ['diagnostic__s42', 'decide', 200],
          ['diagnostic__s41', 'decide', 150],
          ['diagnostic__s40', 'decide', 100],
          ['diagnostic__s42', 'trajectory', 60],
          ['diagnostic__s41', 'trajectory', 25],
        ],
      );
      // The sizes are the real encoded sizes: check one row the way Python's json.dumps would count it.
      const one = await admin.query<{ b: number; py: number }>(
        `SELECT octet_length(value::text) AS b, length(value #>> '{}') + 2 AS py FROM xcom ORDER BY 1 DESC LIMIT 1`,
      );
      assert.equal(one.rows[0]?.b, 1_990_000);
      assert.equal(one.rows[0]?.py, 1_990_000);
    });

    void it('counts rows at or above thresholds in one query (the backend offloads size >= threshold)', async () => {
      const counts = await metadb.countRowsAtOrAbove([
        1_600_000, 100_000, 48_000, 1_000_000, 1_990_000, 1_990_001, -1,
      ]);
      // "only the ~7 largest historical rows (>1.6 MB) would offload"; "100 KB -> 277 rows".
      assert.deepEqual(counts, [7, 277, 545, 11, 1, 0, 0]);
      assert.deepEqual(await metadb.countRowsAtOrAbove([]), []);
      const [all] = await metadb.countRowsAtOrAbove([0]);
      assert.equal(all, 7175);
    });

    void it('the CALIBRATE activity proposes 1,600,000 and passes the near-inert gate at maxOffloadRows 10', async () => {
      const { calibrate } = createActivities({ metadb });
      const ev = await calibrate({ plan: plan(10, { ramp: { startBytes: 2_000_000 } }) });
      assert.equal(ev.source, 'metadata-db');
      assert.equal(ev.proposal.thresholdBytes, 1_600_000);
      assert.equal(ev.proposal.strategy, 'above-p99.9');
      assert.equal(ev.projectedOffloadRows, DOSSIER.atOrAbove1_6MB);
      assert.deepEqual(ev.ramp, { startBytes: 2_000_000, projectedOffloadRows: 0 });
      assert.equal(ev.maxOffloadRows, 10);
      assert.deepEqual(ev.gate, { passed: true, reasons: [] });
      assert.ok(Date.parse(ev.finishedAt) >= Date.parse(ev.startedAt));
    });

    void it('the gate fails with a reason when more rows would offload than the plan allows', async () => {
      const { calibrate } = createActivities({ metadb });
      const ev = await calibrate({ plan: plan(3) });
      assert.equal(ev.proposal.thresholdBytes, 1_600_000);
      assert.equal(ev.projectedOffloadRows, 7);
      assert.equal(ev.gate.passed, false);
      assert.equal(ev.gate.reasons.length, 1);
      assert.match(
        ev.gate.reasons[0] ?? '',
        /7 historical rows would offload at 1\.6 MB \(1 600 000 B\).*maxOffloadRows 3/,
      );
    });
  });

  void it('values written the way Airflow 3 writes them measure as the backend counts them', async () => {
    await clearXComHistory(admin);
    await insertXComRows(admin, [{ dagId: 'diagnostic__s42', taskId: 'decide', bytes: 10 }]);
    // The execution API's set_xcom path: the SDK sends serde.serialize(value) and
    // the server stores it with XComModel.set(serialize=False). The backend's
    // threshold counts len(json.dumps(value, cls=XComEncoder).encode('utf-8')).
    const backendBytes = await runAirflowPython<Record<string, number>>(
      db.sqlalchemyUrl,
      AIRFLOW_WRITES_XCOMS,
      ['diagnostic__s42', 'decide', 'fixture__000000'],
    );
    const res = await admin.query<{ key: string; b: number }>(
      `SELECT key, octet_length(value::text) AS b FROM xcom WHERE key <> 'return_value'`,
    );
    const measured = Object.fromEntries(res.rows.map((r) => [r.key, r.b]));
    // Plain JSON data: jsonb's text form has json.dumps' separators, so the sizes are identical.
    for (const key of ['decision_dict', 'list', 'string', 'int', 'none', 'big_string']) {
      assert.equal(measured[key], backendBytes[key], key);
    }
    // The documented differences, in the documented direction.
    assert.ok(
      (measured.non_ascii ?? 0) < (backendBytes.non_ascii ?? 0),
      'non-ASCII: jsonb UTF-8 < \\u escapes',
    );
    assert.ok((measured.nested_tuple ?? 0) > (backendBytes.nested_tuple ?? 0), 'serde wraps nested tuples');
    assert.ok((measured.float_exp ?? 0) > (backendBytes.float_exp ?? 0), 'jsonb expands exponents');
    const stats = await metadb.measureXComSizes();
    assert.equal(stats.sizeBytes.max, backendBytes.big_string);
  });

  void it('an empty xcom table gives zeros, not an error', async () => {
    await clearXComHistory(admin);
    const stats = await metadb.measureXComSizes();
    assert.deepEqual(stats, {
      rowCount: 0,
      sizeBytes: { p50: 0, p95: 0, p99: 0, p999: 0, max: 0 },
      sizeBands: [],
      rowsAbove: { '48KB': 0, '100KB': 0, '1MB': 0 },
      topProducers: [],
    });
    assert.deepEqual(await metadb.countRowsAtOrAbove([1_600_000, 0]), [0, 0]);
    const ev = await createActivities({ metadb }).calibrate({ plan: plan(0) });
    assert.equal(ev.rowCount, 0);
    assert.equal(ev.proposal.thresholdBytes, 100_000);
    assert.equal(ev.projectedOffloadRows, 0);
    assert.equal(ev.gate.passed, true);
  });
});

void describe('metadata DB faults', () => {
  void it('a database without an xcom table is a PermanentFault with a readable message', async () => {
    const plain = await createTestDatabase('cutover_noxcom');
    // Trust auth ignores the password, so it can be in the URL and must never come back.
    const secret = 'no-xcom-secret-pw';
    const withPassword = new URL(plain.url);
    withPassword.password = secret;
    const metadb = new PostgresMetadataDb(withPassword.toString());
    try {
      await assert.rejects(metadb.measureXComSizes(), (err: unknown) => {
        assert.ok(err instanceof PermanentFault);
        assert.equal(err.message, `no xcom table in ${plain.name}: is this Airflow's metadata DB?`);
        assert.ok(!messagesOf(err).includes(secret));
        return true;
      });
      // Through the activity the fault becomes a non-retryable ApplicationFailure.
      await assert.rejects(createActivities({ metadb }).calibrate({ plan: plan(10) }), (err: unknown) => {
        const e = err as { type?: string; nonRetryable?: boolean; message?: string };
        assert.equal(e.type, 'PermanentFault');
        assert.equal(e.nonRetryable, true);
        assert.match(e.message ?? '', /no xcom table in .*: is this Airflow's metadata DB\?/);
        return true;
      });
    } finally {
      await metadb.close();
      await plain.drop();
    }
  });

  void it('an unreachable DB is a transient error that never shows the password', async () => {
    const port = await deadPort();
    const secret = 'S3cr%40t-pa55word';
    const url = `postgresql+psycopg2://airflow:${secret}@127.0.0.1:${port}/airflow`;
    const metadb = new PostgresMetadataDb(url, { connectTimeoutMs: 3000 });
    try {
      for (const attempt of [() => metadb.measureXComSizes(), () => metadb.countRowsAtOrAbove([1])]) {
        await assert.rejects(attempt(), (err: unknown) => {
          assert.ok(err instanceof Error);
          assert.ok(!(err instanceof PermanentFault), 'connection refused must stay retryable');
          assert.match(err.message, new RegExp(`metadata DB 127\\.0\\.0\\.1:${port}/airflow unreachable`));
          assert.match(err.message, /ECONNREFUSED/);
          const all = messagesOf(err);
          for (const leak of [secret, 'S3cr@t-pa55word', 'S3cr'])
            assert.ok(!all.includes(leak), `leaked ${leak}: ${all}`);
          return true;
        });
      }
      const activityErr = await createActivities({ metadb })
        .calibrate({ plan: plan(10) })
        .then(
          () => null,
          (e: unknown) => e,
        );
      assert.ok(activityErr instanceof Error);
      assert.ok(!messagesOf(activityErr).includes('S3cr'));
    } finally {
      await metadb.close();
    }
  });

  void it('a rejected login is a PermanentFault and does not echo the password', async () => {
    // Trust auth accepts any password, so a role that does not exist provokes the rejection.
    const secret = 'hunter2-very-secret';
    const metadb = new PostgresMetadataDb(
      `postgresql://no_such_role_cutover:${secret}@${PG_HOST}:${PG_PORT}/postgres`,
    );
    try {
      await assert.rejects(metadb.measureXComSizes(), (err: unknown) => {
        assert.ok(err instanceof PermanentFault);
        assert.ok(!messagesOf(err).includes(secret));
        assert.match(err.message, /metadata DB .*: connection not authorised: .*no_such_role_cutover/);
        return true;
      });
    } finally {
      await metadb.close();
    }
  });

  void it('metadataDbFromEnv names the missing variable and accepts SQLAlchemy URLs', async () => {
    assert.throws(
      () => metadataDbFromEnv('AIRFLOW_METADATA_DB_URL', {}),
      (err: unknown) =>
        err instanceof PermanentFault && /AIRFLOW_METADATA_DB_URL is not set/.test(err.message),
    );
    const m = metadataDbFromEnv('X_URL', { X_URL: 'postgresql+psycopg2://u:p@h:5432/airflow' });
    assert.equal(m.source, 'metadata-db');
    await m.close();
    assert.equal(toLibpqUrl('postgresql+psycopg2://u:p@h/db'), 'postgresql://u:p@h/db');
    assert.equal(toLibpqUrl('postgres://h/db'), 'postgresql://h/db');
    assert.throws(() => toLibpqUrl('mysql+mysqldb://u:p@h/db'), PermanentFault);
    assert.equal(
      scrubCredentials('failed for postgresql://u:p%40ss@h/db and p@ss', 'postgresql://u:p%40ss@h/db'),
      'failed for postgresql://u:***@h/db and ***',
    );
  });
});
