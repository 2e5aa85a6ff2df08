"""PREFLIGHT probe (dossier section 2, hardened per the RCA): read-only checks run in an
Airflow component's own Python, with the rendered env added for this process only.

Executed by bootstrap.py, which applies ``extra_env`` before this code runs and calls
``main(request, prior_env)``. Request::

    {"min_version": "1.4.0", "path": "s3://aws_default@bucket/xcom", "run_id": "...",
     "compression": "", "expected": [[section, key, value], ...], "previous_paths": []}

Returns ``{"checks": [{name, status: green|amber|red, detail, durationMs}], "host": ...}``.
Every check catches its own exceptions, so one failing check never hides the others.
No detail ever carries a login, password or connection extra other than the endpoint
and region; known secret values are scrubbed from every detail as a second line of defence.
Only the standard library, Airflow and its providers are used.
"""

import os
import re
import socket
import time
import uuid
from urllib.parse import urlsplit, urlunsplit

from store_errors import BAD_CREDENTIAL_CODES, DENIED_CODES, service_error

PROVIDER = "apache-airflow-providers-common-io"
_AIRFLOW_VAR = re.compile(r"^AIRFLOW__(.+?)__(.+)$", re.IGNORECASE)
_SECRET_NAME = re.compile(r"SECRET|PASSWORD|PASSWD|TOKEN|CREDENTIAL|PRIVATE|SESSION", re.IGNORECASE)
_secrets = set()


def _remember_secret(value):
    if isinstance(value, str) and len(value) >= 6:
        _secrets.add(value)


for _name, _value in os.environ.items():
    if _SECRET_NAME.search(_name) or _name.startswith("AIRFLOW_CONN_"):
        _remember_secret(_value)


def _scrub(text):
    text = str(text)
    for secret in sorted(_secrets, key=len, reverse=True):
        text = text.replace(secret, "***")
    return text


def _exc(exc):
    text = f"{type(exc).__name__}: {exc}"
    code, status = service_error(exc)
    if code or status:
        said = ", ".join(x for x in (f"error {code}" if code else "", f"HTTP {status}" if status else "") if x)
        text += f" (store answered {said})"
    return text


def _credential_hint(exc, conn_id):
    """A sentence naming the credential problem when the store refused the credentials, else ''."""
    code, _ = service_error(exc)
    whose = f"connection {conn_id}" if conn_id else "the default credential chain"
    if code in BAD_CREDENTIAL_CODES:
        return f"; the object store does not accept the credentials {whose} supplies (wrong, unknown or expired keys)"
    if code in DENIED_CODES:
        return f"; the credentials {whose} supplies are accepted but not allowed to do this (IAM / bucket policy)"
    return ""


def _version_tuple(version):
    parts = []
    for piece in str(version).split("."):
        m = re.match(r"\d+", piece)
        if not m:
            break
        parts.append(int(m.group(0)))
    return tuple(parts)


def _safe_segment(value):
    return re.sub(r"[^A-Za-z0-9._-]", "_", str(value)) or "run"


def _strip_userinfo(url):
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparsable>"
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))


def _misspelled_airflow_vars():
    """[(variable, normalised name, problem)] for every AIRFLOW__ variable Airflow cannot read."""
    found = []
    for name in sorted(os.environ):
        if not name.upper().startswith("AIRFLOW__"):
            continue
        m = _AIRFLOW_VAR.match(name)
        if not m:
            continue
        section, key = m.group(1), m.group(2)
        if "." in section:
            fixed = f"AIRFLOW__{section.replace('.', '_')}__{key}".upper()
            found.append((name, fixed, f"never read: section '{section}' contains a dot, Airflow looks up {fixed}"))
        elif name != name.upper():
            found.append((name, name.upper(), f"never read: Airflow only looks up upper-case {name.upper()}"))
    return found


def _object_storage_path(url):
    try:
        from airflow.sdk import ObjectStoragePath
    except ImportError:  # Airflow 2
        from airflow.io.path import ObjectStoragePath
    return ObjectStoragePath(url)


