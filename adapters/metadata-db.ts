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
 *   measure the jsonb text's bytes plus what json.dumps' \u escapes add (see
 *   backendSizeOfText): jsonb's text form uses the same separators as Python's
 *   json.dumps defaults (', ' and ': ') and escapes control characters alike, so
 *   for plain JSON data (dicts, lists, strings, ints, bools, None) the byte count
 *   is the backend's, non-ASCII text included. Where they differ:
 *     - key order: jsonb sorts keys (by length, then bytes) and keeps only the
 *       last of duplicate keys; order does not change the size, dropped
 *       duplicates do (json.dumps of a dict never has any);
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
  type CalibrationSample,
  type NonJsonXComs,
  type SizeQuantiles,
} from '../domain/evidence.js';
import type { MeasureOptions, MetadataDbPort, SizeFigure, XComSizeStats } from '../activities/adapters.js';
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

/** The kind of a bytea value from its first byte (hex column h): 'j' JSON, 'p' pickle (protocol 2+), 'x' other. */
function kindFrom(h: string): string {
  return `CASE WHEN ${h} IN (${JSON_FIRST_BYTES}) THEN 'j' WHEN ${h} = '80' THEN 'p' ELSE 'x' END`;
}

/**
 * The size the object-storage backend compares for a JSON text `t` as jsonb renders it:
 * `len(json.dumps(value, cls=XComEncoder).encode('utf-8'))`. json.dumps' default
 * ensure_ascii=True writes every character outside ' '..'~' as an escape (control
 * characters, escaped by jsonb's text form too with the same lengths, aside): DEL (U+007F)
 * and U+0080..U+FFFF as `\uXXXX` (6 bytes, where the UTF-8 text holds 1, 2 or 3), characters
 * beyond the BMP as a surrogate pair `\uXXXX\uXXXX` (12 bytes, UTF-8 holds 4). So the extra
 * bytes over octet_length are 5 per DEL, 4 per 2-byte, 3 per 3-byte and 8 per 4-byte character.
 *
 * Pure ASCII without DEL (nearly every value) takes the cheap test: UTF-8 verification counts
 * characters with a per-byte ASCII fast path (length(bytea, 'UTF8'), cheaper than char_length;
 * convert_to to the database's own encoding returns the same datum), and DEL is a memchr. Only
 * other values pay for the regular expression: with d = bytes - characters = n2 + 2*n3 + 3*n4
 * and w the 3- and 4-byte characters alone (bytes 3*n3 + 4*n4, characters n3 + n4), the extra is
 * 4*d + bytes(w) - 8*chars(w) + 5*n_del. Assumes a UTF8 database, as Airflow's are.
 */
export function backendSizeOfText(t: string): string {
  const chars = `length(convert_to(${t}, 'UTF8'), 'UTF8')`;
  // char_length costs less per call, the verifier's ASCII fast path less per byte.
  const ascii = `CASE WHEN octet_length(${t}) < 256 THEN octet_length(${t}) = char_length(${t}) ELSE octet_length(${t}) = ${chars} END`;
  const wide = `regexp_replace(${t}, '[^\\u0800-\\U0010ffff]', '', 'g')`;
  return `(octet_length(${t})::int8 + CASE
        WHEN ${ascii} AND strpos(${t}, chr(127)) = 0 THEN 0
        ELSE 4 * (octet_length(${t}) - ${chars})
             + octet_length(${wide}) - 8 * char_length(${wide})
             + 5 * (octet_length(${t}) - octet_length(replace(${t}, chr(127), '')))
      END)`;
}

/** The quantiles the statement computes, in the order of its `q` array (percentile_disc's fractions). */
export const QUANTILE_FRACTIONS = [0.5, 0.95, 0.99, 0.999] as const;
const FIGURE_INDEX: Record<SizeFigure, number> = { p50: 1, p95: 2, p99: 3, p999: 4, max: 5 };

/** One statement and its positional parameters. */
export interface SqlWithParams {
  sql: string;
  params: unknown[];
}

