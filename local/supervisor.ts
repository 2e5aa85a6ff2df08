/**
 * The supervisor of a `local` target: it runs the Airflow components as processes (the launcher in
 * airflow-components.ts) with the env file's variables, and lets the cut-over worker restart them
 * the way a Kubernetes rollout would, over a small HTTP control API:
 *
 *   GET  /health                     200 when every component runs and no restart is under way
 *   GET  /components                 [{name, pid, startedAt}]
 *   POST /restart {components?}      re-reads the env file, restarts them (all when absent) and
 *                                    answers once they are healthy again
 *   GET  /env?component=C&keys=A,B   those variables as the running process holds them, read from
 *                                    /proc/<pid>/environ: the truth, like an exec into a pod. Only
 *                                    the keys asked for leave the machine.
 *
 * The control URL and the REST API URL are recorded in `<envFile>.supervisor.json`, where the worker
 * finds them when the plan names no `target.supervisor`. The supervisor lives apart from the worker,
 * so a worker that dies (or is killed in a test) leaves Airflow running, as on a cluster.
 */
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseEnvFile } from '../adapters/env-file-change.js';
import { supervisorStateFile } from '../adapters/local-rollout.js';
import {
  AIRFLOW_COMPONENTS,
  startAirflowComponents,
  type AirflowComponentName,
  type AirflowStack,
} from './airflow-components.js';
import { venvPath } from './venv.js';

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
}

export interface Supervisor extends SupervisorState {
  stack: AirflowStack;
  stateFile: string;
  close(): Promise<void>;
}

/** What the components run with: the env file, with the venv's bin first on PATH and a HOME. */
export function componentEnvFromFile(envFile: string): Record<string, string> {
  const vars = Object.fromEntries(parseEnvFile(readFileSync(envFile, 'utf8'), envFile));
  return {
    ...vars,
    PATH: vars.PATH ?? venvPath(),
    HOME: vars.HOME ?? vars.AIRFLOW_HOME ?? process.env.HOME ?? '/tmp',
  };
}

/**
 * Every variable of a running process, from /proc (Linux), or null when the area holds no
 * environment: a process that rewrites its title (the api-server does, through setproctitle)
 * overwrites it.
 */
export function processEnv(pid: number): Map<string, string> | null {
  const raw = readFileSync(`/proc/${pid}/environ`);
  const all = new Map<string, string>();
  for (const entry of raw.toString('utf8').split('\0')) {
    const eq = entry.indexOf('=');
    if (eq > 0) all.set(entry.slice(0, eq), entry.slice(eq + 1));
  }
  return all.size > 0 ? all : null;
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
  let restarting: Promise<unknown> = Promise.resolve();
  let busy = false;

  const send = (res: http.ServerResponse, code: number, body: unknown) => {
    const text = JSON.stringify(body);
    res.writeHead(code, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
    res.end(text);
  };
  const readBody = async (req: http.IncomingMessage): Promise<unknown> => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const text = Buffer.concat(chunks).toString('utf8').trim();
    return text === '' ? {} : (JSON.parse(text) as unknown);
  };

  const restart = async (names: AirflowComponentName[]) => {
    const started = performance.now();
    // The env file as it is now: what the cut-over (or its revert) wrote.
    const env = componentEnvFromFile(opts.envFile);
    // One more try when a component dies on its way up (a port still held, a slow DB): a rollout
    // controller would restart a crashed pod too.
    for (let attempt = 1; ; attempt++) {
      try {
        if (opts.components.every((c) => names.includes(c))) await stack.restart('all', env);
        else for (const name of names) await stack.restart(name, env);
        break;
      } catch (err) {
        if (attempt >= 2) throw err;
        process.stderr.write(`supervisor: restart failed, trying once more: ${String(err).slice(0, 500)}\n`);
        await new Promise((r) => setTimeout(r, 2000));
      }
    }
    recordLaunch(names);
    return { restarted: names, durationMs: Math.round(performance.now() - started) };
  };

  const handle = async (req: http.IncomingMessage, res: http.ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://supervisor');
    if (req.method === 'GET' && url.pathname === '/health') {
      const running = stack.components().map((c) => c.name);
      const ok = !busy && opts.components.every((c) => running.includes(c));
      return send(res, ok ? 200 : 503, { ok, restarting: busy, running });
    }
    if (req.method === 'GET' && url.pathname === '/components') return send(res, 200, stack.components());
    if (req.method === 'GET' && url.pathname === '/env') {
      const name = url.searchParams.get('component');
      const keys = (url.searchParams.get('keys') ?? '').split(',').filter((k) => k !== '');
      const c = stack.components().find((x) => x.name === name);
      if (!name || !opts.components.includes(name as AirflowComponentName))
        return send(res, 404, { error: `not run by this supervisor: ${name ?? '(no component given)'}` });
      // Between stop and start of a restart, or after a crash: not running is an answer, not an error.
      if (!c) return send(res, 503, { error: `${name} is not running right now` });
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
        source,
        env: Object.fromEntries(keys.map((k) => [k, value(k)])),
      });
    }
    if (req.method === 'POST' && url.pathname === '/restart') {
      const body = (await readBody(req)) as { components?: unknown };
      const asked = Array.isArray(body.components) ? body.components.map(String) : opts.components;
      const unknown = asked.filter((n) => !opts.components.includes(n as AirflowComponentName));
      if (unknown.length > 0)
        return send(res, 400, {
          error: `not run by this supervisor: ${unknown.join(', ')} (runs ${opts.components.join(', ')})`,
        });
      // One restart at a time: a second request waits for the first, then restarts again.
      const mine = restarting.then(async () => {
        busy = true;
        try {
          return await restart(asked as AirflowComponentName[]);
        } finally {
          busy = false;
        }
      });
      restarting = mine.catch(() => undefined);
      try {
        return send(res, 200, await mine);
      } catch (err) {
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
  const state: SupervisorState = {
    controlUrl,
    apiUrl: stack.baseUrl,
    pid: process.pid,
    components: [...opts.components],
  };
  const stateFile = supervisorStateFile(opts.envFile);
  writeFileSync(stateFile, `${JSON.stringify(state, null, 2)}\n`);

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
