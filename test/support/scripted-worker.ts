/**
 * A cut-over worker with scripted activities, run as its own process so a test
 * can SIGKILL it mid-run: `node dist/test/support/scripted-worker.js`.
 *
 * Environment:
 *   TEMPORAL_ADDRESS      the frontend (host:port)
 *   CUTOVER_TASK_QUEUE    the task queue to serve
 *   CUTOVER_JOURNAL_DIR   a directory shared by every worker process of one test:
 *                         calls.log    one JSON line per activity call (name, attempt, detail, workflow, pid)
 *                         effects.log  one JSON line per side effect actually performed
 *                         <key>        one marker file per side effect, created with O_EXCL
 *   CUTOVER_BLOCK_IN      optional activity name: on its FIRST attempt that activity performs its
 *                         side effect, then heartbeats every second forever
 *   CUTOVER_BLOCK_UNTIL   optional file: the blocking activity stops hanging (and completes) once it exists
 *   CUTOVER_RED_GATE      optional activity name whose gate comes back red (verifyConfig: the run
 *                         goes on to COMPENSATE)
 *   CUTOVER_WORKFLOW_BUNDLE  optional: a file written from bundleWorkflowCode({ workflowsPath:
 *                         WORKFLOWS_PATH }), so that several worker processes need not bundle
 *                         the same workflow code each (webpack takes seconds)
 *
 * Side effects behave like a real, idempotent adapter: applying stage S for workflow W creates
 * `applied-W-S` exclusively; when it exists already (a retry after the worker died), the apply
 * reports changed:false and performs nothing. The same holds for the validation DAG run id, the
 * rollout restart, reverts and re-runs.
 *
 * It exits when its parent process dies (so a crashed test leaves no worker behind).
 *
 * Stdout protocol (one line each): `READY pid=<pid> taskQueue=<q>` once the worker polls, and
 * `BLOCKING <activity> attempt=<n> pid=<pid>` when the blocking activity starts to hang.
 */
import { createHash } from 'node:crypto';
import { appendFileSync, closeSync, existsSync, mkdirSync, openSync, writeSync } from 'node:fs';
import path from 'node:path';
import { Context } from '@temporalio/activity';
import { DefaultLogger, NativeConnection, Runtime } from '@temporalio/worker';
import { createCutoverWorker } from '../../worker/create-worker.js';
import { greenScript, type ActivityName } from './scripted-activities.js';

export interface CallLine {
  name: ActivityName;
  attempt: number;
  /** Stage label for applies and reverts, DAG run id for validation. */
  detail: string | null;
  workflowId: string;
  pid: number;
  at: string;
}

export interface EffectLine {
  key: string;
  name: ActivityName;
  attempt: number;
  workflowId: string;
  pid: number;
  at: string;
}

function required(name: string): string {
  const v = process.env[name];
  if (v === undefined || v === '') throw new Error(`${name} is not set`);
  return v;
}

const address = required('TEMPORAL_ADDRESS');
const taskQueue = required('CUTOVER_TASK_QUEUE');
const journalDir = required('CUTOVER_JOURNAL_DIR');
const blockIn = process.env['CUTOVER_BLOCK_IN'] ?? '';
const redGate = process.env['CUTOVER_RED_GATE'] ?? '';
const blockUntil = process.env['CUTOVER_BLOCK_UNTIL'] ?? '';
const bundlePath = process.env['CUTOVER_WORKFLOW_BUNDLE'] ?? '';
mkdirSync(journalDir, { recursive: true });

/** A file-name-safe rendering of an identifier. */
const safe = (s: string): string => s.replace(/[^A-Za-z0-9_.:+-]/g, '_');

function journalCall(name: ActivityName, detail: string | null): void {
  const info = Context.current().info;
  const line: CallLine = {
    name,
    attempt: info.attempt,
    detail,
    workflowId: info.workflowExecution?.workflowId ?? '',
    pid: process.pid,
    at: new Date().toISOString(),
  };
  appendFileSync(path.join(journalDir, 'calls.log'), `${JSON.stringify(line)}\n`);
}

/**
 * Performs the side effect named `key` once across every worker process: true when this call
 * performed it, false when it had been done before (the marker file exists).
 */
function sideEffectOnce(name: ActivityName, key: string): boolean {
  const info = Context.current().info;
  let fd: number;
  try {
    fd = openSync(path.join(journalDir, safe(key)), 'wx');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  }
  const line: EffectLine = {
    key,
    name,
    attempt: info.attempt,
    workflowId: info.workflowExecution?.workflowId ?? '',
    pid: process.pid,
    at: new Date().toISOString(),
  };
  writeSync(fd, `${JSON.stringify(line)}\n`);
  closeSync(fd);
  appendFileSync(path.join(journalDir, 'effects.log'), `${JSON.stringify(line)}\n`);
  return true;
}

