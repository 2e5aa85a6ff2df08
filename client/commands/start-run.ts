/**
 * `cutover start --plan FILE`: validate the plan, refuse a second cut-over of
 * the same target, start the workflow, and tell the operator what to run next.
 */
import { randomBytes } from 'node:crypto';
import { WorkflowExecutionAlreadyStartedError, WorkflowFailedError, type Client } from '@temporalio/client';
import { requiresSignatures } from '../../domain/engine/allowed-signers.js';
import type { RunInput, RunResult } from '../../domain/engine/run.js';
import { startMessage, type StartSignature } from '../../domain/engine/signed-message.js';
import { planDigest } from '../../domain/plan-file.js';
import { loadPlanChecked } from '../plan-load.js';
import { assessmentWorkflowId, targetKey, workflowIdFor } from '../../domain/plan-key.js';
import { runbookOf, type AnyPlan, type LoadablePlan } from '../../domain/runbooks.js';
import { LOCKS, PHASE, PLAN, RUNBOOK, TARGET } from '../../workflows/engine/search-attributes.js';
import { messageOf, type CliContext } from '../context.js';
import { CliError, EXIT } from '../exit-codes.js';
import { samplePercentOption } from '../sample-option.js';
import { command, keyValues } from '../format.js';
import { runTexts } from '../run-texts.js';
import { planLockKeys } from '../locks.js';
import { signFor } from '../signing.js';
import { runningHolding } from '../visibility.js';

export interface StartOptions {
  plan: string;
  key?: string;
  id?: boolean;
  wait?: boolean;
  operator?: string;
  json?: boolean;
  break?: string;
  sample?: string;
}

/** Outcomes a script may treat as success. */
export const GOOD_OUTCOMES: readonly string[] = ['DONE', 'PLANNED', 'ASSESSED'];

function alreadyRunning(workflowId: string, target: string, runId?: string, shared: string[] = []): CliError {
  return new CliError(
    EXIT.REFUSED,
    `refused: cut-over ${workflowId}${runId ? ` (run ${runId})` : ''} is already running on target ${target}` +
      `${shared.length > 0 ? ` and changes ${shared.join(', ')}` : ''}; ` +
      `follow it with: ${command('cutover', 'watch', workflowId)}`,
  );
}

/**
 * One cut-over at a time on what it changes: refuse while a running one holds any of this plan's lock
 * keys (the env file, the release, the values file...), whatever the plans are named. A dry run
 * (`cutover plan`) does not count.
 */
async function refuseIfTargetBusy(client: Client, target: string, locks: string[]): Promise<void> {
  // Visibility is eventually consistent: a run started moments ago may not be listed yet. The
  // workflow-id conflict policy at start closes that gap for the same plan; this query is what
  // catches a different plan that changes the same things.
  for await (const info of client.workflow.list({ query: runningHolding(locks, target), pageSize: 10 })) {
    const theirs = info.typedSearchAttributes.get(LOCKS) ?? [];
    const theirTarget = info.typedSearchAttributes.get(TARGET) ?? target;
    throw alreadyRunning(
      info.workflowId,
      theirTarget,
      info.runId,
      locks.filter((k) => theirs.includes(k)),
    );
  }
}

