
      WITH g AS (
        SELECT m.b, m.k, m.dag_id, m.task_id, count(*)::int8 AS n
        FROM (SELECT (octet_length(v.t)::int8 + CASE
        WHEN CASE WHEN octet_length(v.t) < 256 THEN octet_length(v.t) = char_length(v.t) ELSE octet_length(v.t) = length(convert_to(v.t, 'UTF8'), 'UTF8') END AND strpos(v.t, chr(127)) = 0 THEN 0
        ELSE 4 * (octet_length(v.t) - length(convert_to(v.t, 'UTF8'), 'UTF8'))
             + octet_length(regexp_replace(v.t, '[^\u0800-\U0010ffff]', '', 'g')) - 8 * char_length(regexp_replace(v.t, '[^\u0800-\U0010ffff]', '', 'g'))
             + 5 * (octet_length(v.t) - octet_length(replace(v.t, chr(127), '')))
      END) AS b, 'j'::text AS k,
                CASE WHEN octet_length(v.t) > 8000 THEN v.dag_id END AS dag_id,
                CASE WHEN octet_length(v.t) > 8000 THEN v.task_id END AS task_id
         FROM (SELECT unnest(ARRAY[value::text]) AS t, dag_id, task_id
               FROM public.xcom WHERE value IS NOT NULL) v) m
        GROUP BY 1, 2, 3, 4
      ),
      h AS (SELECT b, sum(n)::int8 AS n FROM g WHERE k = 'j' GROUP BY b),
      c AS (SELECT b, sum(n) OVER (ORDER BY b) AS cum FROM h),
      tot AS (
        SELECT coalesce(sum(n), 0)::int8 AS n,
               coalesce(max(b), 0)::int8 AS mx,
               coalesce(sum(n) FILTER (WHERE b > 48000), 0)::int8 AS above_48kb,
               coalesce(sum(n) FILTER (WHERE b > 100000), 0)::int8 AS above_100kb,
               coalesce(sum(n) FILTER (WHERE b > 1000000), 0)::int8 AS above_1mb
        FROM h
      ),
      qs AS (
        SELECT array_agg((SELECT min(c.b) FROM c WHERE c.cum >= greatest(1, ceil(u.f * tot.n))) ORDER BY u.i) AS q
        FROM tot, unnest(ARRAY[0.5, 0.95, 0.99, 0.999]::float8[]) WITH ORDINALITY AS u(f, i)
        WHERE tot.n > 0
      ),
      th AS (
        SELECT u.i,
               CASE WHEN u.fig = 0 THEN u.v
                    ELSE (coalesce((qs.q || tot.mx)[u.fig], 0) / u.v + 1) * u.v END AS v
        FROM tot, qs, unnest('{100000}'::int8[], '{4}'::int4[]) WITH ORDINALITY AS u(v, fig, i)
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
        WHERE k = 'j' AND b > 48000 AND dag_id IS NOT NULL
        GROUP BY dag_id, task_id
        ORDER BY n DESC, mx DESC, dag_id, task_id
        LIMIT 5
      ),
      bands AS (
        SELECT width_bucket(b, ARRAY[1,2,4,8,16,32,64,128,256,512,1024,2048,4096,8192,16384,32768,65536,131072,262144,524288,1048576,2097152,4194304,8388608,16777216,33554432,67108864,134217728,268435456,536870912,1073741824,2147483648,4294967296,8589934592,17179869184,34359738368,68719476736,137438953472,274877906944,549755813888,1099511627776]::int8[]) AS k, sum(n)::int8 AS n FROM h GROUP BY 1
      )
      SELECT tot.n, qs.q, tot.mx, tot.above_48kb, tot.above_100kb, tot.above_1mb,
             coalesce((SELECT json_agg(json_build_object('dagId', dag_id, 'taskId', task_id, 'rows', n, 'maxBytes', mx)
                                       ORDER BY n DESC, mx DESC, dag_id, task_id)
                       FROM top), '[]'::json) AS top,
             coalesce((SELECT json_agg(json_build_array(k, n) ORDER BY k) FROM bands), '[]'::json) AS bands,
             off.thresholds AS off_th, off.rows AS off_n
      FROM tot, qs, off
