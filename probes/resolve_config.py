"""VERIFY probe (dossier section 6.3): resolve the XCom config in a component's own
Python, with its env as deployed (plus optional extra_env added by bootstrap.py).

Never ``airflow config get-value``: in Airflow 3 it prints nothing and exits 0 for a
key it cannot find. This reads through ``airflow.configuration.conf`` and resolves
the XCom class with the function the task runner uses.

Returns ``{path, threshold, compression, xcomClass, error, host}``. ANY exception sets
``error`` to "<Type>: <message>". A misspelled AIRFLOW__ variable for one of the keys
read here (e.g. a dotted section, AIRFLOW__COMMON.IO__...) also sets ``error`` and is
named, even when conf.get quietly falls back to a default: such a variable is in the
env but Airflow never reads it.
"""

import os
import re
import socket

_AIRFLOW_VAR = re.compile(r"^AIRFLOW__(.+?)__(.+)$", re.IGNORECASE)
SECTION = "common.io"
KEYS = {
    "AIRFLOW__CORE__XCOM_BACKEND": ("core", "xcom_backend"),
    "AIRFLOW__COMMON_IO__XCOM_OBJECTSTORAGE_PATH": (SECTION, "xcom_objectstorage_path"),
    "AIRFLOW__COMMON_IO__XCOM_OBJECTSTORAGE_THRESHOLD": (SECTION, "xcom_objectstorage_threshold"),
    "AIRFLOW__COMMON_IO__XCOM_OBJECTSTORAGE_COMPRESSION": (SECTION, "xcom_objectstorage_compression"),
}


def _misspelled_airflow_vars():
    """[(variable, the name Airflow looks up)] for AIRFLOW__ variables Airflow cannot read."""
    found = []
    for name in sorted(os.environ):
        m = _AIRFLOW_VAR.match(name)
        if not m or not name.upper().startswith("AIRFLOW__"):
            continue
        section, key = m.group(1), m.group(2)
        if "." in section or name != name.upper():
            found.append((name, f"AIRFLOW__{section.replace('.', '_')}__{key}".upper()))
    return found


def _resolve_xcom_class():
    try:  # Airflow 3: what the task runner uses
        from airflow.sdk.execution_time.xcom import resolve_xcom_backend
    except ImportError:  # Airflow 2
        from airflow.models.xcom import resolve_xcom_backend
    return resolve_xcom_backend()


def main(request, prior_env):
    out = {
        "path": None,
        "threshold": None,
        "compression": None,
        "xcomClass": None,
        "error": None,
        "host": socket.gethostname(),
    }
    misspelled = _misspelled_airflow_vars()
    try:
        from airflow.configuration import conf

        out["path"] = conf.get(SECTION, "xcom_objectstorage_path")
        out["threshold"] = conf.getint(SECTION, "xcom_objectstorage_threshold")
        out["compression"] = conf.get(SECTION, "xcom_objectstorage_compression")
        out["xcomClass"] = _resolve_xcom_class().__name__
    except Exception as exc:  # noqa: BLE001 - ANY exception is the answer
        message = f"{type(exc).__name__}: {exc}"
        if misspelled:
            names = ", ".join(f"{v} (Airflow reads {fixed})" for v, fixed in misspelled)
            message += f"; the env holds AIRFLOW__ variables Airflow never reads: {names}"
        out["error"] = message
        return out

    relevant = [(v, fixed) for v, fixed in misspelled if fixed in KEYS]
    if relevant:
        parts = []
        for variable, fixed in relevant:
            section, key = KEYS[fixed]
            parts.append(
                f"{variable} is set but Airflow never reads it (it looks up {fixed}, "
                f"{'also set' if fixed in os.environ else 'unset'}); [{section}] {key} resolved to "
                f"{_shown(out, key)}"
            )
        out["error"] = "; ".join(parts)
    return out


def _shown(out, key):
    if key == "xcom_backend":
        return f"XCom class {out['xcomClass']}"
    field = key.replace("xcom_objectstorage_", "")
    return repr(out.get(field))


if __name__ == "__main__":  # python probes/resolve_config.py < request.json
    import runpy
    import sys

    sys.argv = [os.path.join(os.path.dirname(os.path.abspath(__file__)), "bootstrap.py"), os.path.abspath(__file__)]
    runpy.run_path(sys.argv[0], run_name="__main__")
