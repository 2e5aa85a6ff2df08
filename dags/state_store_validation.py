"""The state-store cut-over's validation DAG: one real run through whatever worker state-store backend the
components carry (``[workers] state_store_backend``; empty = values go to the DB as they are).

Task state is scoped to ONE task instance (retries share it), asset state to an asset (it outlives
runs), so the checks are laid out along those scopes:

- ``write_state`` (outlet ``ASSET``), try 1: first reads the asset state the PREVIOUS run left, then
  writes a small value (~20 B) and a large one (``params.large_bytes``, default 64 KiB) as task state
  and as asset state, reads them back, and fails on purpose so that
- ``write_state``, try 2 (same task instance, so the same task-state rows) reads the task state try 1
  wrote: what a resumable operator does after a crash;
- ``read_asset_state`` (inlet ``ASSET``) reads the asset state ``write_state`` wrote.

Every read fails LOUDLY when it gets something other than the data: the marker dict
``{"__airflow_state_ref__": ...}`` (what the task SDK returns when values were written with a worker
backend and read without one: airflow/sdk/execution_time/context.py:571-582, 736-747), an object path
string, None (the backend returns None for a missing object: common/io/state_store/backend.py:219-223)
or a value whose content does not match its own checksum. The run succeeding therefore means every
read got data, whichever backend stored it; the asset read at the start of ``write_state`` also
catches a revert between two runs (values written before the revert, read after it).

``params.check_next_try`` (default true) switches the deliberate first-try failure off for a quicker run.
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import timedelta

import pendulum

from airflow.sdk import Asset, Param, dag, get_current_context, task

MARKER = "__airflow_state_ref__"
ASSET = Asset(name="state_store_backend_validation", uri="cutover://state-store-backend-validation")
DEFAULT_LARGE_BYTES = 64 * 1024
SMALL = re.compile(r"^ok-[0-9a-f]{14}$")  # json.dumps of it is 19 bytes


class StateStoreValidationError(RuntimeError):
    """A state read returned something other than the value that was written."""


def _small_value(run_id: str) -> str:
    return "ok-" + hashlib.sha256(run_id.encode()).hexdigest()[:14]


def _large_value(run_id: str, n_bytes: int) -> dict[str, str]:
    """A self-checking dict whose json.dumps is n_bytes long: the reader needs nothing else to verify it."""
    overhead = len(json.dumps({"sha256": "0" * 64, "payload": ""}))
    seed = hashlib.sha256(run_id.encode()).hexdigest()
    body = max(0, n_bytes - overhead)
    payload = (seed * (body // len(seed) + 1))[:body]
    return {"sha256": hashlib.sha256(payload.encode()).hexdigest(), "payload": payload}


def _check(where: str, key: str, got: object) -> None:
    """Raise unless `got` is the data a writer of this DAG stored under `key`."""
    shown = repr(got)[:200]
    if isinstance(got, dict) and MARKER in got:
        raise StateStoreValidationError(
            f"{where} {key!r} came back as the state-store MARKER {shown}: it was written through a worker "
            "state-store backend and is read without one ([workers] state_store_backend unset or different). "
            "Re-enable the backend or heal the rows (rewrite each marker row with its resolved value)."
        )
    if got is None:
        raise StateStoreValidationError(
            f"{where} {key!r} came back as None: missing row, or the offloaded object is gone "
            "(the object-storage backend returns None for a missing object)"
        )
    if isinstance(got, str) and "://" in got[:64]:
        raise StateStoreValidationError(f"{where} {key!r} came back as an object path, not data: {shown}")
    if key == "small":
        if not (isinstance(got, str) and SMALL.match(got)):
            raise StateStoreValidationError(f"{where} {key!r} is not the small value written: {shown}")
        return
    if not (isinstance(got, dict) and set(got) == {"sha256", "payload"} and isinstance(got["payload"], str)):
        raise StateStoreValidationError(f"{where} {key!r} is not the large value written: {shown}")
    if hashlib.sha256(got["payload"].encode()).hexdigest() != got["sha256"]:
        raise StateStoreValidationError(f"{where} {key!r} does not match its own checksum (truncated or altered)")


def _check_equal(where: str, key: str, got: object, wanted: object) -> None:
    _check(where, key, got)
    if got != wanted:
        raise StateStoreValidationError(f"{where} {key!r} differs from what this run wrote: {repr(got)[:200]}")


@dag(
    dag_id="state_store_backend_validation",
    schedule=None,
    start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
    catchup=False,
    tags=["cutover"],
    params={
        "large_bytes": Param(DEFAULT_LARGE_BYTES, type="integer", minimum=64),
        "check_next_try": Param(True, type="boolean"),
    },
)
def state_store_backend_validation():
    # retry_delay 0: the second try is part of the check, not a back-off.
    @task(outlets=[ASSET], retries=1, retry_delay=timedelta(seconds=0))
    def write_state() -> None:
        context = get_current_context()
        run_id = context["run_id"]
        params = context["params"]
        small, large = _small_value(run_id), _large_value(run_id, int(params["large_bytes"]))
        wanted = {"small": small, "large": large}
        task_state = context["task_state_store"]
        asset_state = context["asset_state_store"]

        if context["ti"].try_number > 1:
            # The retry: the task-state rows are the ones try 1 wrote.
            for key, value in wanted.items():
                _check_equal("task state from the previous try:", key, task_state.get(key), value)
            print("retry read the task state of try 1 as data")
            return

        # Asset state outlives runs: what the previous run left must still read as data.
        # Both keys are always written together, so one present and one None means a lost object.
        previous = {key: asset_state.get(key) for key in wanted}
        if any(v is not None for v in previous.values()):
            for key, value in previous.items():
                _check("asset state left by an earlier run:", key, value)

        for key, value in wanted.items():
            task_state.set(key, value)
            asset_state.set(key, value)
        for key, value in wanted.items():
            _check_equal("task state read back:", key, task_state.get(key), value)
            _check_equal("asset state read back:", key, asset_state.get(key), value)
        sizes = f"small {len(json.dumps(small))} B, large {len(json.dumps(large))} B"
        print(f"wrote and read back task and asset state: {sizes}")
        if params["check_next_try"]:
            raise RuntimeError("first try: state written; failing on purpose so the retry reads it back")

    @task(inlets=[ASSET])
    def read_asset_state() -> None:
        context = get_current_context()
        run_id = context["run_id"]
        wanted = {
            "small": _small_value(run_id),
            "large": _large_value(run_id, int(context["params"]["large_bytes"])),
        }
        asset_state = context["asset_state_store"]
        for key, value in wanted.items():
            _check_equal("asset state in a downstream task:", key, asset_state.get(key), value)
        print("downstream task read the asset state as data")

    write_state() >> read_asset_state()


state_store_backend_validation()