export async function runStartCommand(ctx: CliContext, opts: StartOptions): Promise<void> {
  const { plan } = await loadPlanChecked(opts.plan);
  const runbook = runbookOf(plan.kind);
  if (!runbook) throw new CliError(EXIT.BAD_INPUT, `${opts.plan}: no runbook for kind ${plan.kind}`);
  if (opts.break && !runbook.faultInjections.includes(opts.break)) {
    throw new CliError(
      EXIT.BAD_INPUT,
      `--break ${opts.break}: the ${plan.kind} runbook knows ${runbook.faultInjections.join(', ') || 'no drills'}`,
    );
  }
  const samplePercent = samplePercentOption(opts.sample, plan.kind);
  const digest = planDigest(plan);
  // A read-only run is never "the cut-over" of its target: its own id, and no busy check either way.
  const workflowId = runbook.readOnly
    ? assessmentWorkflowId(plan, randomBytes(3).toString('hex'))
    : workflowIdFor(plan);
  const target = targetKey(plan);
  const startedBy = opts.operator?.trim() || ctx.operatorFromEnv;
  if (!startedBy) {
    throw new CliError(
      EXIT.BAD_INPUT,
      'who is starting this cut-over? pass --operator NAME (or set CUTOVER_OPERATOR)',
    );
  }
  const signers = 'approval' in plan ? plan.approval?.allowedSigners : undefined;
  let startSignature: StartSignature | undefined;
  if (requiresSignatures(signers)) {
    // Signed before the run exists: the text binds the workflow id, the digest and the time instead.
    const signedAt = new Date().toISOString();
    const signature = await signFor({
      signers: signers ?? [],
      principal: startedBy,
      message: startMessage({ workflowId, planDigest: digest, principal: startedBy, signedAt }),
      keyFile: opts.key,
      env: ctx.io.env,
      what: 'the start',
    });
    startSignature = { signature, signedAt };
  } else if (opts.key) {
    ctx.note(`--key ignored: ${opts.plan} lists no approval.allowedSigners, so nothing checks a signature`);
  }
  const input: RunInput<LoadablePlan> = {
    plan,
    planDigest: digest,
    startedBy,
    ...(startSignature ? { startSignature } : {}),
    ...(opts.break ? { inject: opts.break } : {}),
    ...(samplePercent === undefined ? {} : { calibrationSamplePercent: samplePercent }),
  };
  const { taskQueue } = ctx.settings;

  const client = await ctx.client();
  const locks = runbook.readOnly ? [] : await planLockKeys(plan as AnyPlan);
  if (!runbook.readOnly) await refuseIfTargetBusy(client, target, locks);
  let handle;
  try {
    handle = await client.workflow.start<(input: RunInput<LoadablePlan>) => Promise<RunResult>>(
      runbook.workflowType,
      {
        taskQueue,
        workflowId,
        args: [input],
        // A running cut-over with this id is never replaced or joined; a closed one may be followed by a new run.
        workflowIdConflictPolicy: 'FAIL',
        workflowIdReusePolicy: 'ALLOW_DUPLICATE',
        typedSearchAttributes: [
          { key: TARGET, value: target },
          { key: PLAN, value: plan.name },
          { key: PHASE, value: runbook.firstPhase },
          { key: RUNBOOK, value: plan.kind },
          ...(locks.length > 0 ? [{ key: LOCKS, value: locks }] : []),
        ],
        ...runTexts({
          plan,
          planDigest: digest,
          startedBy,
          planFile: opts.plan,
          workflowId,
          mode: 'run',
          ...(opts.break ? { inject: opts.break } : {}),
        }),
      },
    );
  } catch (err) {
    if (err instanceof WorkflowExecutionAlreadyStartedError) throw alreadyRunning(workflowId, target);
    throw err;
  }
  const runId = handle.firstExecutionRunId;
  const uiLink = ctx.uiLink(workflowId, runId);

  if (opts.id) ctx.out(workflowId);
  else if (!opts.json && runbook.readOnly) {
    ctx.out(
      `started ${runbook.title.split(' (')[0]?.toLowerCase() ?? 'read-only run'} ${workflowId}`,
      ...keyValues([
        ['run id', runId],
        ['target', target],
        ['Web UI', uiLink ?? '(set CUTOVER_UI_URL for a link)'],
      ]),
      'next:',
      `  ${command('cutover', 'report', workflowId)}`,
    );
  } else if (!opts.json) {
    ctx.out(
      `started cut-over ${workflowId}`,
      ...keyValues([
        ['run id', runId],
        ['plan digest', digest],
        ['target', target],
        ['started by', `${startedBy}${startSignature ? ' (start signed)' : ''}`],
        ['task queue', taskQueue],
        ['Web UI', uiLink ?? '(set CUTOVER_UI_URL for a link)'],
      ]),
      'next:',
      `  ${command('cutover', 'watch', workflowId)}`,
      `  ${command('cutover', 'approve', workflowId, '--operator', '<name>', '--reason', '"<why>"', '--digest', digest, ...(startSignature ? ['--key', '<your key>'] : []))}`,
    );
  }
  if (!opts.wait) {
    if (opts.json) ctx.json({ workflowId, runId, planDigest: digest, uiLink });
    return;
  }

  if (!opts.id && !opts.json)
    ctx.note('waiting for the run to finish (it stops at AWAIT_GO until an approver says go)...');
  let result: RunResult;
  try {
    result = (await handle.result()) as RunResult;
  } catch (err) {
    if (err instanceof WorkflowFailedError) {
      if (opts.json)
        ctx.json({
          workflowId,
          runId,
          planDigest: digest,
          uiLink,
          outcome: null,
          reason: messageOf(err),
        });
      throw new CliError(EXIT.NEGATIVE, `the run ended without an outcome: ${messageOf(err)}`);
    }
    throw err;
  }
  if (opts.json)
    ctx.json({
      workflowId,
      runId,
      planDigest: digest,
      uiLink,
      outcome: result.outcome,
      reason: result.reason,
    });
  else if (!opts.id) ctx.out(`outcome: ${result.outcome}: ${result.reason}`);
  ctx.exitCode = GOOD_OUTCOMES.includes(result.outcome) ? EXIT.OK : EXIT.NEGATIVE;
}