/**
 * DKW confidence of the sample bounds: with n rows drawn at random, every empirical cumulative
 * share is within eps = sqrt(ln(2 / alpha) / (2n)) of the table's with probability 1 - alpha.
 */
export const SAMPLE_CONFIDENCE = 0.95;

/** Checks a sample percent; the message names the field. */
export function checkSamplePercent(pct: unknown, field = 'samplePercent'): number {
  if (typeof pct !== 'number' || !Number.isFinite(pct) || pct <= 0 || pct > 100)
    throw new PermanentFault(`${field}: must be a number above 0 and at most 100 (got ${String(pct)})`);
  return pct;
}

/**
 * Everything CALIBRATE measures, in one scan and one round trip: one parallel-safe
 * `GROUP BY` over (size, kind, producer of a large value) with counts, which PostgreSQL runs
 * as a Partial HashAggregate in each worker under a Gather and finalises in the leader; then,
 * from that small grouped result and inside the same statement, the exact percentile_disc
 * quantiles (the smallest size whose cumulative count reaches rank ceil(f * N), PostgreSQL's
 * own rule), the counts above the dossier's bands, the power-of-two size bands, the top
 * producers and the rows at or above each projection threshold. percentile_disc itself is an
 * ordered-set aggregate, which is not parallel-safe: it made the old statement one serial
 * scan plus a sort of every size.
 *
 * Each value is rendered once per row, in the parallel scan itself (see measured()).
 *
 * On bytea (Airflow 2) the same scan classifies each value by its first byte: only JSON
 * values are measured, the others come back as nonjson_n, nonjson_pickled and nonjson_top
 * (the tasks that wrote them). Parameters: $1 int8[] and $2 int4[] the projection thresholds
 * (figure index 0: $1 is the threshold; 1..5: p50..max rounded up to a multiple of $1), $3 the
 * sample percent when sampling.
 */
export function measureXComSizesStatement(t: XComTable, options: MeasureOptions = {}): SqlWithParams {
  const at = options.offloadAt ?? [];
  const values: number[] = [];
  const figures: number[] = [];
  for (const a of at) {
    if (typeof a === 'number') {
      values.push(a);
      figures.push(0);
    } else {
      values.push(a.roundTo);
      figures.push(FIGURE_INDEX[a.above]);
    }
  }
  checkThresholds(values);
  const sampled = options.samplePercent !== undefined;
  const params: unknown[] = [values, figures];
  if (sampled) params.push(checkSamplePercent(options.samplePercent));
  return { sql: measureXComSizesSql(t, sampled), params };
}

/** Keeps the planner from pulling a subquery up (a volatile function), at no cost per row (see measured()). */
export const FENCE = `CASE WHEN false THEN clock_timestamp() END AS fence`;

/**
 * The measured rows as subquery `m` (b size, k kind: 'j' JSON, 'p' pickle, 'x' other, and the
 * producer where it may be needed), from the table or its sample. The value is rendered once per
 * row, as a column of the Parallel Seq Scan: referenced several times, `value::text` would be
 * rendered (and detoasted) per use, because the planner pulls a plain subquery up into the query
 * above and copies its expressions into every place that uses them. It does not pull up a
 * subquery whose target list holds a volatile function (it would change how often that runs):
 * FENCE is one, inside a branch that constant folding then removes, so the scan's own target
 * list computes the text once and nothing more per row (EXPLAIN VERBOSE: `(xcom.value)::text`
 * once, under the Partial HashAggregate). The ways tried before cost more: a set-returning
 * function in the target list (a ProjectSet node per row, 1.5x the whole statement on small
 * values), a lateral function scan (a tuplestore per row), an OFFSET 0 fence (keeps the
 * aggregate above it serial). The producer is kept for rows whose raw text exceeds LARGE_BYTES
 * / 6 (an escape is at most 6 bytes per byte: DEL), a superset of the large ones, so that the
 * size is computed once, in the grouping key.
 */
