/**
 * Airflow 3 for the demo: api-server, scheduler, dag-processor and triggerer from the venv under
 * the cutover supervisor (node dist/local/supervisor-main.js), which the worker's local rollout
 * asks to restart them at APPLY and COMPENSATE.
 */
import { AIRFLOW_COMPONENTS, type AirflowComponentName } from '../local/airflow-components.js';
import {
  spawnSupervisor,
  SupervisorStartAborted,
  type SupervisorProcess,
} from '../local/supervisor-process.js';
import { Interrupted } from './lifecycle.js';

export type DemoAirflow = SupervisorProcess;

export interface StartAirflowOptions {
  envFile: string;
  dagsFolder: string;
  apiPort: number;
  username: string;
  password: string;
  /** The supervisor's own output; the components' logs go to logDir. */
  logFile: string;
  logDir: string;
  components?: readonly AirflowComponentName[];
  signal: AbortSignal;
  startTimeoutMs?: number;
}

export async function startAirflow(opts: StartAirflowOptions): Promise<DemoAirflow> {
  try {
    // Its own process group: a terminal's Ctrl-C reaches the demo alone, which stops Airflow only
    // after the run's kill-switch has used it.
    return await spawnSupervisor({
      ...opts,
      components: opts.components ?? AIRFLOW_COMPONENTS,
      ownProcessGroup: true,
    });
  } catch (err) {
    if (err instanceof SupervisorStartAborted) throw new Interrupted('SIGINT');
    throw err;
  }
}
