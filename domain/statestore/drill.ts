/**
 * The state-store drill: the stage as the PR text's draft would deploy it, with
 * the backend under `[state_store] backend` (the server-side store) instead of
 * `[workers] state_store_backend`. The workers then never route state through
 * the backend, and VERIFY must say so.
 */
import type { ChangeStage } from '../evidence.js';
import { airflowEnvVarName } from '../airflow-env.js';

export function withDraftBackendKey(stage: ChangeStage): ChangeStage {
  const right = airflowEnvVarName('workers', 'state_store_backend');
  const draft = airflowEnvVarName('state_store', 'backend');
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(stage.env)) env[k === right ? draft : k] = v;
  return { ...stage, env };
}
