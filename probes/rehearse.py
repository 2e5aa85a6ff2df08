"""REHEARSE probe (dossier section 5, done the way the RCA says it must be): the kill-switch
rehearsal inside an Airflow component, with the env exactly as it would be deployed
(added by bootstrap.py for this process only) and the config read through conf.

1. Resolve the XCom class the task runner would use (config read through conf, never
   by constructing the backend with arguments) and read path/threshold/compression.
2. Build a JSON value larger than the threshold (request.value_bytes, default
   threshold + 64 KiB) and call the resolved backend's serialize_value with
   dag_id="_rehearsal", run_id=<cutover run id>: the backend writes the object to
   <path>/_rehearsal/<run_id>/sentinel/<uuid>[.suffix] and returns the reference.
   The reference goes through a JSON round trip, as it would through the xcom table.
3. Confirm it offloaded: the stored value is a path string under the base path and
   the object exists.
4. REVERT: deserialize the stored value with BaseXCom: it returns the path STRING
   (break confirmed).
5. Read the object directly (and through the backend): it equals the original
   (round trip intact).
6. RE-EMIT: serialize and deserialize with BaseXCom: the data comes back (heal
   confirmed).
7. finally: delete the sentinel object(s) under <path>/_rehearsal/<run_id>/ and
   confirm they are gone.

No database row is touched and nothing global changes. Returns the RehearsalOutcome
fields (camelCase) plus ``sentinelWritten`` (whether the backend was asked to write at all),
``error`` ({step, type, message, code, httpStatus} or null; code/httpStatus are the object
store's answer when there was one, e.g. InvalidAccessKeyId / 403) and ``host``.
"""

import json
import os
import re
import socket
import time

from store_errors import BAD_CREDENTIAL_CODES, DENIED_CODES, require_bucket, service_error

SECTION = "common.io"


def _safe_segment(value):
    return re.sub(r"[^A-Za-z0-9._-]", "_", str(value)) or "run"


def _error(step, exc, conn_id):
    """The ``error`` record: the exception, plus what the store answered and what that means."""
    code, status = service_error(exc)
    message = str(exc)
    if code or status:
        said = ", ".join(x for x in (f"error {code}" if code else "", f"HTTP {status}" if status else "") if x)
        message += f" (store answered {said})"
    whose = f"connection {conn_id}" if conn_id else "the default credential chain"
    if code in BAD_CREDENTIAL_CODES:
        message += f"; the object store does not accept the credentials {whose} supplies (wrong, unknown or expired keys)"
    elif code in DENIED_CODES:
        message += f"; the credentials {whose} supplies are accepted but not allowed to do this (IAM / bucket policy)"
    return {
        "step": step,
        "type": type(exc).__name__,
        "message": message,
        "code": code,
        "httpStatus": status if isinstance(status, int) else None,
    }


def _resolve_xcom_class():
    try:  # Airflow 3: what the task runner uses
        from airflow.sdk.execution_time.xcom import resolve_xcom_backend
    except ImportError:  # Airflow 2
        from airflow.models.xcom import resolve_xcom_backend
    return resolve_xcom_backend()


def _base_xcom():
    try:
        from airflow.sdk.bases.xcom import BaseXCom
    except ImportError:  # Airflow 2
        from airflow.models.xcom import BaseXCom
    return BaseXCom


def _object_storage_path(url):
    try:
        from airflow.sdk import ObjectStoragePath
    except ImportError:  # Airflow 2
        from airflow.io.path import ObjectStoragePath
    return ObjectStoragePath(url)


def _encoder():
    try:
        from airflow.utils.json import XComDecoder, XComEncoder

        return XComEncoder, XComDecoder
    except ImportError:
        return None, None


class _Row:
    """What BaseXCom.deserialize_value reads: an object with ``.value`` (the xcom row)."""

    def __init__(self, value):
        self.value = value


def _through_db(stored):
    """The xcom.value column is JSON in Airflow 3: what comes back is the JSON round trip."""
    if isinstance(stored, (bytes, bytearray)):  # Airflow 2 stores bytes
        return stored
    return json.loads(json.dumps(stored))


