SELECT count(*), sum(n) FROM (SELECT octet_length(value::text) b, count(*) n FROM xcom WHERE value IS NOT NULL GROUP BY 1) g
