/**
 * The statement the state store's CALIBRATE ran before it moved to the parallel-safe GROUP BY
 * (percentile_disc over the materialised sizes: an ordered-set aggregate, so one serial scan and
 * a sort of every size), kept as the reference test/state-store-scan.test.ts compares the new
 * one with. `t` is adapters/state-store-db.ts's store (its FROM and producer columns).
 */
import { SIZE_BAND_EDGES_SQL } from '../../domain/evidence.js';
import type { StoreSql } from '../../adapters/state-store-db.js';

export function stateSizesPercentileDiscSql(t: StoreSql): string {
  return `
    WITH m AS MATERIALIZED (
      SELECT b, w, o, p1, p2, p3
      FROM (SELECT octet_length(s.value) AS b,
                   s.value LIKE $1 ESCAPE '!' AS w,
                   s.value ~ $2 AS o,
                   ${t.producerCols}
            FROM ${t.from} OFFSET 0) r
    ),
    agg AS (
      SELECT count(*)::int8 AS n,
             percentile_disc(ARRAY[0.5, 0.95, 0.99, 0.999]::float8[]) WITHIN GROUP (ORDER BY b) AS q,
             coalesce(max(b), 0)::int8 AS mx,
             coalesce(sum(b), 0)::int8 AS total
      FROM m WHERE NOT w
    ),
    wr AS (
      SELECT count(*)::int8 AS n, count(*) FILTER (WHERE o)::int8 AS obj FROM m WHERE w
    ),
    top AS (
      SELECT p1, p2, p3, count(*)::int8 AS n, max(b)::int8 AS mx, sum(b)::int8 AS total
      FROM m WHERE NOT w
      GROUP BY p1, p2, p3
      ORDER BY mx DESC, n DESC, p1, p2, p3
      LIMIT $3
    ),
    bands AS (
      SELECT width_bucket(b::int8, ${SIZE_BAND_EDGES_SQL}) AS k, count(*)::int8 AS n FROM m WHERE NOT w GROUP BY 1
    )
    SELECT agg.n, agg.q, agg.mx, agg.total, wr.n AS wrapped, wr.obj AS wrapped_obj,
           coalesce((SELECT json_agg(${t.producerJson} ORDER BY mx DESC, n DESC, p1, p2, p3) FROM top),
                    '[]'::json) AS top,
           coalesce((SELECT json_agg(json_build_array(k, n) ORDER BY k) FROM bands), '[]'::json) AS bands
    FROM agg, wr`;
}
