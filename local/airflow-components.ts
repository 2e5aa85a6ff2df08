/**
 * Real Airflow 3 components as local processes from the project's venv: `airflow api-server`,
 * `airflow scheduler`, `airflow dag-processor` and optionally `airflow triggerer`, all on one
 * metadata database, one dags folder and one env. Each runs in its own process group, so stopping
 * it also stops what it forked (LocalExecutor's workers, task supervisors, uvicorn).
 *
 * The caller's env (e.g. airflowBaseEnv + a PostgreSQL SQL_ALCHEMY_CONN) is the part a cut-over
 * changes: restart() takes a new one, the way a deploy hands the components a new env file. What
 * the launcher adds on top it keeps across restarts, because the stack cannot run without it:
 * the api-server's port and base URL, the execution API URL the task runners call back on, one
 * JWT secret for all components (the scheduler signs task tokens the api-server must accept), the
 * SimpleAuthManager user and its password file, the dags and log folders.
 *
 * Authentication (airflow/api_fastapi/auth/managers/simple/simple_auth_manager.py, 3.3.2): users
 * come from `[core] simple_auth_manager_users` ("name:role,..."); passwords from the JSON file
 * `[core] simple_auth_manager_passwords_file` ({"name": "password"}), default
 * AIRFLOW_HOME/simple_auth_manager_passwords.json.generated. The api-server only generates (and
 * prints) a password for a user missing from that file, so writing the file before the start sets
 * a known password and nothing is printed.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  chmodSync,
  closeSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { freeServicePort } from './ports.js';
import { airflowBin } from './venv.js';

export type AirflowComponentName = 'api-server' | 'scheduler' | 'dag-processor' | 'triggerer';

export const AIRFLOW_COMPONENTS: readonly AirflowComponentName[] = [
  'api-server',
  'scheduler',
  'dag-processor',
  'triggerer',
];

export interface AirflowStackOptions {
  /** The DAG files the dag-processor parses. */
  dagsFolder: string;
  /** Each component's output goes to <logDir>/<component>.log (appended); task logs to <logDir>/tasks. */
  logDir: string;
  /** The SimpleAuthManager admin user the REST API accepts. */
  username: string;
  /** Its password: written to a 0600 file in a private temp dir (removed at stop), never logged. */
  password: string;
  /** Where the api-server listens (default 127.0.0.1; 0.0.0.0 in a container other services call). */
  host?: string;
  /** Default: a free port on 127.0.0.1. */
  port?: number;
  /** How long each (re)start may take until healthy. Default 180 s (two cores, cold imports). */
  startTimeoutMs?: number;
  /** Between SIGTERM and SIGKILL of a component's process group. Default 15 s. */
  stopGraceMs?: number;
}

export interface ComponentInfo {
  name: AirflowComponentName;
  pid: number;
  logFile: string;
  /** When this process was started (ISO). */
  startedAt: string;
}

export interface AirflowStack {
  /** http://127.0.0.1:<port> : the REST API is <baseUrl>/api/v2, health <baseUrl>/api/v2/monitor/health. */
  baseUrl: string;
  port: number;
  logDir: string;
  components(): ComponentInfo[];
  /** The full env the components run with now (it holds secrets: never print it). */
  env(): Record<string, string>;
  /**
   * Stops the named component (or all), starts it again with `newEnv` in place of the caller's env
   * given so far (the launcher's own settings are kept), and waits until it is healthy again.
   */
  restart(
    which: AirflowComponentName | 'all',
    newEnv?: Record<string, string>,
  ): Promise<{ durationMs: number; stopMs: number }>;
  /** Polls the REST API until the dag-processor has stored these DAGs. */
  waitForDags(dagIds: string[], timeoutMs?: number): Promise<{ durationMs: number }>;
  /** Stops every component (SIGTERM, then SIGKILL of the whole group). Idempotent. */
  stop(): Promise<void>;
}

interface Running {
  info: ComponentInfo;
  exited: Promise<void>;
  exitCode: () => number | string | null;
}

/** Process groups still alive, SIGKILLed if this Node process exits without stopping them. */
const liveGroups = new Set<number>();
let groupsFile: string | null = null;

/**
 * Keeps `file` listing the live component process groups (a JSON array of pgids), rewritten at
 * every start and stop: a process killed with SIGKILL runs no exit hook, so whoever started it reads
 * the file to kill the groups it orphaned (local/supervisor-process.ts).
 */
export function recordGroupsIn(file: string): void {
  groupsFile = file;
  writeGroups();
}

function writeGroups(): void {
  if (groupsFile) writeFileSync(groupsFile, `${JSON.stringify([...liveGroups])}\n`);
}

