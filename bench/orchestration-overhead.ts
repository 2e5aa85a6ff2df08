/**
 * Benchmark: what Temporal orchestration costs per step. N no-op activities
 * run one after the other through a workflow (bench/workflows: its own
 * workflowsPath, the shipped workflows/ stay clean) on a real dev server, vs
 * the same N calls of the same function made directly in-process.
 *
 *   node dist/bench/orchestration-overhead.js [--n 200] [--reps 3] [--warmup 1]
 *                                             [--configs stock,devserver | all]
 *
 * --configs names the server/worker settings to compare (CONFIGS below; the
 * first is the baseline of the ratios). Every repetition round runs each
 * config once, each on its own fresh dev server and worker (warm-up included),
 * alternating the order from round to round, so all configs see the same
 * machine load.
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
import {
  bundleWorkflowCode,
  DefaultLogger,
  NativeConnection,
  Runtime,
  Worker,
  type WorkerOptions,
  type WorkflowBundleWithSourceMap,
} from '@temporalio/worker';
import { startDevServer, type DynamicConfigValue } from '../client/devserver.js';

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

function listArg(name: string, fallback: string[]): string[] {
  const i = process.argv.indexOf(`--${name}`);
  const raw = i >= 0 ? process.argv[i + 1] : undefined;
  if (raw === undefined) return fallback;
  return raw
    .split(',')
    .map((v) => v.trim())
    .filter((v) => v !== '');
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
  p10: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
  mean: number;
}

function dist(values: number[]): Dist {
  const s = [...values].sort((x, y) => x - y);
  return {
    p10: quantile(s, 0.1),
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

interface BenchConfig {
  name: string;
  what: string;
  /** Over client/devserver.ts's DEV_SERVER_DYNAMIC_CONFIG. */
  dynamicConfig: Record<string, DynamicConfigValue>;
  worker: Partial<WorkerOptions>;
}

/** The Temporal server's own default, which DEV_SERVER_DYNAMIC_CONFIG raises. */
const STOCK_SERVER: Record<string, DynamicConfigValue> = { 'history.transferProcessorMaxPollRPS': 20 };

/**
 * Settings to compare. Each worker-side one changes one option of a default
 * worker on the stock server, to see whether anything the worker controls
 * moves the 50 ms grid.
 */
const CONFIGS: BenchConfig[] = [
  {
    name: 'stock',
    what: 'server defaults (transfer queue read at most 20/s per shard), default worker',
    dynamicConfig: STOCK_SERVER,
    worker: {},
  },
  {
    name: 'devserver',
    what: "client/devserver.ts's dynamic config (transfer queue read at most 1000/s), default worker",
    dynamicConfig: {},
    worker: {},
  },
  {
    name: 'rps-100',
    what: 'transfer queue read at most 100/s, default worker',
    dynamicConfig: { 'history.transferProcessorMaxPollRPS': 100 },
    worker: {},
  },
  {
    name: 'wft-polls-2',
    what: 'stock server; workflow task pollers simple-maximum 2 (default 10)',
    dynamicConfig: STOCK_SERVER,
    worker: { workflowTaskPollerBehavior: { type: 'simple-maximum', maximum: 2 } },
  },
  {
    name: 'wft-polls-autoscaling',
    what: 'stock server; workflow task pollers autoscaling (1..100, initial 5)',
    dynamicConfig: STOCK_SERVER,
    worker: { workflowTaskPollerBehavior: { type: 'autoscaling' } },
  },
  {
    name: 'non-sticky-ratio-0.5',
    what: 'stock server; nonStickyToStickyPollRatio 0.5 (default 0.2)',
    dynamicConfig: STOCK_SERVER,
    worker: { nonStickyToStickyPollRatio: 0.5 },
  },
  {
    name: 'wft-slots-2',
    what: 'stock server; maxConcurrentWorkflowTaskExecutions 2 (default 40)',
    dynamicConfig: STOCK_SERVER,
    worker: { maxConcurrentWorkflowTaskExecutions: 2 },
  },
  {
    name: 'no-reuse-v8',
    what: 'stock server; reuseV8Context false (and so 2 workflow threads)',
    dynamicConfig: STOCK_SERVER,
    worker: { reuseV8Context: false },
  },
  {
    name: 'threads-2',
    what: 'stock server; workflowThreadPoolSize 2 (default 1 with reuseV8Context)',
    dynamicConfig: STOCK_SERVER,
    worker: { workflowThreadPoolSize: 2 },
  },
  {
    name: 'no-sticky-cache',
    what: 'stock server; maxCachedWorkflows 0 (every task replays the history)',
    dynamicConfig: STOCK_SERVER,
    worker: { maxCachedWorkflows: 0 },
  },
];

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

