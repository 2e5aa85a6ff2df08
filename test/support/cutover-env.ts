/**
 * A real Temporal server plus helpers to run the cut-over workflow against
 * scripted activities in an in-process worker.
 *
 * The server is the dev server, or with { timeSkipping: true } Temporal's time-skipping test server,
 * for decision tests whose runs would otherwise wait out real timers (approval timeouts, retry
 * backoffs). There time skipping stays locked (server time runs like real time) except while
 * waitForStatus polls (each pause between polls skips its 100 ms of server time instead of
 * sleeping it) and while run.untilEnd() awaits the result: a run waiting at a gate for the test's
 * message is never timed out behind the test's back.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import {
  Client,
  WorkflowUpdateFailedError,
  type WorkflowHandle,
  type WorkflowHandleWithFirstExecutionRunId,
} from '@temporalio/client';
import {
  bundleWorkflowCode,
  DefaultLogger,
  NativeConnection,
  Runtime,
  type Worker,
  type WorkflowBundleOption,
} from '@temporalio/worker';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { CutoverInput, CutoverResult, CutoverStatus, Phase } from '../../domain/cutover.js';
import { WORKFLOW_TYPE } from '../../domain/cutover.js';
import { planDigest } from '../../domain/plan-file.js';
import type { Plan } from '../../domain/plan.js';
import { workflowCode } from '../../domain/workflow-bundle.js';
import { createCutoverWorker } from '../../worker/create-worker.js';
import { statusQuery } from '../../workflows/engine/messages.js';
import { connectClient, startTestServer, startTimeSkippingServer, type DevServer } from './temporal.js';

// Worker lifecycle chatter drowns test output; warnings and errors still show.
Runtime.install({ logger: new DefaultLogger('WARN') });

export interface CutoverEnvOptions {
  /**
   * Temporal's time-skipping test server instead of the dev server. It has no visibility (list
   * queries, search attributes are stored but not queryable), no worker versioning, no UI and no
   * persistence: tests needing those stay on the dev server.
   */
  timeSkipping?: boolean;
  /** The dev server to run on (default: the headless one startTestServer starts), e.g. one with its Web UI. */
  startServer?: () => Promise<DevServer>;
}

export interface CutoverEnv {
  server: { address: string };
  client: Client;
  connection: NativeConnection;
  /** True on the time-skipping test server. */
  timeSkipping: boolean;
  /**
   * Lets `ms` of server time pass: skipped on the time-skipping server (at once unless an activity
   * runs), waited out on the dev server.
   */
  sleep(ms: number): Promise<void>;
  close(): Promise<void>;
}

/**
 * Time skipping of one time-skipping env, found from a WorkflowClient (waitForStatus has only the
 * handle it polls). The server's lock is one counter that refuses to go below zero, so concurrent
 * untilSettled calls share one unlock: the first unlocks, the last relocks.
 */
class Skipper {
  private holders = 0;
  constructor(private readonly testEnv: TestWorkflowEnvironment) {}

  private get service() {
    const service = this.testEnv.connection.testService;
    if (service === undefined) throw new Error('the time-skipping server has no test service');
    return service;
  }

  /** `ms` of server time; while unlocked, time skips anyway and a skip-sleep would unbalance the lock. */
  sleep(ms: number): Promise<void> {
    return this.holders > 0 ? new Promise((r) => setTimeout(r, ms)) : this.testEnv.sleep(ms);
  }

  async unlock(): Promise<void> {
    this.holders += 1;
    if (this.holders === 1) await this.service.unlockTimeSkipping({});
  }

  async lock(): Promise<void> {
    this.holders -= 1;
    if (this.holders === 0) await this.service.lockTimeSkipping({});
  }
}
const skippers = new WeakMap<object, Skipper>();

/** The workers startCutover started on each env: close() stops those a failed test left running. */
const workersOf = new WeakMap<CutoverEnv, Set<{ worker: Worker; done: Promise<unknown> }>>();

