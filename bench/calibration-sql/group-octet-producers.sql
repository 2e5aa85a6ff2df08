SELECT count(*), sum(n) FROM (SELECT m.b, m.dag_id, m.task_id, count(*)::int8 AS n FROM
(SELECT octet_length(v.t) AS b, CASE WHEN octet_length(v.t) > 8000 THEN v.dag_id END AS dag_id, CASE WHEN octet_length(v.t) > 8000 THEN v.task_id END AS task_id
 FROM (SELECT value::text AS t, dag_id, task_id, CASE WHEN false THEN clock_timestamp() END AS fence FROM xcom WHERE value IS NOT NULL) v) m
GROUP BY 1,2,3) g
