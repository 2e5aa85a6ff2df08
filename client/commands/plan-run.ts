/**
 * `cutover plan FILE`: the dry run. Validates the plan, runs the workflow with
 * `dryRun: true` (CALIBRATE, PREFLIGHT, RENDER + diff, REHEARSE; never AWAIT_GO
 * or APPLY), waits for it and prints the evidence. Exit 0 for PLANNED, 1 otherwise.
 *
 * A dry run has its own workflow id, `cutover-plan/<target>/<plan>/<random>`: it never
 * collides with `cutover/<target>/<plan>`, and `start`'s one-cut-over-per-target
 * check leaves it out (client/visibility.ts), so a dry run neither blocks nor is
 * blocked by a real cut-over.
 */
import { randomBytes } from 'node:crypto';
import { WorkflowFailedError, type WorkflowHandle } from '@temporalio/client';
import { durationMs } from '../../domain/duration.js';
import { WORKER_CAN_DEPLOY_CHECK, type CheckRow } from '../../domain/engine/evidence.js';
import type { PlanEnvelope } from '../../domain/engine/plan.js';
import type { RunInput, RunResult, RunStatus } from '../../domain/engine/run.js';
import { planDigest } from '../../domain/plan-file.js';
import { loadPlanChecked } from '../plan-load.js';
import { targetKey } from '../../domain/plan-key.js';
import { runbookOf, type LoadablePlan } from '../../domain/runbooks.js';
import { PHASE, PLAN, RUNBOOK, TARGET } from '../../workflows/engine/search-attributes.js';
import { clientRunbook } from '../runbooks.js';
import { messageOf, type CliContext } from '../context.js';
import { CliError, EXIT } from '../exit-codes.js';
import { samplePercentOption } from '../sample-option.js';
import { command, keyValues } from '../format.js';
import { runTexts } from '../run-texts.js';
import { queryStatus } from '../run-status.js';
import { DRY_RUN_ID_PREFIX } from '../visibility.js';
import { followRun, type Settled } from '../follow.js';
import { ProgressPrinter } from './watch-run.js';

export interface PlanOptions {
  json?: boolean;
  /** false with --no-rehearsal */
  rehearsal: boolean;
  operator?: string;
  timeout: string;
  sample?: string;
}

const POLL_MS = 1000;

/** `cutover-plan/<target key>/<plan name>/<6 hex>`: unique per dry run. */
export function dryRunWorkflowId(
  plan: Pick<PlanEnvelope, 'name' | 'target'>,
  suffix = randomBytes(3).toString('hex'),
): string {
  return `${DRY_RUN_ID_PREFIX}${targetKey(plan)}/${plan.name}/${suffix}`;
}

/** The dry run's evidence for a terminal: compact, section by section, red rows first-class. */
export function renderPlanEvidence(result: RunResult, file = '<file>'): string[] {
  const s = result.status;
  const out: string[] = [];

  out.push(
    `Dry run of plan ${s.planName} on ${s.target}: ${result.outcome}`,
    ...keyValues([
      ['workflow', s.workflowId],
      ['plan digest', s.planDigest],
      ['production changed', result.productionChanged ? 'YES' : 'no'],
    ]),
    '',
  );

  for (const section of clientRunbook(s.runbook).dryRun(result)) out.push(...section.lines, '');

  // The preflight row that says whether this worker could carry a real run past the go.
  const cannotDeploy = preflightChecks(result.status).find(
    (c) => c.id === WORKER_CAN_DEPLOY_CHECK && c.status !== 'green',
  );
  if (result.outcome === 'PLANNED' && cannotDeploy) {
    out.push('PLANNED: the evidence is complete and nothing was changed.');
    out.push(`A real cut-over would stop at PREFLIGHT on this worker: ${cannotDeploy.detail}.`);
  } else if (result.outcome === 'PLANNED') {
    out.push(`PLANNED: the evidence is complete and nothing was changed. To run it for real:`);
    out.push(`  ${command('cutover', 'start', '--plan', file)}`);
  } else {
    // The reason names the red gate rows (or the step that could not run); the sections above show them in place.
    out.push(`${result.outcome}: ${result.reason}`);
  }
  return out;
}

