/**
 * Real Airflow components as local processes: `airflow api-server` (3.x) or `airflow webserver`
 * (2.x) in the api-server role, `airflow scheduler`, `airflow dag-processor` and optionally
 * `airflow triggerer`, all on one metadata database, one dags folder and one env. Which Airflow runs
 * them is the env's AIRFLOW_VERSION (a venv per version, local/venv.ts), else the default venv; how
 * each major is launched is in airflow-runtime.ts. Each component runs in its own process group;
 * stopping it stops its whole process tree, the task runners Airflow moves into groups of their own
 * included (process-tree.ts).
 *
 * The caller's env (e.g. airflowBaseEnv + a PostgreSQL SQL_ALCHEMY_CONN) is the part a cut-over
 * changes: restart() and startComponents() take a new one, the way a deploy hands the components a
 * new env file, and a new AIRFLOW_VERSION in it switches the venv. What the launcher adds on top it
 * keeps across restarts, because the stack cannot run without it: the api-server's port and base
 * URL, the log server ports, one secret key (and on 3.x one JWT secret) for all components, the
 * admin user and its password, the dags and log folders.
 *
 * All running components run one Airflow: a start that would run another version next to running
 * components is refused before anything stops (stop them all first, or restart them all).
 *
 * Authentication on 3.x (airflow/api_fastapi/auth/managers/simple/simple_auth_manager.py, 3.3.2):
 * users come from `[core] simple_auth_manager_users` ("name:role,..."); passwords from the JSON file
 * `[core] simple_auth_manager_passwords_file` ({"name": "password"}). The api-server only generates
 * (and prints) a password for a user missing from that file, so writing the file before the start
 * sets a known password and nothing is printed. On 2.x the user is in the metadata DB
 * (airflow2-admin.ts).
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  appendFileSync,
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
import { AirflowSession } from '../adapters/airflow-http.js';
import { airflow2AdminAccepted, ensureAirflow2Admin, replaceAirflow2Admin } from './airflow2-admin.js';
import {
  airflowRuntimeFor,
  componentArgs,
  launchSettings,
  LaunchRefused,
  type AirflowRuntime,
  type LaunchContext,
} from './airflow-runtime.js';
import { freeServicePort } from './ports.js';
import { ProcessTree } from './process-tree.js';
import { AIRFLOW_COMPONENTS, type AirflowComponentName } from './component-names.js';
import { pathWithVenvFirst } from './venv.js';

export { LaunchRefused, type AirflowRuntime } from './airflow-runtime.js';

export { AIRFLOW_COMPONENTS, type AirflowComponentName } from './component-names.js';

export interface AirflowStackOptions {
  /** The DAG files the dag-processor parses. */
  dagsFolder: string;
  /** Each component's output goes to <logDir>/<component>.log (appended); task logs to <logDir>/tasks. */
  logDir: string;
  /** The admin user the REST API accepts. */
  username: string;
  /** Its password: in a 0600 file in a private temp dir (3.x, removed at stop) or the DB (2.x); never logged. */
  password: string;
  /** Where the api-server listens (default 127.0.0.1; 0.0.0.0 in a container other services call). */
  host?: string;
  /** Default: a free port on 127.0.0.1. */
  port?: number;
  /** How long each (re)start may take until healthy. Default 180 s (two cores, cold imports). */
  startTimeoutMs?: number;
  /** Between SIGTERM and SIGKILL of a component's process tree. Default 15 s. */
  stopGraceMs?: number;
}

export interface ComponentInfo {
  name: AirflowComponentName;
  pid: number;
  logFile: string;
  /** When this process was started (ISO). */
  startedAt: string;
  /** The Airflow version of the venv it was launched from. */
  airflowVersion: string;
}

/** running: its process is alive; stopped: stopped on request (or never started); exited: it ended on its own. */
export type ComponentState = 'running' | 'stopped' | 'exited';

export interface ComponentStatus {
  name: AirflowComponentName;
  state: ComponentState;
  /** The live process (running), else null. */
  pid: number | null;
  /** When the last process was started. */
  startedAt: string | null;
  /** When it was stopped or ended (not running), else null. */
  stoppedAt: string | null;
  /** The Airflow version of the venv the last process was launched from. */
  airflowVersion: string | null;
  /** Exit code or signal of a component that ended on its own. */
  exit: string | null;
  logFile: string;
}

