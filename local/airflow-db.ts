/**
 * Airflow's own schema, made by Airflow itself: `airflow db migrate` from the project's venv (or
 * the venv of the Airflow version asked for) against a PostgreSQL database. Nothing in this project
 * writes Airflow DDL by hand.
 *
 * A fresh database migrates in a few seconds (Airflow creates the tables from its ORM and stamps
 * the alembic head).
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { airflowVenvFor, venvDir, venvPathOf } from './venv.js';

const run = promisify(execFile);

/**
 * The minimal env of an Airflow CLI process on `sqlalchemyUrl`: PATH with the venv first, HOME,
 * AIRFLOW_HOME, no examples. The async engine is switched off (empty SQL_ALCHEMY_CONN_ASYNC):
 * Airflow 3 would otherwise derive a postgresql+asyncpg URL and fail at start because the venv has
 * no asyncpg; migrations and the probes only use the sync engine. Nothing is inherited from the
 * caller's environment.
 */
export function airflowDbEnv(
  sqlalchemyUrl: string,
  airflowHome: string,
  venv: string = venvDir(),
): NodeJS.ProcessEnv {
  return {
    PATH: venvPathOf(venv),
    HOME: process.env.HOME ?? airflowHome,
    AIRFLOW_HOME: airflowHome,
    AIRFLOW__DATABASE__SQL_ALCHEMY_CONN: sqlalchemyUrl,
    AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC: '',
    AIRFLOW__CORE__LOAD_EXAMPLES: 'False',
  };
}

/** The venv of `airflowVersion` (see airflowVenvFor), else the default venv. */
function venvOf(airflowVersion: string | undefined): string {
  return airflowVersion ? airflowVenvFor(airflowVersion) : venvDir();
}

export interface MigrateOptions {
  /** The Airflow that migrates (its venv, local/venv.ts); default: the default venv's. */
  airflowVersion?: string;
  /** Kills the migration (SIGTERM) when aborted; the promise then rejects with an AbortError. */
  signal?: AbortSignal;
  /** Default 300 s. */
  timeoutMs?: number;
}

export interface MigrateResult {
  durationMs: number;
  /** What `airflow db migrate` printed (stdout then stderr). */
  output: string;
}

/** Runs `airflow db migrate` against the database, with a throw-away AIRFLOW_HOME. */
export async function migrateAirflowDb(
  sqlalchemyUrl: string,
  opts: MigrateOptions = {},
): Promise<MigrateResult> {
  const venv = venvOf(opts.airflowVersion);
  const bin = join(venv, 'bin', 'airflow');
  const home = mkdtempSync(join(tmpdir(), 'cutover-airflow-home-'));
  const started = performance.now();
  try {
    const { stdout, stderr } = await run(bin, ['db', 'migrate'], {
      env: airflowDbEnv(sqlalchemyUrl, home, venv),
      timeout: opts.timeoutMs ?? 300_000,
      maxBuffer: 32 * 1024 * 1024,
      ...(opts.signal ? { signal: opts.signal } : {}),
    });
    return { durationMs: Math.round(performance.now() - started), output: `${stdout}${stderr}` };
  } catch (err) {
    if ((err as Error).name === 'AbortError') throw err;
    const e = err as { stderr?: string; stdout?: string; message?: string };
    const tail = `${e.stderr ?? ''}${e.stdout ?? ''}`.trim().split('\n').slice(-15).join('\n');
    throw new Error(`airflow db migrate failed: ${e.message ?? String(err)}\n${tail}`);
  } finally {
    rmSync(home, { recursive: true, force: true });
  }
}

/**
 * Runs a Python snippet in the venv (of `opts.airflowVersion`, else the default one) with Airflow
 * configured for the database (the same minimal env as the migration); returns its last stdout line
 * parsed as JSON. Arguments arrive as sys.argv[1:].
 */
export async function runAirflowPython<T>(
  sqlalchemyUrl: string,
  code: string,
  args: string[] = [],
  opts: { airflowVersion?: string } = {},
): Promise<T> {
  const venv = venvOf(opts.airflowVersion);
  const python = join(venv, 'bin', 'python');
  const home = mkdtempSync(join(tmpdir(), 'cutover-airflow-home-'));
  try {
    const { stdout } = await run(python, ['-c', code, ...args], {
      env: airflowDbEnv(sqlalchemyUrl, home, venv),
      timeout: 120_000,
      maxBuffer: 32 * 1024 * 1024,
    });
    const last = stdout.trim().split('\n').pop() ?? '';
    return JSON.parse(last) as T;
  } catch (err) {
    const e = err as { stderr?: string; message?: string };
    const tail = (e.stderr ?? '').trim().split('\n').slice(-15).join('\n');
    throw new Error(`airflow python failed: ${e.message ?? String(err)}\n${tail}`);
  } finally {
    rmSync(home, { recursive: true, force: true });
  }
}
