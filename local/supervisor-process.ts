/**
 * The local target's supervisor as a child process (npm run airflow-local), for the demo and the
 * end-to-end tests: it must outlive a worker that is killed, as Airflow on a cluster outlives the
 * cut-over worker. Resolves once the components are healthy and the state file is written.
 */
import { spawn } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { supervisorStateFile } from '../adapters/local-rollout.js';
import type { AirflowComponentName } from './airflow-components.js';
import type { SupervisorState } from './supervisor.js';

const ENTRY = fileURLToPath(new URL('./supervisor-main.js', import.meta.url));

export interface SupervisorProcess extends SupervisorState {
  stateFile: string;
  logFile: string;
  /** SIGTERM (the supervisor stops the components), SIGKILL after graceMs. Idempotent. */
  stop(graceMs?: number): Promise<void>;
}

export interface SpawnSupervisorOptions {
  envFile: string;
  dagsFolder: string;
  components: AirflowComponentName[];
  /** The REST API admin password (passed in the env, never on the command line). */
  password: string;
  username?: string;
  /** Where the supervisor's own output goes; component logs go next to it. */
  logFile: string;
  startTimeoutMs?: number;
}

export async function spawnSupervisor(opts: SpawnSupervisorOptions): Promise<SupervisorProcess> {
  const stateFile = supervisorStateFile(opts.envFile);
  // A state file left by a supervisor that was killed would look like this one being ready.
  rmSync(stateFile, { force: true });
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
      opts.components.join(','),
      '--username',
      opts.username ?? 'admin',
      '--password-env',
      'CUTOVER_AIRFLOW_PASSWORD',
      '--log-dir',
      path.join(path.dirname(opts.logFile), 'airflow-logs'),
      '--exit-with-parent',
    ],
    {
      env: { ...process.env, CUTOVER_AIRFLOW_PASSWORD: opts.password },
      stdio: ['ignore', out, out],
    },
  );
  closeSync(out);
  let exited = false;
  const exit = new Promise<void>((resolve) => child.once('exit', () => ((exited = true), resolve())));
  const tail = () => readFileSync(opts.logFile, 'utf8').trimEnd().split('\n').slice(-30).join('\n');
  const deadline = Date.now() + (opts.startTimeoutMs ?? 300_000);
  while (!existsSync(stateFile)) {
    if (exited) throw new Error(`the supervisor exited before it was ready:\n${tail()}`);
    if (Date.now() > deadline) {
      child.kill('SIGTERM');
      throw new Error(`the supervisor was not ready in time:\n${tail()}`);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  const state = JSON.parse(readFileSync(stateFile, 'utf8')) as SupervisorState;
  return {
    ...state,
    stateFile,
    logFile: opts.logFile,
    async stop(graceMs = 60_000) {
      if (exited) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await exit;
      clearTimeout(timer);
    },
  };
}