def _use_server_secrets(request):
    """Look connections up the way the scheduler / API server do (env vars, then the metadata DB).

    Outside a task and without _AIRFLOW_PROCESS_CONTEXT, Airflow 3 only searches env vars and
    custom backends: a connection stored in the DB would look missing. Tasks get theirs from the
    API server, which searches env + DB. A context the component sets itself is left alone.
    """
    if request.get("secrets_context", "server") == "server":
        os.environ.setdefault("_AIRFLOW_PROCESS_CONTEXT", "server")


def _env_name(section, key):
    return f"AIRFLOW__{section.replace('.', '_').upper()}__{key.upper()}"


# --- the checks ------------------------------------------------------------------------


def check_provider(request, prior_env, state):
    from importlib.metadata import PackageNotFoundError, version

    wanted = str(request.get("min_version") or "0")
    try:
        installed = version(PROVIDER)
    except PackageNotFoundError:
        return "red", f"{PROVIDER} is not installed in this component's Python"
    if _version_tuple(installed) < _version_tuple(wanted):
        return "red", f"{PROVIDER} {installed} is installed; the plan needs >= {wanted}"
    try:
        import airflow

        airflow_version = getattr(airflow, "__version__", "?")
    except Exception as exc:  # noqa: BLE001
        return "red", f"{PROVIDER} {installed} is installed but airflow does not import: {_exc(exc)}"
    return "green", f"{PROVIDER} {installed} (>= {wanted}) on Airflow {airflow_version}"


def check_connection(request, prior_env, state):
    path = request["path"]
    base = _object_storage_path(path)
    conn_id = base.conn_id
    if not conn_id:
        return "amber", f"{path} names no connection id: the backend will use the default credential chain of {base.protocol}"
    try:
        from airflow.sdk import BaseHook
    except ImportError:  # Airflow 2
        from airflow.hooks.base import BaseHook
    try:
        conn = BaseHook.get_connection(conn_id)
    except Exception as exc:
        state["connection_error"] = f"connection {conn_id} does not resolve ({_exc(exc)})"
        raise
    for secret in (getattr(conn, "password", None), getattr(conn, "login", None)):
        _remember_secret(secret)
    extra = {}
    try:
        extra = conn.extra_dejson or {}
    except Exception:  # noqa: BLE001 - an unparsable extra is reported below through the hook
        extra = {}
    for k, v in extra.items():
        if _SECRET_NAME.search(str(k)) or "key" in str(k).lower():
            _remember_secret(v if isinstance(v, str) else None)
    endpoint = None
    region = extra.get("region_name")
    if base.protocol in ("s3", "s3a", "s3n"):
        try:
            from airflow.providers.amazon.aws.hooks.s3 import S3Hook

            hook = S3Hook(aws_conn_id=conn_id)
            endpoint = hook.conn_config.get_service_endpoint_url(service_name="s3")
            region = hook.conn_config.region_name or region
        except Exception as exc:  # noqa: BLE001
            return "red", f"connection {conn_id} exists (type {conn.conn_type}) but the S3 hook cannot use it: {_exc(exc)}"
    if endpoint is None:
        endpoint = extra.get("endpoint_url") or extra.get("host")
    parts = [f"connection {conn_id} resolves: type {conn.conn_type or '-'}"]
    if conn.host:
        parts.append(f"host {_strip_userinfo(conn.host)}")
    parts.append(f"endpoint {_strip_userinfo(endpoint) if endpoint else 'provider default'}")
    if region:
        parts.append(f"region {region}")
    detail = ", ".join(parts)
    if base.protocol in ("s3", "s3a", "s3n") and conn.conn_type not in ("aws", "s3"):
        return "amber", detail + f"; the path is {base.protocol}:// but the connection type is not aws"
    return "green", detail


