"""Bootstrap for the cut-over's Airflow probes.

Run as ``python -c "<this file's text>"`` inside an Airflow component (pod exec or
a local process), with ONE JSON document on stdin::

    {"name": "preflight.py", "probe": "<probe source>", "extra_env": {...}, "request": {...}}

or as ``python probes/bootstrap.py probes/<probe>.py`` with the same document minus
``probe`` (the source is read from the file).

1. fd 1 is duplicated for the result and then pointed at stderr, so everything
   Airflow, structlog, boto and friends print (Airflow logs to stdout) lands on
   stderr; stdout carries exactly one line: RESULT_PREFIX + JSON.
2. ``extra_env`` is put into os.environ BEFORE the probe runs, so nothing has
   imported airflow yet when the rendered env is added (for this process only).
3. The probe source is executed; it defines ``main(request, prior_env)`` returning
   a JSON-serialisable dict. ``prior_env`` holds the values the extra_env
   variables had before (None = unset).

Result envelope: {"ok": true, "result": {...}} or {"ok": false, "error":
{"type", "message", "traceback"}}. Exit code 0 when ok, 3 when the probe raised,
2 when the request itself was unusable. Only the standard library is used here.
"""

import json
import os
import sys
import types
import traceback

RESULT_PREFIX = "@@cutover-probe-result@@ "

_result_fd = os.dup(1)
os.dup2(2, 1)
_result_out = os.fdopen(_result_fd, "w", encoding="utf-8")


def _emit(doc, code):
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except Exception:  # noqa: BLE001 - nothing useful to do if a log stream is gone
        pass
    _result_out.write(RESULT_PREFIX + json.dumps(doc, default=str) + "\n")
    _result_out.flush()
    # Skip interpreter shutdown: lingering aiobotocore sessions, fsspec's IO thread
    # and Airflow's atexit hooks can only add noise (or hang) after the answer is out.
    os._exit(code)


def _error(exc, tb=True):
    return {
        "type": type(exc).__name__,
        "message": str(exc),
        "traceback": traceback.format_exc()[-6000:] if tb else "",
    }


def _run():
    try:
        doc = json.loads(sys.stdin.read() or "{}")
        if not isinstance(doc, dict):
            raise ValueError("the request must be a JSON object")
        source = doc.get("probe")
        name = doc.get("name") or "<probe>"
        if source is None and len(sys.argv) > 1 and sys.argv[0] != "-c":
            name = sys.argv[1]
            with open(name, encoding="utf-8") as f:
                source = f.read()
        if not isinstance(source, str) or not source.strip():
            raise ValueError("no probe source: pass it as 'probe' or as the first argument")
        extra_env = doc.get("extra_env") or {}
        if not isinstance(extra_env, dict):
            raise ValueError("extra_env must be an object of strings")
        request = doc.get("request") or {}
        libs = doc.get("libs") or {}
        if not isinstance(libs, dict):
            raise ValueError("libs must be an object of module name -> source")
        if source is not None and not doc.get("probe"):
            # Run from a checkout: the probe's own folder holds the shared modules.
            sys.path.insert(0, os.path.dirname(os.path.abspath(name)))
    except Exception as exc:  # noqa: BLE001 - reported, never raised
        _emit({"ok": False, "error": _error(exc, tb=False)}, 2)
        return

    prior_env = {}
    for key, value in extra_env.items():
        prior_env[str(key)] = os.environ.get(str(key))
        os.environ[str(key)] = "" if value is None else str(value)

    namespace = {"__name__": "__cutover_probe__", "__file__": name, "__builtins__": __builtins__}
    try:
        for lib_name, lib_source in libs.items():
            module = types.ModuleType(str(lib_name))
            exec(compile(lib_source, f"{lib_name}.py", "exec"), module.__dict__)
            sys.modules[str(lib_name)] = module
        exec(compile(source, name, "exec"), namespace)
        result = namespace["main"](request, prior_env)
    except BaseException as exc:  # noqa: BLE001 - the caller gets type, message and traceback
        _emit({"ok": False, "error": _error(exc)}, 3)
        return
    _emit({"ok": True, "result": result}, 0)


_run()