/** One repetition of one config: its own dev server and worker, a warm-up, then the measured run. */
async function runRep(
  config: BenchConfig,
  bundle: WorkflowBundleWithSourceMap,
  n: number,
  warmup: number,
  label: string,
): Promise<Rep> {
  const server = await startDevServer({ ui: false, dynamicConfig: config.dynamicConfig });
  let nativeConnection: NativeConnection | undefined;
  let connection: Connection | undefined;
  try {
    nativeConnection = await NativeConnection.connect({ address: server.address });
    connection = await Connection.connect({ address: server.address });
    const client = new Client({ connection });
    const worker = await Worker.create({
      ...config.worker,
      connection: nativeConnection,
      taskQueue: TASK_QUEUE,
      workflowBundle: bundle,
      activities: { noop },
    });
    return await worker.runUntil(async () => {
      // The warm-up also spends the server's initial burst of transfer-queue reads (see
      // client/devserver.ts), so that the measured run sees the steady state.
      for (let w = 0; w < warmup; w++) {
        await runWorkflow(client, Math.min(n, 50), `${label}-warmup${w}`);
        await runDirect(n);
      }
      const wf = await runWorkflow(client, n, label);
      const directMs = await runDirect(n);
      const perActivityMs = wf.ms / n;
      const perDirectCallMs = directMs / n;
      return {
        workflowMs: wf.ms,
        directMs,
        perActivityMs,
        perDirectCallMs,
        overheadMs: perActivityMs - perDirectCallMs,
        serverPerActivityMs: wf.steps.serverTotalMs / n,
        steps: wf.steps,
      };
    });
  } finally {
    await nativeConnection?.close();
    await connection?.close();
    await server.stop();
  }
}

const f = (v: number, digits = 3): string => (Number.isFinite(v) ? v.toFixed(digits) : '-');

type Interval = 'dispatch' | 'execute' | 'decide' | 'cycle' | 'wftWait' | 'wftRun';

