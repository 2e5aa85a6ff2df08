/**
 * Task/asset state rows written by Airflow's own code (test/support/state_store_seed.py: the
 * worker backend's serialize_*_to_ref + the SDK's marker wrap + the metastore backend's upsert),
 * and the env of an Airflow process on a test database with moto as its object store.
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { airflowBaseEnv } from '../../local/airflow-env.js';
import { repoRoot, venvPython } from '../../local/venv.js';

export const STATE_STORE_BACKEND =
  'airflow.providers.common.io.state_store.backend.StateStoreObjectStorageBackend';

export interface BackendSettings {
  path: string;
  threshold: number;
  compression: '' | 'gzip' | 'bz2' | 'lzma' | 'xz' | 'zip';
}

/**
 * An Airflow process on `sqlalchemyUrl` with aws_default pointing at `s3Endpoint`; with `backend`,
 * the worker state store backend configured as a flip would configure it.
 */
export function stateStoreEnv(opts: {
  sqlalchemyUrl: string;
  airflowHome: string;
  s3Endpoint: string;
  backend?: BackendSettings;
}): Record<string, string> {
  const env: Record<string, string> = {
    ...airflowBaseEnv({ airflowHome: opts.airflowHome, s3Endpoint: opts.s3Endpoint }),
    AIRFLOW__DATABASE__SQL_ALCHEMY_CONN: opts.sqlalchemyUrl,
    // The venv has no asyncpg; Airflow 3 would derive a postgresql+asyncpg URL and fail at import.
    AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC: '',
  };
  if (opts.backend) {
    env.AIRFLOW__WORKERS__STATE_STORE_BACKEND = STATE_STORE_BACKEND;
    env.AIRFLOW__COMMON_IO__STATE_STORE_OBJECTSTORAGE_PATH = opts.backend.path;
    env.AIRFLOW__COMMON_IO__STATE_STORE_OBJECTSTORAGE_THRESHOLD = String(opts.backend.threshold);
    env.AIRFLOW__COMMON_IO__STATE_STORE_OBJECTSTORAGE_COMPRESSION = opts.backend.compression;
  }
  return env;
}

export interface TaskStateSpec {
  dag_id: string;
  run_id: string;
  task_id: string;
  map_index?: number;
  key: string;
  value: unknown;
}

export interface AssetStateSpec {
  name: string;
  key: string;
  value: unknown;
}

export interface SeedSpec {
  task?: TaskStateSpec[];
  asset?: AssetStateSpec[];
  /** Volume for the bench: task rows, every `large_every`-th one `large_bytes` big. */
  generate?: {
    task_rows: number;
    large_every?: number;
    small_bytes?: number;
    large_bytes?: number;
    rows_per_run?: number;
  };
}

export interface SeededRow {
  store: 'task' | 'asset';
  key: string;
  /** The value column as Airflow wrote it. */
  stored: string;
  ref: string | null;
  refKind: 'inline' | 'object' | null;
  /** json.dumps(value): what the row holds without a backend, the heal's target. */
  plain: string;
  dagRunId?: number;
  taskId?: string;
  mapIndex?: number;
  assetId?: number;
  assetName?: string;
}

export interface SeedResult {
  backend: string | null;
  counts: { task: number; asset: number; inline: number; object: number; plain: number };
  durationMs: number;
  rows?: SeededRow[];
}

/** Writes the rows through Airflow's code in a venv python with `env`; resolves with what was written. */
export function seedStateRows(env: Record<string, string>, spec: SeedSpec): Promise<SeedResult> {
  const script = path.join(repoRoot(), 'test', 'support', 'state_store_seed.py');
  return new Promise((resolve, reject) => {
    const child = spawn(venvPython(), [script], { env, stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => err.push(c));
    child.on('error', reject);
    child.on('close', (code) => {
      const stdout = Buffer.concat(out).toString('utf8').trim();
      const last = stdout.split('\n').pop() ?? '';
      if (code !== 0) {
        const tail = Buffer.concat(err).toString('utf8').trim().split('\n').slice(-15).join('\n');
        reject(new Error(`seeding state rows failed (exit ${code}):\n${tail}`));
        return;
      }
      try {
        resolve(JSON.parse(last) as SeedResult);
      } catch {
        reject(new Error(`the state seed printed no result: ${last.slice(0, 500)}`));
      }
    });
    child.stdin.end(JSON.stringify(spec));
  });
}
