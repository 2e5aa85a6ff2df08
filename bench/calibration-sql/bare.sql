SELECT sum(octet_length(value::text)) FROM xcom
