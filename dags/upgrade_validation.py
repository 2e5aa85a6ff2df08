"""The upgrade's validation DAG: one real run on the release the components were just switched to, and
the same DAG on the release they came from (a rollback re-runs on it), so it imports from wherever the
running Airflow keeps its authoring API.

- ``produce`` pushes a value through XCom (a metadata-DB write through the new schema);
- ``check`` pulls it back and compares it, then reports the Airflow version it ran on (the task
  runner's own ``airflow.__version__``, which is what an upgraded worker really runs);
- ``params``/``conf`` ``fail: true`` makes ``check`` fail on purpose: the ``fail-validation`` drill.
"""

from __future__ import annotations

import hashlib

import pendulum

try:  # Airflow 3: the task SDK.
    from airflow.sdk import dag, get_current_context, task
except ImportError:  # Airflow 2 (a rollback's re-run, or the release being upgraded from).
    from airflow.decorators import dag, task  # noqa: AIR311
    from airflow.operators.python import get_current_context  # noqa: AIR302


class UpgradeValidationError(RuntimeError):
    """The run read back something other than what it wrote, or was asked to fail."""


@dag(
    dag_id="upgrade_validation",
    schedule=None,
    start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
    catchup=False,
    tags=["cutover"],
)
def upgrade_validation():
    @task
    def produce() -> dict[str, str]:
        run_id = get_current_context()["run_id"]
        return {"run_id": run_id, "digest": hashlib.sha256(run_id.encode()).hexdigest()}

    @task
    def check(value: dict[str, str]) -> str:
        import airflow

        context = get_current_context()
        conf = context["dag_run"].conf or {}
        if conf.get("fail"):
            raise UpgradeValidationError("asked to fail (conf fail: true): the fail-validation drill")
        expected = hashlib.sha256(value["run_id"].encode()).hexdigest()
        if value["digest"] != expected or value["run_id"] != context["run_id"]:
            raise UpgradeValidationError(f"XCom read back {value!r}, not the value this run wrote")
        return airflow.__version__

    check(produce())


upgrade_validation()