function measured(t: XComTable, sampled: boolean): string {
  const table = `${t.qualified}${sampled ? ' TABLESAMPLE SYSTEM ($3)' : ''}`;
  if (!mayHoldNonJson(t)) {
    const keep = `octet_length(v.t) > ${Math.floor(LARGE_BYTES / 6)}`;
    return `(SELECT ${backendSizeOfText('v.t')} AS b, 'j'::text AS k,
                CASE WHEN ${keep} THEN v.dag_id END AS dag_id,
                CASE WHEN ${keep} THEN v.task_id END AS task_id
         FROM (SELECT value::text AS t, dag_id, task_id, ${FENCE}
               FROM ${table} WHERE value IS NOT NULL) v) m`;
  }
  // Airflow 2's bytea holds json.dumps' own (ASCII) bytes: octet_length is the backend's size.
  const keep = `v.h NOT IN (${JSON_FIRST_BYTES}) OR v.b > ${LARGE_BYTES}`;
  return `(SELECT v.b, ${kindFrom('v.h')} AS k,
                CASE WHEN ${keep} THEN v.dag_id END AS dag_id,
                CASE WHEN ${keep} THEN v.task_id END AS task_id
         FROM (SELECT ${FIRST_BYTE_HEX} AS h, octet_length(value)::int8 AS b, dag_id, task_id, ${FENCE}
               FROM ${table} WHERE value IS NOT NULL) v) m`;
}

/**
 * The table's row count as the last VACUUM or ANALYZE estimated it (pg_class.reltuples, -1 when
 * never), what PostgreSQL itself plans with: a sample's shares are scaled to it. Scaling by 100 /
 * percent instead would add the spread of how many pages SYSTEM happened to pick.
 */
function estimatedRows(t: XComTable): string {
  return `(SELECT reltuples::float8 FROM pg_class WHERE oid = to_regclass('${t.qualified.replace(/'/g, "''")}'))`;
}

const FRACTIONS_SQL = `ARRAY[${QUANTILE_FRACTIONS.join(', ')}]::float8[]`;

/** percentile_disc at fraction expression `f` over the cumulative CTE c, for tot.n rows. */
function discAt(f: string): string {
  return `(SELECT min(c.b) FROM c WHERE c.cum >= greatest(1, ceil(${f} * tot.n)))`;
}

