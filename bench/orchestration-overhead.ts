/**
 * Benchmark: what Temporal orchestration costs per step. N no-op activities
 * run one after the other through a workflow (bench/workflows: its own
 * workflowsPath, the shipped workflows/ stay clean) on a real dev server, vs
 * the same N calls of the same function made directly in-process.
 *
 *   node dist/bench/orchestration-overhead.js [--n 200] [--reps 3] [--warmup 1]
 *
 * Per repetition: the workflow's wall time from the client's start() to its
 * result, divided by N, minus the direct per-call time: the overhead per
 * activity. From the run's history: each activity's scheduled -> started
 * (dispatch), started -> completed (execution and completion report) and
 * completed -> next scheduled (the workflow task that decides the next step)
 * intervals, the step-to-step cycle (scheduled -> next scheduled), and each
 * workflow task's wait (scheduled -> started) and run (started -> completed).
 * Prints a table and, last, one JSON line.
 */
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { Client, Connection } from '@temporalio/client';
import type { temporal } from '@temporalio/proto';
import { DefaultLogger, NativeConnection, Runtime, Worker } from '@temporalio/worker';
import { startDevServer } from '../client/devserver.js';

const WORKFLOWS_PATH = fileURLToPath(new URL('./workflows/index.js', import.meta.url));
const TASK_QUEUE = 'bench-orchestration-overhead';

/** The function under test: the activity, and the direct call. */
export async function noop(i: number): Promise<number> {
  return i;
}

function intArg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  const raw = i >= 0 ? process.argv[i + 1] : undefined;
  if (raw === undefined) return fallback;
  const v = Number(raw);
  if (!Number.isInteger(v) || v < 0) throw new Error(`--${name} wants a non-negative integer, got ${raw}`);
  return v;
}

/** Linear-interpolated quantile of an ascending-sorted array. */
function quantile(sorted: number[], q: number): number {
  if (sorted.length === 0) return NaN;
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  const a = sorted[lo] ?? NaN;
  const b = sorted[hi] ?? NaN;
  return a + (b - a) * (pos - lo);
}

interface Dist {
  p50: number;
  p90: number;
  p99: number;
  max: number;
  mean: number;
}

function dist(values: number[]): Dist {
  const s = [...values].sort((x, y) => x - y);
  return {
    p50: quantile(s, 0.5),
    p90: quantile(s, 0.9),
    p99: quantile(s, 0.99),
    max: s[s.length - 1] ?? NaN,
    mean: s.reduce((a, b) => a + b, 0) / Math.max(1, s.length),
  };
}
const median = (values: number[]): number =>
  quantile(
    [...values].sort((x, y) => x - y),
    0.5,
  );

type HistoryEvent = temporal.api.history.v1.IHistoryEvent;

/** Server time of an event in ms (history timestamps carry nanoseconds). */
function eventMs(e: HistoryEvent): number {
  const t = e.eventTime;
  return Number(String(t?.seconds ?? 0)) * 1000 + (t?.nanos ?? 0) / 1e6;
}

interface StepTimes {
  dispatch: number[];
  execute: number[];
  decide: number[];
  cycle: number[];
  /** Workflow tasks: scheduled -> started (waiting for a poller), started -> completed (on the worker). */
  wftWait: number[];
  wftRun: number[];
  /** WorkflowExecutionStarted -> WorkflowExecutionCompleted, server clock. */
  serverTotalMs: number;
}

