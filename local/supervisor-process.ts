/**
 * The local target's supervisor as a child process (npm run airflow-local), for the demo and the
 * end-to-end tests: it must outlive a worker that is killed, as Airflow on a cluster outlives the
 * cut-over worker, but not the process that started it (--exit-with-parent). Resolves once the
 * components are healthy and the state file is written.
 */
import { spawn } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { supervisorStateFile } from '../adapters/local-rollout.js';
import type { AirflowComponentName } from './airflow-components.js';
import type { SupervisorState } from './supervisor.js';

const ENTRY = fileURLToPath(new URL('./supervisor-main.js', import.meta.url));
/** The variable the password travels in to the supervisor: never on a command line. */
const PASSWORD_ENV = 'CUTOVER_AIRFLOW_PASSWORD';

export interface SupervisorProcess extends SupervisorState {
  stateFile: string;
  supervisorPid: number;
  logFile: string;
  logDir: string;
  /** Settles when the supervisor has exited (for any reason). */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /**
   * SIGTERM (the supervisor stops the components), SIGKILL after graceMs, then the component
   * process groups it left behind (killed outright, it stops none). Idempotent.
   */
  stop(graceMs?: number): Promise<void>;
  /** SIGKILLs the component process groups still alive from the supervisor's list; returns their pgids. */
  killOrphans(): number[];
}

/** Where the supervisor lists its components' live process groups (--groups-file). */
export const componentGroupsFile = (envFile: string) => `${envFile}.supervisor-groups.json`;

/**
 * SIGKILLs the process groups `file` lists that are still alive. Only after the supervisor has
 * exited: the list is then final, and its groups (setsid leaders it spawned, their workers in the
 * group) have no one else to stop them. A pgid reused by an unrelated group in the meantime would
 * need the kernel to wrap the pid space within a demo's lifetime; the risk is accepted.
 */
export function killComponentGroups(file: string): number[] {
  let groups: number[];
  try {
    groups = (JSON.parse(readFileSync(file, 'utf8')) as unknown[]).filter(
      (g): g is number => typeof g === 'number' && Number.isInteger(g) && g > 1,
    );
  } catch {
    return [];
  }
  const killed: number[] = [];
  for (const g of groups) {
    try {
      process.kill(-g, 'SIGKILL');
      killed.push(g);
    } catch {
      // gone already
    }
  }
  return killed;
}

export interface SpawnSupervisorOptions {
  envFile: string;
  dagsFolder: string;
  components: readonly AirflowComponentName[];
  /** The REST API admin password (passed in the env, never on the command line). */
  password: string;
  username?: string;
  /** The REST API port (default: a free one). */
  apiPort?: number;
  /** Where the supervisor's own output goes. */
  logFile: string;
  /** The components' logs (default: airflow-logs/ next to logFile). */
  logDir?: string;
  /** Aborting while the components start stops them and rejects with SupervisorStartAborted. */
  signal?: AbortSignal;
  startTimeoutMs?: number;
  /**
   * Its own process group, so a terminal's Ctrl-C reaches only the process that started it, which
   * decides the order things stop in (the demo lets a run's kill-switch finish first).
   */
  ownProcessGroup?: boolean;
}

export class SupervisorStartAborted extends Error {
  constructor() {
    super('the supervisor start was aborted');
    this.name = 'SupervisorStartAborted';
  }
}

export async function spawnSupervisor(opts: SpawnSupervisorOptions): Promise<SupervisorProcess> {
  const stateFile = supervisorStateFile(opts.envFile);
  // A state file left by a supervisor that was killed would look like this one being ready.
  rmSync(stateFile, { force: true });
  const groupsFile = componentGroupsFile(opts.envFile);
  // An earlier supervisor's list: its groups were dealt with when it ended (or are not ours now).
  rmSync(groupsFile, { force: true });
  const logDir = opts.logDir ?? path.join(path.dirname(opts.logFile), 'airflow-logs');
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
      ...(opts.apiPort === undefined ? [] : ['--api-port', String(opts.apiPort)]),
      '--username',
      opts.username ?? 'admin',
      '--password-env',
      PASSWORD_ENV,
      '--log-dir',
      logDir,
      '--exit-with-parent',
      '--groups-file',
      groupsFile,
    ],
    {
      env: { ...process.env, [PASSWORD_ENV]: opts.password },
      stdio: ['ignore', out, out],
      detached: opts.ownProcessGroup ?? false,
    },
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
  const killOrphans = () => (done ? killComponentGroups(groupsFile) : []);
  // This process ending (a demo's second Ctrl-C, a test that fails) must not leave them either.
  process.once('exit', () => {
    if (!done) child.kill('SIGKILL');
    done = true;
    killComponentGroups(groupsFile);
  });
  const stop = async (graceMs = 90_000): Promise<void> => {
    if (!done) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
    }
    killOrphans();
  };
  const tail = () => {
    try {
      return readFileSync(opts.logFile, 'utf8').trimEnd().split('\n').slice(-30).join('\n');
    } catch {
      return '(no log)';
    }
  };
  const timeoutMs = opts.startTimeoutMs ?? 300_000;
  const deadline = Date.now() + timeoutMs;
  while (!existsSync(stateFile)) {
    // Before its components are up, SIGTERM makes the supervisor exit and kill what it started.
    if (opts.signal?.aborted) {
      await stop();
      throw new SupervisorStartAborted();
    }
    if (done) throw new Error(`the Airflow supervisor exited before it was ready:\n${tail()}`);
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`Airflow was not ready within ${timeoutMs / 1000} s:\n${tail()}`);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  const state = JSON.parse(readFileSync(stateFile, 'utf8')) as SupervisorState;
  return {
    ...state,
    stateFile,
    supervisorPid: pid,
    logFile: opts.logFile,
    logDir,
    exited,
    stop,
    killOrphans,
  };
}