export function measureXComSizesSql(t: XComTable, sampled = false): string {
  const bytea = mayHoldNonJson(t);
  const eps = `sqrt(ln(${2 / (1 - SAMPLE_CONFIDENCE)}) / (2 * tot.n))`;
  const bounds = sampled
    ? `,
               array_agg(${discAt(`greatest(u.f - ${eps}, 0)`)} ORDER BY u.i) AS qlo,
               array_agg(${discAt(`least(u.f + ${eps}, 1)`)} ORDER BY u.i) AS qhi`
    : '';
  return `
      WITH g AS (
        SELECT m.b, m.k, m.dag_id, m.task_id, count(*)::int8 AS n
        FROM ${measured(t, sampled)}
        GROUP BY 1, 2, 3, 4
      ),
      h AS (SELECT b, sum(n)::int8 AS n FROM g WHERE k = 'j' GROUP BY b),
      c AS (SELECT b, sum(n) OVER (ORDER BY b) AS cum FROM h),
      tot AS (
        SELECT coalesce(sum(n), 0)::int8 AS n,
               coalesce(max(b), 0)::int8 AS mx,
               coalesce(sum(n) FILTER (WHERE b > ${48 * KB}), 0)::int8 AS above_48kb,
               coalesce(sum(n) FILTER (WHERE b > ${100 * KB}), 0)::int8 AS above_100kb,
               coalesce(sum(n) FILTER (WHERE b > ${1 * MB}), 0)::int8 AS above_1mb
        FROM h
      ),
      qs AS (
        SELECT array_agg(${discAt('u.f')} ORDER BY u.i) AS q${bounds}
        FROM tot, unnest(${FRACTIONS_SQL}) WITH ORDINALITY AS u(f, i)
        WHERE tot.n > 0
      ),
      th AS (
        SELECT u.i,
               CASE WHEN u.fig = 0 THEN u.v
                    ELSE (coalesce((qs.q || tot.mx)[u.fig], 0) / u.v + 1) * u.v END AS v
        FROM tot, qs, unnest($1::int8[], $2::int4[]) WITH ORDINALITY AS u(v, fig, i)
      ),
      off AS (
        SELECT coalesce(array_agg(th.v ORDER BY th.i), '{}') AS thresholds,
               coalesce(array_agg((SELECT coalesce(sum(h.n), 0) FROM h WHERE th.v >= 0 AND h.b >= th.v)::int8
                                  ORDER BY th.i), '{}') AS rows
        FROM th
      ),
      top AS (
        SELECT dag_id, task_id, sum(n)::int8 AS n, max(b)::int8 AS mx
        FROM g
        WHERE k = 'j' AND b > ${LARGE_BYTES} AND dag_id IS NOT NULL
        GROUP BY dag_id, task_id
        ORDER BY n DESC, mx DESC, dag_id, task_id
        LIMIT 5
      ),
      bands AS (
        SELECT width_bucket(b, ${SIZE_BAND_EDGES_SQL}) AS k, sum(n)::int8 AS n FROM h GROUP BY 1
      )${
        bytea
          ? `,
      nj AS (
        SELECT coalesce(sum(n), 0)::int8 AS n, coalesce(sum(n) FILTER (WHERE k = 'p'), 0)::int8 AS pickled
        FROM g WHERE k <> 'j'
      ),
      njtop AS (
        SELECT dag_id, task_id, sum(n)::int8 AS n
        FROM g
        WHERE k <> 'j'
        GROUP BY dag_id, task_id
        ORDER BY n DESC, dag_id, task_id
        LIMIT 5
      )`
          : ''
      }
      SELECT tot.n, qs.q, tot.mx, tot.above_48kb, tot.above_100kb, tot.above_1mb,
             coalesce((SELECT json_agg(json_build_object('dagId', dag_id, 'taskId', task_id, 'rows', n, 'maxBytes', mx)
                                       ORDER BY n DESC, mx DESC, dag_id, task_id)
                       FROM top), '[]'::json) AS top,
             coalesce((SELECT json_agg(json_build_array(k, n) ORDER BY k) FROM bands), '[]'::json) AS bands,
             off.thresholds AS off_th, off.rows AS off_n${sampled ? `, qs.qlo, qs.qhi, ${estimatedRows(t)} AS est_rows` : ''}${
               bytea
                 ? `,
             nj.n AS nonjson_n, nj.pickled AS nonjson_pickled,
             coalesce((SELECT json_agg(json_build_object('dagId', dag_id, 'taskId', task_id, 'rows', n)
                                       ORDER BY n DESC, dag_id, task_id)
                       FROM njtop), '[]'::json) AS nonjson_top`
                 : ''
             }
      FROM tot, qs, off${bytea ? ', nj' : ''}`;
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
  /** The projection thresholds as applied, and the rows at or above each. */
  off_th?: (number | string)[] | null;
  off_n?: (number | string)[] | null;
  /** Sampled only: each quantile at its lower and upper confidence bound, the table's estimated rows. */
  qlo?: (number | string)[] | null;
  qhi?: (number | string)[] | null;
  est_rows?: number | string | null;
  /** bytea only: rows whose value is not JSON, how many of them are pickles, which tasks wrote them. */
  nonjson_n?: string | number;
  nonjson_pickled?: string | number;
  nonjson_top?: { dagId: string; taskId: string; rows: number | string }[];
}

function nonJsonFrom(row: XComSizesRow, scale: (n: number) => number): NonJsonXComs | undefined {
  if (row.nonjson_n === undefined || row.nonjson_n === null) return undefined;
  return {
    rows: scale(Number(row.nonjson_n)),
    pickled: scale(Number(row.nonjson_pickled ?? 0)),
    producers: (row.nonjson_top ?? []).map((p) => ({
      dagId: p.dagId,
      taskId: p.taskId,
      rows: scale(Number(p.rows)),
    })),
  };
}