/** Per-activity intervals from the history of one run. */
function stepTimes(events: HistoryEvent[]): StepTimes {
  const scheduled = new Map<string, number>();
  const started = new Map<string, number>();
  const steps: { scheduled: number; started: number; completed: number }[] = [];
  const wfts = new Map<string, { scheduled: number; started: number; completed: number }>();
  let first = NaN;
  let last = NaN;
  for (const e of events) {
    const id = String(e.eventId);
    if (e.workflowExecutionStartedEventAttributes) first = eventMs(e);
    if (e.workflowExecutionCompletedEventAttributes) last = eventMs(e);
    if (e.workflowTaskScheduledEventAttributes)
      wfts.set(id, { scheduled: eventMs(e), started: NaN, completed: NaN });
    const wst = e.workflowTaskStartedEventAttributes;
    const wftStarted = wst ? wfts.get(String(wst.scheduledEventId)) : undefined;
    if (wftStarted) wftStarted.started = eventMs(e);
    const wdone = e.workflowTaskCompletedEventAttributes;
    const wftDone = wdone ? wfts.get(String(wdone.scheduledEventId)) : undefined;
    if (wftDone) wftDone.completed = eventMs(e);
    if (e.activityTaskScheduledEventAttributes) scheduled.set(id, eventMs(e));
    const st = e.activityTaskStartedEventAttributes;
    if (st) started.set(String(st.scheduledEventId), eventMs(e));
    const done = e.activityTaskCompletedEventAttributes;
    if (done) {
      const s = String(done.scheduledEventId);
      steps.push({
        scheduled: scheduled.get(s) ?? NaN,
        started: started.get(s) ?? NaN,
        completed: eventMs(e),
      });
    }
  }
  const out: StepTimes = {
    dispatch: [],
    execute: [],
    decide: [],
    cycle: [],
    wftWait: [...wfts.values()].map((w) => w.started - w.scheduled).filter(Number.isFinite),
    wftRun: [...wfts.values()].map((w) => w.completed - w.started).filter(Number.isFinite),
    serverTotalMs: last - first,
  };
  steps.forEach((s, i) => {
    out.dispatch.push(s.started - s.scheduled);
    out.execute.push(s.completed - s.started);
    const next = steps[i + 1];
    if (next) {
      out.decide.push(next.scheduled - s.completed);
      out.cycle.push(next.scheduled - s.scheduled);
    }
  });
  return out;
}

interface Rep {
  workflowMs: number;
  directMs: number;
  perActivityMs: number;
  perDirectCallMs: number;
  overheadMs: number;
  serverPerActivityMs: number;
  steps: StepTimes;
}

async function runWorkflow(
  client: Client,
  n: number,
  label: string,
): Promise<{ ms: number; steps: StepTimes }> {
  const t0 = performance.now();
  const handle = await client.workflow.start('sequentialNoops', {
    taskQueue: TASK_QUEUE,
    workflowId: `bench-overhead-${label}-${Date.now()}`,
    args: [n],
  });
  const sum = (await handle.result()) as number;
  const ms = performance.now() - t0;
  if (sum !== (n * (n - 1)) / 2)
    throw new Error(`the workflow returned ${sum}, expected ${(n * (n - 1)) / 2}`);
  const history = await handle.fetchHistory();
  return { ms, steps: stepTimes(history.events ?? []) };
}

async function runDirect(n: number): Promise<number> {
  const t0 = performance.now();
  let sum = 0;
  for (let i = 0; i < n; i++) sum += await noop(i);
  const ms = performance.now() - t0;
  if (sum !== (n * (n - 1)) / 2) throw new Error('direct calls returned the wrong sum');
  return ms;
}

const f = (v: number, digits = 3): string => (Number.isFinite(v) ? v.toFixed(digits) : '-');