let exitHook = false;
function trackGroup(pgid: number): void {
  liveGroups.add(pgid);
  writeGroups();
  if (exitHook) return;
  exitHook = true;
  process.on('exit', () => {
    for (const g of liveGroups) killGroup(g, 'SIGKILL');
  });
}

function killGroup(pgid: number, signal: NodeJS.Signals | 0): boolean {
  try {
    process.kill(-pgid, signal);
    return true;
  } catch {
    return false;
  }
}

function groupAlive(pgid: number): boolean {
  return killGroup(pgid, 0);
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

function tail(file: string, lines = 30): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

interface HealthInfo {
  metadatabase?: { status?: string };
  scheduler?: { status?: string | null; latest_scheduler_heartbeat?: string | null };
  triggerer?: { status?: string | null; latest_triggerer_heartbeat?: string | null };
  dag_processor?: { status?: string | null; latest_dag_processor_heartbeat?: string | null };
}

/** Airflow prints microseconds; Date.parse wants at most milliseconds to be safe. */
function parseAirflowTime(iso: string | null | undefined): number {
  if (!iso) return Number.NaN;
  return Date.parse(iso.replace(/(\.\d{3})\d+/, '$1'));
}

function heartbeatOf(h: HealthInfo, name: AirflowComponentName): { status: string | null; at: number } {
  switch (name) {
    case 'scheduler':
      return {
        status: h.scheduler?.status ?? null,
        at: parseAirflowTime(h.scheduler?.latest_scheduler_heartbeat),
      };
    case 'dag-processor':
      return {
        status: h.dag_processor?.status ?? null,
        at: parseAirflowTime(h.dag_processor?.latest_dag_processor_heartbeat),
      };
    case 'triggerer':
      return {
        status: h.triggerer?.status ?? null,
        at: parseAirflowTime(h.triggerer?.latest_triggerer_heartbeat),
      };
    default:
      return { status: null, at: Number.NaN };
  }
}

/**
 * Starts the components (api-server first: the others need its execution API, and one process
 * writing AIRFLOW_HOME's first airflow.cfg avoids a race) and waits until each is healthy.
 * `env` must name the metadata DB (AIRFLOW__DATABASE__SQL_ALCHEMY_CONN) and AIRFLOW_HOME.
 */
export async function startAirflowComponents(
  components: AirflowComponentName[],
  env: Record<string, string>,
  opts: AirflowStackOptions,
): Promise<AirflowStack> {
  const wanted = AIRFLOW_COMPONENTS.filter((c) => components.includes(c));
  if (!wanted.includes('api-server')) {
    throw new Error('the api-server is required: health checks and the execution API go through it');
  }
  if (!env.AIRFLOW__DATABASE__SQL_ALCHEMY_CONN?.startsWith('postgresql')) {
    throw new Error(
      'env must set AIRFLOW__DATABASE__SQL_ALCHEMY_CONN to a PostgreSQL URL (LocalExecutor needs it)',
    );
  }
  const port = opts.port ?? (await freeServicePort());
  // The scheduler and triggerer serve task logs on fixed default ports (8793, 8794): two stacks on
  // one machine would collide, so each stack takes free ones.
  const workerLogPort = await freeServicePort();
  const triggerLogPort = await freeServicePort();
  const baseUrl = `http://127.0.0.1:${port}`;
  const startTimeoutMs = opts.startTimeoutMs ?? 180_000;
  const stopGraceMs = opts.stopGraceMs ?? 15_000;
  mkdirSync(opts.logDir, { recursive: true });
  const taskLogs = path.join(opts.logDir, 'tasks');
  mkdirSync(taskLogs, { recursive: true });

  // Not next to the logs (those get shared): a private directory of this user, removed at stop().
  const secretDir = mkdtempSync(path.join(tmpdir(), 'cutover-airflow-auth-'));
  chmodSync(secretDir, 0o700);
  const passwordsFile = path.join(secretDir, 'simple_auth_manager_passwords.json');
  writeFileSync(passwordsFile, `${JSON.stringify({ [opts.username]: opts.password })}\n`, { mode: 0o600 });

  const secrets = {
    jwt: randomBytes(32).toString('hex'),
    api: randomBytes(32).toString('hex'),
  };

  /** Defaults the caller may override (sized for a two-core machine and fast test turnaround). */
  const defaults: Record<string, string> = {
    AIRFLOW__CORE__LOAD_EXAMPLES: 'False',
    AIRFLOW__CORE__PARALLELISM: '4',
    AIRFLOW__API__WORKERS: '1',
    AIRFLOW__DAG_PROCESSOR__PARSING_PROCESSES: '1',
    AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL: '5',
    AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL: '30',
    AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC: '2',
    AIRFLOW__SCHEDULER__JOB_HEARTBEAT_SEC: '2',
    AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC: '',
    LANG: 'C.UTF-8',
  };
  /** What the stack cannot run without: always the launcher's, whatever the caller's env says. */
  const forced: Record<string, string> = {
    AIRFLOW__CORE__EXECUTOR: 'LocalExecutor',
    AIRFLOW__CORE__DAGS_FOLDER: opts.dagsFolder,
    AIRFLOW__LOGGING__BASE_LOG_FOLDER: taskLogs,
    AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT: String(workerLogPort),
    AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT: String(triggerLogPort),
    AIRFLOW__API__HOST: opts.host ?? '127.0.0.1',
    AIRFLOW__API__PORT: String(port),
    AIRFLOW__API__BASE_URL: baseUrl,
    AIRFLOW__CORE__EXECUTION_API_SERVER_URL: `${baseUrl}/execution/`,
    AIRFLOW__API_AUTH__JWT_SECRET: secrets.jwt,
    AIRFLOW__API__SECRET_KEY: secrets.api,
    AIRFLOW__CORE__AUTH_MANAGER:
      'airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager',
    AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS: `${opts.username}:admin`,
    AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS: 'False',
    AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE: passwordsFile,
  };
  let callerEnv = { ...env };
  const fullEnv = (): Record<string, string> => ({ ...defaults, ...callerEnv, ...forced });

  const running = new Map<AirflowComponentName, Running>();
  let stopped = false;

  function spawnComponent(name: AirflowComponentName): Running {
    const logFile = path.join(opts.logDir, `${name}.log`);
    const fd = openSync(logFile, 'a');
    const startedAt = new Date().toISOString();
    writeFileSync(fd, `\n=== cutover: starting airflow ${name} at ${startedAt} ===\n`);
    const child = spawn(airflowBin(), [name], {
      env: fullEnv(),
      cwd: opts.logDir,
      // Its own process group: stop() signals the group, so forked workers go too.
      detached: true,
      stdio: ['ignore', fd, fd],
    });
    closeSync(fd);
    const pid = child.pid;
    if (pid === undefined) throw new Error(`airflow ${name} did not start (no pid)`);
    trackGroup(pid);
    let code: number | string | null = null;
    const exited = new Promise<void>((resolve) => {
      child.once('exit', (c, s) => {
        code = c ?? s;
        resolve();
      });
      child.once('error', (err) => {
        code = err.message;
        resolve();
      });
    });
    return { info: { name, pid, logFile, startedAt }, exited, exitCode: () => code };
  }

  async function stopComponent(name: AirflowComponentName): Promise<void> {
    const r = running.get(name);
    if (!r) return;
    running.delete(name);
    const pgid = r.info.pid;
    killGroup(pgid, 'SIGTERM');
    const grace = Date.now() + stopGraceMs;
    while (Date.now() < grace && groupAlive(pgid)) await sleep(200);
    // The leader may have exited while children it forked linger in the group: kill those too.
    if (groupAlive(pgid)) killGroup(pgid, 'SIGKILL');
    await Promise.race([r.exited, sleep(5_000)]);
    while (groupAlive(pgid)) await sleep(100);
    liveGroups.delete(pgid);
    writeGroups();
  }

  async function health(): Promise<HealthInfo | null> {
    try {
      const res = await fetch(`${baseUrl}/api/v2/monitor/health`, { signal: AbortSignal.timeout(5_000) });
      if (!res.ok) {
        await res.arrayBuffer();
        return null;
      }
      return (await res.json()) as HealthInfo;
    } catch {
      return null;
    }
  }

  /**
   * Healthy means: the api-server answers its health endpoint, and each other component reports
   * healthy with a heartbeat newer than its own start. The freshness check matters on restarts:
   * the job table still holds the old process's recent heartbeat for up to 30 s.
   */
  async function waitHealthy(names: AirflowComponentName[]): Promise<void> {
    const deadline = Date.now() + startTimeoutMs;
    let last = 'no answer yet';
    for (;;) {
      for (const n of names) {
        const r = running.get(n);
        if (!r) throw new Error(`airflow ${n} is not running`);
        if (r.exitCode() !== null) {
          throw new Error(
            `airflow ${n} exited (${String(r.exitCode())}) before it was healthy; last lines of ${r.info.logFile}:\n${tail(r.info.logFile)}`,
          );
        }
      }
      const h = await health();
      if (h) {
        const pending = names.filter((n) => {
          if (n === 'api-server') return false;
          const r = running.get(n);
          const hb = heartbeatOf(h, n);
          // A heartbeat is written by the DB's clock view of the component; allow 1 s of skew.
          return !(hb.status === 'healthy' && r && hb.at >= Date.parse(r.info.startedAt) - 1_000);
        });
        if (pending.length === 0) return;
        last = `waiting for ${pending.join(', ')} (${JSON.stringify(h)})`;
      }
      if (Date.now() >= deadline) {
        const logs = names
          .map((n) => running.get(n)?.info.logFile)
          .filter((f): f is string => f !== undefined)
          .map((f) => `--- ${f}\n${tail(f, 15)}`)
          .join('\n');
        throw new Error(`Airflow components not healthy within ${startTimeoutMs} ms: ${last}\n${logs}`);
      }
      await sleep(500);
    }
  }

  /**
   * The first start is sequential (api-server, then the rest): one process creates AIRFLOW_HOME's
   * airflow.cfg. Restarts start everything at once: the scheduler and dag-processor need the
   * api-server only once a task runs, and two cores import three Airflows faster than one by one.
   */
  async function startSome(names: AirflowComponentName[], sequential: boolean): Promise<void> {
    if (!sequential) {
      for (const n of names) running.set(n, spawnComponent(n));
      await waitHealthy(names);
      return;
    }
    if (names.includes('api-server')) {
      running.set('api-server', spawnComponent('api-server'));
      await waitHealthy(['api-server']);
    }
    const rest = names.filter((n) => n !== 'api-server');
    for (const n of rest) running.set(n, spawnComponent(n));
    await waitHealthy(rest.length > 0 ? rest : ['api-server']);
  }

  async function stopAll(): Promise<void> {
    // The api-server last: the scheduler's task runners report back to it while stopping.
    await Promise.all([...running.keys()].filter((n) => n !== 'api-server').map((n) => stopComponent(n)));
    await stopComponent('api-server');
  }

  async function token(): Promise<string> {
    const res = await fetch(`${baseUrl}/auth/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: opts.username, password: opts.password }),
      signal: AbortSignal.timeout(10_000),
    });
    if (!res.ok) {
      await res.arrayBuffer();
      throw new Error(`POST /auth/token answered HTTP ${res.status}`);
    }
    return ((await res.json()) as { access_token: string }).access_token;
  }

  try {
    await startSome(wanted, true);
  } catch (err) {
    await stopAll();
    rmSync(secretDir, { recursive: true, force: true });
    throw err;
  }

  return {
    baseUrl,
    port,
    logDir: opts.logDir,
    // A component that exited on its own (crashed, killed) is not running, though restart() may start it again.
    components: () => [...running.values()].filter((r) => r.exitCode() === null).map((r) => ({ ...r.info })),
    env: fullEnv,
    async restart(which, newEnv) {
      if (stopped) throw new Error('the Airflow stack was stopped');
      const started = performance.now();
      const names = which === 'all' ? wanted : [which];
      if (!wanted.includes(names[0] as AirflowComponentName)) {
        throw new Error(`airflow ${which} is not part of this stack (${wanted.join(', ')})`);
      }
      if (newEnv) callerEnv = { ...newEnv };
      if (which === 'all') await stopAll();
      else await stopComponent(which);
      const stopMs = Math.round(performance.now() - started);
      await startSome(names, false);
      return { durationMs: Math.round(performance.now() - started), stopMs };
    },
    async waitForDags(dagIds, timeoutMs = 120_000) {
      const started = performance.now();
      const deadline = Date.now() + timeoutMs;
      let bearer = await token();
      let missing = [...dagIds];
      for (;;) {
        const still: string[] = [];
        for (const id of missing) {
          const res = await fetch(`${baseUrl}/api/v2/dags/${encodeURIComponent(id)}`, {
            headers: { authorization: `Bearer ${bearer}` },
            signal: AbortSignal.timeout(10_000),
          });
          await res.arrayBuffer();
          if (res.status === 401) bearer = await token();
          if (res.status !== 200) still.push(id);
        }
        missing = still;
        if (missing.length === 0) return { durationMs: Math.round(performance.now() - started) };
        if (Date.now() >= deadline) {
          const dp = running.get('dag-processor')?.info.logFile;
          throw new Error(
            `DAG(s) ${missing.join(', ')} not parsed within ${timeoutMs} ms` +
              (dp ? `; last lines of ${dp}:\n${tail(dp, 20)}` : ''),
          );
        }
        await sleep(1_000);
      }
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      await stopAll();
      rmSync(secretDir, { recursive: true, force: true });
    },
  };
}
