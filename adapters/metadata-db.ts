/**
 * MetadataDbPort over a direct PostgreSQL connection to Airflow's metadata DB.
 *
 * Read-only, and no XCom value ever leaves the database: every figure is
 * computed by PostgreSQL and only counts and sizes come back.
 *
 * What is measured. The common.io backend decides per value with
 * `len(json.dumps(value, cls=XComEncoder).encode('utf-8')) >= threshold`. What
 * the DB holds is:
 *
 * - Airflow 3: `xcom.value` is JSONB on PostgreSQL (`JSON().with_variant(JSONB)`
 *   in airflow/models/xcom.py; checked after `airflow db migrate` with 3.3.2).
 *   The task SDK's BaseXCom.serialize_value returns `airflow.sdk.serde.serialize(value)`
 *   (a JSON-able object, not a string); the execution API stores it as JSONB. We
 *   measure `octet_length(value::text)`: jsonb's text form uses the same
 *   separators as Python's json.dumps defaults (', ' and ': '), so for plain
 *   JSON data (dicts, lists, strings, ints, bools, None) the byte count is the
 *   same as the backend's. Where they differ:
 *     - key order: jsonb sorts keys (by length, then bytes) and keeps only the
 *       last of duplicate keys; order does not change the size, dropped
 *       duplicates do (json.dumps of a dict never has any);
 *     - non-ASCII: json.dumps escapes it (`é` -> `\u00e9`, 6 bytes) while jsonb
 *       stores UTF-8 (2 bytes): text with many non-ASCII characters measures
 *       SMALLER here than the backend will see it;
 *     - numbers: jsonb keeps numeric text but expands exponents (`1e-07` ->
 *       `0.0000001`, `1.5e+300` -> 301 digits): such floats measure larger;
 *     - values serde wraps: a tuple nested in a dict or list is stored as
 *       {"__classname__": "builtins.tuple", ...} but json.dumps with XComEncoder
 *       writes a plain list, so those measure larger here.
 *   None of these matter for the dossier's JSON decision dicts; they bound the
 *   error for exotic values, and the threshold is rounded up anyway.
 * - Airflow 2: `xcom.value` is bytea holding exactly
 *   `json.dumps(value, cls=XComEncoder).encode('utf-8')`, so `octet_length(value)`
 *   IS the backend's size; or, with `[core] enable_xcom_pickling`, `pickle.dumps(value)`.
 *   The backend never pickles (it JSON-encodes every value, inline ones too), so a
 *   pickle's size says nothing about what it will count, and a value only pickling
 *   could carry makes its task fail at the first push after the flip. Such rows are
 *   NOT measured: each value is classified by its first byte (PostgreSQL before 16
 *   has no non-raising JSON test; the byte is read from a slice, without detoasting
 *   the whole value), non-JSON rows are left out of every figure and projection,
 *   and reported in `nonJson` (how many, how many are pickles, which tasks wrote
 *   them) for the calibration gate to refuse. A JSON text as json.dumps writes it
 *   starts with `{ [ " -`, a digit, `t f n`, or `N I` (NaN, Infinity); a pickle of
 *   protocol 2+ (Python 3 pickles with protocol 4 or 5 by default) starts with the
 *   PROTO opcode 0x80; anything else (an empty value, another encoding) counts as
 *   not JSON too. A value that starts like JSON but is not (no Airflow writes one)
 *   would still be measured. The json/jsonb columns of Airflow 3 only ever hold
 *   JSON: their SQL has no such classification and their figures no `nonJson`.
 *
 * The column type is read from information_schema once per adapter; the table
 * is found through the connection's search_path (to_regclass), so a non-public
 * `[database] sql_alchemy_schema` works when the URL sets it. Rows whose value is
 * SQL NULL hold nothing and are left out of every figure (Airflow writes a
 * Python None as JSON null, which is counted: 4 bytes).
 *
 * Units: the dossier's table says 48KB / 100KB / 1MB and writes the 1,600,000
 * threshold as "1.6 MB" and 1,520,000-ish as "1.52 MB", so its units are
 * DECIMAL (1 KB = 1000 B, 1 MB = 1,000,000 B). "Above" is strict (>).
 */
