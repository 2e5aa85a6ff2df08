/**
 * Airflow's own schema, made by Airflow itself: `airflow db migrate` from the
 * project's Python venv against a throw-away PostgreSQL database. Tests never
 * write Airflow DDL by hand.
 *
 * A fresh DB migrates in about 3 s here (Airflow creates the tables from its ORM
 * and stamps the alembic head), so a test file migrates ONCE (see
 * createAirflowTestDatabase) and empties the XCom history between tests.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { createTestDatabase, type TestDatabase } from './postgres.js';

const run = promisify(execFile);

/** The repository root: the nearest folder above this file holding package.json (works from src and dist). */
export function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'tsconfig.json'))) return dir;
    const up = dirname(dir);
    if (up === dir)
      throw new Error(
        'cannot find the repository root (package.json) above ' + fileURLToPath(import.meta.url),
      );
    dir = up;
  }
}

/** $CUTOVER_VENV, else <repo>/.venv. */
export function venvDir(): string {
  return process.env.CUTOVER_VENV ?? join(repoRoot(), '.venv');
}

export function airflowBin(): string {
  const bin = join(venvDir(), 'bin', 'airflow');
  if (!existsSync(bin)) {
    throw new Error(
      `no airflow CLI at ${bin}: run scripts/setup.sh, or point CUTOVER_VENV at a venv with apache-airflow`,
    );
  }
  return bin;
}

export interface MigrateResult {
  durationMs: number;
}

/**
 * Runs `airflow db migrate` against the DB, with a temporary AIRFLOW_HOME and a
 * minimal env (PATH with the venv first, HOME). The async engine is switched off
 * (empty SQL_ALCHEMY_CONN_ASYNC): Airflow 3 would otherwise derive a
 * postgresql+asyncpg URL and fail at start because the venv has no asyncpg;
 * migrations only use the sync engine.
 */
function airflowEnv(sqlalchemyUrl: string, home: string): NodeJS.ProcessEnv {
  return {
    PATH: `${join(venvDir(), 'bin')}:/usr/local/bin:/usr/bin:/bin`,
    HOME: process.env.HOME ?? home,
    AIRFLOW_HOME: home,
    AIRFLOW__DATABASE__SQL_ALCHEMY_CONN: sqlalchemyUrl,
    AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC: '',
    AIRFLOW__CORE__LOAD_EXAMPLES: 'False',
  };
}

export async function migrateAirflowDb(sqlalchemyUrl: string): Promise<MigrateResult> {
  const bin = airflowBin();
  const home = mkdtempSync(join(tmpdir(), 'cutover-airflow-home-'));
  const env = airflowEnv(sqlalchemyUrl, home);
  const started = performance.now();
  try {
    await run(bin, ['db', 'migrate'], { env, timeout: 300_000, maxBuffer: 32 * 1024 * 1024 });
  } catch (err) {
    const e = err as { stderr?: string; stdout?: string; message?: string };
    const tail = `${e.stderr ?? ''}${e.stdout ?? ''}`.trim().split('\n').slice(-15).join('\n');
    throw new Error(`airflow db migrate failed: ${e.message ?? String(err)}\n${tail}`);
  } finally {
    rmSync(home, { recursive: true, force: true });
  }
  return { durationMs: Math.round(performance.now() - started) };
}

export interface AirflowTestDatabase extends TestDatabase {
  migrateMs: number;
}

/** A fresh database with Airflow's schema: create once per test file, drop in after(). */
export async function createAirflowTestDatabase(prefix: string): Promise<AirflowTestDatabase> {
  const db = await createTestDatabase(prefix);
  try {
    const { durationMs } = await migrateAirflowDb(db.sqlalchemyUrl);
    return { ...db, migrateMs: durationMs };
  } catch (err) {
    await db.drop();
    throw err;
  }
}

/**
 * Runs a Python snippet in the venv with Airflow configured for the DB (same
 * minimal env as the migration); returns its last stdout line parsed as JSON.
 * Arguments arrive as sys.argv[1:].
 */
export async function runAirflowPython<T>(
  sqlalchemyUrl: string,
  code: string,
  args: string[] = [],
): Promise<T> {
  const python = join(venvDir(), 'bin', 'python');
  const home = mkdtempSync(join(tmpdir(), 'cutover-airflow-home-'));
  try {
    const { stdout } = await run(python, ['-c', code, ...args], {
      env: airflowEnv(sqlalchemyUrl, home),
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
