/**
 * The supervisor of a `local` target: it runs the Airflow components as processes (the launcher in
 * airflow-components.ts) with the env file's variables, from the Airflow its AIRFLOW_VERSION names
 * (default: the project's venv), and lets the cut-over worker stop, start and restart them the way
 * a Kubernetes rollout would, over a small HTTP control API:
 *
 *   GET  /health                     200 when every component runs and nothing is under way; 503
 *                                    otherwise, the body saying which are stopped (or exited) and
 *                                    since when, and what is under way
 *   GET  /components                 [{name, state, pid, startedAt, stoppedAt, airflowVersion, ...}]
 *                                    for every component (state running | stopped | exited)
 *   POST /restart {components?}      re-reads the env file, restarts them (all when absent) and
 *                                    answers once they are healthy again
 *   POST /stop {components?}         stops them (their whole process trees) and answers once they
 *                                    are gone
 *   POST /start {components?}        re-reads the env file, starts those that do not run and answers
 *                                    once they are healthy
 *   GET  /env?component=C&keys=A,B   those variables as the running process holds them, read from
 *                                    /proc/<pid>/environ: the truth, like an exec into a pod. Only
 *                                    the keys asked for leave the machine.
 *
 * One control operation at a time: a /restart, /start or /stop while another is under way is
 * refused with 409 (busy), which the worker's LocalRollout waits out. Bad requests (an unknown
 * component, an AIRFLOW_VERSION not installed here, a start that would run two Airflow versions side
 * by side) are refused with 400 before anything stops.
 *
 * The control URL and the REST API URL are recorded in `<envFile>.supervisor.json`, where the worker
 * finds them when the plan names no `target.supervisor`. The supervisor lives apart from the worker,
 * so a worker that dies (or is killed in a test) leaves Airflow running, as on a cluster.
 */
import { readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseEnvFile } from '../adapters/env-file-change.js';
import { supervisorStateFile, type ComponentTransition } from '../adapters/local-rollout.js';
import {
  AIRFLOW_COMPONENTS,
  LaunchRefused,
  startAirflowComponents,
  type AirflowComponentName,
  type AirflowStack,
  type ComponentStatus,
} from './airflow-components.js';

export interface SupervisorOptions {
  envFile: string;
  dagsFolder: string;
  logDir: string;
  components: AirflowComponentName[];
  username: string;
  password: string;
  controlHost?: string;
  /** 0 (default) picks a free port. */
  controlPort?: number;
  apiPort?: number;
  /** Where the REST API listens (default 127.0.0.1). */
  apiHost?: string;
  /** The URL written to the state file for clients (default http://<controlHost>:<port>). */
  advertiseUrl?: string;
}

export interface SupervisorState {
  controlUrl: string;
  apiUrl: string;
  pid: number;
  components: AirflowComponentName[];
  /** The Airflow the components run (rewritten after each start and restart). */
  airflowVersion: string;
  /** Its REST API: /api/v1 (Airflow 2, basic auth) or /api/v2 (Airflow 3, token). */
  apiVersion: 'v1' | 'v2';
  /**
   * The DAG folder the supervisor forces on every component (AIRFLOW__CORE__DAGS_FOLDER, not in the
   * env file): a probe run beside the components reads it here to see the folder they parse.
   */
  dagsFolder: string;
}

export interface Supervisor extends SupervisorState {
  stack: AirflowStack;
  stateFile: string;
  close(): Promise<void>;
}

/** A control operation under way: what /health and a refused request say. */
interface Operation {
  kind: 'restart' | 'start' | 'stop';
  components: AirflowComponentName[];
  since: string;
}

/** A request the supervisor refuses: 400 (bad request) or 409 (busy). */
class Refused extends Error {
  constructor(
    readonly status: 400 | 409,
    message: string,
    readonly extra: Record<string, unknown> = {},
  ) {
    super(message);
  }
}

/**
 * What the components run with: the env file as it is (PATH and HOME defaulted). The launcher puts
 * the bin of the venv its AIRFLOW_VERSION names first on PATH.
 */
