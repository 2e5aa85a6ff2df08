/**
 * The settings of the state-store flip (Airflow >= 3.3, apache-airflow-providers-common-io >= 1.9):
 * the task SDK's worker-side backend and its three [common.io] options. Names verified against the
 * installed source (docs/facts.md, "State store"); the PR text's draft names do not work.
 */
import { airflowEnvVarName } from './airflow-env.js';

export const STATE_STORE_OBJECT_STORAGE_BACKEND =
  'airflow.providers.common.io.state_store.backend.StateStoreObjectStorageBackend';

/** The server-side store the Execution API writes through; the flip leaves it as it is. */
export const METASTORE_STATE_BACKEND = 'airflow.state.metastore.MetastoreBackend';

/** The key the task SDK wraps every value in while a worker backend is configured. */
export const STATE_REF_MARKER = '__airflow_state_ref__';

export interface StateStoreSettings {
  /** Base URL, e.g. s3://aws_default@bucket/state (the conn id goes before the '@'). */
  path: string;
  /** Values whose JSON is shorter stay inline in the DB (still wrapped); 0 offloads everything. */
  thresholdBytes: number;
  /** An fsspec codec name (gzip, bz2, lzma, xz, zip) or '' for none. */
  compression: string;
}

/** The four settings as [section, key, value]. `[state_store] backend` is deliberately absent. */
export function stateStoreSettings(s: StateStoreSettings): [section: string, key: string, value: string][] {
  return [
    ['workers', 'state_store_backend', STATE_STORE_OBJECT_STORAGE_BACKEND],
    ['common.io', 'state_store_objectstorage_path', s.path],
    ['common.io', 'state_store_objectstorage_threshold', String(s.thresholdBytes)],
    ['common.io', 'state_store_objectstorage_compression', s.compression],
  ];
}

/** The env vars every component (workers, triggerer, dag-processor, api-server, scheduler) must carry. */
export function stateStoreEnv(s: StateStoreSettings): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [section, key, value] of stateStoreSettings(s)) env[airflowEnvVarName(section, key)] = value;
  return env;
}
