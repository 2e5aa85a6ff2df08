"""COMPENSATE for the task/asset state store flip: rewrite every state row written under the
object-storage backend since APPLY back to the plain value a task reads without a backend.

Why a bare revert is not enough. With ``[workers] state_store_backend`` set, the task SDK
(airflow/sdk/execution_time/context.py, TaskStateStoreAccessor.set and
AssetStateStoreAccessor._build_set_message) stores ``{"__airflow_state_ref__": ref}`` for EVERY
value, where ``ref`` is what StateStoreObjectStorageBackend.serialize_*_to_ref returned: the JSON
text itself below ``state_store_objectstorage_threshold``, else the URL of an object holding that
JSON text (compressed as configured, suffix ``.gz`` etc.). The execution API writes
``json.dumps(stored)`` into ``task_state_store.value`` / ``asset_state_store.value`` (TEXT).
``get()`` unwraps the marker only while a backend is configured; after the revert tasks get the
marker dict itself, and re-running DAG runs does not change rows that are only read.

What this does, per row of task_state_store / asset_state_store with ``updated_at >= since`` whose
value is a marker (the SDK's own test: a JSON object whose ``__airflow_state_ref__`` is a non-empty
string):

- inline ref (no URL scheme): the plain value is the ref text itself (it is ``json.dumps(value)``,
  exactly what the execution API would have stored without a backend);
- object ref: the object is read through ObjectStoragePath (Airflow's connections), decompressed
  by its suffix as the backend reads it (``compression="infer"``), and must be UTF-8 JSON; a ref
  outside the flip's base path, a missing object, or content that is not JSON is REPORTED with
  the row identity and path, and that row is left untouched;
- per batch, in ONE transaction: each original row is inserted into the journal
  ``cutover_state_store_journal`` (keyed by change id + store + row identity) and then rewritten
  with a compare-and-set (``WHERE value = <original>``), so a row a task changed meanwhile is
  skipped, never overwritten. Journal and rewrite commit together: a crash (kill -9) loses the
  open batch entirely, and a rerun picks it up; a row already journaled for this change is never
  rewritten again (the journal is the proof of exactly-once).

``updated_at`` is left as the task wrote it: it is the time of the task's write, and keeping it
keeps healed rows inside the ``since`` window, so the closing count covers them.

Executed by bootstrap.py: ``main(request, prior_env)``. Request::

    {"mode": "heal" | "restore" | "status",
     "change_id": "...", "since": "2026-05-01T10:00:00+00:00",
     "path": "s3://conn@bucket/state", "compression": "gzip" | "",
     "batch_size": 500, "max_reported": 200, "read_threads": 8,
     "secrets_context": "server" | "inherit"}

``restore`` (forensics) puts the journaled originals back for rows still holding what the heal
wrote, and removes their journal entries; ``status`` only counts. The answer (camelCase keys, for
adapters/state-store-heal.ts) holds per-store counts, durations, the unreadable rows, the journal
count for the change, and the closing count of marker rows left.
"""

import datetime
import hashlib
import json
import os
import socket
import sys
import threading
import time
from urllib.parse import urlsplit

MARKER_KEY = "__airflow_state_ref__"
# The start of json.dumps({MARKER_KEY: ref}) as the execution API writes it; '!' escapes LIKE's
# '_' wildcard (a bound pattern with an explicit ESCAPE reads the same on PostgreSQL and MySQL).
MARKER_LIKE = '{"!_!_airflow!_state!_ref!_!_": %'
JOURNAL = "cutover_state_store_journal"

_TIME_TYPE = {"postgresql": "TIMESTAMP WITH TIME ZONE", "mysql": "TIMESTAMP(6)"}
# MySQL's TEXT holds 64 KB; the state columns are MEDIUMTEXT there, and so is the journal's copy.
_TEXT_TYPE = {"mysql": "MEDIUMTEXT"}

