/**
 * Durability against the real dev server: the worker is a separate process
 * (test/support/scripted-worker.ts) that the tests SIGKILL, and whose side
 * effects land in a journal directory shared by every worker process of a test.
 *
 * a. worker killed mid-activity after approval: the retry on a new worker finds the side effect done
 * b. worker killed while the run waits for approval: a new worker replays, nothing is re-executed
 * c. the dev server (SQLite state) restarted while the run waits for approval
 *
 * The three cases run concurrently: case a waits for the 20s heartbeat timeout anyway.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import type { Client, WorkflowHandle } from '@temporalio/client';
import { decodeTimeoutType } from '@temporalio/common';
import { bundleWorkflowCode, DefaultLogger } from '@temporalio/worker';
import { WORKFLOW_TYPE, type CutoverResult } from '../domain/cutover.js';
import { WORKFLOWS_PATH, workflowCode } from '../domain/workflow-bundle.js';
import { approveUpdate } from '../workflows/engine/messages.js';
import { inputFor, waitForPhase } from './support/cutover-env.js';
import { testPlan } from './support/plans.js';
import type { ActivityName } from './support/scripted-activities.js';
import type { CallLine, EffectLine } from './support/scripted-worker.js';
import { connectClient, startTestServer, type DevServer } from './support/temporal.js';

const WORKER_ENTRY = fileURLToPath(new URL('./support/scripted-worker.js', import.meta.url));

// ---- worker processes ------------------------------------------------------------------------

interface WorkerProcess {
  pid: number;
  /** Resolves once the worker polls (its READY line). */
  ready: Promise<void>;
  /** Resolves when the CUTOVER_BLOCK_IN activity starts to hang (its BLOCKING line). */
  blocked: Promise<void>;
  exit: { code: number | null; signal: NodeJS.Signals | null } | null;
  exited: Promise<void>;
  /** What the process wrote, for failure messages. */
  output(): string;
  kill(signal?: NodeJS.Signals): Promise<void>;
}

const workers = new Set<WorkerProcess>();

/** The workflow code bundled once for every worker process of this file. */
let bundlePath = '';

function spawnWorker(opts: {
  address: string;
  taskQueue: string;
  journalDir: string;
  blockIn?: ActivityName;
  redGate?: ActivityName;
  blockUntil?: string;
}) {
  const child = spawn(process.execPath, [WORKER_ENTRY], {
    env: {
      ...process.env,
      TEMPORAL_ADDRESS: opts.address,
      CUTOVER_TASK_QUEUE: opts.taskQueue,
      CUTOVER_JOURNAL_DIR: opts.journalDir,
      CUTOVER_BLOCK_IN: opts.blockIn ?? '',
      CUTOVER_RED_GATE: opts.redGate ?? '',
      CUTOVER_BLOCK_UNTIL: opts.blockUntil ?? '',
      CUTOVER_WORKFLOW_BUNDLE: bundlePath,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  if (child.pid === undefined) throw new Error('could not spawn the scripted worker');
  const lines: string[] = [];
  let stderr = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (chunk: string) => (stderr += chunk));
  const waiters: { pred: (l: string) => boolean; resolve: () => void; reject: (e: Error) => void }[] = [];
  const waitLine = (pred: (l: string) => boolean): Promise<void> =>
    new Promise((resolve, reject) => {
      if (lines.some(pred)) return resolve();
      if (proc.exit) return reject(new Error(`worker ${proc.pid} exited before the line: ${proc.output()}`));
      waiters.push({ pred, resolve, reject });
    });
  createInterface({ input: child.stdout }).on('line', (line) => {
    lines.push(line);
    for (const w of waiters.filter((x) => x.pred(line))) {
      waiters.splice(waiters.indexOf(w), 1);
      w.resolve();
    }
  });
  const proc: WorkerProcess = {
    pid: child.pid,
    ready: Promise.resolve(),
    blocked: Promise.resolve(),
    exit: null,
    exited: new Promise((resolve) =>
      child.once('exit', (code, signal) => {
        proc.exit = { code, signal };
        workers.delete(proc);
        for (const w of waiters.splice(0)) w.reject(new Error(`worker ${proc.pid} exited: ${proc.output()}`));
        resolve();
      }),
    ),
    output: () => `stdout:\n${lines.join('\n')}\nstderr:\n${stderr}`,
    async kill(signal = 'SIGKILL') {
      if (proc.exit) return;
      child.kill(signal);
      await proc.exited;
    },
  };
  proc.ready = waitLine((l) => l.startsWith('READY '));
  proc.blocked = waitLine((l) => l.startsWith('BLOCKING '));
  proc.blocked.catch(() => undefined);
  workers.add(proc);
  return proc;
}

/** Temp directories (journals, the bundle, the persistent server's database) removed at the end. */
const tempDirs: string[] = [];
function tempDir(prefix: string): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), prefix));
  tempDirs.push(dir);
  return dir;
}