export function componentEnvFromFile(envFile: string): Record<string, string> {
  const vars = Object.fromEntries(parseEnvFile(readFileSync(envFile, 'utf8'), envFile));
  return {
    ...vars,
    PATH: vars.PATH ?? '/usr/local/bin:/usr/bin:/bin',
    HOME: vars.HOME ?? vars.AIRFLOW_HOME ?? process.env.HOME ?? '/tmp',
  };
}

/**
 * Every variable of a running process, from /proc (Linux), or null when the area no longer holds
 * the environment it started with. A process that rewrites its title through setproctitle (the 3.x
 * api-server; the 2.x scheduler and triggerer) reuses that area: it is then empty, or NULs with a
 * few entries left over at its end, which would answer "not set" for everything else. A clean area
 * is KEY=VALUE entries, each ended by one NUL, with no empty entry between them.
 */
export function processEnv(pid: number): Map<string, string> | null {
  const entries = readFileSync(`/proc/${pid}/environ`).toString('utf8').split('\0');
  if (entries.at(-1) === '') entries.pop();
  if (entries.length === 0) return null;
  const all = new Map<string, string>();
  for (const entry of entries) {
    const eq = entry.indexOf('=');
    if (eq <= 0) return null;
    all.set(entry.slice(0, eq), entry.slice(eq + 1));
  }
  return all;
}

