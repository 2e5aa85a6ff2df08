"""Writes the env file of the compose stack's local Airflow target, once.

Run by the `airflow-init` service (docker/airflow-init.sh) after `airflow db migrate`. The file is
what the supervisor's Airflow components read at every (re)start and what the cut-over worker's
probes run with; the cut-over edits it (adds the XCom backend settings) and reverts it. So it is
written ONLY when it does not exist yet: a restart of the stack keeps a cut-over's edits.

It never holds the XCom backend settings: those are the cut-over's to add.

Inputs (environment of the airflow-init service; every one is required):
  CUTOVER_ENV_FILE                     where to write, e.g. /cutover/airflow.env
  AIRFLOW_HOME                         the components' AIRFLOW_HOME
  AIRFLOW__DATABASE__SQL_ALCHEMY_CONN  the metadata DB as Airflow spells it (postgresql+psycopg2://...)
  CUTOVER_DAGS_FOLDER                  the DAG files, e.g. /app/dags
  CUTOVER_S3_ENDPOINT                  the S3 endpoint of the aws_default connection (MinIO)
  AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION   its credentials and region

Values are quoted the way the cut-over's env-file change quotes them (adapters/env-file-change.ts:
plain when they are made of safe characters, else a JSON string), so its parser reads them back
exactly, whatever characters a password holds; the connection is one line of JSON.
"""

from __future__ import annotations

import json
import os
import re
import sys
import tempfile

REQUIRED = (
    "CUTOVER_ENV_FILE",
    "AIRFLOW_HOME",
    "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN",
    "CUTOVER_DAGS_FOLDER",
    "CUTOVER_S3_ENDPOINT",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_REGION",
)

SAFE = re.compile(r"^[A-Za-z0-9_./:@+,=-]*$")


def quote(value: str) -> str:
    return value if SAFE.match(value) else json.dumps(value)


def json_value(value: object) -> str:
    """One line of JSON, written as it is: the parser takes a line's value verbatim unless it is a
    double-quoted string, and a JSON object never is (json.dumps escapes newlines and quotes)."""
    return json.dumps(value, separators=(",", ":"))


def env_lines(env: dict[str, str]) -> list[str]:
    connection = {
        "conn_type": "aws",
        "login": env["AWS_ACCESS_KEY_ID"],
        "password": env["AWS_SECRET_ACCESS_KEY"],
        "extra": {"endpoint_url": env["CUTOVER_S3_ENDPOINT"], "region_name": env["AWS_REGION"]},
    }
    settings: list[tuple[str, str | dict[str, object]]] = [
        ("AIRFLOW_HOME", env["AIRFLOW_HOME"]),
        ("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]),
        # The venv has no asyncpg; Airflow 3 would derive a postgresql+asyncpg URL and fail at import.
        ("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC", ""),
        ("AIRFLOW__CORE__EXECUTOR", "LocalExecutor"),
        ("AIRFLOW__CORE__LOAD_EXAMPLES", "False"),
        ("AIRFLOW__CORE__DAGS_FOLDER", env["CUTOVER_DAGS_FOLDER"]),
        ("AIRFLOW_CONN_AWS_DEFAULT", connection),
        ("AWS_ACCESS_KEY_ID", env["AWS_ACCESS_KEY_ID"]),
        ("AWS_SECRET_ACCESS_KEY", env["AWS_SECRET_ACCESS_KEY"]),
        ("AWS_DEFAULT_REGION", env["AWS_REGION"]),
        ("LANG", "C.UTF-8"),
    ]
    return [
        "# The compose stack's Airflow target (written once by the airflow-init service).",
        "# The supervisor's components read it at every (re)start; a cut-over adds its XCom settings here.",
        *(
            f"{key}={json_value(value) if isinstance(value, dict) else quote(value)}"
            for key, value in settings
        ),
    ]


def main() -> int:
    missing = [name for name in REQUIRED if not os.environ.get(name)]
    if missing:
        print(f"write_airflow_env: not set: {', '.join(missing)}", file=sys.stderr)
        return 2
    path = os.environ["CUTOVER_ENV_FILE"]
    if os.path.exists(path):
        print(f"write_airflow_env: {path} exists, kept as it is (a cut-over's edits survive restarts)")
        return 0
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    text = "\n".join(env_lines(dict(os.environ))) + "\n"
    # Written next to the target and renamed: a reader never sees half a file. It holds credentials: 0600.
    fd, tmp = tempfile.mkstemp(prefix=".airflow.env.", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.chmod(tmp, 0o600)
        os.link(tmp, path)  # fails if another init wrote the file meanwhile: theirs is kept
    except FileExistsError:
        print(f"write_airflow_env: {path} appeared meanwhile, kept as it is")
        return 0
    finally:
        os.unlink(tmp)
    print(f"write_airflow_env: wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
