/**
 * The real cut-over on the demo's stack: `cutover start`, the evidence as it arrives, the go at
 * AWAIT_GO, the phases that follow, and at the end the outcome, the validation run, the story of
 * a compensation, the Web UI link and the decision dossier (`cutover report --out`).
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { WorkflowHandle } from '@temporalio/client';
import { needsOperatorLines } from '../client/commands/status.js';
import { ProgressPrinter, waitsForHuman } from '../client/commands/watch.js';
import { followRun, type Settled } from '../client/follow.js';
import { queryStatus } from '../client/run-status.js';
import { DEFAULT_TASK_QUEUE } from '../domain/cutover.js';
import type { RunStatus } from '../domain/engine/run.js';
import { answerApproval, approvalMode } from './approval.js';
import { cliCommand, phaseTimings, planArg, runCli, starter, type DemoContext } from './context.js';
import { approvalLines, compensationLines, EvidencePrinter, validationLines } from './evidence.js';
import { ORDER, within } from './lifecycle.js';
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

/** Polls the status until the run ends, printing progress and evidence, answering the go once. */
async function follow(ctx: DemoContext, handle: WorkflowHandle, started: Started): Promise<Settled> {
  const progress = new ProgressPrinter(say);
  const evidence = new EvidencePrinter(say);
  const mode = approvalMode(ctx.opts.yes);
  let question: AbortController | null = null;
  let toldOperator = false;
  let silentWorker = false;
  const end = await followRun(handle, {
    pollMs: POLL_MS,
    deadline: Infinity,
    guard: (wait) => ctx.life.guard(Promise.race([wait, ctx.fatal])),
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
      progress.update(status);
      evidence.update(status);
      const waiting = waitsForHuman(status);
      if (waiting && status.phase === 'AWAIT_GO' && question === null && status.pendingApproval) {
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
      }
      return undefined;
    },
  });
  // Set inside poll(), which TypeScript's flow analysis does not follow.
  (question as AbortController | null)?.abort();
  if (end === null) throw new Error('stopped following before the run settled');
  if ('result' in end) {
    progress.update(end.result.status); // the steps that finished after the last poll
    evidence.update(end.result.status);
  }
  return end;
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

  let ended = false;
  life.add(
    'the cut-over',
    ORDER.RUN,
    async () => {
      if (ended || ctx.serverGone()) return;
      // Interrupted mid-run: end it now. Its Airflow, env file and database are torn down with the
      // demo, so there is nothing for a compensation to protect, and it would take minutes.
      const done = await within(
        Promise.race([
          handle.terminate('the demo was interrupted; its stack is being torn down').then(
            () => true,
            () => false,
          ),
          ctx.server.exited.then(() => false),
        ]),
        3_000,
        false,
      );
      if (done) warn(`terminated the cut-over ${started.workflowId} (the demo was interrupted)`);
    },
    null,
  );

  const end = await follow(ctx, handle, started);
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
  timings.push(...phaseTimings(s));

  say(`Cut-over ${s.workflowId}: ${result.outcome}${drill ? ` (drill: --break ${opts.inject})` : ''}`);
  const story = compensationLines(s);
  // A compensated run's reason repeats every finding; the story below lists them one per line.
  const reason =
    story.lines.length > 0 && result.reason.length > 200
      ? `${result.reason.slice(0, 200)}... (below, one per line)`
      : result.reason;
  say(`  reason: ${reason}`);
  say(`  production changed: ${result.productionChanged ? 'yes (the flip is live)' : 'no'}`);
  if (s.decision) say(`  decision: ${s.decision.kind} by ${s.decision.operator} ("${s.decision.reason}")`);
  for (const line of validationLines(s, `bucket ${ctx.plan.bucket}`)) say(line);
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
          ? 'holds the flip the cut-over deployed'
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
