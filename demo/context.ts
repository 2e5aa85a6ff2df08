/**
 * What the two ways of running the demo (the real cut-over, the dry run) share once the stack is
 * up: the stack itself, the Temporal client, the in-process `cutover` CLI and its environment.
 */
import type { Client } from '@temporalio/client';
import { main as cutoverCli } from '../client/cli.js';
import type { DevServer } from '../client/devserver.js';
import { DEFAULT_TASK_QUEUE } from '../domain/cutover.js';
import type { RunStatus } from '../domain/engine/run.js';
import type { DagsFolder } from './dags.js';
import type { DemoPlan } from './demo-plan.js';
import type { Lifecycle } from './lifecycle.js';
import { DEFAULT_PORT, DEMO_APPROVER, type Options } from './options.js';
import { shown, type Timing } from './output.js';

export interface DemoContext {
  opts: Options;
  life: Lifecycle;
  timings: Timing[];
  dir: string;
  logs: string;
  envFile: string;
  /** The env file exactly as the demo wrote it. */
  envText: string;
  /** The metadata DB's URL (a secret: never printed). */
  metadbUrl: string;
  plan: DemoPlan;
  /** The DAG folder Airflow parses. */
  dags: DagsFolder;
  server: DevServer;
  /** The gRPC port the dev server was started on. */
  port: number;
  client: Client;
  /** The env the in-process CLI runs with. */
  cliEnv: NodeJS.ProcessEnv;
  /** Rejects when something the run needs dies under it (dev server, worker, Airflow). */
  fatal: Promise<never>;
  /** Rejects when the dev server or the worker dies: a cancelled run's kill-switch cannot go on. */
  carrierGone: Promise<never>;
  serverGone(): boolean;
  /** The log files worth naming at the end. */
  logNames: string[];
}

/** Who starts the run: never the approver the demo answers as (no self-approval). */
export function starter(env: NodeJS.ProcessEnv = process.env): string {
  const name = (env.CUTOVER_OPERATOR || env.USER || '').trim();
  return name === '' || name === DEMO_APPROVER ? 'newcomer' : name;
}

/** An env for the in-process CLI: the caller's, with the Temporal settings of the demo's server only. */
export function cliEnvFor(server: DevServer): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('TEMPORAL_')) env[k] = v;
  return {
    ...env,
    TEMPORAL_ADDRESS: server.address,
    TEMPORAL_NAMESPACE: 'default',
    CUTOVER_TASK_QUEUE: DEFAULT_TASK_QUEUE,
    ...(server.uiUrl ? { CUTOVER_UI_URL: server.uiUrl } : {}),
    CUTOVER_OPERATOR: starter(),
  };
}

/** `npx cutover ARGS` as the user would type it in another terminal against the demo's server. */
export function cliCommand(ctx: DemoContext, ...args: string[]): string {
  // The CLI's defaults are localhost:7233 and a Web UI on port + 1000: name what differs.
  const prefix = [
    ctx.server.address === `127.0.0.1:${DEFAULT_PORT}` ? '' : `TEMPORAL_ADDRESS=${ctx.server.address} `,
    ctx.server.uiUrl === null || ctx.server.uiUrl === `http://127.0.0.1:${ctx.port + 1000}`
      ? ''
      : `CUTOVER_UI_URL=${ctx.server.uiUrl} `,
  ].join('');
  return `${prefix}npx cutover ${args.join(' ')}`;
}

export const planArg = (ctx: DemoContext): string => shown(ctx.plan.file);

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * The `cutover` CLI in this process. `echo` passes its output through to the terminal as it comes
 * (after an interruption it only has connection errors to tell: the demo speaks instead);
 * `onStderr` sees stderr as it accumulates.
 */
export async function runCli(
  ctx: DemoContext,
  args: string[],
  opts: { echoStdout: boolean; echoStderr: boolean; onStderr?: (text: string) => void },
): Promise<CliRun> {
  const run: CliRun = { code: 0, stdout: '', stderr: '' };
  run.code = await cutoverCli(args, {
    stdout: {
      write: (s: string) => {
        run.stdout += s;
        return !opts.echoStdout || ctx.life.interruption !== null || process.stdout.write(s);
      },
    },
    stderr: {
      write: (s: string) => {
        run.stderr += s;
        opts.onStderr?.(run.stderr);
        return !opts.echoStderr || ctx.life.interruption !== null || process.stderr.write(s);
      },
    },
    env: ctx.cliEnv,
  });
  return run;
}

/**
 * Phases in order, each from its first step's start to its last step's end (the worker's clock).
 * `evidencePhases` are the runbook's phases before AWAIT_GO: the first phase after them is the change.
 */
export function phaseTimings(status: RunStatus, evidencePhases: readonly string[]): Timing[] {
  const spans = new Map<string, { start: number; end: number }>();
  for (const s of status.steps) {
    if (!s.startedAt || !s.finishedAt) continue;
    const start = Date.parse(s.startedAt);
    const end = Date.parse(s.finishedAt);
    const span = spans.get(s.phase);
    if (!span) spans.set(s.phase, { start, end });
    else {
      span.start = Math.min(span.start, start);
      span.end = Math.max(span.end, end);
    }
  }
  const out: Timing[] = [];
  let previousEnd: number | null = null;
  let changing = false;
  for (const [phase, { start, end }] of spans) {
    // AWAIT_GO records no step: its time is the gap between the evidence and the change's first step.
    if (!changing && !evidencePhases.includes(phase)) {
      changing = true;
      if (previousEnd !== null)
        out.push({ label: '  AWAIT_GO', ms: start - previousEnd, note: '(the approval)' });
    }
    out.push({ label: `  ${phase}`, ms: end - start });
    previousEnd = end;
  }
  return out;
}
