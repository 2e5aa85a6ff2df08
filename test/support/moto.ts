/**
 * A real S3 API server for tests: moto's server mode from the project's venv
 * (`python -m moto.server`), on a free port, with one bucket created through the
 * real AWS SDK. Stop it when done.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';

/** The repository root: the nearest folder above this file holding package.json and tsconfig.json. */
export function repoRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(path.join(dir, 'package.json')) && existsSync(path.join(dir, 'tsconfig.json'))) return dir;
    const up = path.dirname(dir);
    if (up === dir)
      throw new Error(`cannot find the repository root above ${fileURLToPath(import.meta.url)}`);
    dir = up;
  }
}

/** $CUTOVER_VENV, else <repo>/.venv. */
export function venvDir(): string {
  return process.env.CUTOVER_VENV ?? path.join(repoRoot(), '.venv');
}

export function venvPython(): string {
  const py = path.join(venvDir(), 'bin', 'python');
  if (!existsSync(py)) {
    throw new Error(`no python at ${py}: run scripts/setup.sh, or point CUTOVER_VENV at the project's venv`);
  }
  return py;
}

/** A TCP port nothing listens on right now. */
export function freeTcpPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === 'object' && addr ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}

export const TEST_CREDENTIALS = { accessKeyId: 'testing', secretAccessKey: 'testing' } as const;
export const TEST_REGION = 'us-east-1';

export interface MotoServer {
  endpoint: string;
  bucket: string;
  s3: S3Client;
  /** Destroys the client and stops moto (SIGTERM, then SIGKILL after 5 s). */
  stop(): Promise<void>;
}

/** An S3 client for a test endpoint: path-style, us-east-1, moto's 'testing' credentials. */
export function s3ClientFor(endpoint: string): S3Client {
  return new S3Client({
    endpoint,
    forcePathStyle: true,
    region: TEST_REGION,
    credentials: { ...TEST_CREDENTIALS },
  });
}

async function waitForHttp(
  url: string,
  child: ChildProcess,
  output: () => string,
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastError = '';
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`moto exited (${child.exitCode ?? child.signalCode}) before answering:\n${output()}`);
    }
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
      await res.arrayBuffer();
      if (res.status < 500) return;
      lastError = `HTTP ${res.status}`;
    } catch (err) {
      lastError = (err as Error).message;
    }
    await new Promise((r) => setTimeout(r, 150));
  }
  throw new Error(`moto did not answer at ${url} within ${timeoutMs} ms (${lastError}):\n${output()}`);
}

export async function startMoto(opts: { bucket?: string; timeoutMs?: number } = {}): Promise<MotoServer> {
  const port = await freeTcpPort();
  const endpoint = `http://127.0.0.1:${port}`;
  const bucket = opts.bucket ?? 'cutover-xcom';
  const child = spawn(venvPython(), ['-m', 'moto.server', '-H', '127.0.0.1', '-p', String(port)], {
    env: {
      PATH: `${path.join(venvDir(), 'bin')}:/usr/local/bin:/usr/bin:/bin`,
      HOME: process.env.HOME ?? '/tmp',
      LANG: 'C.UTF-8',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let log = '';
  const keep = (chunk: Buffer) => {
    log = (log + chunk.toString('utf8')).slice(-8000);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);

  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
  };

  try {
    await waitForHttp(`${endpoint}/`, child, () => log, opts.timeoutMs ?? 60_000);
    const s3 = s3ClientFor(endpoint);
    await s3.send(new CreateBucketCommand({ Bucket: bucket }));
    return {
      endpoint,
      bucket,
      s3,
      async stop() {
        s3.destroy();
        await stop();
      },
    };
  } catch (err) {
    await stop();
    throw err;
  }
}