/** On the first attempt of the CUTOVER_BLOCK_IN activity: announce it, then heartbeat forever. */
async function maybeBlock(name: ActivityName): Promise<void> {
  const ctx = Context.current();
  if (name !== blockIn || ctx.info.attempt !== 1) return;
  process.stdout.write(`BLOCKING ${name} attempt=${ctx.info.attempt} pid=${process.pid}\n`);
  for (let beat = 1; blockUntil === '' || !existsSync(blockUntil); beat++) {
    ctx.heartbeat({ beat });
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
  process.stdout.write(`RELEASED ${name} pid=${process.pid}\n`);
}

const wfId = (): string => Context.current().info.workflowExecution?.workflowId ?? '';
const digest = (v: unknown): string =>
  createHash('sha256').update(JSON.stringify(v)).digest('hex').slice(0, 12);

type Activities = typeof greenScript;
type Impl<K extends ActivityName> = (input: Parameters<Activities[K]>[0]) => ReturnType<Activities[K]>;

/** The scripted green activities, journaled, with idempotent side effects. */
function journaledActivities(): Activities {
  const withEffects: { [K in ActivityName]?: Impl<K> } = {
    async applyChange(input) {
      const changed = sideEffectOnce('applyChange', `applied-${input.changeId}-${input.stage.label}`);
      await maybeBlock('applyChange');
      return { ...(await greenScript.applyChange(input, 1)), changed };
    },
    async waitForRollout(input) {
      // A rollout restart for this env, triggered once; a retry only waits for readiness.
      sideEffectOnce('waitForRollout', `restarted-${wfId()}-${digest(input.expectEnv)}`);
      await maybeBlock('waitForRollout');
      return greenScript.waitForRollout(input, 1);
    },
    async validateRun(input) {
      // Airflow refuses a second DAG run with the same id: a retry finds the run and watches it.
      sideEffectOnce('validateRun', `dagrun-${input.plan.spec.validation.dagId}-${input.runId}`);
      await maybeBlock('validateRun');
      return greenScript.validateRun(input, 1);
    },
    async revertChange(input) {
      const changed = sideEffectOnce('revertChange', `reverted-${input.changeId}-${input.stage.label}`);
      await maybeBlock('revertChange');
      return { ...(await greenScript.revertChange(input, 1)), changed };
    },
    async rerunAffectedRuns(input) {
      for (const r of input.runs)
        sideEffectOnce('rerunAffectedRuns', `rerun-${wfId()}-${r.dagId}-${r.runId}`);
      await maybeBlock('rerunAffectedRuns');
      return greenScript.rerunAffectedRuns(input, 1);
    },
  };
  const out: Record<string, (input: never) => Promise<unknown>> = {};
  for (const name of Object.keys(greenScript) as ActivityName[]) {
    const impl = (withEffects[name] ??
      (async (input: unknown) => {
        await maybeBlock(name);
        return (greenScript[name] as (i: unknown, attempt: number) => Promise<unknown>)(input, 1);
      })) as (input: unknown) => Promise<unknown>;
    out[name] = async (input: never) => {
      const i = input as { stage?: { label: string }; runId?: string };
      journalCall(name, i.stage?.label ?? i.runId ?? null);
      const value = await impl(input);
      return name === redGate
        ? { ...(value as object), gate: { passed: false, reasons: [`${name}: red by CUTOVER_RED_GATE`] } }
        : value;
    };
  }
  return out as unknown as Activities;
}

/** A test that dies without killing this process must not leave it polling forever. */
function exitWithParent(): void {
  const parent = process.ppid;
  setInterval(() => {
    if (process.ppid !== parent) process.exit(0);
  }, 1000).unref();
}

async function main(): Promise<void> {
  exitWithParent();
  Runtime.install({ logger: new DefaultLogger('WARN') });
  const connection = await NativeConnection.connect({ address });
  const worker = await createCutoverWorker({
    connection,
    taskQueue,
    activities: journaledActivities(),
    identity: `scripted-worker-${process.pid}`,
    ...(bundlePath === ''
      ? {}
      : { extra: { workflowBundle: { codePath: bundlePath }, workflowsPath: undefined } }),
  });
  const running = worker.run();
  while (worker.getState() !== 'RUNNING') {
    if (worker.getState() !== 'INITIALIZED') break;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  process.stdout.write(`READY pid=${process.pid} taskQueue=${taskQueue}\n`);
  await running;
  await connection.close();
  process.stdout.write(`STOPPED pid=${process.pid}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(
    `scripted worker ${process.pid}: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
  );
  process.exit(1);
});