STORES = {
    "task": {
        "select": (
            "SELECT id AS pk, key AS k, value, updated_at, dag_id, run_id, task_id, map_index,"
            " NULL AS asset_name FROM task_state_store"
            " WHERE updated_at >= :since AND value LIKE :marker ESCAPE '!' AND id > :after_pk"
            " ORDER BY id LIMIT :n"
        ),
        "update": "UPDATE task_state_store SET value = :healed WHERE id = :pk AND value = :original",
        "restore": "UPDATE task_state_store SET value = :original WHERE id = :pk AND value = :current",
        "current": "SELECT value FROM task_state_store WHERE id = :pk",
        "remaining": (
            "SELECT count(*) FROM task_state_store WHERE updated_at >= :since AND value LIKE :marker ESCAPE '!'"
        ),
        "remaining_before": (
            "SELECT count(*) FROM task_state_store WHERE updated_at < :since AND value LIKE :marker ESCAPE '!'"
        ),
    },
    "asset": {
        # Keyset paging on (asset_id, key), spelled out rather than as a row comparison so that
        # both PostgreSQL and MySQL use the primary key.
        "select": (
            "SELECT s.asset_id AS pk, s.key AS k, s.value, s.updated_at, s.last_updated_by_dag_id AS dag_id,"
            " s.last_updated_by_run_id AS run_id, s.last_updated_by_task_id AS task_id,"
            " s.last_updated_by_map_index AS map_index, a.name AS asset_name"
            " FROM asset_state_store s LEFT JOIN asset a ON a.id = s.asset_id"
            " WHERE s.updated_at >= :since AND s.value LIKE :marker ESCAPE '!'"
            " AND (s.asset_id > :after_pk OR (s.asset_id = :after_pk AND s.key > :after_key))"
            " ORDER BY s.asset_id, s.key LIMIT :n"
        ),
        "update": (
            "UPDATE asset_state_store SET value = :healed WHERE asset_id = :pk AND key = :k AND value = :original"
        ),
        "restore": (
            "UPDATE asset_state_store SET value = :original WHERE asset_id = :pk AND key = :k AND value = :current"
        ),
        "current": "SELECT value FROM asset_state_store WHERE asset_id = :pk AND key = :k",
        "remaining": (
            "SELECT count(*) FROM asset_state_store WHERE updated_at >= :since AND value LIKE :marker ESCAPE '!'"
        ),
        "remaining_before": (
            "SELECT count(*) FROM asset_state_store WHERE updated_at < :since AND value LIKE :marker ESCAPE '!'"
        ),
    },
}


def _journal_ddl(dialect):
    ts = _TIME_TYPE.get(dialect, "TIMESTAMP")
    txt = _TEXT_TYPE.get(dialect, "TEXT")
    return (
        f"CREATE TABLE IF NOT EXISTS {JOURNAL} ("
        " change_id VARCHAR(200) NOT NULL,"
        " store VARCHAR(8) NOT NULL,"
        " row_pk BIGINT NOT NULL,"
        " row_key VARCHAR(512) NOT NULL,"
        " dag_id VARCHAR(250), run_id VARCHAR(250), task_id VARCHAR(250), map_index INTEGER,"
        " asset_name VARCHAR(1500),"
        f" original_value {txt} NOT NULL,"
        f" original_updated_at {ts} NOT NULL,"
        " ref_kind VARCHAR(8) NOT NULL,"
        f" ref_path {txt},"
        " healed_bytes BIGINT NOT NULL,"
        " healed_sha256 CHAR(64) NOT NULL,"
        f" healed_at {ts} NOT NULL,"
        " healed_by VARCHAR(300) NOT NULL,"
        " PRIMARY KEY (change_id, store, row_pk, row_key))"
    )


_JOURNAL_INSERT = (
    f"INSERT INTO {JOURNAL} (change_id, store, row_pk, row_key, dag_id, run_id, task_id, map_index, asset_name,"
    " original_value, original_updated_at, ref_kind, ref_path, healed_bytes, healed_sha256, healed_at, healed_by)"
    " VALUES (:change_id, :store, :pk, :k, :dag_id, :run_id, :task_id, :map_index, :asset_name, :original,"
    " :original_updated_at, :ref_kind, :ref_path, :healed_bytes, :healed_sha256, :healed_at, :healed_by)"
)
_JOURNAL_HAS = (
    f"SELECT row_pk, row_key FROM {JOURNAL} WHERE change_id = :change_id AND store = :store AND row_pk IN :pks"
)
_JOURNAL_DELETE = (
    f"DELETE FROM {JOURNAL} WHERE change_id = :change_id AND store = :store AND row_pk = :pk AND row_key = :k"
)
_JOURNAL_COUNT = f"SELECT store, count(*) FROM {JOURNAL} WHERE change_id = :change_id GROUP BY store"
_JOURNAL_PAGE = (
    f"SELECT store, row_pk, row_key, original_value, healed_sha256 FROM {JOURNAL}"
    " WHERE change_id = :change_id AND (store > :after_store OR (store = :after_store AND (row_pk > :after_pk"
    " OR (row_pk = :after_pk AND row_key > :after_key))))"
    " ORDER BY store, row_pk, row_key LIMIT :n"
)