def check_functional(request, prior_env, state):
    path = request["path"]
    if state.get("connection_error"):
        # Without its connection the provider falls back to the default endpoint and
        # credential chain: that would test some other store, or hang on the network.
        return "red", f"not attempted: {state['connection_error']}"
    run_id = _safe_segment(request.get("run_id") or "run")
    folder = _object_storage_path(path) / "_preflight" / run_id
    target = folder / f"probe-{uuid.uuid4().hex}.txt"
    payload = f"cutover preflight {run_id} {uuid.uuid4()}\n".encode()
    where = f"{path}/_preflight/{run_id}/"
    conn_id = _object_storage_path(path).conn_id
    step = "write"
    written = False
    deleted = False
    failure = None
    cleanup = ""
    try:
        # No mkdir: on s3fs it would CREATE a missing bucket; the write alone proves access.
        target.write_bytes(payload)
        written = True
        step = "read"
        got = target.read_bytes()
        if got != payload:
            raise ValueError(f"read back {len(got)} bytes that differ from the {len(payload)} written")
        step = "delete"
        target.unlink()
        step = "confirm deletion"
        if target.exists():
            raise RuntimeError("the object still exists after delete")
        deleted = True
    except Exception as exc:  # noqa: BLE001
        failure = f"{step} failed: {_exc(exc)}{_credential_hint(exc, conn_id)}"
    finally:
        if written and not deleted:
            try:
                target.unlink(missing_ok=True)
                cleanup = " (probe object removed)"
            except Exception as exc:  # noqa: BLE001
                cleanup = f" (AND the probe object {target} could not be removed: {_exc(exc)})"
    if failure:
        return "red", f"write -> read -> delete under {where}: {failure}{cleanup}"
    return "green", f"write -> read -> delete under {where} PASS ({len(payload)} B, self-cleaned)"


def check_resolution(request, prior_env, state):
    problems = []
    notes = []
    expected = [tuple(x) for x in request.get("expected") or []]
    expected_names = {_env_name(s, k) for s, k, _ in expected}
    expected_names.add(_env_name("core", "xcom_backend"))
    expected_names.update(_env_name("common.io", f"xcom_objectstorage_{k}") for k in ("path", "threshold", "compression"))
    ambers = []
    for variable, fixed, problem in _misspelled_airflow_vars():
        (problems if fixed in expected_names else ambers).append(f"{variable}: {problem}")

    from airflow.configuration import conf

    confs = [("airflow.configuration.conf", conf)]
    try:  # the conf object the provider's backend itself reads (the SDK's in Airflow 3)
        from airflow.providers.common.compat.sdk import conf as provider_conf

        if provider_conf is not conf:
            confs.append(("the provider's conf", provider_conf))
    except Exception as exc:  # noqa: BLE001
        notes.append(f"provider conf not importable ({_exc(exc)})")

    for section, key, want in expected:
        seen = {}
        for label, c in confs:
            try:
                seen[label] = repr(c.get(section, key))
            except Exception as exc:  # noqa: BLE001
                seen[label] = f"an exception ({_exc(exc)})"
        if all(v == repr(want) for v in seen.values()):
            continue
        if section == "common.io" and key.endswith("_threshold") and _reads_as_int(confs, section, key, want):
            # The backend reads the threshold with conf.getint, which ignores surrounding whitespace:
            # judge it as VERIFY does (the integer the backend compares), and say what the text was.
            notes.append(f"[{section}] {key} is {next(iter(seen.values()))}, read as {int(want)} by conf.getint")
            continue
        if len(set(seen.values())) == 1:
            problems.append(f"[{section}] {key} resolves to {next(iter(seen.values()))}, expected {want!r}")
        else:
            got = ", ".join(f"{v} via {label}" for label, v in seen.items())
            problems.append(f"[{section}] {key} resolves to {got}; expected {want!r}")
        if section == "common.io" and key.endswith("_threshold"):
            try:
                conf.getint(section, key)
            except Exception as exc:  # noqa: BLE001
                problems.append(f"conf.getint('{section}', '{key}') raised {_exc(exc)}")

    xcom_class = None
    try:
        xcom_class = _resolve_xcom_class()
    except Exception as exc:  # noqa: BLE001
        problems.append(f"resolving the XCom class raised {_exc(exc)}")
    if xcom_class is not None:
        qualified = f"{xcom_class.__module__}.{xcom_class.__qualname__}"
        want_backend = next((v for s, k, v in expected if (s, k) == ("core", "xcom_backend")), None)
        if want_backend and qualified != want_backend:
            problems.append(f"XCom resolves to {qualified}, expected {want_backend}")
        notes.append(f"XCom resolves to {xcom_class.__name__}")

    checked = f"{len(expected)} keys read through conf.get"
    if problems:
        return "red", "; ".join(problems + ambers + notes)
    if ambers:
        return "amber", "; ".join([checked] + ambers + notes)
    return "green", "; ".join([checked + ", all as expected"] + notes)