export async function startSupervisor(opts: SupervisorOptions): Promise<Supervisor> {
  const stack = await startAirflowComponents(opts.components, componentEnvFromFile(opts.envFile), {
    dagsFolder: opts.dagsFolder,
    logDir: opts.logDir,
    username: opts.username,
    password: opts.password,
    ...(opts.apiPort ? { port: opts.apiPort } : {}),
    ...(opts.apiHost ? { host: opts.apiHost } : {}),
  });
  /** The env each component's current process was started with, for processes /proc cannot tell. */
  const launched = new Map<string, { pid: number; env: Record<string, string> }>();
  const recordLaunch = (names: AirflowComponentName[]) => {
    for (const c of stack.components())
      if (names.includes(c.name)) launched.set(c.name, { pid: c.pid, env: stack.env() });
  };
  recordLaunch(opts.components);
  let busy: Operation | null = null;

  const send = (res: http.ServerResponse, code: number, body: unknown) => {
    const text = JSON.stringify(body);
    res.writeHead(code, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
    res.end(text);
  };
  const readBody = async (req: http.IncomingMessage): Promise<unknown> => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const text = Buffer.concat(chunks).toString('utf8').trim();
    try {
      return text === '' ? {} : (JSON.parse(text) as unknown);
    } catch {
      throw new Refused(400, 'the request body is not JSON (expected {"components": [...]} or nothing)');
    }
  };
  /** The components a control request names: all when absent; unknown names refused. */
  const askedIn = (body: unknown): AirflowComponentName[] => {
    const list = (body as { components?: unknown } | null)?.components;
    if (list === undefined) return [...opts.components];
    if (!Array.isArray(list) || !list.every((x): x is string => typeof x === 'string'))
      throw new Refused(400, 'components must be a list of component names');
    const unknown = list.filter((n) => !opts.components.includes(n as AirflowComponentName));
    if (unknown.length > 0)
      throw new Refused(
        400,
        `not run by this supervisor: ${unknown.join(', ')} (runs ${opts.components.join(', ')})`,
      );
    return opts.components.filter((c) => list.includes(c));
  };

  const stateFile = supervisorStateFile(opts.envFile);
  let state: SupervisorState | null = null;
  /** The state file, rewritten whole (a reader never sees half of it) when the Airflow version may have changed. */
  const writeState = () => {
    if (!state) return;
    state = { ...state, airflowVersion: stack.runtime().version, apiVersion: stack.runtime().apiVersion };
    const tmp = `${stateFile}.tmp-${process.pid}`;
    writeFileSync(tmp, `${JSON.stringify(state, null, 2)}\n`);
    renameSync(tmp, stateFile);
  };

  /** One more try when a component dies on its way up (a port still held, a slow DB), as a rollout controller would. */
  const withRetry = async <T>(what: string, attempt: () => Promise<T>): Promise<T> => {
    for (let n = 1; ; n++) {
      try {
        return await attempt();
      } catch (err) {
        if (n >= 2 || err instanceof LaunchRefused) throw err;
        process.stderr.write(`supervisor: ${what} failed, trying once more: ${String(err).slice(0, 500)}\n`);
        await new Promise((r) => setTimeout(r, 2000));
      }
    }
  };

  const restart = async (names: AirflowComponentName[]) => {
    const started = performance.now();
    // The env file as it is now: what the cut-over (or its revert) wrote.
    const env = componentEnvFromFile(opts.envFile);
    // Time spent stopping, summed over the restarts made (the rest is starting and the health wait).
    let stopMs = 0;
    await withRetry('restart', async () => {
      if (opts.components.every((c) => names.includes(c))) stopMs += (await stack.restart('all', env)).stopMs;
      else for (const name of names) stopMs += (await stack.restart(name, env)).stopMs;
    });
    recordLaunch(names);
    return {
      restarted: names,
      airflowVersion: stack.runtime().version,
      durationMs: Math.round(performance.now() - started),
      stopMs,
    };
  };

  const stop = async (names: AirflowComponentName[]) => {
    const before = new Map(stack.status().map((s) => [s.name, s]));
    const { durationMs } = await stack.stopComponents(names);
    const after = new Map(stack.status().map((s) => [s.name, s]));
    const stopped: ComponentTransition[] = names.map((name) => {
      const b = before.get(name) as ComponentStatus;
      const a = after.get(name) as ComponentStatus;
      return {
        component: name,
        action: b.state === 'running' ? 'stopped' : 'already stopped',
        pid: b.pid,
        startedAt: a.startedAt,
        stoppedAt: a.stoppedAt,
        airflowVersion: a.airflowVersion,
      };
    });
    return { stopped, durationMs };
  };

  const start = async (names: AirflowComponentName[]) => {
    const startedAt = performance.now();
    const wasRunning = new Set(
      stack
        .status()
        .filter((s) => s.state === 'running')
        .map((s) => s.name),
    );
    const env = componentEnvFromFile(opts.envFile);
    await withRetry('start', () => stack.startComponents(names, env));
    recordLaunch(names.filter((n) => !wasRunning.has(n)));
    const now = new Map(stack.status().map((s) => [s.name, s]));
    const started: ComponentTransition[] = names.map((name) => {
      const s = now.get(name) as ComponentStatus;
      return {
        component: name,
        action: wasRunning.has(name) ? 'already running' : 'started',
        pid: s.pid,
        startedAt: s.startedAt,
        stoppedAt: null,
        airflowVersion: s.airflowVersion,
      };
    });
    return {
      started,
      airflowVersion: stack.runtime().version,
      durationMs: Math.round(performance.now() - startedAt),
    };
  };

  /** Runs one control operation at a time; another one meanwhile is refused as busy. */
  const control = async <T>(
    kind: Operation['kind'],
    names: AirflowComponentName[],
    run: () => Promise<T>,
  ) => {
    if (busy) {
      throw new Refused(
        409,
        `busy: a ${busy.kind} of ${busy.components.join(', ')} is under way since ${busy.since}`,
        { busy },
      );
    }
    busy = { kind, components: names, since: new Date().toISOString() };
    try {
      const result = await run();
      if (kind !== 'stop') writeState();
      return result;
    } finally {
      busy = null;
    }
  };

  const health = () => {
    const all = stack.status();
    const running = all.filter((s) => s.state === 'running').map((s) => s.name);
    const ok = busy === null && running.length === all.length;
    const runtime = stack.runtime();
    return {
      code: ok ? 200 : 503,
      body: {
        ok,
        busy,
        // Kept for clients that read it: true while any control operation is under way.
        restarting: busy !== null,
        running,
        stopped: all
          .filter((s) => s.state === 'stopped')
          .map((s) => ({ name: s.name, since: s.stoppedAt, airflowVersion: s.airflowVersion })),
        exited: all
          .filter((s) => s.state === 'exited')
          .map((s) => ({ name: s.name, since: s.stoppedAt, exit: s.exit, airflowVersion: s.airflowVersion })),
        airflowVersion: runtime.version,
        apiVersion: runtime.apiVersion,
      },
    };
  };

  const handle = async (req: http.IncomingMessage, res: http.ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://supervisor');
    if (req.method === 'GET' && url.pathname === '/health') {
      const h = health();
      return send(res, h.code, h.body);
    }
    if (req.method === 'GET' && url.pathname === '/components') return send(res, 200, stack.status());
    if (req.method === 'GET' && url.pathname === '/env') {
      const name = url.searchParams.get('component');
      const keys = (url.searchParams.get('keys') ?? '').split(',').filter((k) => k !== '');
      if (!name || !opts.components.includes(name as AirflowComponentName))
        return send(res, 404, { error: `not run by this supervisor: ${name ?? '(no component given)'}` });
      const c = stack.components().find((x) => x.name === name);
      // Between stop and start, or after a crash: not running is an answer, not an error.
      if (!c) {
        const s = stack.status().find((x) => x.name === name);
        const since = s?.stoppedAt ? ` since ${s.stoppedAt}` : '';
        return send(res, 503, {
          error: `${name} is not running right now (${s?.state ?? 'stopped'}${since})`,
        });
      }
      const proc = processEnv(c.pid);
      const atLaunch = launched.get(c.name);
      const source = proc ? 'proc' : atLaunch?.pid === c.pid ? 'launch' : null;
      if (source === null)
        return send(res, 503, { error: `the env of ${c.name} (pid ${c.pid}) cannot be read` });
      const value = (k: string) => (proc ? proc.get(k) : atLaunch?.env[k]) ?? null;
      return send(res, 200, {
        component: c.name,
        pid: c.pid,
        startedAt: c.startedAt,
        airflowVersion: c.airflowVersion,
        source,
        env: Object.fromEntries(keys.map((k) => [k, value(k)])),
      });
    }
    const ops: Record<string, [Operation['kind'], (names: AirflowComponentName[]) => Promise<unknown>]> = {
      '/restart': ['restart', restart],
      '/start': ['start', start],
      '/stop': ['stop', stop],
    };
    const op = req.method === 'POST' && Object.hasOwn(ops, url.pathname) ? ops[url.pathname] : undefined;
    if (op) {
      const [kind, run] = op;
      try {
        const names = askedIn(await readBody(req));
        return send(res, 200, await control(kind, names, () => run(names)));
      } catch (err) {
        if (err instanceof Refused) return send(res, err.status, { error: err.message, ...err.extra });
        if (err instanceof LaunchRefused) return send(res, 400, { error: err.message });
        return send(res, 500, { error: err instanceof Error ? err.message : String(err) });
      }
    }
    return send(res, 404, { error: `no route ${req.method ?? ''} ${url.pathname}` });
  };

  const server = http.createServer((req, res) => {
    handle(req, res).catch((err: unknown) => send(res, 500, { error: String(err) }));
  });
  // A restart of all four components takes minutes on two cores: no server-side timeout.
  server.requestTimeout = 0;
  server.headersTimeout = 60_000;
  const host = opts.controlHost ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.controlPort ?? 0, host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const controlUrl = opts.advertiseUrl ?? `http://${host === '0.0.0.0' ? '127.0.0.1' : host}:${port}`;
  state = {
    controlUrl,
    apiUrl: stack.baseUrl,
    pid: process.pid,
    components: [...opts.components],
    airflowVersion: stack.runtime().version,
    apiVersion: stack.runtime().apiVersion,
    dagsFolder: opts.dagsFolder,
  };
  writeState();

  return {
    ...state,
    stack,
    stateFile,
    async close() {
      rmSync(stateFile, { force: true });
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await stack.stop();
    },
  };
}

export function parseComponents(list: string): AirflowComponentName[] {
  const names = list
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  const bad = names.filter((n) => !(AIRFLOW_COMPONENTS as readonly string[]).includes(n));
  if (bad.length > 0)
    throw new Error(`unknown component(s) ${bad.join(', ')}: choose from ${AIRFLOW_COMPONENTS.join(', ')}`);
  return names as AirflowComponentName[];
}