function quantilesOf(q: readonly (number | string | null)[] | null | undefined, max: number): SizeQuantiles {
  const v = q ?? [];
  return {
    p50: Number(v[0] ?? 0),
    p95: Number(v[1] ?? 0),
    p99: Number(v[2] ?? 0),
    p999: Number(v[3] ?? 0),
    max,
  };
}

/**
 * The figures of measureXComSizesSql's row. With `samplePercent`, every count is the sample's
 * share scaled to the table's estimated rows (reltuples; 100 / percent of the sample when the
 * table was never analysed), rounded, and `sample` says how far each may be off.
 */
export function xcomSizeStatsFrom(row: XComSizesRow, samplePercent?: number): XComSizeStats {
  const sampledRows = Number(row.n);
  let factor = 1;
  if (samplePercent !== undefined) {
    const reltuples = Number(row.est_rows ?? -1);
    const tableRows = reltuples >= 0 ? reltuples : (sampledRows * 100) / samplePercent;
    factor = sampledRows > 0 ? tableRows / sampledRows : 0;
  }
  const scale = (n: number): number => Math.round(n * factor);
  const nonJson = nonJsonFrom(row, scale);
  const max = Number(row.mx);
  const thresholds = row.off_th ?? [];
  const offRows = row.off_n ?? [];
  let sample: CalibrationSample | undefined;
  if (samplePercent !== undefined) {
    const lo = quantilesOf(row.qlo, max);
    const hi = quantilesOf(row.qhi, max);
    const eps = sampledRows > 0 ? Math.sqrt(Math.log(2 / (1 - SAMPLE_CONFIDENCE)) / (2 * sampledRows)) : 1;
    sample = {
      percent: samplePercent,
      sampledRows,
      confidence: SAMPLE_CONFIDENCE,
      epsilon: eps,
      quantileBounds: {
        p50: { low: lo.p50, high: hi.p50 },
        p95: { low: lo.p95, high: hi.p95 },
        p99: { low: lo.p99, high: hi.p99 },
        p999: { low: lo.p999, high: hi.p999 },
      },
      rowsBound: Math.ceil(eps * (sampledRows > 0 ? sampledRows * factor : Number(row.est_rows ?? 0))),
    };
  }
  return {
    rowCount: scale(sampledRows),
    sizeBytes: quantilesOf(row.q, max),
    sizeBands: sizeBandsFrom(row.bands ?? []).map((b) => ({ ...b, rows: scale(b.rows) })),
    rowsAbove: {
      '48KB': scale(Number(row.above_48kb)),
      '100KB': scale(Number(row.above_100kb)),
      '1MB': scale(Number(row.above_1mb)),
    },
    topProducers: row.top.map((p) => ({
      dagId: p.dagId,
      taskId: p.taskId,
      rows: scale(Number(p.rows)),
      maxBytes: Number(p.maxBytes),
    })),
    ...(nonJson === undefined ? {} : { nonJson }),
    ...(thresholds.length === 0
      ? {}
      : {
          offloadAt: thresholds.map((th, i) => ({
            thresholdBytes: Number(th),
            rows: scale(Number(offRows[i] ?? 0)),
          })),
        }),
    ...(sample === undefined ? {} : { sample }),
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
  return `
      WITH th AS (
        SELECT v, i FROM unnest($1::int8[]) WITH ORDINALITY AS u(v, i)
      ),
      s AS MATERIALIZED (
        SELECT m.b
        FROM ${measured(t, false)}
        WHERE m.k = 'j' AND m.b >= (SELECT coalesce(min(v), 0) FROM th WHERE v >= 0)
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

  async measureXComSizes(options: MeasureOptions = {}): Promise<XComSizeStats> {
    const t = await this.xcomTable();
    const { sql, params } = measureXComSizesStatement(t, options);
    const res = await this.query<XComSizesRow>(sql, params);
    const row = res.rows[0];
    if (!row) throw new Error(`the size query on ${this.target} returned no row`);
    return xcomSizeStatsFrom(row, options.samplePercent);
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
