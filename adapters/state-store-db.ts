/**
 * CALIBRATE for the task/asset state store flip, over a direct PostgreSQL connection to
 * Airflow's metadata DB (as adapters/metadata-db.ts does for XCom). Read-only; no state value
 * leaves the database, only counts, sizes and producer names.
 *
 * What is measured. Airflow 3.3 keeps task state in `task_state_store` and asset state in
 * `asset_state_store` (airflow/models/task_state_store.py, asset_state_store.py): `value` is
 * TEXT (MEDIUMTEXT on MySQL) holding `json.dumps(value)`, written by the execution API
 * (airflow/api_fastapi/execution_api/routes/task_state_store.py). The object-storage backend
 * (airflow/providers/common/io/state_store/backend.py, serialize_*_to_ref) offloads when
 * `len(json.dumps(value).encode()) >= state_store_objectstorage_threshold`: the SAME text, so
 * `octet_length(value)` is exactly the backend's measure (no jsonb re-rendering as with XCom).
 *
 * Rows already written under a backend hold `{"__airflow_state_ref__": <ref>}` instead
 * (airflow/sdk/execution_time/context.py, _wrap_external_ref): their size says nothing about
 * the value, so they are left out of the quantiles and counted apart, split into inline refs
 * (the JSON text itself) and object refs (a URL). The quantiles follow percentile_disc's rule,
 * computed from a GROUP BY (PostgreSQL: window and FILTER clauses); the count statements use only
 * portable SQL apart from the `$n` parameter markers.
 */
import pg from 'pg';
import { cursorPages, KEY_OF_REF, referenceRegex } from './pg-cursor.js';
import { SIZE_BAND_EDGES_SQL, sizeBandsFrom } from '../domain/evidence.js';
import { PermanentFault } from '../activities/engine/errors.js';
import { checkThresholds, FENCE, PERMANENT_SQLSTATES, scrubCredentials, toLibpqUrl } from './metadata-db.js';
import type {
  AssetStateProducer,
  PerStore,
  StateSizeStats,
  StateStoreDbPort,
  StateStoreSizes,
  TaskStateProducer,
} from '../activities/state-store-ports.js';

/** The start of `json.dumps({"__airflow_state_ref__": ref})`; '!' escapes LIKE's `_` wildcard. */
export const MARKER_LIKE = '{"!_!_airflow!_state!_ref!_!_": %';
/** A marker whose ref is a URL (scheme://...): an object ref. An inline ref is JSON text, never a scheme. */
export const OBJECT_REF_REGEX = '^\\{"__airflow_state_ref__": "[A-Za-z][A-Za-z0-9+.-]*://';

export interface StoreSql {
  from: string;
  producerCols: string;
  producerJson: string;
}

export const TASK: StoreSql = {
  from: 'task_state_store s',
  producerCols: 's.dag_id AS p1, s.task_id AS p2, s.key AS p3',
  producerJson: `json_build_object('dagId', p1, 'taskId', p2, 'key', p3, 'rows', n, 'maxBytes', mx, 'totalBytes', total)`,
};

export const ASSET: StoreSql = {
  // The name is what people know an asset by; the id alone would mean nothing in a report.
  from: 'asset_state_store s LEFT JOIN asset a ON a.id = s.asset_id',
  producerCols: 'a.name AS p1, NULL::text AS p2, s.key AS p3',
  producerJson: `json_build_object('assetName', p1, 'key', p3, 'rows', n, 'maxBytes', mx, 'totalBytes', total)`,
};