after(async () => {
  await Promise.all([...workers].map((w) => w.kill()));
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
});

// ---- journal ---------------------------------------------------------------------------------

function readJsonLines<T>(dir: string, file: string): T[] {
  const p = path.join(dir, file);
  if (!existsSync(p)) return [];
  return readFileSync(p, 'utf8')
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as T);
}
const callsIn = (dir: string) => readJsonLines<CallLine>(dir, 'calls.log');
const effectsIn = (dir: string) => readJsonLines<EffectLine>(dir, 'effects.log');
const callsOf = (dir: string, name: ActivityName) => callsIn(dir).filter((c) => c.name === name);

// ---- helpers ---------------------------------------------------------------------------------

const plan = testPlan((p) => {
  delete p.spec.xcom.ramp;
});
const EVIDENCE_STEPS: ActivityName[] = [
  'calibrate',
  'preflight',
  'renderChange',
  'previewChange',
  'rehearse',
];
const DEPLOY_STEPS: ActivityName[] = ['applyChange', 'waitForRollout', 'verifyConfig', 'validateRun'];

function journalDir(label: string): string {
  return tempDir(`cutover-durability-${label}-`);
}

async function startRun(client: Client, taskQueue: string, label: string): Promise<WorkflowHandle> {
  return client.workflow.start(WORKFLOW_TYPE, {
    taskQueue,
    workflowId: `durability-${label}-${randomUUID()}`,
    args: [inputFor(plan)],
  });
}

async function approve(handle: WorkflowHandle, digest: string): Promise<string> {
  return handle.executeUpdate(approveUpdate, {
    args: [{ operator: 'dococeven', reason: 'evidence reviewed', digest }],
  });
}

/** The workflow result, failing with the workers' output when it does not come within `ms`. */
async function resultWithin(
  handle: WorkflowHandle,
  ms: number,
  procs: WorkerProcess[],
): Promise<CutoverResult> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(
          new Error(`no result within ${ms} ms\n${procs.map((p) => `[${p.pid}] ${p.output()}`).join('\n')}`),
        ),
      ms,
    );
  });
  try {
    return (await Promise.race([handle.result(), timeout])) as CutoverResult;
  } finally {
    clearTimeout(timer);
  }
}

/** Every side effect of a green single-stage run, exactly once each. */
function assertEachSideEffectOnce(dir: string): void {
  const effects = effectsIn(dir);
  assert.deepEqual(
    effects.map((e) => e.name),
    ['applyChange', 'waitForRollout', 'validateRun'],
    `each side effect exactly once: ${JSON.stringify(effects)}`,
  );
  assert.equal(new Set(effects.map((e) => e.key)).size, effects.length);
}

// ---- tests -----------------------------------------------------------------------------------