def _sentinel_value(run_id, target_bytes, encoder):
    base = {"sentinel": "cutover-rehearsal", "runId": run_id, "payload": ""}
    overhead = len(json.dumps(base, cls=encoder).encode("utf-8"))
    n = max(0, target_bytes - overhead)
    payload = (os.urandom(n // 2 + 1).hex())[:n]  # random hex: realistic, barely compressible
    value = dict(base, payload=payload)
    return value, len(json.dumps(value, cls=encoder).encode("utf-8"))


def main(request, prior_env):
    if request.get("secrets_context", "server") == "server":
        # Connections looked up as the scheduler / API server do (env vars, then the DB);
        # see preflight.py. A context the component sets itself is left alone.
        os.environ.setdefault("_AIRFLOW_PROCESS_CONTEXT", "server")
    timings = {}
    out = {
        "valueBytes": 0,
        "objectPath": "",
        "offloaded": False,
        "breakConfirmed": False,
        "roundTripIntact": False,
        "healConfirmed": False,
        "sentinelCleaned": False,
        "sentinelWritten": False,
        "timingsMs": timings,
        "error": None,
        "host": socket.gethostname(),
    }
    run_id = _safe_segment(request.get("run_id") or "run")
    step = "resolve config"
    clock = [time.monotonic()]

    def lap(name):
        now = time.monotonic()
        timings[name] = int(round((now - clock[0]) * 1000))
        clock[0] = now

    folder = None
    conn_id = None
    try:
        from airflow.configuration import conf

        path = conf.get(SECTION, "xcom_objectstorage_path")
        threshold = conf.getint(SECTION, "xcom_objectstorage_threshold")
        xcom = _resolve_xcom_class()
        base_xcom = _base_xcom()
        encoder, decoder = _encoder()
        lap("resolveConfig")
        if not path:
            raise ValueError(
                "[common.io] xcom_objectstorage_path resolves to '' with the env as deployed: "
                "nothing would be offloaded to object storage"
            )

        step = "check bucket"
        base = _object_storage_path(path)
        conn_id = base.conn_id
        base_str = str(base)
        folder = base / "_rehearsal" / run_id
        if base.protocol in ("s3", "s3a", "s3n"):
            require_bucket(base.fs, str(base.path).strip("/").split("/")[0])
        lap("checkBucket")

        step = "build sentinel value"
        wanted = request.get("value_bytes")
        target = int(wanted) if wanted else max(threshold, 0) + 64 * 1024
        value, size = _sentinel_value(run_id, target, encoder)
        out["valueBytes"] = size
        lap("buildValue")

        step = "serialize with the resolved backend"
        out["sentinelWritten"] = True  # from here on an object may exist, even if the call fails
        stored = xcom.serialize_value(
            value, key="return_value", task_id="sentinel", dag_id="_rehearsal", run_id=run_id, map_index=-1
        )
        row = _through_db(stored)
        lap("serialize")

        step = "confirm offload"
        if isinstance(row, str) and row.startswith(base_str.rstrip("/") + "/"):
            out["objectPath"] = row
            out["offloaded"] = bool(_object_storage_path(row).exists())
        lap("confirmOffload")

        step = "read under BaseXCom (revert)"
        reverted = base_xcom.deserialize_value(_Row(row))
        out["breakConfirmed"] = bool(out["offloaded"] and isinstance(reverted, str) and reverted == row)
        lap("revertRead")

        if out["offloaded"]:
            step = "read the object"
            obj = _object_storage_path(row)
            with obj.open(mode="rb", compression="infer") as f:
                direct = json.load(f, cls=decoder)
            lap("directRead")
            step = "read under the backend"
            through_backend = xcom.deserialize_value(_Row(row))
            lap("backendRead")
            out["roundTripIntact"] = direct == value and through_backend == value

        step = "re-emit under BaseXCom (heal)"
        healed = base_xcom.deserialize_value(
            _Row(
                _through_db(
                    base_xcom.serialize_value(
                        value, key="return_value", task_id="sentinel", dag_id="_rehearsal", run_id=run_id, map_index=-1
                    )
                )
            )
        )
        out["healConfirmed"] = healed == value
        lap("reEmit")
    except Exception as exc:  # noqa: BLE001 - reported with the step; cleanup still runs
        out["error"] = _error(step, exc, conn_id)
    finally:
        clock[0] = time.monotonic()
        out["sentinelCleaned"], cleanup_error = _cleanup(out["objectPath"], folder)
        lap("cleanup")
        if cleanup_error and out["error"] is None:
            out["error"] = {"step": "cleanup", "type": "CleanupFailed", "message": cleanup_error}
    return out


def _cleanup(object_path, folder):
    """Delete the sentinel and anything else under _rehearsal/<run_id>/; (gone, problem)."""
    problems = []
    targets = []
    if object_path:
        targets.append(_object_storage_path(object_path))
    if folder is not None:
        try:
            targets.extend(p for p in folder.rglob("*") if p.is_file())
        except FileNotFoundError:
            pass
        except Exception as exc:  # noqa: BLE001
            problems.append(f"listing {folder}: {type(exc).__name__}: {exc}")
    seen = set()
    for p in targets:
        if str(p) in seen:
            continue
        seen.add(str(p))
        try:
            p.unlink(missing_ok=True)
        except Exception as exc:  # noqa: BLE001
            problems.append(f"deleting {p}: {type(exc).__name__}: {exc}")
    gone = True
    for key in seen:
        try:
            if _object_storage_path(key).exists():
                gone = False
                problems.append(f"{key} still exists")
        except Exception as exc:  # noqa: BLE001
            gone = False
            problems.append(f"checking {key}: {type(exc).__name__}: {exc}")
    if folder is not None:
        try:
            left = [str(p) for p in folder.rglob("*") if p.is_file()]
            if left:
                gone = False
                problems.append(f"left under {folder}: {', '.join(left[:3])}")
        except FileNotFoundError:
            pass
        except Exception as exc:  # noqa: BLE001
            gone = False
            problems.append(f"listing {folder} after cleanup: {type(exc).__name__}: {exc}")
    return gone and not problems, "; ".join(problems) or None


if __name__ == "__main__":  # python probes/rehearse.py < request.json
    import runpy
    import sys

    sys.argv = [os.path.join(os.path.dirname(os.path.abspath(__file__)), "bootstrap.py"), os.path.abspath(__file__)]
    runpy.run_path(sys.argv[0], run_name="__main__")