/**
 * One parallel-safe scan per table, everything else computed from its grouped result in the same
 * statement (as adapters/metadata-db.ts does for XCom, issue #14): a `GROUP BY` over (size,
 * wrapped, object ref, producer) with counts, which PostgreSQL can run as a Partial HashAggregate
 * in each parallel worker; then the exact percentile_disc quantiles (the smallest size whose
 * cumulative count reaches rank ceil(f * N), PostgreSQL's own rule), the totals, the wrapped
 * counts, the top producers and the size bands from that result. percentile_disc itself is an
 * ordered-set aggregate: not parallel-safe, and a sort of every size. Wrapped rows keep neither
 * size nor producer (they are only counted), and only they pay for the object-ref regex. Each
 * row's value is tested once: the subquery r is not pulled up into g (FENCE, see
 * adapters/metadata-db.ts), so `w` is a column, not a LIKE copied into every CASE.
 * $1 marker LIKE pattern, $2 object-ref regex, $3 producers to return.
 */
export function sizesSql(t: StoreSql): string {
  const disc = (f: string) => `(SELECT min(c.b) FROM c WHERE c.cum >= greatest(1, ceil(${f} * agg.n)))`;
  return `
    WITH g AS (
      SELECT CASE WHEN r.w THEN NULL ELSE r.b END AS b,
             r.w,
             r.w AND r.v ~ $2 AS o,
             CASE WHEN r.w THEN NULL ELSE r.p1 END AS p1,
             CASE WHEN r.w THEN NULL ELSE r.p2 END AS p2,
             CASE WHEN r.w THEN NULL ELSE r.p3 END AS p3,
             count(*)::int8 AS n
      FROM (SELECT octet_length(s.value) AS b,
                   s.value LIKE $1 ESCAPE '!' AS w,
                   s.value AS v,
                   ${t.producerCols},
                   ${FENCE}
            FROM ${t.from}) r
      GROUP BY 1, 2, 3, 4, 5, 6
    ),
    h AS (SELECT b, sum(n)::int8 AS n FROM g WHERE NOT w GROUP BY b),
    c AS (SELECT b, sum(n) OVER (ORDER BY b) AS cum FROM h),
    agg AS (
      SELECT coalesce(sum(n), 0)::int8 AS n,
             coalesce(max(b), 0)::int8 AS mx,
             coalesce(sum(b::int8 * n), 0)::int8 AS total
      FROM h
    ),
    qs AS (
      SELECT array_agg(${disc('u.f')} ORDER BY u.i) AS q
      FROM agg, unnest(ARRAY[0.5, 0.95, 0.99, 0.999]::float8[]) WITH ORDINALITY AS u(f, i)
      WHERE agg.n > 0
    ),
    wr AS (
      SELECT coalesce(sum(n), 0)::int8 AS n, coalesce(sum(n) FILTER (WHERE o), 0)::int8 AS obj FROM g WHERE w
    ),
    top AS (
      SELECT p1, p2, p3, sum(n)::int8 AS n, max(b)::int8 AS mx, sum(b::int8 * n)::int8 AS total
      FROM g WHERE NOT w
      GROUP BY p1, p2, p3
      ORDER BY mx DESC, n DESC, p1, p2, p3
      LIMIT $3
    ),
    bands AS (
      SELECT width_bucket(b::int8, ${SIZE_BAND_EDGES_SQL}) AS k, sum(n)::int8 AS n FROM h GROUP BY 1
    )
    SELECT agg.n, qs.q, agg.mx, agg.total, wr.n AS wrapped, wr.obj AS wrapped_obj,
           coalesce((SELECT json_agg(${t.producerJson} ORDER BY mx DESC, n DESC, p1, p2, p3) FROM top),
                    '[]'::json) AS top,
           coalesce((SELECT json_agg(json_build_array(k, n) ORDER BY k) FROM bands), '[]'::json) AS bands
    FROM agg, qs, wr`;
}

/** Portable: one CASE sum per threshold ($2..$n+1), plain rows only ($1 the marker pattern). */
export function countAtOrAboveSql(table: 'task_state_store' | 'asset_state_store', n: number): string {
  const cols = Array.from(
    { length: n },
    (_, i) => `sum(CASE WHEN octet_length(value) >= $${i + 2} THEN 1 ELSE 0 END) AS c${i}`,
  ).join(', ');
  return `SELECT ${cols} FROM ${table} WHERE NOT (value LIKE $1 ESCAPE '!')`;
}

