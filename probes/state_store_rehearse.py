"""REHEARSE probe for the state-store flip: the break and the heal, inside an Airflow component, with the
env exactly as it would be deployed (added by bootstrap.py for this process only).

What runs is the task SDK's own code: ``TaskStateStoreAccessor`` and ``AssetStateStoreAccessor``
(airflow/sdk/execution_time/context.py), which call the configured worker backend, wrap every value in
``{"__airflow_state_ref__": <ref>}`` and send it to the supervisor. Only the transport is replaced: a
stand-in for ``SUPERVISOR_COMMS`` answers each message the way the Execution API routes do, through
the SERVER-side store ``airflow.state.get_state_backend()`` (``[state_store] backend``):
set = ``backend.set(scope, key, json.dumps(value))``, get = ``json.loads(backend.get(scope, key))``
(api_fastapi/execution_api/routes/task_state_store.py:69-90, asset_state_store.py:117-159). The value
crosses that stand-in as JSON, as it crosses msgpack + HTTP in a real task.

1. Resolve [workers] state_store_backend, [state_store] backend and [common.io] state_store_* through
   conf; refuse when no worker backend is configured or its path resolves to ''.
2. Check the bucket exists and these credentials reach it (the backend would create it).
3. Create a sentinel dag run (dag_id ``_cutover_state_rehearsal``, state success: the scheduler
   ignores finished runs) and a sentinel asset: the state tables have foreign keys to both.
4. Write a small value (request.small_bytes, default 20) and a large one (request.large_bytes,
   default threshold + 64 KiB) as task state, and the same pair as asset state, through the accessors.
5. Check the DB rows: every row holds the marker; the small ref is the JSON text, the large ref an
   object path under the base path, and the object exists.
6. Read back through the accessors with the backend configured: the values round-trip.
7. REVERT: with ``[workers] state_store_backend`` emptied, the accessors return the marker dicts
   (break confirmed).
8. HEAL: rewrite each marker row with its resolved value (state_store_common.heal_stored_text); with
   the backend still unset the accessors now return the real values (heal confirmed), and with it set
   again they still do (a healed row reads fine after a re-flip).
9. finally: delete the objects, the rows, the sentinel asset and dag run, and confirm all are gone.

Returns ``{valueBytes: {small, large}, threshold, objectPaths, rows, checks: {offloaded, markerInDb,
roundTripIntact, breakConfirmed, healConfirmed, readableAfterReflip, cleaned}, timingsMs, error,
sentinelWritten, host}``; ``error`` is {step, type, message, code, httpStatus} or null.
"""

import json
import os
import re
import socket
import time
import uuid

from state_store_common import MARKER, SECTION, heal_stored_text, is_marker, object_storage_path
from store_errors import BAD_CREDENTIAL_CODES, DENIED_CODES, require_bucket, service_error

REHEARSAL_DAG = "_cutover_state_rehearsal"
SENTINEL_TASK = "sentinel"
WORKER_BACKEND_VAR = "AIRFLOW__WORKERS__STATE_STORE_BACKEND"


def _safe_segment(value):
    return re.sub(r"[^A-Za-z0-9._-]", "_", str(value)) or "run"


def _error(step, exc, conn_id):
    code, status = service_error(exc)
    message = str(exc)
    if code or status:
        said = ", ".join(x for x in (f"error {code}" if code else "", f"HTTP {status}" if status else "") if x)
        message += f" (store answered {said})"
    whose = f"connection {conn_id}" if conn_id else "the default credential chain"
    if code in BAD_CREDENTIAL_CODES:
        message += f"; the object store does not accept the credentials {whose} supplies"
    elif code in DENIED_CODES:
        message += f"; the credentials {whose} supplies are accepted but not allowed to do this"
    return {
        "step": step,
        "type": type(exc).__name__,
        "message": message,
        "code": code,
        "httpStatus": status if isinstance(status, int) else None,
    }