export interface AirflowStack {
  /** http://127.0.0.1:<port>: the REST API is <baseUrl>/api/v2 (3.x) or /api/v1 (2.x). */
  baseUrl: string;
  port: number;
  logDir: string;
  /** The Airflow the stack runs now (the latest start's). */
  runtime(): AirflowRuntime;
  /** The components whose process runs. */
  components(): ComponentInfo[];
  /** Every component of the stack, running or not. */
  status(): ComponentStatus[];
  /** The full env the components run with now (it holds secrets: never print it). */
  env(): Record<string, string>;
  /**
   * Stops the named component (or all), starts it again with `newEnv` in place of the caller's env
   * given so far (the launcher's own settings are kept), and waits until it is healthy again.
   * Throws LaunchRefused before stopping anything when `newEnv` names an Airflow not installed, or
   * one other running components do not run.
   */
  restart(
    which: AirflowComponentName | 'all',
    newEnv?: Record<string, string>,
  ): Promise<{ durationMs: number; stopMs: number }>;
  /** Stops these components (their whole process trees); those stopped already stay so. */
  stopComponents(names: AirflowComponentName[]): Promise<{ durationMs: number; stopped: ComponentStatus[] }>;
  /**
   * Starts those of `names` that do not run, with `newEnv` as the caller's env from now on (and the
   * Airflow its AIRFLOW_VERSION names), and waits until they are healthy. On failure it stops what it
   * started and throws; LaunchRefused when nothing was started.
   */
  startComponents(
    names: AirflowComponentName[],
    newEnv?: Record<string, string>,
  ): Promise<{ durationMs: number; started: ComponentInfo[] }>;
  /** Polls the REST API until the dag-processor has stored these DAGs. */
  waitForDags(dagIds: string[], timeoutMs?: number): Promise<{ durationMs: number }>;
  /** Stops every component (SIGTERM, then SIGKILL of the whole tree). Final; idempotent. */
  stop(): Promise<void>;
}

interface Running {
  info: ComponentInfo;
  exited: Promise<void>;
  exitCode: () => number | string | null;
  exitedAt: () => string | null;
}

/** A process's name (/proc/<pid>/comm: never its arguments, which may carry secrets). */
function commandOf(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return 'gone';
  }
}

