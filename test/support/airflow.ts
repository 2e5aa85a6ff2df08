/**
 * A minimal environment for Airflow processes in tests: the project's venv
 * Airflow, a throw-away AIRFLOW_HOME, and an `aws_default` connection (as an
 * AIRFLOW_CONN_ env var) pointing at a moto S3 endpoint. Nothing is inherited
 * from the test runner's own environment.
 *
 * The probes need no metadata database: connections come from the env-var
 * secrets backend (first in every Airflow 3 search path), and conf / XCom class
 * resolution read no tables. The connection string still points at a SQLite file
 * in the temp AIRFLOW_HOME, so nothing ever reaches for a real database.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { TEST_CREDENTIALS, TEST_REGION, venvDir } from './moto.js';

export interface AirflowEnvOptions {
  airflowHome: string;
  s3Endpoint: string;
  /** Merged into the connection's extra (e.g. botocore config_kwargs for fast failure). */
  connExtra?: Record<string, unknown>;
  /** The connection id the env var defines (default aws_default). */
  connId?: string;
}

export function airflowBaseEnv(opts: AirflowEnvOptions): Record<string, string> {
  const connId = opts.connId ?? 'aws_default';
  const connection = {
    conn_type: 'aws',
    extra: { endpoint_url: opts.s3Endpoint, region_name: TEST_REGION, ...opts.connExtra },
  };
  return {
    PATH: `${path.join(venvDir(), 'bin')}:/usr/local/bin:/usr/bin:/bin`,
    HOME: opts.airflowHome,
    LANG: 'C.UTF-8',
    AIRFLOW_HOME: opts.airflowHome,
    AIRFLOW__CORE__LOAD_EXAMPLES: 'False',
    AIRFLOW__DATABASE__SQL_ALCHEMY_CONN: `sqlite:///${path.join(opts.airflowHome, 'airflow.db')}`,
    [`AIRFLOW_CONN_${connId.toUpperCase()}`]: JSON.stringify(connection),
    AWS_ACCESS_KEY_ID: TEST_CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: TEST_CREDENTIALS.secretAccessKey,
    AWS_DEFAULT_REGION: TEST_REGION,
  };
}

/** A fresh temp AIRFLOW_HOME; `remove()` deletes it. */
export function tempAirflowHome(): { dir: string; remove(): void } {
  const dir = mkdtempSync(path.join(tmpdir(), 'cutover-airflow-home-'));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}