function summarise(config: BenchConfig, reps: Rep[], baseline: Rep[] | null) {
  const pooled = (k: Interval): Dist => dist(reps.flatMap((r) => r.steps[k]));
  return {
    config: config.name,
    what: config.what,
    dynamicConfig: config.dynamicConfig,
    perActivityMs: median(reps.map((r) => r.perActivityMs)),
    perDirectCallMs: median(reps.map((r) => r.perDirectCallMs)),
    overheadPerActivityMs: median(reps.map((r) => r.overheadMs)),
    ratio: median(reps.map((r) => r.perActivityMs / r.perDirectCallMs)),
    serverPerActivityMs: median(reps.map((r) => r.serverPerActivityMs)),
    // Per round, this config's overhead over the baseline's measured in the same round.
    vsBaseline:
      baseline === null ? null : median(reps.map((r, i) => r.overheadMs / (baseline[i]?.overheadMs ?? NaN))),
    repetitions: reps.map((r) => ({
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
}

async function main(): Promise<void> {
  const n = intArg('n', 200);
  const reps = intArg('reps', 3);
  const warmup = intArg('warmup', 1);
  if (n < 2 || reps < 1) throw new Error('--n must be at least 2 and --reps at least 1');
  const names = listArg('configs', ['stock', 'devserver']);
  const configs =
    names.length === 1 && names[0] === 'all'
      ? CONFIGS
      : names.map((name) => {
          const c = CONFIGS.find((x) => x.name === name);
          if (c === undefined)
            throw new Error(
              `unknown config ${name}: one of ${CONFIGS.map((x) => x.name).join(', ')}, or all`,
            );
          return c;
        });
  if (configs.length === 0) throw new Error('--configs names no config');

  Runtime.install({ logger: new DefaultLogger('WARN') });
  const bundle = await bundleWorkflowCode({
    workflowsPath: WORKFLOWS_PATH,
    logger: new DefaultLogger('WARN'),
  });
  const results = new Map<string, Rep[]>(configs.map((c) => [c.name, []]));
  for (let r = 0; r < reps; r++) {
    const order = r % 2 === 0 ? configs : [...configs].reverse();
    for (const config of order) {
      const rep = await runRep(config, bundle, n, warmup, `${config.name}-rep${r}`);
      results.get(config.name)?.push(rep);
      console.error(
        `round ${r + 1}/${reps} ${config.name}: ${f(rep.overheadMs)} ms/activity, cycle p50 ${f(dist(rep.steps.cycle).p50)} ms`,
      );
    }
  }

  const baselineReps = results.get(configs[0]?.name ?? '') ?? [];
  const summaries = configs.map((c, i) =>
    summarise(c, results.get(c.name) ?? [], i === 0 ? null : baselineReps),
  );

  console.log(
    `orchestration overhead: ${n} sequential no-op activities vs ${n} direct calls, ${reps} rounds of ${configs.length} config(s)`,
  );
  for (const s of summaries) {
    console.log('');
    console.log(`== ${s.config}: ${s.what}`);
    console.log('rep  workflow ms  direct ms  overhead/activity ms  cycle p50 ms');
    s.repetitions.forEach((r, i) => {
      console.log(
        `${String(i + 1).padStart(3)}  ${f(r.workflowMs, 1).padStart(11)}  ${f(r.directMs, 4).padStart(9)}  ${f(r.overheadPerActivityMs).padStart(20)}  ${f(r.cycleP50Ms).padStart(12)}`,
      );
    });
    console.log(
      `median overhead per activity: ${f(s.overheadPerActivityMs)} ms ` +
        `(workflow ${f(s.perActivityMs)} ms/activity vs direct ${f(s.perDirectCallMs, 6)} ms/call, ratio ${Math.round(s.ratio).toLocaleString('en-US')}x)` +
        (s.vsBaseline === null
          ? ''
          : `; ${f(s.vsBaseline, 2)}x ${configs[0]?.name ?? ''} (same-round median)`),
    );
    console.log(`per activity, from history event times (${s.repetitions.length * n} activities pooled):`);
    console.log(
      `${'interval (ms)'.padEnd(46)} ${['p10', 'p50', 'p90', 'p99', 'max', 'mean'].map((h) => h.padStart(8)).join(' ')}`,
    );
    const rows: [string, Dist][] = [
      ['cycle      scheduled -> next scheduled', s.history.cycleMs],
      ['dispatch   scheduled -> started', s.history.dispatchMs],
      ['execute    started -> completed', s.history.executeMs],
      ['decide     completed -> next scheduled', s.history.decideMs],
      ['  of which workflow task scheduled -> started', s.history.workflowTaskWaitMs],
      ['  of which workflow task started -> completed', s.history.workflowTaskRunMs],
    ];
    for (const [label, d] of rows) {
      console.log(
        `${label.padEnd(46)} ${[d.p10, d.p50, d.p90, d.p99, d.max, d.mean].map((v) => f(v).padStart(8)).join(' ')}`,
      );
    }
  }
  console.log('');
  console.log(
    'summary (median overhead per activity; p50s from history; ratio to the first config, same round):',
  );
  console.log(
    `${'config'.padEnd(22)} ${['overhead', 'cycle p10', 'cycle', 'wft wait', 'wft run', 'execute', 'vs base'].map((h) => h.padStart(9)).join(' ')}`,
  );
  for (const s of summaries) {
    console.log(
      `${s.config.padEnd(22)} ${[
        f(s.overheadPerActivityMs, 1),
        f(s.history.cycleMs.p10, 1),
        f(s.history.cycleMs.p50, 1),
        f(s.history.workflowTaskWaitMs.p50, 1),
        f(s.history.workflowTaskRunMs.p50, 1),
        f(s.history.executeMs.p50, 1),
        s.vsBaseline === null ? '1.00' : f(s.vsBaseline, 2),
      ]
        .map((v) => v.padStart(9))
        .join(' ')}`,
    );
  }
  console.log('');
  console.log(
    JSON.stringify({
      bench: 'orchestration-overhead',
      n,
      reps,
      warmup,
      node: process.version,
      configs: summaries,
    }),
  );
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? (err.stack ?? err.message) : String(err));
  process.exit(1);
});