describe('durability (real dev server, worker in its own process)', { concurrency: true }, () => {
  let server: DevServer;
  let client: Client;
  before(async () => {
    // The build's bundle when current (what the shipped worker runs), else bundled here once.
    const code = workflowCode((line) => console.warn(line));
    const written =
      'workflowBundle' in code
        ? Promise.resolve(code.workflowBundle.codePath)
        : bundleWorkflowCode({ workflowsPath: WORKFLOWS_PATH, logger: new DefaultLogger('WARN') }).then(
            (b) => {
              const file = path.join(tempDir('cutover-bundle-'), 'workflows.js');
              writeFileSync(file, b.code);
              return file;
            },
          );
    server = await startTestServer();
    client = await connectClient(server.address);
    bundlePath = await written;
  });
  after(async () => {
    await Promise.all([...workers].map((w) => w.kill()));
    await client?.connection.close();
    await server?.stop();
  });

  test(
    'a. worker SIGKILLed mid-rollout after the go: retried on a new worker, no side effect repeated',
    { timeout: 120_000 },
    async (t) => {
      const taskQueue = `durability-a-${randomUUID()}`;
      const dir = journalDir('a');
      const w1 = spawnWorker({
        address: server.address,
        taskQueue,
        journalDir: dir,
        blockIn: 'waitForRollout',
      });
      await w1.ready;
      const handle = await startRun(client, taskQueue, 'a');
      const waiting = await waitForPhase(handle, 'AWAIT_GO');
      await approve(handle, waiting.planDigest);

      await w1.blocked;
      await w1.kill('SIGKILL');
      const killedAt = Date.now();
      assert.equal(w1.exit?.signal, 'SIGKILL');
      const w2 = spawnWorker({ address: server.address, taskQueue, journalDir: dir });
      await w2.ready;

      const result = await resultWithin(handle, 90_000, [w1, w2]);
      assert.equal(result.outcome, 'DONE', result.reason);
      assert.equal(result.status.evidence.applies.length, 1);
      assert.equal(
        result.status.evidence.applies[0]?.changed,
        true,
        'the apply that counts is the one that deployed',
      );

      // The apply ran once, on the first worker; its side effect is recorded once.
      assert.deepEqual(
        callsOf(dir, 'applyChange').map((c) => [c.attempt, c.pid]),
        [[1, w1.pid]],
      );
      // The rollout: attempt 1 on the killed worker, attempt 2 on the new one, which found the restart done.
      assert.deepEqual(
        callsOf(dir, 'waitForRollout').map((c) => [c.attempt, c.pid]),
        [
          [1, w1.pid],
          [2, w2.pid],
        ],
      );
      assertEachSideEffectOnce(dir);
      assert.equal(effectsIn(dir).find((e) => e.name === 'waitForRollout')?.pid, w1.pid);
      // No duplicate validation run, and nothing before the go re-executed.
      assert.deepEqual(
        callsOf(dir, 'validateRun').map((c) => [c.attempt, c.pid]),
        [[1, w2.pid]],
      );
      for (const name of EVIDENCE_STEPS) assert.equal(callsOf(dir, name).length, 1, `${name} once`);

      // The retry was caused by the heartbeat timeout, as the history's started event says.
      const history = await handle.fetchHistory();
      const scheduled = (history.events ?? []).find(
        (e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'waitForRollout',
      );
      assert.ok(scheduled, 'waitForRollout was scheduled');
      const started = (history.events ?? []).find(
        (e) =>
          String(e.activityTaskStartedEventAttributes?.scheduledEventId ?? '') === String(scheduled.eventId),
      )?.activityTaskStartedEventAttributes;
      assert.equal(started?.attempt, 2);
      assert.equal(decodeTimeoutType(started?.lastFailure?.timeoutFailureInfo?.timeoutType), 'HEARTBEAT');

      const retryAt = Date.parse(callsOf(dir, 'waitForRollout')[1]?.at ?? '');
      t.diagnostic(
        `retry started ${((retryAt - killedAt) / 1000).toFixed(1)}s after the SIGKILL (heartbeat timeout 20s)`,
      );
    },
  );

  test(
    'b. worker SIGKILLed while awaiting the go: a new worker replays, evidence steps not re-run',
    { timeout: 90_000 },
    async (t) => {
      const taskQueue = `durability-b-${randomUUID()}`;
      const dir = journalDir('b');
      const w1 = spawnWorker({ address: server.address, taskQueue, journalDir: dir });
      await w1.ready;
      const handle = await startRun(client, taskQueue, 'b');
      const waiting = await waitForPhase(handle, 'AWAIT_GO');
      await w1.kill('SIGKILL');

      const w2 = spawnWorker({ address: server.address, taskQueue, journalDir: dir });
      await w2.ready;
      const t0 = Date.now();
      const ack = await approve(handle, waiting.planDigest);
      assert.match(ack, /approved by dococeven/);
      t.diagnostic(
        `the go was accepted ${((Date.now() - t0) / 1000).toFixed(1)}s after the new worker was ready`,
      );

      const result = await resultWithin(handle, 60_000, [w1, w2]);
      assert.equal(result.outcome, 'DONE', result.reason);
      for (const name of EVIDENCE_STEPS) {
        assert.deepEqual(
          callsOf(dir, name).map((c) => [c.attempt, c.pid]),
          [[1, w1.pid]],
          `${name} ran once, before the kill`,
        );
      }
      for (const name of DEPLOY_STEPS) {
        assert.deepEqual(
          callsOf(dir, name).map((c) => [c.attempt, c.pid]),
          [[1, w2.pid]],
          `${name} ran once, on the new worker`,
        );
      }
      assertEachSideEffectOnce(dir);
    },
  );

  test(
    'c. dev server (SQLite) restarted while awaiting the go: the run resumes and completes',
    { timeout: 120_000 },
    async (t) => {
      const first = await startTestServer({ persistent: true });
      let second: DevServer | undefined;
      const dbFilename = first.dbFilename;
      assert.ok(dbFilename, 'the server keeps its state in a file');
      tempDirs.push(path.dirname(dbFilename));
      const port = Number(first.address.split(':').pop());
      const taskQueue = `durability-c-${randomUUID()}`;
      const dir = journalDir('c');
      const c1 = await connectClient(first.address);
      let c2: Client | undefined;
      const w1 = spawnWorker({ address: first.address, taskQueue, journalDir: dir });
      try {
        await w1.ready;
        const handle = await startRun(c1, taskQueue, 'c');
        const waiting = await waitForPhase(handle, 'AWAIT_GO');

        const downAt = Date.now();
        await first.stop();
        second = await startTestServer({ port, dbFilename });
        assert.equal(second.address, first.address);
        t.diagnostic(
          `server down and up again in ${((Date.now() - downAt) / 1000).toFixed(1)}s on ${second.address}`,
        );

        // The worker process was left alone: it must still be running and polling the new server.
        assert.equal(w1.exit, null, `the worker survived the server restart\n${w1.output()}`);
        c2 = await connectClient(second.address);
        const resumed = c2.workflow.getHandle(handle.workflowId);
        const t0 = Date.now();
        const ack = await approve(resumed, waiting.planDigest);
        assert.match(ack, /approved by dococeven/);
        t.diagnostic(`the go was accepted ${((Date.now() - t0) / 1000).toFixed(1)}s after the restart`);

        const result = await resultWithin(resumed, 60_000, [w1]);
        assert.equal(result.outcome, 'DONE', result.reason);
        for (const name of [...EVIDENCE_STEPS, ...DEPLOY_STEPS]) {
          assert.deepEqual(
            callsOf(dir, name).map((c) => [c.attempt, c.pid]),
            [[1, w1.pid]],
            `${name} ran once, all on the worker that lived through the restart`,
          );
        }
        assertEachSideEffectOnce(dir);
        t.diagnostic(`worker ${w1.pid} reconnected by itself and finished the run`);
      } finally {
        await w1.kill();
        await c2?.connection.close();
        await c1.connection.close().catch(() => undefined);
        await second?.stop();
        await first.stop();
      }
    },
  );

  // d. The same kill in every other phase with a step of its own: the step is retried on a new worker
  // after the heartbeat timeout, the run ends DONE, and no side effect happens twice.
  for (const [phase, activity] of [
    ['CALIBRATE', 'calibrate'],
    ['PREFLIGHT', 'preflight'],
    ['VERIFY', 'verifyConfig'],
    ['VALIDATE', 'validateRun'],
  ] as const) {
    test(
      `d. worker SIGKILLed in ${phase} (${activity}): retried on a new worker, DONE, no side effect twice`,
      { timeout: 120_000 },
      async () => {
        const label = `d-${activity}`;
        const taskQueue = `durability-${label}-${randomUUID()}`;
        const dir = journalDir(label);
        const w1 = spawnWorker({ address: server.address, taskQueue, journalDir: dir, blockIn: activity });
        await w1.ready;
        const handle = await startRun(client, taskQueue, label);
        let w2: WorkerProcess | undefined;
        const replaceWorker = async () => {
          await w1.blocked;
          await w1.kill('SIGKILL');
          w2 = spawnWorker({ address: server.address, taskQueue, journalDir: dir });
          await w2.ready;
        };
        if (EVIDENCE_STEPS.includes(activity)) await replaceWorker();
        const waiting = await waitForPhase(handle, 'AWAIT_GO', 90_000);
        await approve(handle, waiting.planDigest);
        if (!EVIDENCE_STEPS.includes(activity)) await replaceWorker();
        const result = await resultWithin(handle, 90_000, [w1, ...(w2 ? [w2] : [])]);
        assert.equal(result.outcome, 'DONE', result.reason);
        assert.equal(result.productionChanged, true);
        assert.deepEqual(
          callsOf(dir, activity).map((c) => [c.attempt, c.pid]),
          [
            [1, w1.pid],
            [2, w2?.pid],
          ],
          `${activity}: the first attempt died with its worker, the second ran on the new one`,
        );
        assertEachSideEffectOnce(dir);
      },
    );
  }

  test(
    'e. worker SIGKILLed in COMPENSATE (revertChange): the undo is retried on a new worker, ROLLED_BACK, reverted once',
    { timeout: 120_000 },
    async () => {
      const taskQueue = `durability-e-${randomUUID()}`;
      const dir = journalDir('e');
      const opts = { address: server.address, taskQueue, journalDir: dir, redGate: 'verifyConfig' as const };
      const w1 = spawnWorker({ ...opts, blockIn: 'revertChange' });
      await w1.ready;
      const handle = await startRun(client, taskQueue, 'e');
      const waiting = await waitForPhase(handle, 'AWAIT_GO');
      await approve(handle, waiting.planDigest);
      await w1.blocked;
      await w1.kill('SIGKILL');
      const w2 = spawnWorker(opts);
      await w2.ready;
      const result = await resultWithin(handle, 90_000, [w1, w2]);
      assert.equal(result.outcome, 'ROLLED_BACK', result.reason);
      assert.equal(result.productionChanged, false);
      assert.deepEqual(result.status.compensation?.undoRemaining, []);
      assert.deepEqual(
        callsOf(dir, 'revertChange').map((c) => [c.attempt, c.pid]),
        [
          [1, w1.pid],
          [2, w2.pid],
        ],
      );
      // The revert happened once (on the killed worker); the retry found it done.
      assert.deepEqual(
        effectsIn(dir)
          .filter((e) => e.name === 'revertChange')
          .map((e) => e.pid),
        [w1.pid],
      );
    },
  );

  test(
    'f. dev server (SQLite) restarted while a step of each phase runs: every run resumes and ends as it would have',
    { timeout: 180_000 },
    async () => {
      const first = await startTestServer({ persistent: true });
      let second: DevServer | undefined;
      const dbFilename = first.dbFilename;
      assert.ok(dbFilename, 'the server keeps its state in a file');
      tempDirs.push(path.dirname(dbFilename));
      const port = Number(first.address.split(':').pop());
      const c1 = await connectClient(first.address);
      let c2: Client | undefined;
      const release = path.join(tempDir('cutover-release-'), 'release');
      const cases = [
        { phase: 'CALIBRATE', blockIn: 'calibrate', outcome: 'DONE' },
        { phase: 'PREFLIGHT', blockIn: 'preflight', outcome: 'DONE' },
        { phase: 'APPLY', blockIn: 'waitForRollout', outcome: 'DONE' },
        { phase: 'VERIFY', blockIn: 'verifyConfig', outcome: 'DONE' },
        { phase: 'VALIDATE', blockIn: 'validateRun', outcome: 'DONE' },
        { phase: 'COMPENSATE', blockIn: 'revertChange', outcome: 'ROLLED_BACK', redGate: 'verifyConfig' },
      ] as const;
      const runs = cases.map((c) => {
        const taskQueue = `durability-f-${c.phase}-${randomUUID()}`;
        const dir = journalDir(`f-${c.phase}`);
        const w = spawnWorker({
          address: first.address,
          taskQueue,
          journalDir: dir,
          blockIn: c.blockIn,
          blockUntil: release,
          ...('redGate' in c ? { redGate: c.redGate } : {}),
        });
        return { ...c, taskQueue, dir, w };
      });
      try {
        const handles = await Promise.all(
          runs.map(async (r) => {
            await r.w.ready;
            const handle = await startRun(c1, r.taskQueue, `f-${r.phase}`);
            if (!EVIDENCE_STEPS.includes(r.blockIn)) {
              const waiting = await waitForPhase(handle, 'AWAIT_GO', 60_000);
              await approve(handle, waiting.planDigest);
            }
            await r.w.blocked;
            return handle;
          }),
        );
        // Every run is inside a step of its phase: restart the server under all of them at once.
        await first.stop();
        second = await startTestServer({ port, dbFilename });
        writeFileSync(release, 'go');
        c2 = await connectClient(second.address);
        for (const [i, r] of runs.entries()) {
          const handle = c2.workflow.getHandle(handles[i]?.workflowId ?? '');
          if (EVIDENCE_STEPS.includes(r.blockIn)) {
            const waiting = await waitForPhase(handle, 'AWAIT_GO', 60_000);
            await approve(handle, waiting.planDigest);
          }
          const result = await resultWithin(handle, 90_000, [r.w]);
          assert.equal(result.outcome, r.outcome, `${r.phase}: ${result.reason}`);
          assert.equal(result.productionChanged, r.outcome === 'DONE', r.phase);
          assert.equal(r.w.exit, null, `${r.phase}: the worker lived through the restart`);
          if (r.outcome === 'DONE') assertEachSideEffectOnce(r.dir);
        }
      } finally {
        await Promise.all(runs.map((r) => r.w.kill()));
        await c2?.connection.close();
        await c1.connection.close().catch(() => undefined);
        await second?.stop();
        await first.stop();
      }
    },
  );
});
