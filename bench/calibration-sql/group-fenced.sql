SELECT count(*), sum(n) FROM (SELECT m.b, m.k, m.dag_id, m.task_id, count(*)::int8 AS n FROM
(SELECT (octet_length(v.t)::int8 + CASE
        WHEN CASE WHEN octet_length(v.t) < 256 THEN octet_length(v.t) = char_length(v.t) ELSE octet_length(v.t) = length(convert_to(v.t, 'UTF8'), 'UTF8') END AND strpos(v.t, chr(127)) = 0 THEN 0
        ELSE 4 * (octet_length(v.t) - length(convert_to(v.t, 'UTF8'), 'UTF8'))
             + octet_length(regexp_replace(v.t, '[^\u0800-\U0010ffff]', '', 'g')) - 8 * char_length(regexp_replace(v.t, '[^\u0800-\U0010ffff]', '', 'g'))
             + 5 * (octet_length(v.t) - octet_length(replace(v.t, chr(127), '')))
      END) AS b, 'j'::text AS k,
   CASE WHEN octet_length(v.t) > 8000 THEN v.dag_id END AS dag_id,
   CASE WHEN octet_length(v.t) > 8000 THEN v.task_id END AS task_id
 FROM (SELECT value::text AS t, dag_id, task_id, CASE WHEN false THEN clock_timestamp() END AS fence FROM xcom WHERE value IS NOT NULL) v) m
GROUP BY 1,2,3,4) g
