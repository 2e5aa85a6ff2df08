/**
 * The real cut-over on the demo's stack: `cutover start`, the evidence as it arrives, the go at
 * AWAIT_GO, the phases that follow, and at the end the outcome, the validation run, the story of
 * a compensation, the Web UI link and the decision dossier (`cutover report --out`).
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { WorkflowHandle } from '@temporalio/client';
import { needsOperatorLines } from '../client/commands/status-run.js';
import { ProgressPrinter, waitsForHuman } from '../client/commands/watch-run.js';
import { followRun, type Settled } from '../client/follow.js';
import { queryStatus } from '../client/run-status.js';
import { DEFAULT_TASK_QUEUE } from '../domain/cutover.js';
import type { RunStatus } from '../domain/engine/run.js';
import { answerApproval, approvalMode } from './approval.js';
import { cliCommand, phaseTimings, planArg, runCli, starter, type DemoContext } from './context.js';
import { UPGRADE_KIND } from '../domain/upgrade/kind.js';
import type { UpgradeStatus } from '../domain/upgrade/run.js';
import {
  approvalLines,
  changeInPlace,
  compensationLines,
  EvidencePrinter,
  validationLines,
} from './evidence.js';
import { upgradeOutcomeLines, upgradeTimings } from './upgrade-lines.js';
import { Interrupted, ORDER, within } from './lifecycle.js';
import { ComponentDied } from './services.js';
import { DEMO_APPROVER } from './options.js';
import { errorText, say, shown, since, warn } from './output.js';

const POLL_MS = 1000;

interface Started {
  workflowId: string;
  runId: string;
  planDigest: string;
  uiLink: string | null;
}

export interface CutoverRunOutcome {
  code: number;
  workflowId: string | null;
}

/** 0 for DONE, and for ROLLED_BACK in a drill (--break): that is what the drill must end with. */
function exitCodeFor(outcome: string, drill: boolean): number {
  return outcome === 'DONE' || (drill && outcome === 'ROLLED_BACK') ? 0 : 1;
}

/** The last status the demo read: what a second Ctrl-C or a lost server leaves behind is told from it. */
interface Seen {
  status: RunStatus | null;
}

/**
 * Polls the status until the run ends, printing progress and evidence, answering the go once.
 * After an interruption (`draining`) it only follows the kill-switch: no go is answered, the demo's
 * own interruption does not end the wait, and NEEDS_OPERATOR ends it (the run then waits for a person).
 */
async function follow(
  ctx: DemoContext,
  handle: WorkflowHandle,
  started: Started,
  seen: Seen,
  draining = false,
): Promise<Settled | null> {
  const progress = new ProgressPrinter(say);
  const evidence = new EvidencePrinter(say);
  const mode = approvalMode(ctx.opts.yes);
  let question: AbortController | null = null;
  let toldOperator = false;
  let silentWorker = false;
  const end = await followRun(handle, {
    pollMs: POLL_MS,
    deadline: Infinity,
    // Draining, only the server or the worker dying ends the wait: the kill-switch cannot go on.
    guard: (wait: Promise<void>) =>
      draining ? Promise.race([wait, ctx.carrierGone]) : ctx.life.guard(Promise.race([wait, ctx.fatal])),
    async poll() {
      let status: RunStatus | null = null;
      try {
        status = await queryStatus(ctx.client, handle, DEFAULT_TASK_QUEUE, 5_000);
        silentWorker = false;
      } catch (err) {
        // A worker busy restarting Airflow may miss a query; the result promise decides the end.
        if (!silentWorker && ctx.life.interruption === null)
          warn(`status: ${errorText(err)} (still following)`);
        silentWorker = true;
      }
      if (!status) return undefined;
      seen.status = status;
      progress.update(status);
      evidence.update(status);
      const waiting = waitsForHuman(status);
      if (
        !draining &&
        waiting &&
        status.phase === 'AWAIT_GO' &&
        question === null &&
        status.pendingApproval
      ) {
        say('');
        const approve = cliCommand(
          ctx,
          'approve',
          started.workflowId,
          '--operator',
          DEMO_APPROVER,
          '--reason',
          '"evidence reviewed"',
        );
        for (const line of approvalLines(status, approve)) say(line);
        question = new AbortController();
        void answerApproval(
          handle,
          status.pendingApproval,
          mode,
          AbortSignal.any([question.signal, ctx.life.signal]),
        );
      } else if (!waiting) question?.abort();
      if (status.phase === 'NEEDS_OPERATOR' && !toldOperator) {
        toldOperator = true;
        say('');
        say('NEEDS_OPERATOR: the compensation itself failed; the run waits for a person.');
        for (const line of needsOperatorLines(status))
          say(line.replace(/^(\s*)cutover /, `$1${cliCommand(ctx, '').trimEnd()} `));
        if (draining) return 'stop';
      }
      return undefined;
    },
  });
  // Set inside poll(), which TypeScript's flow analysis does not follow.
  (question as AbortController | null)?.abort();
  if (end === null) {
    if (draining) return null;
    throw new Error('stopped following before the run settled');
  }
  if ('result' in end) {
    seen.status = end.result.status;
    progress.update(end.result.status); // the steps that finished after the last poll
    evidence.update(end.result.status);
  }
  return end;
}