/** $1 the marker pattern, $2 the lower bound on updated_at (NULL = no bound; the cast is PostgreSQL's). */
export const COUNT_MARKERS_SQL = `
    SELECT (SELECT count(*) FROM task_state_store
             WHERE value LIKE $1 ESCAPE '!' AND ($2::timestamptz IS NULL OR updated_at >= $2)) AS task,
           (SELECT count(*) FROM asset_state_store
             WHERE value LIKE $1 ESCAPE '!' AND ($2::timestamptz IS NULL OR updated_at >= $2)) AS asset`;

interface SizesRow {
  n: string;
  q: (number | string)[] | null;
  mx: string;
  total: string;
  wrapped: string;
  wrapped_obj: string;
  top: Record<string, string | number | null>[];
  bands: [string | number, string | number][] | null;
}

function statsFrom<P>(row: SizesRow | undefined, producer: (p: Record<string, string | number | null>) => P) {
  if (!row) throw new Error('the state store size query returned no row');
  const q = row.q ?? [0, 0, 0, 0];
  const wrapped = Number(row.wrapped);
  const objectRefs = Number(row.wrapped_obj);
  const stats: StateSizeStats<P> = {
    rowCount: Number(row.n),
    sizeBytes: {
      p50: Number(q[0] ?? 0),
      p95: Number(q[1] ?? 0),
      p99: Number(q[2] ?? 0),
      p999: Number(q[3] ?? 0),
      max: Number(row.mx),
    },
    totalBytes: Number(row.total),
    sizeBands: sizeBandsFrom(row.bands ?? []),
    wrapped: { rows: wrapped, inlineRefs: wrapped - objectRefs, objectRefs },
    topProducers: row.top.map(producer),
  };
  return stats;
}

function errorCode(err: unknown): string | undefined {
  return err && typeof err === 'object' && 'code' in err && typeof err.code === 'string'
    ? err.code
    : undefined;
}

export interface StateStoreDbOptions {
  statementTimeoutMs?: number;
  connectTimeoutMs?: number;
}

export type {
  AssetStateProducer,
  PerStore,
  StateSizeStats,
  StateStoreDbPort,
  StateStoreSizes,
  TaskStateProducer,
};

/**
 * The keys of the objects state rows reference, both tables, sorted in byte order. $1 marker LIKE,
 * $2 object-ref regex, $3 the reference regex of the path.
 */
const REFERENCED_KEYS_SQL = `
    SELECT DISTINCT ${KEY_OF_REF('r')} COLLATE "C" AS k
    FROM (SELECT (value::jsonb) ->> '__airflow_state_ref__' AS r
          FROM (SELECT value FROM task_state_store UNION ALL SELECT value FROM asset_state_store) u
          WHERE value LIKE $1 ESCAPE '!' AND value ~ $2 OFFSET 0) x
    WHERE r ~ $3
    ORDER BY k`;

export class PostgresStateStoreDb implements StateStoreDbPort {
  private readonly pool: pg.Pool;
  private closed = false;

  constructor(
    private readonly url: string,
    options: StateStoreDbOptions = {},
  ) {
    this.pool = new pg.Pool({
      connectionString: toLibpqUrl(url),
      max: 2,
      idleTimeoutMillis: 10_000,
      connectionTimeoutMillis: options.connectTimeoutMs ?? 10_000,
      application_name: 'cutover-calibrate-state-store',
      ...(options.statementTimeoutMs ? { statement_timeout: options.statementTimeoutMs } : {}),
    });
    // An idle client that loses its server must not crash the worker.
    this.pool.on('error', () => undefined);
  }

