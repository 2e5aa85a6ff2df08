/**
 * Airflow 3 for the demo: api-server, scheduler, dag-processor and triggerer from the venv under
 * the cutover supervisor (node dist/local/supervisor-main.js), which the worker's local rollout
 * asks to restart them at APPLY and COMPENSATE.
 *
 * This launches supervisor-main itself rather than through local/supervisor-process.ts's
 * spawnSupervisor, which has no way to choose the REST API port (plans/local.yaml names 8080), to
 * stop a start that is interrupted, or to tell that the supervisor died later.
 */
import { spawn } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync, rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { supervisorStateFile } from '../adapters/local-rollout.js';
import { AIRFLOW_COMPONENTS, type AirflowComponentName } from '../local/airflow-components.js';
import type { SupervisorState } from '../local/supervisor.js';
import { Interrupted } from './lifecycle.js';

const ENTRY = fileURLToPath(new URL('../local/supervisor-main.js', import.meta.url));
/** The variable the password travels in to the supervisor: never on a command line. */
const PASSWORD_ENV = 'CUTOVER_AIRFLOW_PASSWORD';

export interface DemoAirflow extends SupervisorState {
  supervisorPid: number;
  logFile: string;
  logDir: string;
  /** Settles when the supervisor has exited (for any reason). */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** SIGTERM (the supervisor stops the components and exits), SIGKILL after graceMs. Idempotent. */
  stop(graceMs?: number): Promise<void>;
}

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
  const stateFile = supervisorStateFile(opts.envFile);
  // A state file left by a supervisor that was killed would look like this one being ready.
  rmSync(stateFile, { force: true });
  const components = opts.components ?? AIRFLOW_COMPONENTS;
  const out = openSync(opts.logFile, 'a');
  const child = spawn(
    process.execPath,
    [
      ENTRY,
      '--env-file',
      opts.envFile,
      '--dags',
      opts.dagsFolder,
      '--components',
      components.join(','),
      '--api-port',
      String(opts.apiPort),
      '--username',
      opts.username,
      '--password-env',
      PASSWORD_ENV,
      '--log-dir',
      opts.logDir,
      // Should this process be SIGKILLed, the supervisor stops the components rather than outlive it.
      '--exit-with-parent',
    ],
    { env: { ...process.env, [PASSWORD_ENV]: opts.password }, stdio: ['ignore', out, out] },
  );
  closeSync(out);
  const pid = child.pid;
  if (pid === undefined) throw new Error('the supervisor did not start (no pid)');
  let done = false;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => {
      done = true;
      resolve({ code, signal });
    }),
  );
  const stop = async (graceMs = 90_000): Promise<void> => {
    if (done) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    await exited;
    clearTimeout(timer);
  };
  const tail = () => {
    try {
      return readFileSync(opts.logFile, 'utf8').trimEnd().split('\n').slice(-30).join('\n');
    } catch {
      return '(no log)';
    }
  };
  const deadline = Date.now() + (opts.startTimeoutMs ?? 300_000);
  while (!existsSync(stateFile)) {
    // Before its components are up, SIGTERM makes the supervisor exit and kill what it started.
    if (opts.signal.aborted) {
      await stop();
      throw new Interrupted('SIGINT');
    }
    if (done) throw new Error(`the Airflow supervisor exited before it was ready:\n${tail()}`);
    if (Date.now() > deadline) {
      await stop();
      throw new Error(
        `Airflow was not ready within ${(opts.startTimeoutMs ?? 300_000) / 1000} s:\n${tail()}`,
      );
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  const state = JSON.parse(readFileSync(stateFile, 'utf8')) as SupervisorState;
  return {
    ...state,
    supervisorPid: pid,
    logFile: opts.logFile,
    logDir: opts.logDir,
    exited,
    stop,
  };
}
