/**
 * A real S3 API server on this machine: moto's server mode from the project's venv
 * (`python -m moto.server`), on a free port, with one bucket created through the real AWS SDK.
 * Stop it when done; a moto still running when this process exits is killed then.
 */
import { spawn } from 'node:child_process';
import { closeSync, fstatSync, mkdirSync, openSync, readFileSync, writeSync } from 'node:fs';
import path from 'node:path';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { freeServicePort } from './ports.js';
import { venvPath, venvPython } from './venv.js';

/** moto accepts any credentials; these are the ones its documentation uses. */
export const MOTO_CREDENTIALS = { accessKeyId: 'testing', secretAccessKey: 'testing' } as const;
export const MOTO_REGION = 'us-east-1';

export interface MotoServer {
  endpoint: string;
  bucket: string;
  s3: S3Client;
  pid: number;
  /** Where moto's output goes, or null when it is kept in memory. */
  logFile: string | null;
  /** Destroys the client and stops moto (SIGTERM, then SIGKILL after 5 s). Idempotent. */
  stop(): Promise<void>;
}

export interface MotoOptions {
  /** Created at start. Default cutover-xcom. */
  bucket?: string;
  /** Default: a free port below the ephemeral range, another one if that is taken by moto's bind. */
  port?: number;
  /** How a port is picked when `port` is not given. Default freeServicePort (local/ports.ts). */
  pickPort?: () => Promise<number>;
  /** Append moto's output to this file (default: keep its last 8 KB in memory for errors). */
  logFile?: string;
  /** How long to wait for moto to answer. Default 60 s. */
  timeoutMs?: number;
  /** Stops moto and rejects when aborted during the start. */
  signal?: AbortSignal;
  /**
   * Its own process group, so a terminal's Ctrl-C reaches only the process that started it, which
   * decides the order things stop in (the demo lets a run's kill-switch finish first).
   */
  ownProcessGroup?: boolean;
}

/** An S3 client for a moto endpoint: path-style, us-east-1, moto's credentials. */
export function s3ClientFor(endpoint: string): S3Client {
  return new S3Client({
    endpoint,
    forcePathStyle: true,
    region: MOTO_REGION,
    credentials: { ...MOTO_CREDENTIALS },
  });
}

/** moto processes still running, SIGKILLed if this process exits without stopping them. */
const live = new Set<number>();
let exitHook = false;
function track(pid: number): void {
  live.add(pid);
  if (exitHook) return;
  exitHook = true;
  process.on('exit', () => {
    for (const p of live) {
      try {
        process.kill(p, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  });
}

function abortError(): Error {
  const err = new Error('moto start aborted');
  err.name = 'AbortError';
  return err;
}

/** How often a port this module picked is picked again when moto finds it taken. */
const PORT_ATTEMPTS = 3;

export async function startMoto(opts: MotoOptions = {}): Promise<MotoServer> {
  if (opts.port !== undefined) return startMotoOn(opts.port, opts);
  // moto binds a second or two after the port is found free; on a busy machine another process can
  // take it in that window (seen in CI: "Address already in use"). A port we picked can be re-picked.
  for (let attempt = 1; ; attempt++) {
    try {
      return await startMotoOn(await (opts.pickPort ?? freeServicePort)(), opts);
    } catch (err) {
      if (attempt >= PORT_ATTEMPTS || !(err instanceof PortTakenError)) throw err;
    }
  }
}

class PortTakenError extends Error {}

async function startMotoOn(port: number, opts: MotoOptions): Promise<MotoServer> {
  if (opts.signal?.aborted) throw abortError();
  const endpoint = `http://127.0.0.1:${port}`;
  const bucket = opts.bucket ?? 'cutover-xcom';
  const logFile = opts.logFile === undefined ? null : path.resolve(opts.logFile);
  let logFd: number | null = null;
  // Where this start's output begins in a shared log, so an earlier attempt's error is not re-read.
  let logStart = 0;
  if (logFile !== null) {
    mkdirSync(path.dirname(logFile), { recursive: true });
    logFd = openSync(logFile, 'a');
    logStart = fstatSync(logFd).size;
    writeSync(logFd, `=== ${new Date().toISOString()} moto.server on ${endpoint}\n`);
  }
  const child = spawn(venvPython(), ['-m', 'moto.server', '-H', '127.0.0.1', '-p', String(port)], {
    env: { PATH: venvPath(), HOME: process.env.HOME ?? '/tmp', LANG: 'C.UTF-8' },
    stdio: logFd === null ? ['ignore', 'pipe', 'pipe'] : ['ignore', logFd, logFd],
    detached: opts.ownProcessGroup ?? false,
  });
  if (logFd !== null) closeSync(logFd);
  let memory = '';
  const keep = (chunk: Buffer) => {
    memory = (memory + chunk.toString('utf8')).slice(-8000);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const output = (): string => {
    if (logFile === null) return memory;
    try {
      return readFileSync(logFile).subarray(logStart).toString('utf8').slice(-8000);
    } catch {
      return `(no log at ${logFile})`;
    }
  };

  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const spawnError = new Promise<Error>((resolve) => child.once('error', resolve));
  if (child.pid === undefined) {
    const err = await spawnError;
    throw new Error(`cannot run moto (${venvPython()}): ${err.message}`);
  }
  const pid = child.pid;
  track(pid);
  void exited.then(() => live.delete(pid));

  const stopProcess = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
  };

  const s3 = s3ClientFor(endpoint);
  try {
    const deadline = Date.now() + (opts.timeoutMs ?? 60_000);
    let lastError = '';
    for (;;) {
      if (opts.signal?.aborted) throw abortError();
      if (child.exitCode !== null || child.signalCode !== null) {
        const text = output();
        const message = `moto exited (${child.exitCode ?? child.signalCode}) before answering:\n${text}`;
        throw /Address already in use/.test(text) ? new PortTakenError(message) : new Error(message);
      }
      try {
        const res = await fetch(`${endpoint}/`, { signal: AbortSignal.timeout(2000) });
        await res.arrayBuffer();
        if (res.status < 500) break;
        lastError = `HTTP ${res.status}`;
      } catch (err) {
        lastError = (err as Error).message;
      }
      if (Date.now() >= deadline) {
        throw new Error(
          `moto did not answer at ${endpoint} within ${opts.timeoutMs ?? 60_000} ms (${lastError}):\n${output()}`,
        );
      }
      await new Promise((r) => setTimeout(r, 150));
    }
    await s3.send(new CreateBucketCommand({ Bucket: bucket }));
  } catch (err) {
    s3.destroy();
    await stopProcess();
    throw err;
  }
  return {
    endpoint,
    bucket,
    s3,
    pid,
    logFile,
    async stop() {
      s3.destroy();
      await stopProcess();
    },
  };
}
