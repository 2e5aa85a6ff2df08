/**
 * Environments for local Airflow processes: the project's venv Airflow, an AIRFLOW_HOME, and an
 * `aws_default` connection (as an AIRFLOW_CONN_ env var) pointing at an S3 endpoint (moto). Nothing
 * is inherited from the caller's own environment.
 *
 * airflowBaseEnv needs no metadata database: connections come from the env-var secrets backend
 * (first in every Airflow 3 search path), and conf / XCom class resolution read no tables; its
 * connection string points at a SQLite file in AIRFLOW_HOME so nothing reaches for a real database.
 * localTargetEnvFile is the env file of a `local` target: the same plus a real metadata DB.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { MOTO_CREDENTIALS, MOTO_REGION } from './moto.js';
import { venvPath } from './venv.js';

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
    extra: { endpoint_url: opts.s3Endpoint, region_name: MOTO_REGION, ...opts.connExtra },
  };
  return {
    PATH: venvPath(),
    HOME: opts.airflowHome,
    LANG: 'C.UTF-8',
    AIRFLOW_HOME: opts.airflowHome,
    AIRFLOW__CORE__LOAD_EXAMPLES: 'False',
    AIRFLOW__DATABASE__SQL_ALCHEMY_CONN: `sqlite:///${path.join(opts.airflowHome, 'airflow.db')}`,
    [`AIRFLOW_CONN_${connId.toUpperCase()}`]: JSON.stringify(connection),
    AWS_ACCESS_KEY_ID: MOTO_CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: MOTO_CREDENTIALS.secretAccessKey,
    AWS_DEFAULT_REGION: MOTO_REGION,
  };
}

/** A fresh temp AIRFLOW_HOME; `remove()` deletes it. */
export function tempAirflowHome(): { dir: string; remove(): void } {
  const dir = mkdtempSync(path.join(tmpdir(), 'cutover-airflow-home-'));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

export interface LocalTargetEnvOptions {
  airflowHome: string;
  /** The metadata DB as Airflow spells it (postgresql+psycopg2://...). */
  sqlalchemyUrl: string;
  s3Endpoint: string;
  /** The first line, a comment saying whose file this is. */
  title?: string;
}

/**
 * The text of a local target's env file: what the local Airflow components read at start (and the
 * worker's probes run with). It holds credentials, which never leave the file: the change's diff
 * shows only the lines it adds.
 */
export function localTargetEnvFile(opts: LocalTargetEnvOptions): string {
  const base = airflowBaseEnv({ airflowHome: opts.airflowHome, s3Endpoint: opts.s3Endpoint });
  return [
    `# ${opts.title ?? 'A local Airflow target: its components read this file at start.'}`,
    `AIRFLOW_HOME=${opts.airflowHome}`,
    `AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=${opts.sqlalchemyUrl}`,
    '# The venv has no asyncpg; Airflow 3 would derive a postgresql+asyncpg URL and fail at import.',
    'AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC=',
    'AIRFLOW__CORE__LOAD_EXAMPLES=False',
    `AIRFLOW_CONN_AWS_DEFAULT=${base.AIRFLOW_CONN_AWS_DEFAULT}`,
    `AWS_ACCESS_KEY_ID=${base.AWS_ACCESS_KEY_ID}`,
    `AWS_SECRET_ACCESS_KEY=${base.AWS_SECRET_ACCESS_KEY}`,
    `AWS_DEFAULT_REGION=${base.AWS_DEFAULT_REGION}`,
    'LANG=C.UTF-8',
    '',
  ].join('\n');
}