class Unreadable(Exception):
    """A marker row whose plain value cannot be had: reported, the row left as it is."""

    def __init__(self, reason, detail, path=None):
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail
        self.path = path


def _engine():
    from airflow import settings

    engine = getattr(settings, "engine", None)
    if engine is None:  # a process that imported airflow without initialising the ORM
        settings.configure_orm()
        engine = settings.engine
    if engine is None:
        raise RuntimeError("airflow.settings configured no database engine in this component")
    return engine


def _ms(seconds):
    return int(round(seconds * 1000))


def _sha256(text):
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _marker_ref(value):
    """The ref the SDK would unwrap from this stored text, or None when it is not a marker."""
    try:
        doc = json.loads(value)
    except ValueError:
        return None
    if not isinstance(doc, dict):
        return None
    ref = doc.get(MARKER_KEY)
    if not ref:  # the SDK's `(ref := _unwrap_external_ref(stored))` is falsy: it returns the dict as is
        return None
    return ref


class Resolver:
    """Turns a ref into the plain JSON text, reading objects through Airflow's ObjectStoragePath."""

    def __init__(self, base, compression):
        from airflow.sdk import ObjectStoragePath

        self._path_cls = ObjectStoragePath
        self.base_text = base
        self.base = ObjectStoragePath(base) if base else None
        self.compression = compression or None
        self.bytes_read = 0
        self.compression_fallbacks = 0
        self._lock = threading.Lock()

    def resolve(self, ref):
        """(plain JSON text, 'inline' | 'object', object path or None); raises Unreadable."""
        if not isinstance(ref, str):
            raise Unreadable("not-a-string-ref", f"the marker holds a {type(ref).__name__}, not a ref string")
        if not urlsplit(ref).scheme:
            self._check_json(ref, None)
            return ref, "inline", None
        if self.base is None:
            raise Unreadable("no-base-path", "an object ref, and the request named no base path", ref)
        try:
            path = self._path_cls(ref)
            inside = path.is_relative_to(self.base)
        except Exception as exc:  # noqa: BLE001 - reported with the row
            raise Unreadable("bad-ref", f"{type(exc).__name__}: {exc}", ref) from None
        if not inside:
            # The backend would not have read it either (deserialize_* json.loads-es such a ref).
            raise Unreadable("outside-base-path", f"the ref is not under {self.base_text}", ref)
        data = self._read(path, "infer", ref)
        try:
            text = data.decode("utf-8")
            self._check_json(text, ref)
        except (UnicodeDecodeError, Unreadable):
            if not self.compression:
                raise Unreadable("not-json", "the object is not UTF-8 JSON text", ref) from None
            # Written compressed under a name whose suffix does not say so: read as the flip wrote.
            text = self._read(path, self.compression, ref).decode("utf-8", errors="strict")
            self._check_json(text, ref)
            with self._lock:
                self.compression_fallbacks += 1
        return text, "object", ref

    def _read(self, path, compression, ref):
        try:
            with path.open(mode="rb", compression=compression) as f:
                data = f.read()
        except FileNotFoundError:
            raise Unreadable("object-missing", "no object at this path", ref) from None
        except Exception as exc:  # noqa: BLE001 - reported with the row, never dropped
            code = None
            try:
                from store_errors import service_error

                code, _ = service_error(exc)
            except ImportError:
                pass
            detail = f"{type(exc).__name__}: {str(exc)[:300]}" + (f" ({code})" if code else "")
            raise Unreadable("read-failed", detail, ref) from None
        with self._lock:  # reads run on several threads
            self.bytes_read += len(data)
        return data

    @staticmethod
    def _check_json(text, ref):
        try:
            json.loads(text)
        except ValueError as exc:
            raise Unreadable("not-json", f"{exc}", ref) from None