def _reads_as_int(confs, section, key, want):
    try:
        wanted = int(want)
        return all(c.getint(section, key) == wanted for _, c in confs)
    except Exception:  # noqa: BLE001
        return False


def _resolve_xcom_class():
    try:  # Airflow 3: what the task runner uses
        from airflow.sdk.execution_time.xcom import resolve_xcom_backend
    except ImportError:  # Airflow 2
        from airflow.models.xcom import resolve_xcom_backend
    return resolve_xcom_backend()


def check_compression(request, prior_env, state):
    import fsspec.utils

    codec = request.get("compression")
    if codec is None:
        from airflow.configuration import conf

        codec = conf.get("common.io", "xcom_objectstorage_compression", fallback="")
    known = dict(fsspec.utils.compressions)  # suffix -> codec, the table the backend searches
    if codec == "":
        return "green", "no compression"
    for suffix, name in known.items():
        if name == codec:
            return "green", f"{codec} is an fsspec codec (objects get the .{suffix} suffix)"
    hint = ""
    if codec in known:
        hint = f" ('{codec}' is the SUFFIX of codec '{known[codec]}'; use the codec name)"
    return "red", (
        f"{codec!r} is not a codec fsspec knows here{hint}; the backend raises on EVERY push, inline ones too. "
        f"Known: {', '.join(sorted(set(known.values())))}"
    )


def check_prior_references(request, prior_env, state):
    path = request["path"]
    previous = [p for p in (request.get("previous_paths") or []) if p]
    live = prior_env.get(_env_name("common.io", "xcom_objectstorage_path"))
    if live:
        previous.append(live)
    previous = [p for p in dict.fromkeys(previous) if p.rstrip("/") != path.rstrip("/")]
    if not previous:
        return "green", "no prior offloaded references (no other base path was in use)"
    found = []
    for prev in previous:
        try:
            entries = list(_first_entries(_object_storage_path(prev), 3))
        except FileNotFoundError:
            entries = []
        if entries:
            found.append(f"{prev} holds objects (e.g. {entries[0]})")
    if found:
        return "amber", (
            "; ".join(found)
            + f": XCom rows referencing them will not resolve under {path} (downstream tasks get the path string); "
            "re-run the affected DAG runs or keep the old path"
        )
    return "green", f"no prior offloaded references: nothing under {', '.join(previous)}"


def _first_entries(folder, limit):
    n = 0
    for entry in folder.iterdir():
        yield str(entry)
        n += 1
        if n >= limit:
            return


CHECKS = [
    (lambda r: f"provider {PROVIDER}", check_provider),
    (lambda r: f"connection {_conn_label(r)}", check_connection),
    (lambda r: "object storage write -> read -> delete", check_functional),
    (lambda r: "config resolves (conf.get + XCom class)", check_resolution),
    (lambda r: "compression codec", check_compression),
    (lambda r: "prior offloaded references", check_prior_references),
]


def _conn_label(request):
    try:
        user = urlsplit(str(request.get("path", ""))).username
    except ValueError:
        user = None
    return user or "(none in path)"


def main(request, prior_env):
    _use_server_secrets(request)
    rows = []
    state = {}
    for label, check in CHECKS:
        started = time.monotonic()
        try:
            name = label(request)
        except Exception:  # noqa: BLE001
            name = check.__name__
        try:
            status, detail = check(request, prior_env, state)
        except Exception as exc:  # noqa: BLE001 - one failing check never hides the others
            status, detail = "red", _exc(exc)
        rows.append(
            {
                "name": name,
                "status": status,
                "detail": _scrub(detail),
                "durationMs": int(round((time.monotonic() - started) * 1000)),
            }
        )
    return {"checks": rows, "host": socket.gethostname()}


if __name__ == "__main__":  # python probes/preflight.py < request.json
    import runpy
    import sys

    sys.argv = [os.path.join(os.path.dirname(os.path.abspath(__file__)), "bootstrap.py"), os.path.abspath(__file__)]
    runpy.run_path(sys.argv[0], run_name="__main__")
