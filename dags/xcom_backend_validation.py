"""The cut-over's validation DAG: one real run through whatever XCom backend the components carry.

`produce` pushes two XComs: a control-flow value of about 100 bytes (key `control`; stays inline
under any sane threshold) and, as its return value, a large JSON string (default 2,000,000 bytes
encoded; `dag_run.conf` `{"large_bytes": N}` changes it) that the object-storage backend offloads
when its threshold is at or below N. `consume` pulls both and raises when either arrives as
something other than the data: an object-storage reference string (what BaseXCom hands back after a
revert) or a value of the wrong size or content. The run succeeding therefore means every task
read data, whichever backend stored it.

The size is measured the way XComObjectStorageBackend measures it (JSON-encoded UTF-8 bytes), so
"larger than the threshold" here means the same thing as in the backend.
"""

from __future__ import annotations

import hashlib
import json
import os

import pendulum

from airflow.sdk import dag, get_current_context, task

DEFAULT_LARGE_BYTES = 2_000_000
# A JSON string of n ASCII characters encodes to n + 2 bytes (the quotes).
QUOTES = 2


def _large_value(n_bytes: int) -> str:
    body = max(0, n_bytes - QUOTES)
    # A pattern, not one repeated character, so a truncated or shifted value cannot compare equal.
    pattern = "xcom-validation-0123456789abcdef"
    return (pattern * (body // len(pattern) + 1))[:body]


def _encoded_size(value: object) -> int:
    return len(json.dumps(value).encode("utf-8"))


def _looks_like_reference(value: object) -> bool:
    """True for what a reader gets when the backend cannot resolve an offloaded value."""
    if not isinstance(value, str):
        return False
    base = os.environ.get("AIRFLOW__COMMON_IO__XCOM_OBJECTSTORAGE_PATH", "").strip()
    if base and value.startswith(base):
        return True
    return "://" in value[:64] and value.split("://", 1)[0] in ("s3", "gs", "gcs", "abfs", "az", "file")


@dag(
    dag_id="xcom_backend_validation",
    schedule=None,
    start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
    catchup=False,
    tags=["cutover"],
)
def xcom_backend_validation():
    @task
    def produce() -> str:
        context = get_current_context()
        conf = context["dag_run"].conf or {}
        large = _large_value(int(conf.get("large_bytes", DEFAULT_LARGE_BYTES)))
        # The control-flow XCom: small enough to stay inline, and it carries what consume checks
        # the large value against, so a wrong or truncated value cannot pass.
        context["ti"].xcom_push(
            key="control",
            value={"bytes": _encoded_size(large), "sha256": hashlib.sha256(large.encode()).hexdigest()},
        )
        return large

    @task
    def consume(large: object) -> None:
        control = get_current_context()["ti"].xcom_pull(task_ids="produce", key="control")
        problems = [
            f"{name} arrived as a path string, not data: {str(value)[:200]!r}"
            for name, value in (("return_value", large), ("control", control))
            if _looks_like_reference(value)
        ]
        if problems:
            raise RuntimeError("XCom backend returned references instead of data: " + "; ".join(problems))
        if not isinstance(control, dict) or set(control) != {"bytes", "sha256"}:
            raise RuntimeError(f"control XCom is not what produce pushed: {str(control)[:200]!r}")
        if not isinstance(large, str):
            raise RuntimeError(f"the large XCom is a {type(large).__name__}, expected str")
        got = {"bytes": _encoded_size(large), "sha256": hashlib.sha256(large.encode()).hexdigest()}
        if got != control:
            raise RuntimeError(f"the large XCom differs from what produce pushed: got {got}, pushed {control}")
        print(f"read both XComs as data: control {control}, large value {got['bytes']} bytes")

    consume(produce())


xcom_backend_validation()