class _Lock:
    """One heal per change at a time (a second healer would fight over the same rows)."""

    def __init__(self, engine, change_id):
        self.engine = engine
        self.change_id = change_id
        self.conn = None

    def __enter__(self):
        from sqlalchemy import text

        dialect = self.engine.dialect.name
        key = int.from_bytes(hashlib.sha256(f"cutover-heal:{self.change_id}".encode()).digest()[:8], "big", signed=True)
        self.conn = self.engine.connect()
        if dialect == "postgresql":
            got = self.conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar()
        elif dialect == "mysql":
            got = self.conn.execute(text("SELECT GET_LOCK(:k, 0)"), {"k": f"cutover-heal-{key}"}).scalar() == 1
        else:
            got = True
        self.conn.commit()
        if not got:
            self.conn.close()
            raise RuntimeError(f"another heal of change {self.change_id!r} is running (its lock is held)")
        return self

    def __exit__(self, *exc):
        # Closing the session releases the lock; a killed process releases it with its connection.
        self.conn.close()


def _label(conn, dialect, change_id):
    """Names this process in pg_stat_activity: a DBA sees who holds row locks, a test whom to kill."""
    from sqlalchemy import text

    if dialect == "postgresql":
        name = f"cutover-heal pid={os.getpid()} change={change_id}"[:63]
        conn.execute(text("SELECT set_config('application_name', :n, false)"), {"n": name})


def _journaled(conn, change_id, store, pks):
    """The identities among this batch's rows already journaled for the change (one query)."""
    from sqlalchemy import bindparam, text

    if not pks:
        return set()
    stmt = text(_JOURNAL_HAS).bindparams(bindparam("pks", expanding=True))
    rows = conn.execute(stmt, {"change_id": change_id, "store": store, "pks": sorted(set(pks))})
    return {(int(r.row_pk), r.row_key) for r in rows}


def _ensure_journal(engine):
    from sqlalchemy import text

    with engine.begin() as conn:
        conn.execute(text(_journal_ddl(engine.dialect.name)))


def _journal_counts(conn, change_id):
    from sqlalchemy import text

    out = {"task": 0, "asset": 0}
    for store, n in conn.execute(text(_JOURNAL_COUNT), {"change_id": change_id}):
        out[str(store)] = int(n)
    return out


def _remaining(conn, since):
    from sqlalchemy import text

    params = {"since": since, "marker": MARKER_LIKE}
    return {
        "sinceApply": {s: int(conn.execute(text(q["remaining"]), params).scalar()) for s, q in STORES.items()},
        "beforeApply": {
            s: int(conn.execute(text(q["remaining_before"]), params).scalar()) for s, q in STORES.items()
        },
    }


def _new_counts():
    return {
        "examined": 0,
        "rewritten": 0,
        "inlineRefs": 0,
        "objectRefs": 0,
        "unreadable": 0,
        "alreadyJournaled": 0,
        "changedConcurrently": 0,
        "notMarkers": 0,
    }


def _identity(store, row):
    if store == "task":
        return {
            "store": "task",
            "id": int(row.pk),
            "dagId": row.dag_id,
            "runId": row.run_id,
            "taskId": row.task_id,
            "mapIndex": row.map_index,
            "key": row.k,
        }
    return {"store": "asset", "assetId": int(row.pk), "assetName": row.asset_name, "key": row.k}


def _try_resolve(resolver, ref):
    try:
        return resolver.resolve(ref)
    except Unreadable as u:
        return u


