"""Shared by the state-store probes (state_store_resolve.py, state_store_rehearse.py) and usable from
a heal job: names, the marker, its unwrap, the data-aware heal of one stored value, and the draft-name
lint. Standard library only at import time (Airflow is imported inside functions, after bootstrap.py
has put the rendered env in place).

Verified against apache-airflow 3.3.2 / task-sdk 1.3.2 / common-io 1.11.0 (docs/facts.md, section
"State store"):

- the worker backend is ``[workers] state_store_backend`` (airflow/sdk/execution_time/context.py:518);
  ``[state_store] backend`` is the SERVER-side store the Execution API writes through
  (airflow/state/__init__.py:33) and must stay ``airflow.state.metastore.MetastoreBackend``;
- with a worker backend set, the SDK stores ``{"__airflow_state_ref__": <ref>}`` for EVERY value
  (context.py:128-132, 618-624 for task state, 769-776 for asset state) and unwraps only while a
  backend is configured (context.py:571-582, 736-747);
- the ref is ``json.dumps(value)`` below the threshold and ``str(ObjectStoragePath)`` at or above it
  (providers/common/io/state_store/backend.py:208-214, 226-232).
"""

import json
import os
import re
from urllib.parse import urlsplit

MARKER = "__airflow_state_ref__"

SECTION = "common.io"
BACKEND_CLASS = "airflow.providers.common.io.state_store.backend.StateStoreObjectStorageBackend"
METASTORE_CLASS = "airflow.state.metastore.MetastoreBackend"

#: (section, key) -> the env var Airflow reads for it.
KEYS = {
    ("workers", "state_store_backend"): "AIRFLOW__WORKERS__STATE_STORE_BACKEND",
    ("state_store", "backend"): "AIRFLOW__STATE_STORE__BACKEND",
    (SECTION, "state_store_objectstorage_path"): "AIRFLOW__COMMON_IO__STATE_STORE_OBJECTSTORAGE_PATH",
    (SECTION, "state_store_objectstorage_threshold"): "AIRFLOW__COMMON_IO__STATE_STORE_OBJECTSTORAGE_THRESHOLD",
    (SECTION, "state_store_objectstorage_compression"): "AIRFLOW__COMMON_IO__STATE_STORE_OBJECTSTORAGE_COMPRESSION",
}

# Names from the PR text (apache/airflow#68283) and the provider's draft docs that never shipped.
DRAFT_MODULE = "airflow.providers.common.io.store.backend"
DRAFT_CLASS = "StoreObjectStorageBackend"
_DRAFT_KEY = re.compile(r"^STORE_OBJECTSTORAGE_(PATH|THRESHOLD|COMPRESSION)$")
_AIRFLOW_VAR = re.compile(r"^AIRFLOW__(.+?)__(.+)$", re.IGNORECASE)


def is_marker(value):
    """True for what the SDK writes when a worker backend is configured: {MARKER: <str>} and nothing else."""
    return isinstance(value, dict) and set(value) == {MARKER} and isinstance(value[MARKER], str)


def is_object_ref(ref):
    """Whether a ref names an object (a URL) rather than inline JSON text.

    JSON text starts with one of { [ " - 0-9 t f n and never carries a URL scheme followed by '://',
    so the two kinds cannot be confused (the backend itself asks urlsplit for a scheme,
    backend.py:116-122, then whether the URL lies under the CURRENT base path).
    """
    if not isinstance(ref, str) or "://" not in ref[:64]:
        return False
    try:
        return bool(urlsplit(ref).scheme)
    except ValueError:
        return False


def object_storage_path(url):
    from airflow.sdk import ObjectStoragePath

    return ObjectStoragePath(url)


def read_object_text(url):
    """The text of an offloaded value, decompressed by suffix as the backend does (backend.py:108-113)."""
    with object_storage_path(url).open(mode="rb", compression="infer") as f:
        return f.read().decode("utf-8")


def resolve_ref(ref):
    """The value a marker's ref stands for, without the worker backend configured.

    Inline refs are JSON text; object refs are read from the URL itself (it carries the conn id), so
    this works after a revert, when ``[common.io] state_store_objectstorage_path`` may be gone too.
    A missing object raises FileNotFoundError: the backend would quietly return None there
    (backend.py:219-223), and a heal must never write None over a value it could not find.
    """
    if is_object_ref(ref):
        return json.loads(read_object_text(ref))
    return json.loads(ref)


def heal_stored_text(text):
    """Data-aware heal of one ``value`` column (the JSON text the Execution API stored).

    Returns (new_text, ref) when the row holds a marker: new_text is what the metastore holds for
    that value when no worker backend is configured (json.dumps of the value, as the Execution API
    route does it: api_fastapi/execution_api/routes/task_state_store.py:90). Returns (None, None)
    for a row that holds no marker (written without a backend): it is left alone.
    """
    try:
        stored = json.loads(text)
    except (TypeError, ValueError):
        return None, None
    if not is_marker(stored):
        return None, None
    ref = stored[MARKER]
    return json.dumps(resolve_ref(ref)), ref


def airflow_name(variable):
    """The env var name Airflow reads for what `variable` was meant to set (section dots -> '_', upper)."""
    m = _AIRFLOW_VAR.match(variable)
    if not m:
        return None
    return f"AIRFLOW__{m.group(1).replace('.', '_')}__{m.group(2)}".upper()


def draft_names(environ=None):
    """Draft or misspelled names in the env, one record per variable: {variable, problem, use}.

    `use` is what to set instead (variable, and value where the value is the problem). Values are
    never echoed except class paths, which are not secrets.
    """
    env = os.environ if environ is None else environ
    found = []
    for name in sorted(env):
        if not name.upper().startswith("AIRFLOW__"):
            continue
        value = str(env[name] or "").strip()
        fixed = airflow_name(name)
        if not fixed:
            continue
        problems = []
        use_name, use_value = fixed, None
        if fixed != name:
            problems.append("Airflow never reads it: a section is spelled with '_' for '.', upper-cased")
        if fixed.startswith("AIRFLOW__COMMON_IO__"):
            km = _DRAFT_KEY.match(fixed[len("AIRFLOW__COMMON_IO__") :])
            if km:
                problems.append("draft option name (store_objectstorage_*, PR text): no such option")
                use_name = f"AIRFLOW__COMMON_IO__STATE_STORE_OBJECTSTORAGE_{km.group(1)}"
        draft_class = value.startswith(DRAFT_MODULE) or value.endswith("." + DRAFT_CLASS)
        if draft_class:
            problems.append(f"draft class path {value!r} (PR text): no such module or class")
            use_value = BACKEND_CLASS
        if fixed == "AIRFLOW__STATE_STORE__BACKEND" and (draft_class or "ObjectStorage" in value):
            problems.append(
                "[state_store] backend is the SERVER-side store (the Execution API writes through it) and must "
                f"stay {METASTORE_CLASS}; the object-storage class belongs in [workers] state_store_backend"
            )
            use_name, use_value = "AIRFLOW__WORKERS__STATE_STORE_BACKEND", BACKEND_CLASS
        if problems:
            use = use_name if use_value is None else f"{use_name}={use_value}"
            if use_name == "AIRFLOW__WORKERS__STATE_STORE_BACKEND" and fixed == "AIRFLOW__STATE_STORE__BACKEND":
                use += " (and unset AIRFLOW__STATE_STORE__BACKEND)"
            found.append({"variable": name, "problem": "; ".join(problems), "use": use})
    return found

