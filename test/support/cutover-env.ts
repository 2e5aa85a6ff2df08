/**
 * A real Temporal dev server plus helpers to run the cut-over workflow against
 * scripted activities in an in-process worker.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import {
  WorkflowUpdateFailedError,
  type Client,
  type WorkflowHandle,
  type WorkflowHandleWithFirstExecutionRunId,
} from '@temporalio/client';
import {
  bundleWorkflowCode,
  DefaultLogger,
  NativeConnection,
  Runtime,
  type Worker,
  type WorkflowBundleWithSourceMap,
} from '@temporalio/worker';
import type { CutoverInput, CutoverResult, CutoverStatus, Phase } from '../../domain/cutover.js';
import { WORKFLOW_TYPE } from '../../domain/cutover.js';
import { planDigest } from '../../domain/plan-file.js';
import type { Plan } from '../../domain/plan.js';
import { WORKFLOWS_PATH } from '../../domain/workflow-bundle.js';
import { createCutoverWorker } from '../../worker/create-worker.js';
import { statusQuery } from '../../workflows/engine/messages.js';
import { connectClient, startTestServer, type DevServer } from './temporal.js';

// Worker lifecycle chatter drowns test output; warnings and errors still show.
Runtime.install({ logger: new DefaultLogger('WARN') });

export interface CutoverEnv {
  server: DevServer;
  client: Client;
  connection: NativeConnection;
  close(): Promise<void>;
}

/** The workers startCutover started on each env: close() stops those a failed test left running. */
const workersOf = new WeakMap<CutoverEnv, Set<{ worker: Worker; done: Promise<unknown> }>>();

export async function startCutoverEnv(): Promise<CutoverEnv> {
  const server = await startTestServer();
  const client = await connectClient(server.address);
  const connection = await NativeConnection.connect({ address: server.address });
  const workers = new Set<{ worker: Worker; done: Promise<unknown> }>();
  const env: CutoverEnv = {
    server,
    client,
    connection,
    async close() {
      // A test that failed before its run ended leaves the worker polling: the process would never exit.
      for (const { worker, done } of workers) {
        if (worker.getState() === 'RUNNING') worker.shutdown();
        await done.catch(() => undefined);
      }
      await connection.close();
      await client.connection.close();
      await server.stop();
    },
  };
  workersOf.set(env, workers);
  return env;
}

export function inputFor(plan: Plan, extra: Partial<CutoverInput> = {}): CutoverInput {
  return { plan, planDigest: planDigest(plan), startedBy: 'alice', ...extra };
}

let bundle: Promise<WorkflowBundleWithSourceMap> | undefined;
/** The workflow code, bundled once per test process. */
export function workflowBundle(): Promise<WorkflowBundleWithSourceMap> {
  bundle ??= bundleWorkflowCode({ workflowsPath: WORKFLOWS_PATH, logger: new DefaultLogger('WARN') });
  return bundle;
}

export interface RunningCutover {
  handle: WorkflowHandleWithFirstExecutionRunId;
  worker: Worker;
  taskQueue: string;
  /** Resolves with the workflow result while the worker runs; the worker stops afterwards. */
  result: Promise<CutoverResult>;
}

/** Starts a worker with `activities` on a fresh task queue and the workflow on it. */
export async function startCutover(
  env: CutoverEnv,
  input: CutoverInput,
  activities: object,
  workflowId = `cutover-test-${randomUUID()}`,
): Promise<RunningCutover> {
  const taskQueue = `test-${randomUUID()}`;
  const worker = await createCutoverWorker({
    connection: env.connection,
    taskQueue,
    activities,
    workflowBundle: await workflowBundle(),
  });
  const handle = await env.client.workflow.start(WORKFLOW_TYPE, {
    taskQueue,
    workflowId,
    args: [input],
  });
  const result = worker.runUntil(handle.result() as Promise<CutoverResult>);
  workersOf.get(env)?.add({ worker, done: result });
  return { handle, worker, taskQueue, result };
}

/** Polls the status query until `pred` holds (the worker must be running). */
export async function waitForStatus(
  handle: WorkflowHandle,
  pred: (s: CutoverStatus) => boolean,
  timeoutMs = 30_000,
  signal?: AbortSignal,
): Promise<CutoverStatus> {
  const deadline = Date.now() + timeoutMs;
  let last: CutoverStatus | undefined;
  while (Date.now() < deadline) {
    if (signal?.aborted) throw new Error('stopped waiting: aborted');
    try {
      // Abortable: a query to a run whose worker has stopped would otherwise hang past the test.
      const status = (
        signal
          ? await handle.client.withAbortSignal(signal, () => handle.query(statusQuery))
          : await handle.query(statusQuery)
      ) as CutoverStatus;
      last = status;
      if (pred(status)) return status;
    } catch {
      // The first workflow task may not have run yet.
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`status condition not reached in ${timeoutMs} ms; last phase ${last?.phase ?? 'unknown'}`);
}

export const waitForPhase = (
  handle: WorkflowHandle,
  phase: Phase,
  timeoutMs?: number,
  signal?: AbortSignal,
) => waitForStatus(handle, (s) => s.phase === phase, timeoutMs, signal);

/** Waits for `phase`, or null if the run ends first (the poller stops either way). */
export async function phaseOrEnd(
  run: RunningCutover,
  phase: Phase,
  timeoutMs = 30_000,
): Promise<CutoverStatus | null> {
  const stop = new AbortController();
  try {
    return await Promise.race([
      waitForPhase(run.handle, phase, timeoutMs, stop.signal),
      run.result.then(() => null),
    ]);
  } finally {
    stop.abort();
  }
}

/** The reason the workflow gave for refusing an update; fails the test when the update was accepted. */
export async function refusedUpdate(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof WorkflowUpdateFailedError, `expected an update failure, got ${String(err)}`);
    return (err.cause as Error).message;
  }
  assert.fail('the update was accepted');
}
