/**
 * `cutover assess --plan FILE`: the deployment health assessment, read-only. Starts the plan's
 * DeploymentAssessment run under `cutover-assess/<target>/<plan>/<random>` (never "the cut-over"
 * of the target: it neither blocks nor waits for one), follows it, prints the verdict, the
 * component table and the findings. Exit 0 for OPERATIONAL, 1 for DEGRADED or DOWN.
 */
import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import {
  ScheduleAlreadyRunning,
  ScheduleNotFoundError,
  ScheduleOverlapPolicy,
  WorkflowFailedError,
} from '@temporalio/client';
import { ASSESSMENT_KIND } from '../../domain/assessment/kind.js';
import type { AssessmentEvidence } from '../../domain/assessment/run.js';
import { durationMs } from '../../domain/duration.js';
import type { RunInput, RunResult } from '../../domain/engine/run.js';
import { planDigest } from '../../domain/plan-file.js';
import { loadPlanChecked } from '../plan-load.js';
import { ASSESSMENT_ID_PREFIX, assessmentWorkflowId, targetKey } from '../../domain/plan-key.js';
import { runbookOf, type LoadablePlan } from '../../domain/runbooks.js';
import { PHASE, PLAN, RUNBOOK, TARGET } from '../../workflows/engine/search-attributes.js';
import { assessmentLines } from '../assessment/summary.js';
import { messageOf, type CliContext } from '../context.js';
import { CliError, EXIT } from '../exit-codes.js';
import { command } from '../format.js';
import { runTexts } from '../run-texts.js';
import { renderDossier } from '../dossier.js';
import { waitForResult } from './plan-run.js';
import { ProgressPrinter } from './watch-run.js';

export interface AssessOptions {
  plan: string;
  json?: boolean;
  out?: string;
  operator?: string;
  timeout: string;
  every?: string;
  unschedule?: boolean;
}

/** The Schedule of a plan's recurring assessment: one per target and plan. */
export function assessmentScheduleId(plan: Pick<LoadablePlan, 'name' | 'target'>): string {
  return `${ASSESSMENT_ID_PREFIX}${targetKey(plan)}/${plan.name}`;
}

function parseDuration(flag: string, value: string): number {
  try {
    return durationMs(/^\d+$/.test(value) ? Number(value) : value);
  } catch {
    throw new CliError(EXIT.BAD_INPUT, `${flag} ${value} is not a duration like 90s, 15m or 2h`);
  }
}

