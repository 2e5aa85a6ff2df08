"""Writes task/asset state rows into an Airflow metadata DB through Airflow's OWN code paths.

Used by test/support/state-store.ts (tests and bench/state-store-heal.ts), run with the venv's
python and an env that configures the metadata DB and, for wrapped rows, the worker backend:
``[workers] state_store_backend`` and ``[common.io] state_store_objectstorage_*``.

Per value this does what a task's ``set()`` and the execution API's PUT route do, minus the
HTTP hop between them:

- worker side (airflow/sdk/execution_time/context.py, TaskStateStoreAccessor.set /
  AssetStateStoreAccessor._build_set_message): with a backend configured, ``ref =
  backend.serialize_*_to_ref(value=..., key=..., scope=...)`` (which offloads above the
  threshold) and ``stored = _wrap_external_ref(ref)``; without one, ``stored = value``;
- server side (airflow/api_fastapi/execution_api/routes/task_state_store.py and
  asset_state_store.py): ``json.dumps(stored)`` handed to the metastore backend's ``set`` /
  ``set_asset_state_store`` (airflow/state/metastore.py), which upserts the row.

DAG runs and assets the rows hang off are inserted with plain SQL (Airflow only needs them to
exist for the foreign keys). Reads one JSON document on stdin::

    {"task": [{"dag_id", "run_id", "task_id", "map_index", "key", "value"}, ...],
     "asset": [{"name", "key", "value", "dag_id", "run_id", "task_id"}, ...],
     "generate": {"task_rows": N, "large_every": K, "small_bytes": S, "large_bytes": L}}

and prints one JSON line: {"rows": [{"store", "pk", "key", "stored", "ref", "refKind",
"plain"}, ...], "backend": class name or null, "durationMs"}. ``plain`` is what the row would
have held with no backend: json.dumps(value), the heal's target. With ``generate``, ``rows`` is
left out (the caller asked for volume) and only counts come back.
"""

import json
import sys
import time
from urllib.parse import urlsplit


def _dag_runs(session, pairs):
    from sqlalchemy import text

    ids = {}
    for dag_id, run_id in sorted(pairs):
        row = session.execute(
            text("SELECT id FROM dag_run WHERE dag_id = :d AND run_id = :r"), {"d": dag_id, "r": run_id}
        ).first()
        if row is None:
            row = session.execute(
                text(
                    "INSERT INTO dag_run (dag_id, run_id, run_type, state, logical_date, run_after, start_date,"
                    " queued_at) VALUES (:d, :r, 'manual', 'success', NULL, now(), now(), now()) RETURNING id"
                ),
                {"d": dag_id, "r": run_id},
            ).first()
        ids[(dag_id, run_id)] = row[0]
    return ids


def _assets(session, names):
    from sqlalchemy import text

    ids = {}
    for name in sorted(names):
        row = session.execute(text("SELECT id FROM asset WHERE name = :n"), {"n": name}).first()
        if row is None:
            row = session.execute(
                text(
                    'INSERT INTO asset (name, uri, "group", extra, created_at, updated_at)'
                    " VALUES (:n, :u, 'asset', '{}', now(), now()) RETURNING id"
                ),
                {"n": name, "u": f"s3://cutover-test/{name}"},
            ).first()
        ids[name] = row[0]
    return ids


def _generated(spec):
    """Volume for the bench: mostly small (inline) values, every K-th one large (offloaded)."""
    n = int(spec["task_rows"])
    every = int(spec.get("large_every", 10))
    small = int(spec.get("small_bytes", 40))
    large = int(spec.get("large_bytes", 4000))
    per_run = int(spec.get("rows_per_run", 50))
    for i in range(n):
        size = large if every and i % every == every - 1 else small
        yield {
            "dag_id": f"bench_{i % 7}",
            "run_id": f"manual__bench_{i // per_run:06d}",
            "task_id": f"task_{(i // 5) % 10}",
            "map_index": -1,
            "key": f"k{i}",
            "value": {"i": i, "pad": "x" * size},
        }