export async function startCutoverEnv(opts: CutoverEnvOptions = {}): Promise<CutoverEnv> {
  const workers = new Set<{ worker: Worker; done: Promise<unknown> }>();
  // A test that failed before its run ended leaves the worker polling: the process would never exit.
  const stopWorkers = async (): Promise<void> => {
    for (const { worker, done } of workers) {
      if (worker.getState() === 'RUNNING') worker.shutdown();
      await done.catch(() => undefined);
    }
  };
  let env: CutoverEnv;
  if (opts.timeSkipping === true) {
    const testEnv = await startTimeSkippingServer();
    // A plain Client, not testEnv.client: that one unlocks skipping whenever a result is awaited,
    // and startCutover awaits the result from the start (the worker runs until it).
    const client = new Client({ connection: testEnv.connection, namespace: testEnv.namespace ?? 'default' });
    const skipper = new Skipper(testEnv);
    skippers.set(client.workflow, skipper);
    env = {
      server: { address: testEnv.address },
      client,
      connection: testEnv.nativeConnection,
      timeSkipping: true,
      sleep: (ms) => skipper.sleep(ms),
      async close() {
        await stopWorkers();
        await testEnv.teardown();
      },
    };
  } else {
    const server = await (opts.startServer ?? startTestServer)();
    const client = await connectClient(server.address);
    const connection = await NativeConnection.connect({ address: server.address });
    env = {
      server,
      client,
      connection,
      timeSkipping: false,
      sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
      async close() {
        await stopWorkers();
        await connection.close();
        await client.connection.close();
        await server.stop();
      },
    };
  }
  workersOf.set(env, workers);
  return env;
}

export function inputFor(plan: Plan, extra: Partial<CutoverInput> = {}): CutoverInput {
  return { plan, planDigest: planDigest(plan), startedBy: 'alice', ...extra };
}

let bundle: Promise<WorkflowBundleOption> | undefined;
/**
 * The workflow code: the bundle `npm run build` wrote when it is current (what the shipped worker
 * runs), else the compiled modules bundled once per test process.
 */
export function workflowBundle(): Promise<WorkflowBundleOption> {
  bundle ??= (async () => {
    const code = workflowCode((line) => console.warn(line));
    if ('workflowBundle' in code) return code.workflowBundle;
    return bundleWorkflowCode({ workflowsPath: code.workflowsPath, logger: new DefaultLogger('WARN') });
  })();
  return bundle;
}

export interface RunningCutover {
  handle: WorkflowHandleWithFirstExecutionRunId;
  worker: Worker;
  taskQueue: string;
  /** Resolves with the workflow result while the worker runs; the worker stops afterwards. */
  result: Promise<CutoverResult>;
  /**
   * `result`, letting the time-skipping server skip every timer until then (on the dev server: just
   * `result`). For once the test has nothing more to send the run: a gate it waits at times out.
   */
  untilEnd(): Promise<CutoverResult>;
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
  return { handle, worker, taskQueue, result, untilEnd: () => untilSettled(env.client, result) };
}

/** Awaits `p` with time skipping unlocked on a time-skipping client; on the dev server just awaits it. */
export async function untilSettled<T>(client: Client, p: Promise<T>): Promise<T> {
  const skipper = skippers.get(client.workflow);
  if (skipper === undefined) return p;
  await skipper.unlock();
  try {
    return await p;
  } finally {
    await skipper.lock();
  }
}

const POLL_MS = 100;

/**
 * The pause between two status polls: 100 ms of server time, skipped on a time-skipping server
 * (waited out while an activity runs, the server keeps real time then).
 */
function pause(handle: WorkflowHandle): Promise<void> {
  const skipper = skippers.get(handle.client);
  return skipper ? skipper.sleep(POLL_MS) : new Promise((r) => setTimeout(r, POLL_MS));
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
    await pause(handle);
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