/** Process groups still alive, SIGKILLed (with their trees) if this Node process exits without stopping them. */
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
    for (const g of liveGroups) {
      const tree = new ProcessTree(g);
      tree.refresh();
      tree.signal('SIGKILL');
    }
  });
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
 * Starts the components (api-server first: on 3.x the others need its execution API, and one
 * process writing AIRFLOW_HOME's first airflow.cfg avoids a race) and waits until each is healthy.
 * `env` must name the metadata DB (AIRFLOW__DATABASE__SQL_ALCHEMY_CONN) and AIRFLOW_HOME; its
 * AIRFLOW_VERSION, if any, the Airflow to run.
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
  const checkEnv = (e: Record<string, string>) => {
    if (!e.AIRFLOW__DATABASE__SQL_ALCHEMY_CONN?.startsWith('postgresql')) {
      throw new LaunchRefused(
        'env must set AIRFLOW__DATABASE__SQL_ALCHEMY_CONN to a PostgreSQL URL (LocalExecutor needs it)',
      );
    }
  };
  checkEnv(env);
  let current = airflowRuntimeFor(env);
  const port = opts.port ?? (await freeServicePort());
  const host = opts.host ?? '127.0.0.1';
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

  const ctx: LaunchContext = {
    host,
    port,
    baseUrl,
    dagsFolder: opts.dagsFolder,
    taskLogs,
    // The scheduler and triggerer serve task logs on fixed default ports (8793, 8794): two stacks on
    // one machine would collide, so each stack takes free ones.
    workerLogPort: await freeServicePort(),
    triggerLogPort: await freeServicePort(),
    jwtSecret: randomBytes(32).toString('hex'),
    secretKey: randomBytes(32).toString('hex'),
    username: opts.username,
    passwordsFile,
    dagProcessor: wanted.includes('dag-processor'),
  };

  let callerEnv = { ...env };
  const envFor = (rt: AirflowRuntime, caller: Record<string, string>): Record<string, string> => {
    const { defaults, forced } = launchSettings(rt, ctx);
    return { ...defaults, ...caller, ...forced, PATH: pathWithVenvFirst(rt.venv, caller.PATH) };
  };

  const running = new Map<AirflowComponentName, Running>();
  /** The last process of each component once it is no longer in `running`, and when it stopped. */
  const ended = new Map<AirflowComponentName, { info: ComponentInfo; stoppedAt: string }>();
  let stopped = false;

  function spawnComponent(name: AirflowComponentName, rt: AirflowRuntime): Running {
    const logFile = path.join(opts.logDir, `${name}.log`);
    const fd = openSync(logFile, 'a');
    const startedAt = new Date().toISOString();
    writeFileSync(
      fd,
      `\n=== cutover: starting airflow ${name} (Airflow ${rt.version}) at ${startedAt} ===\n`,
    );
    const child = spawn(rt.airflow, componentArgs(rt, name, secretDir), {
      env: envFor(rt, callerEnv),
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
    let at: string | null = null;
    const exited = new Promise<void>((resolve) => {
      child.once('exit', (c, s) => {
        code = c ?? s;
        at = new Date().toISOString();
        resolve();
      });
      child.once('error', (err) => {
        code = err.message;
        at = new Date().toISOString();
        resolve();
      });
    });
    ended.delete(name);
    return {
      info: { name, pid, logFile, startedAt, airflowVersion: rt.version },
      exited,
      exitCode: () => code,
      exitedAt: () => at,
    };
  }

  /** SIGTERM to the tree, SIGKILL after the grace, and back only once every process of it is gone. */
  async function stopComponent(name: AirflowComponentName): Promise<void> {
    const r = running.get(name);
    if (!r) return;
    running.delete(name);
    const pgid = r.info.pid;
    const tree = new ProcessTree(pgid);
    tree.refresh();
    const t0 = performance.now();
    // The triggerer stops its trigger runner itself (its own process group: SIGINT, escalating after
    // 10 s). Signalled directly as well, the runner's end left the triggerer alive past the grace
    // (SIGKILLed at 15 s, seen in the demo's shutdown). A pod's runtime signals the main process
    // group only, so the runner is left to the triggerer, as on Kubernetes (docs/facts.md).
    if (name === 'triggerer') tree.signalGroup('SIGTERM');
    else tree.signal('SIGTERM');
    const grace = Date.now() + stopGraceMs;
    for (;;) {
      // Children forked while it runs down (a task runner finishing) join the tree.
      tree.refresh();
      if (tree.alive().length === 0 || Date.now() >= grace) break;
      await sleep(200);
    }
    // Who outlived the grace, for the component's log: the next stop's wait is theirs.
    const killed = tree.alive().map((p) => `${p.pid} (${commandOf(p.pid)})`);
    for (tree.refresh(); tree.alive().length > 0; tree.refresh()) {
      tree.signal('SIGKILL');
      await sleep(100);
    }
    await Promise.race([r.exited, sleep(5_000)]);
    const how =
      killed.length === 0
        ? 'on SIGTERM'
        : `SIGKILLed after the ${stopGraceMs / 1000} s grace: ${killed.join(', ')}`;
    appendFileSync(
      r.info.logFile,
      `=== cutover: stopped airflow ${name} in ${Math.round(performance.now() - t0)} ms, ${how} ===\n`,
    );
    liveGroups.delete(pgid);
    writeGroups();
    ended.set(name, { info: r.info, stoppedAt: new Date().toISOString() });
  }

  async function health(rt: AirflowRuntime): Promise<HealthInfo | null> {
    try {
      const res = await fetch(`${baseUrl}${rt.healthPath}`, { signal: AbortSignal.timeout(5_000) });
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
  async function waitHealthy(names: AirflowComponentName[], rt: AirflowRuntime): Promise<void> {
    const deadline = Date.now() + startTimeoutMs;
    let last = 'no answer yet';
    for (;;) {
      for (const n of names) {
        const r = running.get(n);
        if (!r) throw new Error(`airflow ${n} is not running`);
        if (r.exitCode() !== null) {
          throw new Error(
            `airflow ${n} (Airflow ${r.info.airflowVersion}) exited (${String(r.exitCode())}) before it was healthy; last lines of ${r.info.logFile}:\n${tail(r.info.logFile)}`,
          );
        }
      }
      const h = await health(rt);
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
   * 2.x keeps its users in the metadata DB: the admin is made before the webserver starts; one that
   * existed is checked once the webserver answers (`afterHealthy`) and replaced if its password is
   * another one.
   */
  async function ensureAdmin(rt: AirflowRuntime): Promise<() => Promise<void>> {
    const nothing = async () => undefined;
    if (rt.major !== 2) return nothing;
    const admin = {
      airflow: rt.airflow,
      env: envFor(rt, callerEnv),
      cwd: opts.logDir,
      username: opts.username,
      password: opts.password,
      timeoutMs: startTimeoutMs,
    };
    const note = (what: string) =>
      writeFileSync(
        path.join(opts.logDir, 'api-server.log'),
        `=== cutover: Airflow ${rt.version} user ${opts.username}: ${what} ===\n`,
        { flag: 'a' },
      );
    const what = await ensureAirflow2Admin(admin);
    note(what);
    if (what === 'created') return nothing;
    return async () => {
      if (await airflow2AdminAccepted(baseUrl, opts.username, opts.password)) return;
      await replaceAirflow2Admin(admin);
      note('replaced (its password was another one)');
      if (!(await airflow2AdminAccepted(baseUrl, opts.username, opts.password)))
        throw new Error(
          `the Airflow ${rt.version} REST API refuses user ${opts.username} after it was replaced`,
        );
    };
  }

  /**
   * The first start is sequential (api-server, then the rest): one process creates AIRFLOW_HOME's
   * airflow.cfg. Later starts start everything at once: the scheduler and dag-processor need the
   * api-server only once a task runs, and two cores import three Airflows faster than one by one.
   */
  async function startSome(
    names: AirflowComponentName[],
    sequential: boolean,
    rt: AirflowRuntime,
  ): Promise<void> {
    const api = names.includes('api-server');
    const rest = names.filter((n) => n !== 'api-server');
    if (!sequential) {
      for (const n of rest) running.set(n, spawnComponent(n, rt));
      let afterHealthy: () => Promise<void> = async () => undefined;
      if (api) {
        afterHealthy = await ensureAdmin(rt);
        running.set('api-server', spawnComponent('api-server', rt));
      }
      await waitHealthy(names, rt);
      await afterHealthy();
      return;
    }
    if (api) {
      const afterHealthy = await ensureAdmin(rt);
      running.set('api-server', spawnComponent('api-server', rt));
      await waitHealthy(['api-server'], rt);
      await afterHealthy();
    }
    for (const n of rest) running.set(n, spawnComponent(n, rt));
    await waitHealthy(rest.length > 0 ? rest : ['api-server'], rt);
  }

  async function stopSome(names: AirflowComponentName[]): Promise<void> {
    // The api-server last: the scheduler's task runners report back to it while stopping.
    await Promise.all(names.filter((n) => n !== 'api-server').map((n) => stopComponent(n)));
    if (names.includes('api-server')) await stopComponent('api-server');
  }

  const alive = () => [...running.values()].filter((r) => r.exitCode() === null);

  /**
   * The Airflow `nextEnv` names, refused when a component that keeps running (not in `starting`)
   * runs another version: one stack, one Airflow.
   */
  function runtimeForStart(
    starting: AirflowComponentName[],
    nextEnv: Record<string, string>,
  ): AirflowRuntime {
    checkEnv(nextEnv);
    const rt = airflowRuntimeFor(nextEnv);
    const others = alive().filter(
      (r) => !starting.includes(r.info.name) && r.info.airflowVersion !== rt.version,
    );
    if (others.length > 0) {
      throw new LaunchRefused(
        `${others.map((r) => `${r.info.name} runs Airflow ${r.info.airflowVersion}`).join(', ')}; ` +
          `starting ${starting.join(', ')} on Airflow ${rt.version} would mix versions: ` +
          'stop every component first (or restart them all)',
      );
    }
    return rt;
  }

  const unknown = (names: string[]) => {
    const bad = names.filter((n) => !wanted.includes(n as AirflowComponentName));
    if (bad.length > 0)
      throw new LaunchRefused(`airflow ${bad.join(', ')} is not part of this stack (${wanted.join(', ')})`);
  };

  const status = (): ComponentStatus[] =>
    wanted.map((name): ComponentStatus => {
      const r = running.get(name);
      const logFile = path.join(opts.logDir, `${name}.log`);
      if (r && r.exitCode() === null) return { ...r.info, state: 'running', stoppedAt: null, exit: null };
      if (r)
        return {
          ...r.info,
          pid: null,
          state: 'exited',
          stoppedAt: r.exitedAt(),
          exit: String(r.exitCode()),
        };
      const e = ended.get(name);
      return {
        name,
        state: 'stopped',
        pid: null,
        startedAt: e?.info.startedAt ?? null,
        stoppedAt: e?.stoppedAt ?? null,
        airflowVersion: e?.info.airflowVersion ?? null,
        exit: null,
        logFile,
      };
    });

  try {
    await startSome(wanted, true, current);
  } catch (err) {
    await stopSome([...running.keys()]);
    rmSync(secretDir, { recursive: true, force: true });
    throw err;
  }

  return {
    baseUrl,
    port,
    logDir: opts.logDir,
    runtime: () => current,
    // A component that exited on its own (crashed, killed) is not running, though a start may start it again.
    components: () => alive().map((r) => ({ ...r.info })),
    status,
    env: () => envFor(current, callerEnv),
    async restart(which, newEnv) {
      if (stopped) throw new Error('the Airflow stack was stopped');
      const started = performance.now();
      const names = which === 'all' ? wanted : [which];
      unknown(names);
      const nextEnv = newEnv ? { ...newEnv } : callerEnv;
      const rt = runtimeForStart(names, nextEnv);
      await stopSome(names.filter((n) => running.has(n)));
      const stopMs = Math.round(performance.now() - started);
      callerEnv = nextEnv;
      current = rt;
      try {
        await startSome(names, false, rt);
      } catch (err) {
        await stopSome(names.filter((n) => running.has(n)));
        throw err;
      }
      return { durationMs: Math.round(performance.now() - started), stopMs };
    },
    async stopComponents(names) {
      if (stopped) throw new Error('the Airflow stack was stopped');
      unknown(names);
      const started = performance.now();
      await stopSome(names.filter((n) => running.has(n)));
      const all = status();
      return {
        durationMs: Math.round(performance.now() - started),
        stopped: all.filter((s) => names.includes(s.name)),
      };
    },
    async startComponents(names, newEnv) {
      if (stopped) throw new Error('the Airflow stack was stopped');
      unknown(names);
      const started = performance.now();
      const toStart = wanted.filter((n) => names.includes(n) && !alive().some((r) => r.info.name === n));
      const nextEnv = newEnv ? { ...newEnv } : callerEnv;
      const rt = runtimeForStart(toStart, nextEnv);
      // A component that crashed is still listed, exited: its tree may have left processes behind.
      await stopSome(toStart.filter((n) => running.has(n)));
      callerEnv = nextEnv;
      current = rt;
      if (toStart.length > 0) {
        try {
          await startSome(toStart, false, rt);
        } catch (err) {
          await stopSome(toStart.filter((n) => running.has(n)));
          throw err;
        }
      }
      return {
        durationMs: Math.round(performance.now() - started),
        started: alive()
          .filter((r) => toStart.includes(r.info.name))
          .map((r) => ({ ...r.info })),
      };
    },
    async waitForDags(dagIds, timeoutMs = 120_000) {
      const started = performance.now();
      const deadline = Date.now() + timeoutMs;
      const session = new AirflowSession({
        baseUrl,
        apiVersion: current.apiVersion,
        username: opts.username,
        password: opts.password,
        requestTimeoutMs: 10_000,
      });
      let missing = [...dagIds];
      for (;;) {
        const still: string[] = [];
        for (const id of missing) {
          const res = await session.request('GET', `/dags/${encodeURIComponent(id)}`, {
            label: '/dags/{dag_id}',
            accept: [404],
          });
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
      await stopSome([...running.keys()]);
      rmSync(secretDir, { recursive: true, force: true });
    },
  };
}