/** What is left changed, from the last status the demo read and the env file as it is now. */
function leftLines(ctx: DemoContext, workflowId: string, status: RunStatus | null): string[] {
  let envSame: boolean | null = null;
  try {
    envSame = readFileSync(ctx.envFile, 'utf8') === ctx.envText;
  } catch {
    envSame = null;
  }
  const comp = status?.compensation;
  return [
    `the cut-over ${workflowId} was last seen in ${status?.phase ?? 'an unknown phase'}${
      comp
        ? `; undo not done: ${comp.undoRemaining.join(', ') || 'none'}; kill-switch steps left: ${comp.remaining.join(', ') || 'none'}`
        : ''
    }`,
    `the env file ${shown(ctx.envFile)} is ${
      envSame === null
        ? 'unreadable'
        : envSame
          ? 'byte for byte what the demo wrote'
          : 'CHANGED: it still holds what the cut-over deployed'
    }`,
  ];
}

/**
 * The demo was interrupted, or a component died, while the run was live: cancel the run so that
 * its kill-switch undoes what it changed, follow it to its outcome (or NEEDS_OPERATOR) and tell it,
 * all before anything is stopped. Only the dev server or the worker dying leaves nothing to wait for.
 */
async function drain(
  ctx: DemoContext,
  handle: WorkflowHandle,
  started: Started,
  seen: Seen,
  why: Interrupted | ComponentDied,
): Promise<void> {
  const id = started.workflowId;
  const cause = why instanceof Interrupted ? why.signal : why.message;
  if (why instanceof ComponentDied && why.component !== 'airflow') {
    warn(`${cause}: nothing can carry the cut-over ${id} on; what is left:`);
    for (const line of leftLines(ctx, id, seen.status)) warn(`  ${line}`);
    return;
  }
  warn(
    `${cause}: cancelling the cut-over ${id} so that its kill-switch undoes what it changed; ` +
      'waiting for its outcome before stopping anything (Ctrl-C again stops waiting and says what is left)',
  );
  ctx.life.whatIsLeft = () => leftLines(ctx, id, seen.status);
  try {
    await handle.cancel();
  } catch (err) {
    warn(`could not cancel the cut-over ${id}: ${errorText(err)}; what is left:`);
    for (const line of leftLines(ctx, id, seen.status)) warn(`  ${line}`);
    ctx.life.whatIsLeft = null;
    return;
  }
  let end: Settled | null;
  try {
    end = await follow(ctx, handle, started, seen, true);
  } catch (err) {
    ctx.life.whatIsLeft = null;
    warn(`${errorText(err)} before the kill-switch ended; what is left:`);
    for (const line of leftLines(ctx, id, seen.status)) warn(`  ${line}`);
    return;
  }
  ctx.life.whatIsLeft = null;
  say('');
  if (end && 'result' in end) {
    const { result } = end;
    say(`Cut-over ${id}: ${result.outcome} (cancelled: ${cause})`);
    say(`  reason: ${result.reason}`);
    say(`  production changed: ${result.productionChanged ? `yes (${changeInPlace(result.status)})` : 'no'}`);
    const story = compensationLines(result.status);
    if (story.lines.length > 0) {
      say('');
      for (const line of story.lines) say(line);
      say('');
    }
  } else if (end && 'error' in end) {
    warn(`the cut-over ${id} ended without an outcome: ${errorText(end.error)}`);
  } else {
    say(`Cut-over ${id}: NEEDS_OPERATOR (cancelled: ${cause}); it stays open, waiting for a person`);
    say(`  details: ${seen.status?.details ?? '(no status)'}`);
  }
  for (const line of leftLines(ctx, id, seen.status)) say(`  ${line}`);
}

