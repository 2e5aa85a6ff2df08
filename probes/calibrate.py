"""CALIBRATE probe (dossier section 1, in-pod access): run the calibration SQL through
Airflow's OWN database engine inside a component, for deployments where only the pods
can reach the metadata DB.

Executed by bootstrap.py, which calls ``main(request, prior_env)``. Request::

    {"statements": [{"sql": "SELECT ... $1 ...", "params": [[1600000]]}, ...]}

The SQL text is not written here: the worker sends exactly the statements the direct
adapter runs (adapters/metadata-db.ts exports them), so both ways of measuring give the
same figures by construction. Positional parameters ``$1..$n`` are bound through the
driver's own paramstyle; values never leave the database, only the aggregates do.

The statements run in ONE read-only transaction (``SET TRANSACTION READ ONLY``) on the
engine Airflow configured from ``[database] sql_alchemy_conn`` (airflow.settings), and
the transaction is rolled back at the end. Only PostgreSQL is supported: the statements
use convert_to, TABLESAMPLE and to_regclass.

Returns ``{"dialect", "driver", "results": [[row, ...], ...], "durationMs", "host"}``
with each row a {column: value} object, or, when the database refuses a statement or
cannot be reached, ``{"error": {"type", "message", "sqlstate"}}`` (the worker decides
whether retrying can help from the SQLSTATE). Messages never carry the URL's password.
"""

import datetime
import decimal
import re
import socket
import time
import uuid

_PARAM_MARKER = re.compile(r"\$(\d+)")


def _engine():
    from airflow import settings

    engine = getattr(settings, "engine", None)
    if engine is None:  # a process that imported airflow without initialising the ORM
        settings.configure_orm()
        engine = settings.engine
    if engine is None:
        raise RuntimeError("airflow.settings configured no database engine in this component")
    return engine


def _bind(sql, params, paramstyle):
    """The statement with its $n parameter markers in the driver's paramstyle, and its argument list."""
    if paramstyle not in ("pyformat", "format"):
        raise NotImplementedError(f"the database driver uses paramstyle {paramstyle!r}; expected pyformat or format")
    order = []

    def repl(m):
        index = int(m.group(1))
        if index < 1 or index > len(params):
            raise ValueError(f"the statement uses ${index} but {len(params)} parameter(s) were sent")
        order.append(params[index - 1])
        return "%s"

    if not _PARAM_MARKER.search(sql):
        return sql, None  # executed with no_parameters: the driver leaves % alone
    # With parameters a literal % starts a parameter marker for these drivers: double it first.
    bound = _PARAM_MARKER.sub(repl, sql.replace("%", "%%"))
    return bound, tuple(order)


def _jsonable(value):
    if isinstance(value, decimal.Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (datetime.date, datetime.datetime, datetime.time, uuid.UUID)):
        return str(value)
    if isinstance(value, memoryview):
        return value.tobytes().hex()
    return value


def _scrub(text, url):
    text = str(text)
    password = getattr(url, "password", None)
    if password:
        text = text.replace(str(password), "***")
    return re.sub(r"([a-z][a-z0-9+.-]*://[^:/@\s]*):[^@\s]*@", r"\1:***@", text, flags=re.IGNORECASE)


def _sqlstate(exc):
    orig = getattr(exc, "orig", None) or exc
    for attr in ("pgcode", "sqlstate"):
        code = getattr(orig, attr, None)
        if isinstance(code, str) and code:
            return code
    diag = getattr(orig, "diag", None)
    code = getattr(diag, "sqlstate", None)
    return code if isinstance(code, str) and code else None


def main(request, prior_env):
    statements = request.get("statements")
    if not isinstance(statements, list) or not statements:
        raise ValueError("the request needs a non-empty 'statements' list")
    for i, st in enumerate(statements):
        if not isinstance(st, dict) or not isinstance(st.get("sql"), str) or not st["sql"].strip():
            raise ValueError(f"statement #{i} has no 'sql' text")
        if not isinstance(st.get("params", []), list):
            raise ValueError(f"statement #{i}: 'params' must be a list")

    engine = _engine()
    dialect = engine.dialect
    out = {"dialect": dialect.name, "driver": dialect.driver, "host": socket.gethostname()}
    if dialect.name != "postgresql":
        raise NotImplementedError(
            f"in-pod calibration supports PostgreSQL metadata DBs only; this component's "
            f"[database] sql_alchemy_conn uses {dialect.name}+{dialect.driver}"
        )
    paramstyle = getattr(dialect, "paramstyle", None) or getattr(dialect.dbapi, "paramstyle", "pyformat")

    from sqlalchemy.exc import DBAPIError

    started = time.monotonic()
    results = []
    try:
        with engine.connect() as conn:
            trans = conn.begin()
            try:
                conn.exec_driver_sql("SET TRANSACTION READ ONLY")
                for st in statements:
                    sql, args = _bind(st["sql"], st.get("params") or [], paramstyle)
                    if args is None:  # cursor.execute(sql) with no parameter mapping at all
                        cursor = conn.execution_options(no_parameters=True).exec_driver_sql(sql)
                    else:
                        cursor = conn.exec_driver_sql(sql, args)
                    columns = list(cursor.keys())
                    results.append([{c: _jsonable(v) for c, v in zip(columns, row)} for row in cursor.fetchall()])
            finally:
                trans.rollback()  # read-only: nothing to keep
    except DBAPIError as exc:
        orig = getattr(exc, "orig", None) or exc
        message = str(orig).strip().splitlines()[0] if str(orig).strip() else type(orig).__name__
        out["error"] = {
            "type": type(orig).__name__,
            "message": _scrub(message, engine.url),
            "sqlstate": _sqlstate(exc),
            "connectionInvalidated": bool(getattr(exc, "connection_invalidated", False)),
        }
        return out
    out["results"] = results
    out["durationMs"] = int(round((time.monotonic() - started) * 1000))
    return out


if __name__ == "__main__":  # python probes/calibrate.py < request.json
    import os
    import runpy
    import sys

    sys.argv = [os.path.join(os.path.dirname(os.path.abspath(__file__)), "bootstrap.py"), os.path.abspath(__file__)]
    runpy.run_path(sys.argv[0], run_name="__main__")