/** Waits for the result, printing progress lines through `progress` (when given) while it runs. */
export async function waitForResult(
  ctx: CliContext,
  handle: WorkflowHandle,
  taskQueue: string,
  timeoutMs: number,
  progress: ProgressPrinter | null,
): Promise<Settled | null> {
  const client = await ctx.client();
  const deadline = Date.now() + timeoutMs;
  let silentWorker = false;
  return followRun(handle, {
    pollMs: POLL_MS,
    deadline,
    async poll() {
      if (!progress) return undefined;
      try {
        const left = Math.max(500, Math.min(5_000, deadline - Date.now()));
        progress.update(await queryStatus(client, handle, taskQueue, left));
        silentWorker = false;
      } catch (err) {
        const e = ctx.classify(err);
        if (e.exitCode !== EXIT.UNREACHABLE) throw e;
        if (!silentWorker) ctx.note(`cutover: ${e.message} (still waiting)`);
        silentWorker = true;
      }
    },
  });
}

export async function runPlan(ctx: CliContext, file: string, opts: PlanOptions): Promise<void> {
  const { plan } = await loadPlanChecked(file);
  const runbook = runbookOf(plan.kind);
  if (!runbook) throw new CliError(EXIT.BAD_INPUT, `${file}: no runbook for kind ${plan.kind}`);
  let timeoutMs: number;
  try {
    timeoutMs = durationMs(/^\d+$/.test(opts.timeout) ? Number(opts.timeout) : opts.timeout);
  } catch {
    throw new CliError(EXIT.BAD_INPUT, `--timeout ${opts.timeout} is not a duration like 90s, 15m or 2h`);
  }
  const samplePercent = samplePercentOption(opts.sample, plan.kind);
  const digest = planDigest(plan);
  const target = targetKey(plan);
  const workflowId = dryRunWorkflowId(plan);
  const startedBy = opts.operator?.trim() || ctx.operatorFromEnv || 'unknown';
  const input: RunInput<LoadablePlan> = {
    plan,
    planDigest: digest,
    startedBy,
    dryRun: true,
    ...(opts.rehearsal ? {} : { skipRehearsal: true }),
    ...(samplePercent === undefined ? {} : { calibrationSamplePercent: samplePercent }),
  };
  const { taskQueue } = ctx.settings;

  const client = await ctx.client();
  const handle = await client.workflow.start<(input: RunInput<LoadablePlan>) => Promise<RunResult>>(
    runbook.workflowType,
    {
      taskQueue,
      workflowId,
      args: [input],
      workflowIdConflictPolicy: 'FAIL',
      typedSearchAttributes: [
        { key: TARGET, value: target },
        { key: PLAN, value: plan.name },
        { key: PHASE, value: runbook.firstPhase },
        { key: RUNBOOK, value: plan.kind },
      ],
      ...runTexts({ plan, planDigest: digest, startedBy, planFile: file, workflowId, mode: 'dry-run' }),
    },
  );
  if (!opts.json) {
    ctx.note(`dry run ${workflowId} started on task queue ${taskQueue}; gathering evidence...`);
    const link = ctx.uiLink(workflowId, handle.firstExecutionRunId);
    if (link) ctx.note(`  Web UI: ${link}`);
  }

  const progress = opts.json ? null : new ProgressPrinter((line) => ctx.note(line));
  const settled = await waitForResult(ctx, handle, taskQueue, timeoutMs, progress);
  if (settled === null) {
    await handle.cancel().catch(() => undefined);
    throw new CliError(
      EXIT.NEGATIVE,
      `no result within ${opts.timeout} (is a worker polling task queue ${taskQueue}?); the dry run ${workflowId} was cancelled`,
    );
  }
  if ('error' in settled) {
    if (settled.error instanceof WorkflowFailedError)
      throw new CliError(EXIT.NEGATIVE, `the dry run ended without an outcome: ${messageOf(settled.error)}`);
    throw settled.error;
  }
  const { result } = settled;
  progress?.update(result.status); // the steps that finished after the last poll
  if (opts.json) ctx.json(result);
  else ctx.out(...renderPlanEvidence(result, file));
  ctx.exitCode = result.outcome === 'PLANNED' ? EXIT.OK : EXIT.NEGATIVE;
}

/** The preflight rows of any runbook's evidence (every runbook that checks keeps them as `preflight`). */
function preflightChecks(status: RunStatus): CheckRow[] {
  const ev = status.evidence as { preflight?: { checks?: CheckRow[] } | null } | null;
  return ev?.preflight?.checks ?? [];
}
