#!/usr/bin/env bash
# The compose stack's one-shot `airflow-init` service: migrates the Airflow metadata DB (Airflow's
# own `airflow db migrate`, idempotent), then writes the shared env file of the local target
# ($CUTOVER_ENV_FILE) unless it already exists (docker/write_airflow_env.py).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

: "${CUTOVER_ENV_FILE:?must name the shared env file, e.g. /cutover/airflow.env}"
: "${AIRFLOW__DATABASE__SQL_ALCHEMY_CONN:?must name the metadata DB}"
: "${AIRFLOW_HOME:?must name the AIRFLOW_HOME of the components}"

VENV=${CUTOVER_VENV:-$PWD/.venv}
mkdir -p "$AIRFLOW_HOME"

echo "airflow-init: airflow db migrate"
"$VENV/bin/airflow" db migrate

"$VENV/bin/python" docker/write_airflow_env.py
echo "airflow-init: done"