  async measureStateStoreSizes(opts: { topProducers?: number } = {}): Promise<StateStoreSizes> {
    const top = opts.topProducers ?? 5;
    const params = [MARKER_LIKE, OBJECT_REF_REGEX, top];
    // Two statements, not one: each table gets its own single scan and its own plan.
    const [task, asset] = await Promise.all([
      this.query<SizesRow>(sizesSql(TASK), params),
      this.query<SizesRow>(sizesSql(ASSET), params),
    ]);
    return {
      task: statsFrom(task.rows[0], (p) => ({
        dagId: String(p['dagId']),
        taskId: String(p['taskId']),
        key: String(p['key']),
        rows: Number(p['rows']),
        maxBytes: Number(p['maxBytes']),
        totalBytes: Number(p['totalBytes']),
      })),
      asset: statsFrom(asset.rows[0], (p) => ({
        assetName: p['assetName'] === null ? null : String(p['assetName']),
        key: String(p['key']),
        rows: Number(p['rows']),
        maxBytes: Number(p['maxBytes']),
        totalBytes: Number(p['totalBytes']),
      })),
    };
  }

  async countRowsAtOrAbove(thresholds: number[]): Promise<PerStore<number[]>> {
    if (thresholds.length === 0) return { task: [], asset: [] };
    checkThresholds(thresholds);
    const negative = thresholds.find((t) => t < 0);
    if (negative !== undefined) {
      // The state store backend raises on a negative threshold (it has no "never offload").
      throw new PermanentFault(`threshold ${negative} is negative: the state store backend refuses it`);
    }
    const read = async (table: 'task_state_store' | 'asset_state_store') => {
      const res = await this.query<Record<string, string | null>>(
        countAtOrAboveSql(table, thresholds.length),
        [MARKER_LIKE, ...thresholds],
      );
      const row = res.rows[0] ?? {};
      return thresholds.map((_, i) => Number(row[`c${i}`] ?? 0));
    };
    const [task, asset] = await Promise.all([read('task_state_store'), read('asset_state_store')]);
    return { task, asset };
  }

  async countMarkerRows(since?: Date): Promise<PerStore<number>> {
    const res = await this.query<{ task: string; asset: string }>(COUNT_MARKERS_SQL, [
      MARKER_LIKE,
      since ?? null,
    ]);
    const row = res.rows[0];
    return { task: Number(row?.task ?? 0), asset: Number(row?.asset ?? 0) };
  }

  /** The object keys state rows reference under `keyPrefix` in `bucket` (offloaded values), sorted. */
  async *referencedKeys(bucket: string, keyPrefix: string): AsyncIterable<string[]> {
    if (this.closed) throw new Error('the state store DB adapter is closed');
    for await (const page of cursorPages<{ k: string }>(
      this.pool,
      REFERENCED_KEYS_SQL,
      [MARKER_LIKE, OBJECT_REF_REGEX, referenceRegex('s3', bucket, keyPrefix)],
      (err) => this.translate(err),
    ))
      yield page.map((r) => r.k);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.pool.end();
  }

  private async query<R extends pg.QueryResultRow>(
    sql: string,
    params: unknown[],
  ): Promise<pg.QueryResult<R>> {
    if (this.closed) throw new Error('the state store DB adapter is closed');
    try {
      return await this.pool.query<R>(sql, params);
    } catch (err) {
      throw this.translate(err);
    }
  }

  private translate(err: unknown): Error {
    if (err instanceof PermanentFault) return err;
    const code = errorCode(err);
    const detail = scrubCredentials(err instanceof Error ? err.message : String(err), this.url);
    const permanent = code ? PERMANENT_SQLSTATES[code] : undefined;
    if (permanent) return new PermanentFault(`state store tables: ${permanent}: ${detail}`);
    const fault = new Error(`state store tables: query failed: ${detail}${code ? ` (${code})` : ''}`);
    fault.name = 'MetadataDbError';
    return fault;
  }
}
