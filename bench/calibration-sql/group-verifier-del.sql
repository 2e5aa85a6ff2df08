SELECT count(*), sum(n) FROM (SELECT m.b, count(*)::int8 AS n FROM
(SELECT CASE WHEN octet_length(v.t) = length(convert_to(v.t, 'UTF8'), 'UTF8') AND strpos(v.t, chr(127)) = 0 THEN octet_length(v.t) ELSE -1 END AS b
 FROM (SELECT value::text AS t, dag_id, task_id, CASE WHEN false THEN clock_timestamp() END AS fence FROM xcom WHERE value IS NOT NULL) v) m
GROUP BY 1) g