async function main(): Promise<void> {
  const n = intArg('n', 200);
  const reps = intArg('reps', 3);
  const warmup = intArg('warmup', 1);
  if (n < 2 || reps < 1) throw new Error('--n must be at least 2 and --reps at least 1');

  Runtime.install({ logger: new DefaultLogger('WARN') });
  const server = await startDevServer({ ui: false });
  const nativeConnection = await NativeConnection.connect({ address: server.address });
  const connection = await Connection.connect({ address: server.address });
  const client = new Client({ connection });
  const worker = await Worker.create({
    connection: nativeConnection,
    taskQueue: TASK_QUEUE,
    workflowsPath: WORKFLOWS_PATH,
    activities: { noop },
  });
  const results: Rep[] = [];
  try {
    await worker.runUntil(async () => {
      for (let w = 0; w < warmup; w++) {
        await runWorkflow(client, Math.min(n, 50), `warmup${w}`);
        await runDirect(n);
      }
      for (let r = 0; r < reps; r++) {
        const wf = await runWorkflow(client, n, `rep${r}`);
        const directMs = await runDirect(n);
        const perActivityMs = wf.ms / n;
        const perDirectCallMs = directMs / n;
        results.push({
          workflowMs: wf.ms,
          directMs,
          perActivityMs,
          perDirectCallMs,
          overheadMs: perActivityMs - perDirectCallMs,
          serverPerActivityMs: wf.steps.serverTotalMs / n,
          steps: wf.steps,
        });
      }
    });
  } finally {
    await nativeConnection.close();
    await connection.close();
    await server.stop();
  }

  const pooled = (k: 'dispatch' | 'execute' | 'decide' | 'cycle' | 'wftWait' | 'wftRun') =>
    dist(results.flatMap((r) => r.steps[k]));
  const summary = {
    bench: 'orchestration-overhead',
    n,
    reps,
    temporal: server.binary.path,
    node: process.version,
    perActivityMs: median(results.map((r) => r.perActivityMs)),
    perDirectCallMs: median(results.map((r) => r.perDirectCallMs)),
    overheadPerActivityMs: median(results.map((r) => r.overheadMs)),
    ratio: median(results.map((r) => r.perActivityMs / r.perDirectCallMs)),
    serverPerActivityMs: median(results.map((r) => r.serverPerActivityMs)),
    repetitions: results.map((r) => ({
      workflowMs: r.workflowMs,
      directMs: r.directMs,
      overheadPerActivityMs: r.overheadMs,
      cycleP50Ms: dist(r.steps.cycle).p50,
    })),
    history: {
      cycleMs: pooled('cycle'),
      dispatchMs: pooled('dispatch'),
      executeMs: pooled('execute'),
      decideMs: pooled('decide'),
      workflowTaskWaitMs: pooled('wftWait'),
      workflowTaskRunMs: pooled('wftRun'),
    },
  };

  console.log(
    `orchestration overhead: ${n} sequential no-op activities vs ${n} direct calls, ${reps} repetitions`,
  );
  console.log('');
  console.log(
    'rep  workflow ms  per activity ms  direct ms  per call ms  overhead/activity ms  cycle p50 ms',
  );
  results.forEach((r, i) => {
    console.log(
      `${String(i + 1).padStart(3)}  ${f(r.workflowMs, 1).padStart(11)}  ${f(r.perActivityMs).padStart(15)}  ${f(r.directMs, 4).padStart(9)}  ${f(r.perDirectCallMs, 6).padStart(11)}  ${f(r.overheadMs).padStart(20)}  ${f(dist(r.steps.cycle).p50).padStart(12)}`,
    );
  });
  console.log('');
  console.log(
    `median overhead per activity: ${f(summary.overheadPerActivityMs)} ms ` +
      `(workflow ${f(summary.perActivityMs)} ms/activity vs direct ${f(summary.perDirectCallMs, 6)} ms/call, ratio ${Math.round(summary.ratio).toLocaleString('en-US')}x)`,
  );
  console.log('');
  console.log(`per activity, from history event times (all reps pooled, ${results.length * n} activities):`);
  console.log(
    `${'interval (ms)'.padEnd(46)} ${['p50', 'p90', 'p99', 'max', 'mean'].map((h) => h.padStart(8)).join(' ')}`,
  );
  const rows: [string, Dist][] = [
    ['cycle      scheduled -> next scheduled', summary.history.cycleMs],
    ['dispatch   scheduled -> started', summary.history.dispatchMs],
    ['execute    started -> completed', summary.history.executeMs],
    ['decide     completed -> next scheduled', summary.history.decideMs],
    ['  of which workflow task scheduled -> started', summary.history.workflowTaskWaitMs],
    ['  of which workflow task started -> completed', summary.history.workflowTaskRunMs],
  ];
  for (const [label, d] of rows) {
    console.log(
      `${label.padEnd(46)} ${[d.p50, d.p90, d.p99, d.max, d.mean].map((v) => f(v).padStart(8)).join(' ')}`,
    );
  }
  console.log('');
  console.log(JSON.stringify(summary));
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? (err.stack ?? err.message) : String(err));
  process.exit(1);
});