import pg from 'pg';
import { cursorPages, KEY_OF_REF, referenceRegex } from './pg-cursor.js';
import {
  SIZE_BAND_EDGES_SQL,
  sizeBandsFrom,
  type NonJsonXComs,
  type SizeQuantiles,
} from '../domain/evidence.js';
import type { MetadataDbPort, XComSizeStats } from '../activities/adapters.js';
import type { AirflowSnapshot } from '../domain/assessment/snapshot.js';
import { PermanentFault } from '../activities/engine/errors.js';

/** Decimal units, as the dossier's table uses them. */
export const KB = 1000;
export const MB = 1000 * KB;
export const LARGE_BYTES = 48 * KB;

export interface MetadataDbOptions {
  /** Server-side limit for one statement (0 = none, the default). */
  statementTimeoutMs?: number;
  /** How long to wait for a connection before calling the DB unreachable. */
  connectTimeoutMs?: number;
}

export type SizeExpr = 'octet_length(value::text)' | 'octet_length(value)';

export interface XComTable {
  qualified: string;
  sizeExpr: SizeExpr;
  columnType: string;
}

/** pg wants postgres(ql)://; Airflow's config holds SQLAlchemy URLs like postgresql+psycopg2://. */
export function toLibpqUrl(url: string): string {
  const m = /^([a-z][a-z0-9]*)(\+[a-z0-9_]+)?:\/\//i.exec(url.trim());
  if (!m || !m[1])
    throw new PermanentFault('the metadata DB URL is not a URL (expected postgresql://user@host:port/db)');
  const scheme = m[1].toLowerCase();
  if (scheme !== 'postgresql' && scheme !== 'postgres') {
    throw new PermanentFault(
      `the metadata DB URL uses scheme "${scheme}"; only PostgreSQL is supported for direct access (use access: in-pod for other databases)`,
    );
  }
  return `postgresql://${url.trim().slice(m[0].length)}`;
}

/** Removes anything credential-like from a message: the URL's password, user:password@ pairs, password=... */
export function scrubCredentials(message: string, url?: string): string {
  let out = message;
  if (url) {
    const m = /^[^:]+:\/\/[^:/@]*:([^@]*)@/.exec(url.trim());
    const pw = m?.[1];
    if (pw) {
      let decoded = pw;
      try {
        decoded = decodeURIComponent(pw);
      } catch {
        // keep the raw form only
      }
      for (const secret of new Set([pw, decoded])) out = out.split(secret).join('***');
    }
  }
  return out
    .replace(/([a-z][a-z0-9+.-]*:\/\/[^:/@\s]*):[^@\s]*@/gi, '$1:***@')
    .replace(/(password\s*[=:]\s*)\S+/gi, '$1***');
}