export async function runAssess(ctx: CliContext, opts: AssessOptions): Promise<void> {
  const { plan } = await loadPlanChecked(opts.plan);
  const runbook = runbookOf(plan.kind);
  if (!runbook?.readOnly)
    throw new CliError(
      EXIT.BAD_INPUT,
      `${opts.plan}: kind ${plan.kind} changes production; assess takes a ${ASSESSMENT_KIND} plan (cutover plan runs a change's evidence read-only)`,
    );
  const timeoutMs = parseDuration('--timeout', opts.timeout);
  const everyMs = opts.every === undefined ? null : parseDuration('--every', opts.every);
  if (everyMs !== null && everyMs < 60_000)
    throw new CliError(EXIT.BAD_INPUT, `--every ${opts.every}: a schedule runs at most once a minute`);
  const target = targetKey(plan);
  const workflowId = assessmentWorkflowId(plan, randomBytes(3).toString('hex'));
  const startedBy = opts.operator?.trim() || ctx.operatorFromEnv || 'unknown';
  const input: RunInput<LoadablePlan> = { plan, planDigest: planDigest(plan), startedBy };
  const { taskQueue } = ctx.settings;
  const client = await ctx.client();
  const scheduleId = assessmentScheduleId(plan);
  if (opts.unschedule) {
    try {
      await client.schedule.getHandle(scheduleId).delete();
    } catch (err) {
      if (err instanceof ScheduleNotFoundError)
        throw new CliError(EXIT.NOT_FOUND, `no assessment schedule ${scheduleId}`);
      throw err;
    }
    if (opts.json) ctx.json({ scheduleId, deleted: true });
    else ctx.out(`deleted the assessment schedule ${scheduleId}`);
    return;
  }
  const searchAttributes = [
    { key: TARGET, value: target },
    { key: PLAN, value: plan.name },
    { key: PHASE, value: runbook.firstPhase },
    { key: RUNBOOK, value: plan.kind },
  ];
  const textsInput = { plan, planDigest: input.planDigest, startedBy, planFile: opts.plan };
  if (everyMs !== null) {
    const action = {
      type: 'startWorkflow' as const,
      workflowType: runbook.workflowType,
      args: [{ ...input, scheduleId }],
      taskQueue,
      // Temporal appends each run's time to this id.
      workflowId: `${scheduleId}/scheduled`,
      typedSearchAttributes: searchAttributes,
      ...runTexts({ ...textsInput, workflowId: scheduleId, mode: 'scheduled' }),
    };
    const spec = { intervals: [{ every: everyMs }] };
    let replaced = false;
    try {
      await client.schedule.create({
        scheduleId,
        spec,
        action,
        // A slow assessment is never run twice at once; missed slots while the server was down are skipped.
        policies: { overlap: ScheduleOverlapPolicy.SKIP, catchupWindow: '1m' },
        state: {
          triggerImmediately: true,
          note: `cutover assess --every ${opts.every ?? ''} by ${startedBy}`,
        },
      });
    } catch (err) {
      if (!(err instanceof ScheduleAlreadyRunning)) throw err;
      const h = client.schedule.getHandle(scheduleId);
      await h.update((prev) => ({ ...prev, spec, action }));
      await h.trigger();
      replaced = true;
    }
    if (opts.json) ctx.json({ scheduleId, every: opts.every, replaced });
    else
      ctx.out(
        `${replaced ? 'updated' : 'created'} the assessment schedule ${scheduleId}: one run now, then every ${opts.every}`,
        `a message goes to the worker's webhook only when the verdict or the set of findings changes`,
        `runs: ${command('cutover', 'list', '--all', '--runbook', plan.kind, '--target', target)}`,
        `stop it: ${command('cutover', 'assess', '--plan', opts.plan, '--unschedule')}`,
      );
    return;
  }
  const handle = await client.workflow.start<(input: RunInput<LoadablePlan>) => Promise<RunResult>>(
    runbook.workflowType,
    {
      taskQueue,
      workflowId,
      args: [input],
      workflowIdConflictPolicy: 'FAIL',
      typedSearchAttributes: searchAttributes,
      ...runTexts({ ...textsInput, workflowId, mode: 'run' }),
    },
  );
  if (!opts.json) ctx.note(`assessment ${workflowId} started on task queue ${taskQueue}...`);
  const progress = opts.json ? null : new ProgressPrinter((line) => ctx.note(line));
  const settled = await waitForResult(ctx, handle, taskQueue, timeoutMs, progress);
  if (settled === null) {
    await handle.cancel().catch(() => undefined);
    throw new CliError(
      EXIT.NEGATIVE,
      `no result within ${opts.timeout} (is a worker polling task queue ${taskQueue}?); the assessment ${workflowId} was cancelled`,
    );
  }
  if ('error' in settled) {
    if (settled.error instanceof WorkflowFailedError)
      throw new CliError(
        EXIT.NEGATIVE,
        `the assessment ended without an outcome: ${messageOf(settled.error)}`,
      );
    throw settled.error;
  }
  const { result } = settled;
  progress?.update(result.status);
  if (opts.out) {
    try {
      await writeFile(
        opts.out,
        renderDossier(result.status, /\.html?$/i.test(opts.out) ? 'html' : 'markdown'),
      );
    } catch (err) {
      throw new CliError(
        EXIT.BAD_INPUT,
        `cannot write ${opts.out}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`,
      );
    }
  }
  if (opts.json) ctx.json(result);
  else {
    for (const section of assessmentLines(result)) ctx.out(...section.lines);
    ctx.out(
      '',
      `${result.outcome}: ${result.reason}`,
      opts.out ? `the document: ${opts.out}` : `the document: ${command('cutover', 'report', workflowId)}`,
    );
  }
  const verdict = (result.status.evidence as AssessmentEvidence).assessment?.verdict;
  ctx.exitCode = result.outcome === 'ASSESSED' && verdict === 'OPERATIONAL' ? EXIT.OK : EXIT.NEGATIVE;
}
