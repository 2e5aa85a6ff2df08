/**
 * The statement CALIBRATE ran before issue #14 (percentile_disc over the materialised sizes: an
 * ordered-set aggregate, so one serial scan and a sort of every size), kept as the reference the
 * one-scan statement is compared with (test/calibration-scan.test.ts) and timed against
 * (bench/calibration.ts). `size` is the size expression over the xcom row.
 */
import { SIZE_BAND_EDGES_SQL } from '../../domain/evidence.js';

export function percentileDiscSql(size: string, table = 'public.xcom'): string {
  return `
      WITH s AS MATERIALIZED (
        SELECT b,
               CASE WHEN b > 48000 THEN dag_id END AS dag_id,
               CASE WHEN b > 48000 THEN task_id END AS task_id
        FROM (SELECT ${size} AS b, dag_id, task_id FROM ${table} WHERE value IS NOT NULL OFFSET 0) m
      ),
      agg AS (
        SELECT count(*)::int8 AS n,
               percentile_disc(ARRAY[0.5, 0.95, 0.99, 0.999]::float8[]) WITHIN GROUP (ORDER BY b) AS q,
               coalesce(max(b), 0)::int8 AS mx,
               count(*) FILTER (WHERE b > 48000)::int8 AS above_48kb,
               count(*) FILTER (WHERE b > 100000)::int8 AS above_100kb,
               count(*) FILTER (WHERE b > 1000000)::int8 AS above_1mb
        FROM s
      ),
      top AS (
        SELECT dag_id, task_id, count(*)::int8 AS n, max(b)::int8 AS mx
        FROM s WHERE dag_id IS NOT NULL
        GROUP BY dag_id, task_id
        ORDER BY n DESC, mx DESC, dag_id, task_id
        LIMIT 5
      ),
      bands AS (
        SELECT width_bucket(b::int8, ${SIZE_BAND_EDGES_SQL}) AS k, count(*)::int8 AS n FROM s GROUP BY 1
      )
      SELECT agg.n, agg.q, agg.mx, agg.above_48kb, agg.above_100kb, agg.above_1mb,
             coalesce((SELECT json_agg(json_build_object('dagId', dag_id, 'taskId', task_id, 'rows', n, 'maxBytes', mx)
                                       ORDER BY n DESC, mx DESC, dag_id, task_id)
                       FROM top), '[]'::json) AS top,
             coalesce((SELECT json_agg(json_build_array(k, n) ORDER BY k) FROM bands), '[]'::json) AS bands
      FROM agg`;
}
