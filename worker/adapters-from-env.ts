/**
 * Which real adapters this worker can build. Each one arrives with the issue
 * that builds it; until then the worker says plainly which steps cannot run.
 */
import type { Adapters } from '../activities/index.js';

export interface MissingAdapter {
  adapter: string;
  needs: string;
}

export function adaptersFromEnv(_env: NodeJS.ProcessEnv): { adapters: Adapters; missing: MissingAdapter[] } {
  const adapters: Adapters = {};
  const missing: MissingAdapter[] = [
    { adapter: 'metadata-DB', needs: 'measure XCom sizes (CALIBRATE)' },
    { adapter: 'Airflow probe', needs: 'run checks inside Airflow (PREFLIGHT, REHEARSE, VERIFY)' },
    { adapter: 'change', needs: 'diff, apply and revert the change (RENDER, APPLY, COMPENSATE)' },
    { adapter: 'rollout', needs: 'restart components and wait (APPLY, COMPENSATE)' },
    { adapter: 'Airflow REST API', needs: 'run and re-run DAGs (VALIDATE, COMPENSATE)' },
  ];
  return { adapters, missing };
}
