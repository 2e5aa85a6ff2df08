"""VERIFY probe for the state-store flip: resolve the state-store config in a component's own Python,
with its env as deployed plus the rendered env (extra_env, added by bootstrap.py).

Reads through Airflow's conf objects, never ``airflow config get-value`` (prints nothing and exits 0
for a key it cannot find). Two conf objects matter and both are read:

- the worker backend is looked up by the task SDK's conf (``airflow.sdk.configuration.conf``,
  airflow/sdk/execution_time/context.py:518), and the provider reads ``[common.io]`` through
  ``airflow.providers.common.compat.sdk.conf`` (= the SDK conf; backend.py:27);
- ``[state_store] backend`` is read by the server (Execution API) through
  ``airflow.configuration.conf`` (airflow/state/__init__.py:33).

Returns::

    {workerBackend, serverBackend, path, threshold, compression, workerBackendClass,
     serverBackendClass, versions: {apache-airflow, apache-airflow-task-sdk,
     apache-airflow-providers-common-io}, drafts: [{variable, problem, use}], problems: [str],
     error, host}

``error`` is "<Type>: <message>" for ANY exception while resolving; ``problems`` lists what would make
the flip fail or silently do nothing (draft names, the server store changed, a path that resolves to
'', a negative threshold, an Airflow without a state store). Values are config, never credentials:
the path's URL is reported without any password part.
"""

import os
import socket
from urllib.parse import urlsplit, urlunsplit

from state_store_common import BACKEND_CLASS, KEYS, METASTORE_CLASS, SECTION, draft_names

DISTS = ("apache-airflow", "apache-airflow-task-sdk", "apache-airflow-providers-common-io")


def _versions():
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for dist in DISTS:
        try:
            out[dist] = version(dist)
        except PackageNotFoundError:
            out[dist] = None
    return out


def _vtuple(text):
    parts = []
    for piece in (text or "0").split(".")[:3]:
        digits = "".join(ch for ch in piece if ch.isdigit())
        parts.append(int(digits or 0))
    return tuple(parts + [0] * (3 - len(parts)))


def _no_password(url):
    """The URL without a password (s3://conn_id@bucket/... carries none; user:pass@ forms might)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    if parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{parts.username}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def _import(path):
    from airflow.sdk._shared.module_loading import import_string

    return import_string(path)


def main(request, prior_env):
    out = {
        "workerBackend": None,
        "serverBackend": None,
        "path": None,
        "threshold": None,
        "compression": None,
        "workerBackendClass": None,
        "serverBackendClass": None,
        "versions": _versions(),
        "drafts": draft_names(),
        "problems": [],
        "error": None,
        "host": socket.gethostname(),
    }
    problems = out["problems"]
    for d in out["drafts"]:
        problems.append(f"{d['variable']}: {d['problem']}; use {d['use']}")

    airflow_v = out["versions"]["apache-airflow"]
    if airflow_v and _vtuple(airflow_v) < (3, 3, 0):
        problems.append(f"apache-airflow {airflow_v} has no task/asset state store (added in 3.3.0)")
    io_v = out["versions"]["apache-airflow-providers-common-io"]
    if io_v and _vtuple(io_v) < (1, 9, 0):
        problems.append(
            f"apache-airflow-providers-common-io {io_v}: the state-store backend needs >= 1.9.0 "
            "(none before 1.8.0; 1.8.x async methods raise NotImplementedError, so triggers cannot use it)"
        )

    step = "read config"
    try:
        from airflow.configuration import conf as core_conf
        from airflow.sdk.configuration import conf as sdk_conf

        out["workerBackend"] = sdk_conf.get("workers", "state_store_backend", fallback="") or ""
        out["serverBackend"] = core_conf.get("state_store", "backend", fallback=None)
        raw_path = sdk_conf.get(SECTION, "state_store_objectstorage_path", fallback=None)
        out["path"] = None if raw_path is None else _no_password(raw_path)
        step = "read threshold"
        out["threshold"] = sdk_conf.getint(SECTION, "state_store_objectstorage_threshold", fallback=0)
        out["compression"] = sdk_conf.get(SECTION, "state_store_objectstorage_compression", fallback="") or ""

        if out["workerBackend"]:
            step = "import [workers] state_store_backend"
            out["workerBackendClass"] = _qualname(_import(out["workerBackend"]))
        if out["serverBackend"]:
            step = "import [state_store] backend"
            out["serverBackendClass"] = _qualname(_import(out["serverBackend"]))
    except Exception as exc:  # noqa: BLE001 - ANY exception is the answer
        out["error"] = f"{type(exc).__name__} ({step}): {exc}"

    if out["serverBackend"] and out["serverBackendClass"] != METASTORE_CLASS and out["error"] is None:
        problems.append(
            f"[state_store] backend resolves to {out['serverBackend']}: the server-side store must stay "
            f"{METASTORE_CLASS} (the worker backend goes in [workers] state_store_backend)"
        )
    if out["workerBackendClass"] == BACKEND_CLASS:
        if not out["path"]:
            problems.append(
                f"[{SECTION}] state_store_objectstorage_path resolves to '' with the env as deployed "
                f"(set {KEYS[(SECTION, 'state_store_objectstorage_path')]}): every state write would fail"
            )
        if isinstance(out["threshold"], int) and out["threshold"] < 0:
            problems.append(
                f"[{SECTION}] state_store_objectstorage_threshold is {out['threshold']}: the backend raises "
                "ValueError for a negative threshold on every write"
            )
    elif out["workerBackend"] == "" and any(
        os.environ.get(KEYS[(SECTION, k)]) for k in ("state_store_objectstorage_path",)
    ):
        problems.append(
            "[common.io] state_store_objectstorage_* is set but [workers] state_store_backend is empty: "
            "nothing is offloaded"
        )
    return out


def _qualname(obj):
    return f"{getattr(obj, '__module__', '?')}.{getattr(obj, '__qualname__', getattr(obj, '__name__', '?'))}"


if __name__ == "__main__":  # python probes/state_store_resolve.py < request.json
    import runpy
    import sys

    sys.argv = [os.path.join(os.path.dirname(os.path.abspath(__file__)), "bootstrap.py"), os.path.abspath(__file__)]
    runpy.run_path(sys.argv[0], run_name="__main__")