def _value_of_size(tag, n_bytes):
    """A dict whose json.dumps is exactly n_bytes long when n_bytes allows (the backend's own measure)."""
    key = tag[:1]
    overhead = len(json.dumps({key: ""}).encode("utf-8"))
    n = max(0, n_bytes - overhead)
    payload = os.urandom(n // 2 + 1).hex()[:n]  # random hex: barely compressible, like real payloads
    value = {key: payload}
    return value, len(json.dumps(value).encode("utf-8"))


class _ExecutionApiComms:
    """Stands in for SUPERVISOR_COMMS: answers state messages as the supervisor + Execution API would."""

    def __init__(self, scopes, writer):
        self._scopes = scopes  # ti_id -> TaskScope
        self._writer = writer  # (dag_id, run_id, task_id, map_index) recorded on asset rows

    def send(self, msg):
        from airflow.sdk.exceptions import ErrorType
        from airflow.sdk.execution_time import comms
        from airflow.state import AssetScope, get_state_backend
        from airflow.state.metastore import MetastoreBackend

        from airflow.state import TaskScope

        backend = get_state_backend()
        # The server's own scope class: airflow.state.TaskScope is airflow._shared.state.TaskScope, a
        # different class from the SDK's (airflow.sdk._shared.state), and the metastore matches on it.
        ti_scope = self._scopes.get(getattr(msg, "ti_id", None))
        if ti_scope is not None:
            ti_scope = TaskScope(ti_scope.dag_id, ti_scope.run_id, ti_scope.task_id, ti_scope.map_index)
        # The value as the Execution API receives it: JSON over the wire.
        wire = json.loads(msg.model_dump_json())
        if isinstance(msg, comms.SetTaskStateStore):
            backend.set(ti_scope, msg.key, json.dumps(wire["value"]), expires_at=msg.expires_at)
            return comms.OKResponse(ok=True)
        if isinstance(msg, comms.GetTaskStateStore):
            text = backend.get(ti_scope, msg.key)
            if text is None:
                return comms.ErrorResponse(error=ErrorType.TASK_STORE_NOT_FOUND)
            return comms.TaskStateStoreResult(value=json.loads(text))
        if isinstance(msg, comms.SetAssetStateStoreByName):
            scope = AssetScope(asset_id=_asset_id(msg.name))
            text = json.dumps(wire["value"])
            if isinstance(backend, MetastoreBackend):  # as _put_asset_state_store does for a task's token
                from airflow._shared.state import AssetStateStoreWriterKind

                dag_id, run_id, task_id, map_index = self._writer
                backend.set_asset_state_store(
                    scope,
                    msg.key,
                    text,
                    kind=AssetStateStoreWriterKind.TASK,
                    dag_id=dag_id,
                    run_id=run_id,
                    task_id=task_id,
                    map_index=map_index,
                )
            else:
                backend.set(scope, msg.key, text)
            return comms.OKResponse(ok=True)
        if isinstance(msg, comms.GetAssetStateStoreByName):
            text = backend.get(AssetScope(asset_id=_asset_id(msg.name)), msg.key)
            if text is None:
                return comms.ErrorResponse(error=ErrorType.ASSET_STORE_NOT_FOUND)
            return comms.AssetStateStoreResult(value=json.loads(text))
        raise TypeError(f"the rehearsal does not send {type(msg).__name__}")


def _asset_id(name):
    """The asset id by name (the route also requires an active asset; the sentinel is never activated)."""
    from sqlalchemy import select

    from airflow.models.asset import AssetModel
    from airflow.utils.session import create_session

    with create_session() as session:
        asset_id = session.scalar(select(AssetModel.id).where(AssetModel.name == name))
    if asset_id is None:
        raise LookupError(f"sentinel asset {name!r} not found")
    return asset_id


def _create_sentinels(run_id, asset_name):
    from airflow.models.asset import AssetModel
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session
    from airflow.utils.state import DagRunState
    from airflow.utils.types import DagRunType

    with create_session() as session:
        session.add(DagRun(dag_id=REHEARSAL_DAG, run_id=run_id, run_type=DagRunType.MANUAL, state=DagRunState.SUCCESS))
        session.add(AssetModel(name=asset_name, uri=f"cutover-rehearsal://{asset_name}", group="cutover"))


def _db_rows(run_id, asset_name):
    """{'task:<key>' | 'asset:<key>': value text} for the sentinel rows."""
    from sqlalchemy import select

    from airflow.models.asset import AssetModel
    from airflow.models.asset_state_store import AssetStateStoreModel
    from airflow.models.task_state_store import TaskStateStoreModel
    from airflow.utils.session import create_session

    out = {}
    with create_session() as session:
        for key, value in session.execute(
            select(TaskStateStoreModel.key, TaskStateStoreModel.value).where(
                TaskStateStoreModel.dag_id == REHEARSAL_DAG, TaskStateStoreModel.run_id == run_id
            )
        ):
            out[f"task:{key}"] = value
        for key, value in session.execute(
            select(AssetStateStoreModel.key, AssetStateStoreModel.value)
            .join(AssetModel, AssetModel.id == AssetStateStoreModel.asset_id)
            .where(AssetModel.name == asset_name)
        ):
            out[f"asset:{key}"] = value
    return out


def _heal_rows(run_id, asset_name):
    """Rewrite every sentinel row holding a marker with its resolved value; returns how many were healed."""
    from sqlalchemy import select

    from airflow.models.asset import AssetModel
    from airflow.models.asset_state_store import AssetStateStoreModel
    from airflow.models.task_state_store import TaskStateStoreModel
    from airflow.utils.session import create_session

    healed = 0
    with create_session() as session:
        rows = list(
            session.scalars(
                select(TaskStateStoreModel).where(
                    TaskStateStoreModel.dag_id == REHEARSAL_DAG, TaskStateStoreModel.run_id == run_id
                )
            )
        ) + list(
            session.scalars(
                select(AssetStateStoreModel)
                .join(AssetModel, AssetModel.id == AssetStateStoreModel.asset_id)
                .where(AssetModel.name == asset_name)
            )
        )
        for row in rows:
            new_text, _ref = heal_stored_text(row.value)
            if new_text is not None:
                row.value = new_text
                healed += 1
    return healed


def _drop_sentinels(run_id, asset_name):
    from sqlalchemy import delete, func, select

    from airflow.models.asset import AssetModel
    from airflow.models.asset_state_store import AssetStateStoreModel
    from airflow.models.dagrun import DagRun
    from airflow.models.task_state_store import TaskStateStoreModel
    from airflow.utils.session import create_session

    with create_session() as session:
        asset_ids = list(session.scalars(select(AssetModel.id).where(AssetModel.name == asset_name)))
        session.execute(
            delete(TaskStateStoreModel).where(
                TaskStateStoreModel.dag_id == REHEARSAL_DAG, TaskStateStoreModel.run_id == run_id
            )
        )
        if asset_ids:
            session.execute(delete(AssetStateStoreModel).where(AssetStateStoreModel.asset_id.in_(asset_ids)))
            session.execute(delete(AssetModel).where(AssetModel.id.in_(asset_ids)))
        session.execute(delete(DagRun).where(DagRun.dag_id == REHEARSAL_DAG, DagRun.run_id == run_id))
    with create_session() as session:
        counts = [
            select(func.count())
            .select_from(TaskStateStoreModel)
            .where(TaskStateStoreModel.dag_id == REHEARSAL_DAG, TaskStateStoreModel.run_id == run_id),
            select(func.count()).select_from(AssetModel).where(AssetModel.name == asset_name),
            select(func.count()).select_from(DagRun).where(DagRun.dag_id == REHEARSAL_DAG, DagRun.run_id == run_id),
        ]
        left = sum(session.scalar(q) for q in counts)
    return left == 0


def main(request, prior_env):
    if request.get("secrets_context", "server") == "server":
        # Connections looked up as the scheduler / API server do (env vars, then the DB); see rehearse.py.
        os.environ.setdefault("_AIRFLOW_PROCESS_CONTEXT", "server")
    timings = {}
    checks = {
        "offloaded": False,
        "markerInDb": False,
        "roundTripIntact": False,
        "breakConfirmed": False,
        "healConfirmed": False,
        "readableAfterReflip": False,
        "cleaned": False,
    }
    out = {
        "valueBytes": {"small": 0, "large": 0},
        "threshold": None,
        "expectInline": {},
        "objectPaths": [],
        "rows": {},
        "checks": checks,
        "timingsMs": timings,
        "error": None,
        "sentinelWritten": False,
        "host": socket.gethostname(),
    }
    run_id = f"rehearsal__{_safe_segment(request.get('run_id') or 'run')}"
    asset_name = f"_cutover_state_rehearsal_{_safe_segment(request.get('run_id') or 'run')}"
    clock = [time.monotonic()]

    def lap(name):
        now = time.monotonic()
        timings[name] = int(round((now - clock[0]) * 1000))
        clock[0] = now

    step = "resolve config"
    conn_id = None
    backend = None
    sentinels = False
    task_scope = None
    asset_scope = None
    saved_comms = None
    tr = None
    try:
        from airflow.sdk.configuration import conf
        from airflow.sdk.execution_time import task_runner as tr
        from airflow.sdk.execution_time.context import (
            AssetStateStoreAccessor,
            TaskStateStoreAccessor,
            _get_worker_state_store_backend,
        )
        from airflow.sdk.state import AssetScope, TaskScope

        _get_worker_state_store_backend.cache_clear()
        backend = _get_worker_state_store_backend()
        if backend is None:
            raise ValueError(
                "[workers] state_store_backend resolves to '' with the env as deployed: "
                "the SDK would write every value to the database as it is"
            )
        path = conf.get(SECTION, "state_store_objectstorage_path", fallback="")
        threshold = conf.getint(SECTION, "state_store_objectstorage_threshold", fallback=0)
        out["threshold"] = threshold
        if not path:
            raise ValueError(
                f"[{SECTION}] state_store_objectstorage_path resolves to '' with the env as deployed: "
                "every state write would fail"
            )
        lap("resolveConfig")

        step = "check bucket"
        base = object_storage_path(path)
        conn_id = base.conn_id
        base_str = str(base).rstrip("/") + "/"
        if base.protocol in ("s3", "s3a", "s3n"):
            require_bucket(base.fs, str(base.path).strip("/").split("/")[0])
        lap("checkBucket")

        step = "create sentinel dag run and asset"
        _create_sentinels(run_id, asset_name)
        sentinels = True
        lap("createSentinels")

        step = "build values"
        small, out["valueBytes"]["small"] = _value_of_size("small", int(request.get("small_bytes") or 20))
        large, out["valueBytes"]["large"] = _value_of_size(
            "large", int(request.get("large_bytes") or (max(threshold, 0) + 64 * 1024))
        )
        values = {"small": small, "large": large}
        # The backend keeps a value inline when its JSON is shorter than the threshold (backend.py:210),
        # so threshold 0 offloads the small one too: expected, not an error.
        expect_inline = {k: out["valueBytes"][k] < threshold for k in values}
        out["expectInline"] = expect_inline

        ti_id = uuid.uuid4()
        task_scope = TaskScope(dag_id=REHEARSAL_DAG, run_id=run_id, task_id=SENTINEL_TASK, map_index=-1)
        asset_scope = AssetScope(name=asset_name)
        saved_comms = getattr(tr, "SUPERVISOR_COMMS", None)
        tr.SUPERVISOR_COMMS = _ExecutionApiComms({ti_id: task_scope}, (REHEARSAL_DAG, run_id, SENTINEL_TASK, -1))
        task_state = TaskStateStoreAccessor(ti_id=ti_id, scope=task_scope)
        asset_state = AssetStateStoreAccessor(name=asset_name)
        lap("buildValues")

        step = "write through the SDK accessors"
        out["sentinelWritten"] = True  # from here on objects may exist, even if a call fails
        for key, value in values.items():
            task_state.set(key, value)
            asset_state.set(key, value)
        lap("write")

        step = "check the DB rows"
        rows = _db_rows(run_id, asset_name)
        summary = {}
        marker_ok = len(rows) == 4
        offloaded = True
        for name, text in sorted(rows.items()):
            stored = json.loads(text)
            ref = stored.get(MARKER) if is_marker(stored) else None
            kind, key = name.split(":", 1)
            inline = ref is not None and not ref.startswith(base_str)
            summary[name] = {
                "marker": ref is not None,
                "storedBytes": len(text.encode("utf-8")),
                "ref": "inline JSON" if inline else ref,
            }
            if ref is None:
                marker_ok = False
            elif expect_inline[key]:
                marker_ok = marker_ok and inline and json.loads(ref) == values[key]
            else:
                exists = not inline and object_storage_path(ref).exists()
                offloaded = offloaded and exists
                if exists:
                    out["objectPaths"].append(ref)
        out["rows"] = summary
        checks["markerInDb"] = marker_ok
        checks["offloaded"] = offloaded and len(out["objectPaths"]) == 2 * sum(not v for v in expect_inline.values())
        lap("checkRows")

        step = "read back with the backend configured"
        checks["roundTripIntact"] = all(
            task_state.get(k) == v and asset_state.get(k) == v for k, v in values.items()
        )
        lap("backendRead")

        step = "read with [workers] state_store_backend unset (revert)"
        with _worker_backend_unset(_get_worker_state_store_backend):
            accessors = (("task", task_state), ("asset", asset_state))
            reverted = {f"{scope}:{k}": acc.get(k) for scope, acc in accessors for k in values}
        checks["breakConfirmed"] = all(is_marker(v) for v in reverted.values()) and len(reverted) == 4
        lap("revertRead")

        step = "heal the rows"
        healed = _heal_rows(run_id, asset_name)
        lap("heal")
        step = "read the healed rows with the backend unset"
        with _worker_backend_unset(_get_worker_state_store_backend):
            checks["healConfirmed"] = healed == 4 and all(
                task_state.get(k) == v and asset_state.get(k) == v for k, v in values.items()
            )
        lap("healedRead")
        step = "read the healed rows with the backend configured again"
        checks["readableAfterReflip"] = all(
            task_state.get(k) == v and asset_state.get(k) == v for k, v in values.items()
        )
        lap("reflipRead")
    except Exception as exc:  # noqa: BLE001 - reported with the step; cleanup still runs
        out["error"] = _error(step, exc, conn_id)
    finally:
        clock[0] = time.monotonic()
        problems = []
        if backend is not None and out["sentinelWritten"]:
            for scope in (task_scope, asset_scope):
                try:
                    if scope is not None:
                        backend.clear(scope)
                except Exception as exc:  # noqa: BLE001
                    problems.append(f"clearing objects of {scope}: {type(exc).__name__}: {exc}")
        for ref in out["objectPaths"]:
            try:
                if object_storage_path(ref).exists():
                    problems.append(f"{ref} still exists")
            except Exception as exc:  # noqa: BLE001
                problems.append(f"checking {ref}: {type(exc).__name__}: {exc}")
        if sentinels:
            try:
                if not _drop_sentinels(run_id, asset_name):
                    problems.append("sentinel rows remain in the metadata DB")
            except Exception as exc:  # noqa: BLE001
                problems.append(f"dropping sentinel rows: {type(exc).__name__}: {exc}")
        if tr is not None:
            tr.SUPERVISOR_COMMS = saved_comms
        checks["cleaned"] = not problems
        lap("cleanup")
        if problems and out["error"] is None:
            out["error"] = {"step": "cleanup", "type": "CleanupFailed", "message": "; ".join(problems)}
    return out


class _worker_backend_unset:
    """[workers] state_store_backend emptied for this process (env beats airflow.cfg), cache cleared."""

    def __init__(self, resolver):
        self._resolver = resolver
        self._saved = None

    def __enter__(self):
        self._saved = os.environ.get(WORKER_BACKEND_VAR)
        os.environ[WORKER_BACKEND_VAR] = ""
        self._resolver.cache_clear()
        if self._resolver() is not None:
            raise RuntimeError("could not unset [workers] state_store_backend for the revert read")
        return self

    def __exit__(self, *exc):
        if self._saved is None:
            os.environ.pop(WORKER_BACKEND_VAR, None)
        else:
            os.environ[WORKER_BACKEND_VAR] = self._saved
        self._resolver.cache_clear()
        return False


if __name__ == "__main__":  # python probes/state_store_rehearse.py < request.json
    import runpy
    import sys

    sys.argv = [os.path.join(os.path.dirname(os.path.abspath(__file__)), "bootstrap.py"), os.path.abspath(__file__)]
    runpy.run_path(sys.argv[0], run_name="__main__")
