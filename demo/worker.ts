/**
 * The cut-over worker, in the demo's own process: the production adapters (adaptersFromEnv) from
 * an env that holds what the plan names, on the default task queue of the demo's dev server. Its
 * log lines and the SDK's go to <dir>/logs/worker.log, not the terminal.
 */
import { closeSync, mkdirSync, openSync, writeSync } from 'node:fs';
import path from 'node:path';
import { DefaultLogger, NativeConnection, Runtime, type LogEntry } from '@temporalio/worker';
import type { DevServer } from '../client/devserver.js';
import { DEFAULT_TASK_QUEUE } from '../domain/cutover.js';
import { adaptersFromEnv } from '../worker/adapters-from-env.js';
import { createCutoverWorker } from '../worker/create-worker.js';
import type { Lifecycle } from './lifecycle.js';
import { ORDER, within } from './lifecycle.js';
import { ROOT } from './options.js';
import { errorText, warn } from './output.js';

/** The worker's and the SDK's log lines go to a file. Call once, before any worker exists. */
export function installWorkerLogging(file: string): void {
  mkdirSync(path.dirname(file), { recursive: true });
  const fd = openSync(file, 'a');
  process.once('exit', () => closeSync(fd));
  writeSync(fd, `=== ${new Date().toISOString()} cutover demo worker\n`);
  const logger = new DefaultLogger('INFO', (entry: LogEntry) => {
    const when = new Date(Number(entry.timestampNanos / 1_000_000n)).toISOString();
    const meta = entry.meta && Object.keys(entry.meta).length > 0 ? ` ${JSON.stringify(entry.meta)}` : '';
    writeSync(fd, `${when} ${entry.level} ${entry.message}${meta}\n`);
  });
  Runtime.install({
    logger,
    // The SDK would shut the worker down at the first SIGINT/SIGTERM; the demo decides when: an
    // interrupted run's kill-switch needs the worker until its outcome is known.
    shutdownSignals: [],
    // The SDK core's own lines (retries, heartbeats) go to the same file instead of the terminal.
    telemetryOptions: { logging: { filter: { core: 'WARN', other: 'ERROR' }, forward: {} } },
  });
}

export interface DemoWorker {
  /** Settles when the worker stops: rejects when it failed. */
  run: Promise<void>;
}

/**
 * Creates and runs the worker; its disposer shuts it down (bounded: interrupted, or without a dev
 * server, it has nothing left to finish and the process exit ends it).
 */
export async function startWorker(
  life: Lifecycle,
  server: DevServer,
  serverGone: () => boolean,
  env: NodeJS.ProcessEnv,
): Promise<DemoWorker> {
  let workerRun: Promise<void> | null = null;
  const workerState = { stopped: false };
  const wa = adaptersFromEnv(env, { cwd: ROOT });
  life.add('the worker adapters', ORDER.WORKER, () => wa.close(), null);
  const connection = await life.acquire(
    'the worker connection',
    ORDER.WORKER,
    NativeConnection.connect({ address: server.address }),
    // A worker that did not stop still holds the connection: the process exit closes both.
    async (c) => {
      if (workerRun !== null && !workerState.stopped) return;
      await c.close().catch(() => undefined);
    },
    null,
  );
  const worker = await life.acquire(
    'worker',
    ORDER.WORKER,
    createCutoverWorker({
      connection,
      taskQueue: DEFAULT_TASK_QUEUE,
      adapters: wa.adapters,
      identity: `cutover-demo@${process.pid}`,
      extra: { shutdownForceTime: '20s' },
    }),
    async (w) => {
      if (workerRun === null) return; // created, never run: nothing polls
      if (w.getState() === 'RUNNING') w.shutdown();
      const stopped = await within(
        workerRun.then(
          () => true,
          (err: unknown) => {
            warn(`worker: ${errorText(err)}`);
            return true;
          },
        ),
        // Interrupted (the dev server may be going down with the same Ctrl-C) or without a server,
        // the worker has nothing left to finish: do not make the user wait for its retries.
        serverGone() || life.interruption !== null ? 3_000 : 25_000,
        false,
      );
      if (!stopped) {
        if (life.interruption === null)
          throw new Error('it did not stop within 25 s; it ends with this process');
        warn('the worker ends with this process (the dev server went down with the same Ctrl-C)');
        return false;
      }
      workerState.stopped = true;
    },
  );
  const run = worker.run();
  workerRun = run;
  run.catch(() => undefined);
  return { run };
}