export async function runCutover(ctx: DemoContext): Promise<CutoverRunOutcome> {
  const { life, client, timings, opts } = ctx;
  const file = planArg(ctx);
  const operator = starter();
  const drill = opts.inject !== null;
  const args = [
    'start',
    '--plan',
    file,
    '--operator',
    operator,
    ...(drill ? ['--break', opts.inject ?? ''] : []),
  ];
  say(`$ cutover ${args.join(' ')}`);
  const t = performance.now();
  const startRun = await life.guard(
    runCli(ctx, [...args, '--json'], { echoStdout: false, echoStderr: true }),
  );
  if (startRun.code !== 0) {
    timings.push({ label: 'cut-over (cutover start)', ms: since(t), note: 'did not start' });
    return { code: 1, workflowId: null };
  }
  const started = JSON.parse(startRun.stdout) as Started;
  say(`  started cut-over ${started.workflowId} (run ${started.runId}) as ${operator}`);
  say(
    `  plan digest ${started.planDigest}${drill ? `; FAULT INJECTION ${opts.inject} after the go (a drill)` : ''}`,
  );
  if (started.uiLink) say(`  Temporal Web UI: ${started.uiLink}`);
  const handle = client.workflow.getHandle(started.workflowId, started.runId, { followRuns: false });

  const seen: Seen = { status: null };
  let ended = false;
  life.add(
    'the cut-over',
    ORDER.RUN,
    async () => {
      if (ended || ctx.serverGone()) return;
      // Only when something other than an interruption or a dying component ended the demo mid-run
      // (those are handled below, before anything stops). Never terminate: past AWAIT_GO the run may
      // have changed production. Cancel it, so its kill-switch runs (in a non-cancellable scope), while
      // the worker still serves it (ORDER.RUN comes first).
      await handle.cancel().catch(() => undefined);
      const settled = await within(
        handle.result().then(
          () => true,
          () => true,
        ),
        120_000,
        false,
      );
      if (!settled) for (const line of leftLines(ctx, started.workflowId, seen.status)) warn(line);
    },
    null,
  );

  let end: Settled;
  try {
    end = (await follow(ctx, handle, started, seen)) as Settled;
  } catch (err) {
    if (!(err instanceof Interrupted) && !(err instanceof ComponentDied)) throw err;
    timings.push({ label: 'cut-over (cutover start)', ms: since(t), note: 'interrupted' });
    await drain(ctx, handle, started, seen, err);
    ended = true;
    throw err;
  }
  ended = true;
  const runMs = since(t);
  say('');
  if ('error' in end) {
    timings.push({ label: 'cut-over (cutover start)', ms: runMs, note: 'ended without an outcome' });
    warn(`the run ended without an outcome: ${errorText(end.error)}`);
    return { code: 1, workflowId: started.workflowId };
  }
  const { result } = end;
  const s = result.status;
  timings.push({ label: `cut-over (cutover start): ${result.outcome}`, ms: runMs });
  timings.push(...phaseTimings(s, opts.runbook.evidencePhases));

  say(`Cut-over ${s.workflowId}: ${result.outcome}${drill ? ` (drill: --break ${opts.inject})` : ''}`);
  const story = compensationLines(s);
  // A compensated run's reason repeats every finding; the story below lists them one per line.
  const oneLine = result.reason.replace(/\s*\n\s*/g, ' ');
  const reason =
    story.lines.length > 0 && oneLine.length > 200
      ? `${oneLine.slice(0, 200)}... (below, one per line)`
      : oneLine;
  say(`  reason: ${reason}`);
  say(`  production changed: ${result.productionChanged ? `yes (${changeInPlace(s)})` : 'no'}`);
  if (s.decision) say(`  decision: ${s.decision.kind} by ${s.decision.operator} ("${s.decision.reason}")`);
  for (const line of validationLines(s, `bucket ${ctx.plan.bucket}`)) say(line);
  if (s.runbook === UPGRADE_KIND) {
    const upgraded = s as UpgradeStatus;
    for (const line of upgradeOutcomeLines(upgraded)) say(line);
    timings.push(...upgradeTimings(upgraded));
  }
  if (story.lines.length > 0) {
    say('');
    for (const line of story.lines) say(line);
  }
  if (story.healMs !== null) timings.push({ label: 'time from detection to healed', ms: story.healMs });
  say('');
  const text = readFileSync(ctx.envFile, 'utf8');
  say(
    `  env file:        ${shown(ctx.envFile)} (${
      text === ctx.envText
        ? 'byte for byte what the demo wrote'
        : result.productionChanged
          ? 'holds the change the cut-over deployed'
          : 'CHANGED since the demo wrote it'
    })`,
  );
  if (started.uiLink) say(`  Temporal Web UI: ${started.uiLink}`);
  const dossier = path.join(ctx.dir, 'dossier.md');
  const page = path.join(ctx.dir, 'dossier.html');
  const [report, html] = await life.guard(
    Promise.all([
      runCli(ctx, ['report', s.workflowId, '--out', dossier], { echoStdout: false, echoStderr: true }),
      runCli(ctx, ['report', s.workflowId, '--format', 'html', '--out', page], {
        echoStdout: false,
        echoStderr: true,
      }),
    ]),
  );
  if (report.code === 0)
    say(`  dossier:         ${shown(dossier)} (${cliCommand(ctx, 'report', s.workflowId)})`);
  else warn(`could not write the dossier (cutover report exited ${report.code})`);
  if (html.code === 0)
    say(`  as one page:     ${shown(page)} (self-contained HTML with plots, for a change ticket)`);
  else warn(`could not write the HTML dossier (cutover report --format html exited ${html.code})`);
  say(`  logs:            ${shown(ctx.logs)}/ (${ctx.logNames.join(', ')})`);
  return { code: exitCodeFor(result.outcome, drill), workflowId: s.workflowId };
}