def _heal_store(engine, store, req, resolver, report, progress, pool):
    from sqlalchemy import text

    q = STORES[store]
    counts = report["stores"][store]
    after_pk, after_key = -(2**62), ""
    healer = f"{socket.gethostname()}:{os.getpid()}"
    while True:
        t0 = time.monotonic()
        with engine.connect() as conn:
            rows = conn.execute(
                text(q["select"]),
                {
                    "since": req["since"],
                    "marker": MARKER_LIKE,
                    "after_pk": after_pk,
                    "after_key": after_key,
                    "n": req["batch_size"],
                },
            ).fetchall()
        report["durationsMs"]["select"] += _ms(time.monotonic() - t0)
        if not rows:
            return
        after_pk, after_key = int(rows[-1].pk), rows[-1].k

        # Objects are read BEFORE the write transaction opens: no row lock waits on the store.
        # Reads run on a few threads: each is one round trip to the store, and fsspec serves
        # sync callers from its own IO loop, so they overlap.
        t0 = time.monotonic()
        work = []
        for row in rows:
            counts["examined"] += 1
            ref = _marker_ref(row.value)
            if ref is None:
                counts["notMarkers"] += 1  # the LIKE prefix matched a value the SDK would not unwrap
                continue
            work.append((row, ref))
        resolved = []
        for row, outcome in zip((w[0] for w in work), pool.map(lambda w: _try_resolve(resolver, w[1]), work)):
            if isinstance(outcome, Unreadable):
                counts["unreadable"] += 1
                if len(report["unreadable"]) < req["max_reported"]:
                    report["unreadable"].append(
                        {**_identity(store, row), "reason": outcome.reason, "detail": outcome.detail, "path": outcome.path}
                    )
                else:
                    report["unreadableTruncated"] = True
                continue
            healed, kind, path = outcome
            resolved.append((row, healed, kind, path))
        report["durationsMs"]["resolve"] += _ms(time.monotonic() - t0)

        t0 = time.monotonic()
        written = 0
        with engine.connect() as conn:
            _label(conn, engine.dialect.name, req["change_id"])
            conn.commit()  # SQLAlchemy 2 autobegins: end that before the batch's own transaction
            with conn.begin():
                now = datetime.datetime.now(datetime.timezone.utc)
                journaled = _journaled(conn, req["change_id"], store, [int(r[0].pk) for r in resolved])
                for row, healed, kind, path in resolved:
                    ident = {"change_id": req["change_id"], "store": store, "pk": int(row.pk), "k": row.k}
                    if (int(row.pk), row.k) in journaled:
                        # Rewritten by an earlier run of this change and wrapped again since (a
                        # writer still on the backend): never rewrite a row twice under one change.
                        counts["alreadyJournaled"] += 1
                        continue
                    conn.execute(
                        text(_JOURNAL_INSERT),
                        {
                            **ident,
                            "dag_id": row.dag_id,
                            "run_id": row.run_id,
                            "task_id": row.task_id,
                            "map_index": row.map_index,
                            "asset_name": row.asset_name,
                            "original": row.value,
                            "original_updated_at": row.updated_at,
                            "ref_kind": kind,
                            "ref_path": path,
                            "healed_bytes": len(healed.encode("utf-8")),
                            "healed_sha256": _sha256(healed),
                            "healed_at": now,
                            "healed_by": healer,
                        },
                    )
                    res = conn.execute(
                        text(q["update"]), {"pk": int(row.pk), "k": row.k, "healed": healed, "original": row.value}
                    )
                    if res.rowcount != 1:
                        # A task wrote the row after it was read: its new value wins, no journal entry.
                        conn.execute(text(_JOURNAL_DELETE), ident)
                        counts["changedConcurrently"] += 1
                        continue
                    written += 1
                    counts["inlineRefs" if kind == "inline" else "objectRefs"] += 1
        counts["rewritten"] += written
        report["batches"] += 1
        report["durationsMs"]["write"] += _ms(time.monotonic() - t0)
        progress(f"{store}: batch {report['batches']} committed, {written} row(s) rewritten")


def _restore_store(engine, req, report):
    from sqlalchemy import text

    after = ("", -(2**62), "")
    while True:
        with engine.connect() as conn:
            page = conn.execute(
                text(_JOURNAL_PAGE),
                {
                    "change_id": req["change_id"],
                    "after_store": after[0],
                    "after_pk": after[1],
                    "after_key": after[2],
                    "n": req["batch_size"],
                },
            ).fetchall()
        if not page:
            return
        after = (page[-1].store, int(page[-1].row_pk), page[-1].row_key)
        with engine.connect() as conn, conn.begin():
            for j in page:
                q = STORES[j.store]
                counts = report["stores"][j.store]
                ident = {"pk": int(j.row_pk), "k": j.row_key}
                current = conn.execute(text(q["current"]), ident).scalar()
                if current is None or _sha256(current) != j.healed_sha256:
                    counts["changedConcurrently"] += 1  # rewritten since the heal: not ours to undo
                    continue
                conn.execute(text(q["restore"]), {**ident, "original": j.original_value, "current": current})
                conn.execute(
                    text(_JOURNAL_DELETE),
                    {"change_id": req["change_id"], "store": j.store, "pk": int(j.row_pk), "k": j.row_key},
                )
                counts["restored"] = counts.get("restored", 0) + 1
        report["batches"] += 1