def main():
    doc = json.loads(sys.stdin.read() or "{}")
    started = time.monotonic()

    # The worker (task SDK) and the server (airflow core) each vendor their own copy of the
    # scope classes, and the metastore backend matches on the server's: keep them apart.
    from airflow._shared.state import AssetStateStoreWriterKind
    from airflow.sdk.execution_time.context import _get_worker_state_store_backend, _wrap_external_ref
    from airflow.sdk.state import AssetScope as WorkerAssetScope, TaskScope as WorkerTaskScope
    from airflow.state import AssetScope, TaskScope
    from airflow.state.metastore import MetastoreBackend
    from airflow.utils.session import create_session

    backend = _get_worker_state_store_backend()
    store = MetastoreBackend()
    generate = doc.get("generate")
    task_rows = list(_generated(generate)) if generate else list(doc.get("task") or [])
    asset_rows = list(doc.get("asset") or [])
    out = []
    counts = {"task": 0, "asset": 0, "inline": 0, "object": 0, "plain": 0}

    def stored_for(ref_fn, value):
        if backend is None:
            counts["plain"] += 1
            return value, None, None
        ref = ref_fn()
        kind = "object" if urlsplit(ref).scheme else "inline"
        counts[kind] += 1
        return _wrap_external_ref(ref), ref, kind

    with create_session() as session:
        runs = _dag_runs(session, {(r["dag_id"], r["run_id"]) for r in task_rows})
        assets = _assets(session, {r["name"] for r in asset_rows})
        session.flush()
        for r in task_rows:
            ident = dict(
                dag_id=r["dag_id"], run_id=r["run_id"], task_id=r["task_id"], map_index=int(r.get("map_index", -1))
            )
            scope = TaskScope(**ident)
            stored, ref, kind = stored_for(
                lambda r=r, ws=WorkerTaskScope(**ident): backend.serialize_task_state_store_to_ref(
                    value=r["value"], key=r["key"], scope=ws
                ),
                r["value"],
            )
            text_value = json.dumps(stored)
            store.set(scope, r["key"], text_value, session=session)
            counts["task"] += 1
            if not generate:
                out.append(
                    {
                        "store": "task",
                        "dagRunId": runs[(r["dag_id"], r["run_id"])],
                        "taskId": r["task_id"],
                        "mapIndex": scope.map_index,
                        "key": r["key"],
                        "stored": text_value,
                        "ref": ref,
                        "refKind": kind,
                        "plain": json.dumps(r["value"]),
                    }
                )
        for r in asset_rows:
            worker_scope = WorkerAssetScope(name=r["name"])
            stored, ref, kind = stored_for(
                lambda r=r, ws=worker_scope: backend.serialize_asset_state_store_to_ref(
                    value=r["value"], key=r["key"], scope=ws
                ),
                r["value"],
            )
            text_value = json.dumps(stored)
            store.set_asset_state_store(
                AssetScope(asset_id=assets[r["name"]]),
                r["key"],
                text_value,
                kind=AssetStateStoreWriterKind.TASK,
                dag_id=r.get("dag_id", "writer_dag"),
                run_id=r.get("run_id", "manual__writer"),
                task_id=r.get("task_id", "writer"),
                map_index=-1,
                session=session,
            )
            counts["asset"] += 1
            out.append(
                {
                    "store": "asset",
                    "assetId": assets[r["name"]],
                    "assetName": r["name"],
                    "key": r["key"],
                    "stored": text_value,
                    "ref": ref,
                    "refKind": kind,
                    "plain": json.dumps(r["value"]),
                }
            )
    result = {
        "backend": None if backend is None else type(backend).__name__,
        "counts": counts,
        "durationMs": int(round((time.monotonic() - started) * 1000)),
    }
    if not generate:
        result["rows"] = out
    sys.stdout.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