/** host:port/db for messages, never the user or password. */
function describeTarget(url: string): string {
  try {
    const u = new URL(url);
    const db = decodeURIComponent(u.pathname.replace(/^\//, '')) || '(default db)';
    return `${u.hostname || 'localhost'}:${u.port || '5432'}/${db}`;
  } catch {
    return 'the metadata DB';
  }
}

/** SQLSTATEs retrying cannot fix. */
export const PERMANENT_SQLSTATES: Record<string, string> = {
  '28P01': 'authentication failed',
  '28000': 'connection not authorised',
  '3D000': 'database does not exist',
  '42501': 'permission denied',
  '42P01': 'table missing',
};

function errorCode(err: unknown): string | undefined {
  if (err && typeof err === 'object' && 'code' in err && typeof err.code === 'string') return err.code;
  return undefined;
}

/**
 * The SQL, exported so that every way of reaching the metadata DB (this direct
 * connection, or Airflow's own engine inside a component: adapters/in-pod-metadata-db.ts
 * and probes/calibrate.py) runs the same statements. Parameters are positional
 * ($1, ...); results are one row per statement, read by the functions below.
 */

/** Finds the xcom table through the connection's search_path, and its value column's type. */
export const XCOM_TABLE_SQL = `SELECT current_database() AS db, n.nspname AS schema, c.data_type
       FROM (SELECT to_regclass('xcom') AS rel) r
       LEFT JOIN pg_class cl ON cl.oid = r.rel
       LEFT JOIN pg_namespace n ON n.oid = cl.relnamespace
       LEFT JOIN information_schema.columns c
         ON c.table_schema = n.nspname AND c.table_name = 'xcom' AND c.column_name = 'value'`;

export interface XComTableRow {
  db: string;
  schema: string | null;
  data_type: string | null;
}

/** The table and size expression for XCOM_TABLE_SQL's row; PermanentFault when it is not Airflow's xcom table. */
export function xcomTableFrom(row: XComTableRow | undefined, fallbackDb: string): XComTable {
  const db = row?.db ?? fallbackDb;
  if (!row?.schema) throw new PermanentFault(`no xcom table in ${db}: is this Airflow's metadata DB?`);
  const qualified = `${pg.escapeIdentifier(row.schema)}.xcom`;
  const type = row.data_type;
  if (type === 'jsonb' || type === 'json')
    return { qualified, sizeExpr: 'octet_length(value::text)', columnType: type };
  if (type === 'bytea') return { qualified, sizeExpr: 'octet_length(value)', columnType: type };
  if (type === null) throw new PermanentFault(`the xcom table in ${db} has no readable value column`);
  throw new PermanentFault(
    `the xcom table in ${db} stores value as ${type}; expected jsonb/json (Airflow 3) or bytea (Airflow 2)`,
  );
}

/** Whether the value column can hold something that is not JSON (Airflow 2's bytea). */
function mayHoldNonJson(t: XComTable): boolean {
  return t.sizeExpr === 'octet_length(value)';
}

/**
 * First bytes (hex) of a JSON text as Python's json.dumps writes it:
 * { [ " - 0-9 t(rue) f(alse) n(ull) N(aN) I(nfinity).
 */
const JSON_FIRST_BYTES = ['7b', '5b', '22', '2d', '30', '31', '32', '33', '34', '35', '36', '37', '38', '39']
  .concat(['74', '66', '6e', '4e', '49'])
  .map((h) => `'${h}'`)
  .join(', ');

/** A bytea value's first byte as two hex digits ('' when empty), read from a slice (no full detoast). */
const FIRST_BYTE_HEX = `encode(substring(value FROM 1 FOR 1), 'hex')`;

/** The kind of a bytea value from its first byte (column h): 'j' JSON, 'p' pickle (protocol 2+), 'x' other. */
const KIND_FROM_H = `CASE WHEN h IN (${JSON_FIRST_BYTES}) THEN 'j' WHEN h = '80' THEN 'p' ELSE 'x' END`;

/** The aggregate and the top producers of large values, over CTE `s` (b, dag_id, task_id). */
const SIZES_AGG_CTES = `
      agg AS (
        SELECT count(*)::int8 AS n,
               percentile_disc(ARRAY[0.5, 0.95, 0.99, 0.999]::float8[]) WITHIN GROUP (ORDER BY b) AS q,
               coalesce(max(b), 0)::int8 AS mx,
               count(*) FILTER (WHERE b > ${48 * KB})::int8 AS above_48kb,
               count(*) FILTER (WHERE b > ${100 * KB})::int8 AS above_100kb,
               count(*) FILTER (WHERE b > ${1 * MB})::int8 AS above_1mb
        FROM s
      ),
      top AS (
        SELECT dag_id, task_id, count(*)::int8 AS n, max(b)::int8 AS mx
        FROM s
        WHERE dag_id IS NOT NULL
        GROUP BY dag_id, task_id
        ORDER BY n DESC, mx DESC, dag_id, task_id
        LIMIT 5
      ),
      bands AS (
        SELECT width_bucket(b::int8, ${SIZE_BAND_EDGES_SQL}) AS k, count(*)::int8 AS n FROM s GROUP BY 1
      )`;

const SIZES_COLUMNS = `agg.n, agg.q, agg.mx, agg.above_48kb, agg.above_100kb, agg.above_1mb,
             coalesce((SELECT json_agg(json_build_object('dagId', dag_id, 'taskId', task_id, 'rows', n, 'maxBytes', mx)
                                       ORDER BY n DESC, mx DESC, dag_id, task_id)
                       FROM top), '[]'::json) AS top,
             coalesce((SELECT json_agg(json_build_array(k, n) ORDER BY k) FROM bands), '[]'::json) AS bands`;

/**
 * Quantiles, band counts and top producers in one round trip. Each value is
 * detoasted and measured exactly once: OFFSET 0 stops the planner from inlining
 * the size expression into every use, and the CTE is materialised so the
 * quantiles and the producer ranking share one scan. Producer columns are kept
 * only for large rows.
 *
 * On bytea (Airflow 2) the same scan classifies each value by its first byte:
 * only JSON values are measured, the others come back as nonjson_n,
 * nonjson_pickled and nonjson_top (the tasks that wrote them).
 */
export function measureXComSizesSql(t: XComTable): string {
  if (mayHoldNonJson(t)) return measureByteaXComSizesSql(t);
  return `
      WITH s AS MATERIALIZED (
        SELECT b,
               CASE WHEN b > ${LARGE_BYTES} THEN dag_id END AS dag_id,
               CASE WHEN b > ${LARGE_BYTES} THEN task_id END AS task_id
        FROM (SELECT ${t.sizeExpr} AS b, dag_id, task_id FROM ${t.qualified} WHERE value IS NOT NULL OFFSET 0) m
      ),${SIZES_AGG_CTES}
      SELECT ${SIZES_COLUMNS}
      FROM agg`;
}

/** measureXComSizesSql on bytea: JSON rows measured as on jsonb, the others counted by kind and producer. */
function measureByteaXComSizesSql(t: XComTable): string {
  return `
      WITH m AS MATERIALIZED (
        SELECT b, k,
               CASE WHEN k <> 'j' OR b > ${LARGE_BYTES} THEN dag_id END AS dag_id,
               CASE WHEN k <> 'j' OR b > ${LARGE_BYTES} THEN task_id END AS task_id
        FROM (SELECT b, ${KIND_FROM_H} AS k, dag_id, task_id
              FROM (SELECT ${t.sizeExpr} AS b, ${FIRST_BYTE_HEX} AS h, dag_id, task_id
                    FROM ${t.qualified} WHERE value IS NOT NULL OFFSET 0) r) c
      ),
      s AS (SELECT b, dag_id, task_id FROM m WHERE k = 'j'),${SIZES_AGG_CTES},
      nj AS (
        SELECT count(*)::int8 AS n, count(*) FILTER (WHERE k = 'p')::int8 AS pickled FROM m WHERE k <> 'j'
      ),
      njtop AS (
        SELECT dag_id, task_id, count(*)::int8 AS n
        FROM m
        WHERE k <> 'j'
        GROUP BY dag_id, task_id
        ORDER BY n DESC, dag_id, task_id
        LIMIT 5
      )
      SELECT ${SIZES_COLUMNS},
             nj.n AS nonjson_n, nj.pickled AS nonjson_pickled,
             coalesce((SELECT json_agg(json_build_object('dagId', dag_id, 'taskId', task_id, 'rows', n)
                                       ORDER BY n DESC, dag_id, task_id)
                       FROM njtop), '[]'::json) AS nonjson_top
      FROM agg, nj`;
}

/** measureXComSizesSql's row (int8 arrives as a string from node-postgres, as a number from Python). */
export interface XComSizesRow {
  n: string | number;
  q: (number | string)[] | null;
  mx: string | number;
  above_48kb: string | number;
  above_100kb: string | number;
  above_1mb: string | number;
  top: { dagId: string; taskId: string; rows: number | string; maxBytes: number | string }[];
  /** [band, rows] pairs (see sizeBandsFrom); absent from a probe older than the bands. */
  bands?: [number | string, number | string][];
  /** bytea only: rows whose value is not JSON, how many of them are pickles, which tasks wrote them. */
  nonjson_n?: string | number;
  nonjson_pickled?: string | number;
  nonjson_top?: { dagId: string; taskId: string; rows: number | string }[];
}

function nonJsonFrom(row: XComSizesRow): NonJsonXComs | undefined {
  if (row.nonjson_n === undefined || row.nonjson_n === null) return undefined;
  return {
    rows: Number(row.nonjson_n),
    pickled: Number(row.nonjson_pickled ?? 0),
    producers: (row.nonjson_top ?? []).map((p) => ({
      dagId: p.dagId,
      taskId: p.taskId,
      rows: Number(p.rows),
    })),
  };
}

export function xcomSizeStatsFrom(row: XComSizesRow): XComSizeStats {
  const q = row.q ?? [0, 0, 0, 0];
  const nonJson = nonJsonFrom(row);
  const sizeBytes: SizeQuantiles = {
    p50: Number(q[0] ?? 0),
    p95: Number(q[1] ?? 0),
    p99: Number(q[2] ?? 0),
    p999: Number(q[3] ?? 0),
    max: Number(row.mx),
  };
  return {
    rowCount: Number(row.n),
    sizeBytes,
    sizeBands: sizeBandsFrom(row.bands ?? []),
    rowsAbove: {
      '48KB': Number(row.above_48kb),
      '100KB': Number(row.above_100kb),
      '1MB': Number(row.above_1mb),
    },
    topProducers: row.top.map((p) => ({
      dagId: p.dagId,
      taskId: p.taskId,
      rows: Number(p.rows),
      maxBytes: Number(p.maxBytes),
    })),
    ...(nonJson === undefined ? {} : { nonJson }),
  };
}

/** Thresholds must be whole byte counts (they go into an int8[] parameter). */
export function checkThresholds(thresholds: number[]): void {
  for (const th of thresholds) {
    if (!Number.isSafeInteger(th))
      throw new PermanentFault(`threshold ${th} is not an integer number of bytes`);
  }
}

/**
 * Rows at or above each threshold ($1: int8[]), in the order given. One scan:
 * sizes at or above the smallest threshold are kept, then counted per
 * threshold. A negative threshold means "never offload" (the backend's rule),
 * so it counts 0. On bytea only JSON values count, as in measureXComSizesSql.
 */
export function countRowsAtOrAboveSql(t: XComTable): string {
  const onlyJson = mayHoldNonJson(t) ? ` AND ${FIRST_BYTE_HEX} IN (${JSON_FIRST_BYTES})` : '';
  return `
      WITH th AS (
        SELECT v, i FROM unnest($1::int8[]) WITH ORDINALITY AS u(v, i)
      ),
      s AS MATERIALIZED (
        SELECT b
        FROM (SELECT ${t.sizeExpr} AS b FROM ${t.qualified} WHERE value IS NOT NULL${onlyJson} OFFSET 0) m
        WHERE b >= (SELECT coalesce(min(v), 0) FROM th WHERE v >= 0)
      )
      SELECT th.i, (SELECT count(*) FROM s WHERE th.v >= 0 AND s.b >= th.v)::int8 AS n
      FROM th
      ORDER BY th.i`;
}

/**
 * The keys of the objects XCom rows reference, sorted in byte order ($1: the reference regex). An
 * offloaded XCom holds the object's URL as a JSON string: jsonb/json on Airflow 3, the JSON text in
 * bytea on Airflow 2 (only values starting with a quote are decoded, so pickles are never read).
 */
export function referencedKeysSql(t: XComTable): string {
  const ref =
    t.columnType === 'bytea'
      ? `CASE WHEN substring(value FROM 1 FOR 1) = '\\x22'::bytea THEN convert_from(value, 'UTF8')::jsonb #>> '{}' END`
      : `CASE WHEN ${t.columnType === 'json' ? 'json_typeof' : 'jsonb_typeof'}(value) = 'string' THEN value #>> '{}' END`;
  return `
      SELECT DISTINCT ${KEY_OF_REF('r')} COLLATE "C" AS k
      FROM (SELECT ${ref} AS r FROM ${t.qualified} WHERE value IS NOT NULL OFFSET 0) x
      WHERE r ~ $1
      ORDER BY k`;
}

export class PostgresMetadataDb implements MetadataDbPort {
  readonly source = 'metadata-db' as const;
  private readonly pool: pg.Pool;
  private readonly url: string;
  private readonly target: string;
  private table: Promise<XComTable> | undefined;
  private closed = false;

  constructor(url: string, options: MetadataDbOptions = {}) {
    this.url = url;
    const connectionString = toLibpqUrl(url);
    this.target = describeTarget(connectionString);
    this.pool = new pg.Pool({
      connectionString,
      max: 2,
      idleTimeoutMillis: 10_000,
      connectionTimeoutMillis: options.connectTimeoutMs ?? 10_000,
      application_name: 'cutover-calibrate',
      ...(options.statementTimeoutMs ? { statement_timeout: options.statementTimeoutMs } : {}),
    });
    // An idle client that loses its server must not crash the worker.
    this.pool.on('error', () => undefined);
  }

  async measureXComSizes(): Promise<XComSizeStats> {
    const t = await this.xcomTable();
    const res = await this.query<XComSizesRow>(measureXComSizesSql(t), []);
    const row = res.rows[0];
    if (!row) throw new Error(`the size query on ${this.target} returned no row`);
    return xcomSizeStatsFrom(row);
  }

  async countRowsAtOrAbove(thresholds: number[]): Promise<number[]> {
    if (thresholds.length === 0) return [];
    checkThresholds(thresholds);
    const t = await this.xcomTable();
    const res = await this.query<{ i: string; n: string }>(countRowsAtOrAboveSql(t), [thresholds]);
    return res.rows.map((r) => Number(r.n));
  }

  /** The object keys XCom rows reference under `keyPrefix` in `bucket` (offloaded values), sorted. */
  async *referencedKeys(bucket: string, keyPrefix: string): AsyncIterable<string[]> {
    if (this.closed) throw new Error('the metadata DB adapter is closed');
    const t = await this.xcomTable();
    const sql = referencedKeysSql(t);
    for await (const page of cursorPages<{ k: string }>(
      this.pool,
      sql,
      [referenceRegex('s3', bucket, keyPrefix)],
      (err) => this.translate(err),
    ))
      yield page.map((r) => r.k);
  }

  /**
   * DAG visibility, the running jobs' heartbeat ages and the schema revision, read-only. Ages are
   * taken by the database's clock (`now() - latest_heartbeat`), so a skewed worker clock cannot fake
   * a dead scheduler. `dag.is_stale` is Airflow 3's; Airflow 2 says `is_active`.
   */
  async deploymentHealth(): Promise<NonNullable<AirflowSnapshot['db']>> {
    const cols = await this.query<{ column_name: string }>(DAG_COLUMNS_SQL, []);
    if (cols.rows.length === 0)
      throw new PermanentFault(
        `metadata DB ${this.target}: no dag table (is this an Airflow metadata DB, migrated?)`,
      );
    const active = cols.rows.some((c) => c.column_name === 'is_stale') ? 'NOT d.is_stale' : 'd.is_active';
    const [vis, jobs, rev] = await Promise.all([
      this.query<{ serialized: string; active: string; files: string; paused: string }>(
        dagVisibilitySql(active),
        [],
      ),
      this.query<{ job_type: string; hostname: string; state: string; age: string }>(RUNNING_JOBS_SQL, []),
      this.query<{ version_num: string }>('SELECT version_num FROM alembic_version LIMIT 1', []).catch(
        () => ({
          rows: [] as { version_num: string }[],
        }),
      ),
    ]);
    const v = vis.rows[0];
    return {
      visibility: {
        serializedDags: Number(v?.serialized ?? 0),
        activeDags: Number(v?.active ?? 0),
        dagFiles: Number(v?.files ?? 0),
        pausedDags: Number(v?.paused ?? 0),
      },
      jobs: jobs.rows.map((j) => ({
        jobType: j.job_type,
        hostname: j.hostname,
        state: j.state,
        heartbeatAgeSeconds: Math.max(0, Math.round(Number(j.age))),
      })),
      revision: rev.rows[0]?.version_num ?? null,
    };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.pool.end();
  }

  /** Finds the xcom table and its value column's type (once). */
  private xcomTable(): Promise<XComTable> {
    this.table ??= this.detect().catch((err: unknown) => {
      this.table = undefined; // a transient failure must not stick
      throw err;
    });
    return this.table;
  }

  private async detect(): Promise<XComTable> {
    const res = await this.query<XComTableRow>(XCOM_TABLE_SQL, []);
    return xcomTableFrom(res.rows[0], this.target);
  }

  /** The value column's type as found (for reports and tests). */
  async valueColumnType(): Promise<string> {
    return (await this.xcomTable()).columnType;
  }

  private async query<R extends pg.QueryResultRow>(
    sql: string,
    params: unknown[],
  ): Promise<pg.QueryResult<R>> {
    if (this.closed) throw new Error('the metadata DB adapter is closed');
    try {
      return await this.pool.query<R>(sql, params);
    } catch (err) {
      throw this.translate(err);
    }
  }

  /** A readable error without credentials: PermanentFault when retrying cannot help. */
  private translate(err: unknown): Error {
    if (err instanceof PermanentFault) return err;
    const raw = err instanceof Error ? err.message : String(err);
    const code = errorCode(err);
    const detail = scrubCredentials(raw || code || 'unknown error', this.url);
    const permanent = code ? PERMANENT_SQLSTATES[code] : undefined;
    if (permanent) {
      return new PermanentFault(`metadata DB ${this.target}: ${permanent}: ${detail}`);
    }
    const network = code && /^E[A-Z]+$/.test(code);
    const what = network || /timeout|terminated|connect/i.test(raw) ? 'unreachable' : 'query failed';
    const fault = new Error(
      `metadata DB ${this.target} ${what}: ${detail}${code && !detail.includes(code) ? ` (${code})` : ''}`,
    );
    fault.name = 'MetadataDbError';
    return fault;
  }
}

const DAG_COLUMNS_SQL = `SELECT column_name FROM information_schema.columns
  WHERE table_schema = current_schema() AND table_name = 'dag' AND column_name IN ('is_stale', 'is_active', 'dag_id')`;

/** serialized_dag holds one row per DAG version in Airflow 3: DAGs are its DISTINCT dag_ids. */
function dagVisibilitySql(activeExpr: string): string {
  return `SELECT
    (SELECT count(DISTINCT dag_id) FROM serialized_dag) AS serialized,
    count(*) FILTER (WHERE ${activeExpr}) AS active,
    count(DISTINCT d.fileloc) FILTER (WHERE ${activeExpr}) AS files,
    count(*) FILTER (WHERE ${activeExpr} AND d.is_paused) AS paused
  FROM dag d`;
}

/** Jobs that claim to run (a process killed without cleanup stays 'running' with an old heartbeat). */
const RUNNING_JOBS_SQL = `SELECT job_type, coalesce(hostname, '?') AS hostname, state,
    extract(epoch FROM (now() - latest_heartbeat)) AS age
  FROM job
  WHERE state = 'running' AND job_type IN ('SchedulerJob', 'TriggererJob', 'DagProcessorJob')
  ORDER BY job_type, hostname, id`;

/**
 * Builds the adapter from the env var the plan names (plan.airflow.metadataDb.urlEnv).
 * Runs on the worker: the URL, a secret, never enters workflow input or history.
 */
export function metadataDbFromEnv(
  urlEnv: string,
  env: NodeJS.ProcessEnv = process.env,
  options?: MetadataDbOptions,
): PostgresMetadataDb {
  const url = env[urlEnv];
  if (!url || url.trim() === '') {
    throw new PermanentFault(
      `environment variable ${urlEnv} is not set on the worker; it must hold the metadata DB URL (postgresql://user:password@host:5432/airflow)`,
    );
  }
  return new PostgresMetadataDb(url, options);
}