def _parse_request(request):
    mode = request.get("mode", "heal")
    if mode not in ("heal", "restore", "status"):
        raise ValueError(f"mode must be heal, restore or status, not {mode!r}")
    change_id = request.get("change_id")
    if not isinstance(change_id, str) or not change_id.strip() or len(change_id) > 200:
        raise ValueError("change_id must be a non-empty string of at most 200 characters")
    since_text = request.get("since")
    if not isinstance(since_text, str):
        raise ValueError("since must be an ISO-8601 timestamp with a time zone")
    since = datetime.datetime.fromisoformat(since_text)
    if since.tzinfo is None:
        raise ValueError(f"since {since_text!r} has no time zone; Airflow stores UTC")
    batch_size = request.get("batch_size", 500)
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError("batch_size must be a positive integer")
    path = request.get("path") or ""
    compression = request.get("compression") or ""
    if compression:
        import fsspec.utils

        if compression not in fsspec.utils.compressions.values():
            raise ValueError(f"compression {compression!r} is not an fsspec codec")
    return {
        "mode": mode,
        "change_id": change_id,
        "since": since.astimezone(datetime.timezone.utc),
        "since_text": since_text,
        "batch_size": batch_size,
        "path": path,
        "compression": compression,
        "max_reported": int(request.get("max_reported", 200)),
        "read_threads": max(1, int(request.get("read_threads", 8))),
    }


def main(request, prior_env):
    req = _parse_request(request)
    if request.get("secrets_context", "server") == "server":
        # DB-stored connections (the object store's) are invisible to a plain process otherwise.
        os.environ.setdefault("_AIRFLOW_PROCESS_CONTEXT", "server")

    def progress(line):
        sys.stderr.write(f"state_store_heal: {line}\n")
        sys.stderr.flush()

    started = time.monotonic()
    engine = _engine()
    report = {
        "mode": req["mode"],
        "changeId": req["change_id"],
        "since": req["since"].isoformat(),
        "dialect": engine.dialect.name,
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "journalTable": JOURNAL,
        "stores": {"task": _new_counts(), "asset": _new_counts()},
        "unreadable": [],
        "unreadableTruncated": False,
        "batches": 0,
        "durationsMs": {"select": 0, "resolve": 0, "write": 0, "total": 0},
    }
    _ensure_journal(engine)
    with engine.connect() as conn:
        journal_before = _journal_counts(conn, req["change_id"])

    if req["mode"] == "heal":
        from concurrent.futures import ThreadPoolExecutor

        resolver = Resolver(req["path"], req["compression"])
        with _Lock(engine, req["change_id"]), ThreadPoolExecutor(max_workers=req["read_threads"]) as pool:
            for store in STORES:
                _heal_store(engine, store, req, resolver, report, progress, pool)
        report["bytesRead"] = resolver.bytes_read
        report["compressionFallbacks"] = resolver.compression_fallbacks
    elif req["mode"] == "restore":
        with _Lock(engine, req["change_id"]):
            _restore_store(engine, req, report)

    with engine.connect() as conn:
        journal_after = _journal_counts(conn, req["change_id"])
        remaining = _remaining(conn, req["since"])
    rewritten = sum(s["rewritten"] for s in report["stores"].values())
    unreadable = sum(s["unreadable"] for s in report["stores"].values())
    left = sum(remaining["sinceApply"].values())
    report["rewritten"] = rewritten
    report["journal"] = {"before": journal_before, "after": journal_after}
    report["markerRowsRemaining"] = remaining
    # Every marker row left in the window is one this run reported (unreadable, or re-wrapped
    # after an earlier heal of this change): nothing is unaccounted for.
    report["accountedFor"] = left == unreadable + sum(s["alreadyJournaled"] for s in report["stores"].values())
    report["healed"] = left == 0
    report["nothingToDo"] = req["mode"] == "heal" and rewritten == 0
    report["durationsMs"]["total"] = _ms(time.monotonic() - started)
    return report


if __name__ == "__main__":  # python probes/state_store_heal.py < request.json
    import runpy

    sys.argv = [os.path.join(os.path.dirname(os.path.abspath(__file__)), "bootstrap.py"), os.path.abspath(__file__)]
    runpy.run_path(sys.argv[0], run_name="__main__")
