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
import type { Command } from 'commander';
import type { CutoverInput, CutoverResult, CutoverStatus } from '../../domain/cutover.js';
import { WORKFLOW_TYPE } from '../../domain/cutover.js';
import { durationMs } from '../../domain/duration.js';
import type { CheckRow } from '../../domain/evidence.js';
import { loadPlan, planDigest } from '../../domain/plan-file.js';
import type { Plan } from '../../domain/plan.js';
import { targetKey } from '../../domain/plan-key.js';
import type { xcomBackendCutover } from '../../workflows/xcom/workflow.js';
import { PHASE, PLAN, TARGET } from '../../workflows/engine/search-attributes.js';
import { messageOf, type CliContext } from '../context.js';
import { CliError, EXIT } from '../exit-codes.js';
import { command, keyValues, table } from '../format.js';
import { queryStatus } from '../run-status.js';
import { DRY_RUN_ID_PREFIX } from '../visibility.js';
import { ProgressPrinter } from './watch.js';

interface PlanOptions {
  json?: boolean;
  /** false with --no-rehearsal */
  rehearsal: boolean;
  operator?: string;
  timeout: string;
}

const POLL_MS = 1000;

/** `cutover-plan/<target key>/<plan name>/<6 hex>`: unique per dry run. */
export function dryRunWorkflowId(plan: Plan, suffix = randomBytes(3).toString('hex')): string {
  return `${DRY_RUN_ID_PREFIX}${targetKey(plan)}/${plan.name}/${suffix}`;
}

const bytes = (n: number | null | undefined): string =>
  n === null || n === undefined ? '-' : `${n.toLocaleString('en-US')} B`;
const yesNo = (b: boolean): string => (b ? 'yes' : 'NO');
const gateWord = (g: { passed: boolean } | undefined | null): string =>
  !g ? '' : g.passed ? 'green' : 'RED';

function failedSteps(status: CutoverStatus, phase: string): string[] {
  return status.steps
    .filter((s) => s.phase === phase && s.status === 'failed')
    .map((s) => `   [FAILED] ${s.step}: ${s.summary}`);
}

/** The dry run's evidence for a terminal: compact, section by section, red rows first-class. */
export function renderPlanEvidence(result: CutoverResult, file = '<file>'): string[] {
  const s = result.status;
  const ev = s.evidence;
  const out: string[] = [];
  const notReached = (phase: string) => {
    const failed = failedSteps(s, phase);
    out.push(...(failed.length > 0 ? failed : ['   not reached']));
  };

  out.push(
    `Dry run of plan ${s.planName} on ${s.target}: ${result.outcome}`,
    ...keyValues([
      ['workflow', s.workflowId],
      ['plan digest', s.planDigest],
      ['production changed', result.productionChanged ? 'YES' : 'no'],
    ]),
    '',
  );

  const c = ev.calibration;
  out.push(
    `1. CALIBRATE ${c ? `${gateWord(c.gate)} (${c.source === 'in-pod' ? 'in-pod' : 'metadata DB'})` : ''}`.trimEnd(),
  );
  if (!c) notReached('CALIBRATE');
  else {
    out.push(
      ...table(
        ['XCom rows', 'p50', 'p95', 'p99', 'p99.9', 'max'],
        [
          [
            c.rowCount.toLocaleString('en-US'),
            bytes(c.sizeBytes.p50),
            bytes(c.sizeBytes.p95),
            bytes(c.sizeBytes.p99),
            bytes(c.sizeBytes.p999),
            bytes(c.sizeBytes.max),
          ],
        ],
        '   ',
      ),
      ...table(
        ['rows > 48 KB', '> 100 KB', '> 1 MB'],
        [[c.rowsAbove['48KB'], c.rowsAbove['100KB'], c.rowsAbove['1MB']]],
        '   ',
      ),
      `   threshold proposed: ${bytes(c.proposal.thresholdBytes)} (${c.proposal.strategy}: ${c.proposal.rationale})`,
      `   historical rows that would offload: ${c.projectedOffloadRows} (plan allows ${c.maxOffloadRows})`,
    );
    if (c.ramp)
      out.push(
        `   ramp starts at ${bytes(c.ramp.startBytes)}: ${c.ramp.projectedOffloadRows} historical rows would offload`,
      );
    if (c.topProducers.length > 0)
      out.push(
        `   largest producers: ${c.topProducers.map((p) => `${p.dagId}.${p.taskId} ${p.rows} rows (max ${bytes(p.maxBytes)})`).join(', ')}`,
      );
    for (const r of c.gate.reasons) out.push(`   RED: ${r}`);
  }
  out.push('');

  const pf = ev.preflight;
  out.push(`2. PREFLIGHT ${pf ? gateWord(pf.gate) : ''}`.trimEnd());
  if (!pf) notReached('PREFLIGHT');
  else {
    const mark = (r: CheckRow) => (r.status === 'green' ? 'green' : r.status.toUpperCase());
    out.push(
      ...table(
        ['status', 'check', 'ms', 'detail'],
        pf.checks.map((r) => [mark(r), r.name, r.durationMs, r.detail]),
        '   ',
      ),
    );
  }
  out.push('');

  const ch = ev.change;
  const dest = ev.preview ? ` -> ${ev.preview.destination}` : '';
  out.push(`3. CHANGE${ch ? ` (lint ${ch.lint.passed ? 'clean' : 'FAILED'})${dest}` : ''}`);
  if (!ch) notReached('RENDER');
  else {
    for (const stage of ch.stages) {
      out.push(`   stage ${stage.label} (threshold ${bytes(stage.thresholdBytes)}):`);
      for (const [k, v] of Object.entries(stage.env)) out.push(`     ${k}=${v}`);
    }
    for (const f of ch.lint.findings)
      out.push(`   LINT: ${f.variable}: ${f.problem}${f.suggestion ? ` (use ${f.suggestion})` : ''}`);
    if (ev.preview) {
      if (ev.preview.diff === '') out.push('   diff: none (the destination already holds this change)');
      else {
        out.push('   diff against what is live:');
        for (const line of ev.preview.diff.replace(/\n$/, '').split('\n')) out.push(`     ${line}`);
      }
    } else out.push(...failedSteps(s, 'RENDER'));
  }
  out.push('');

  const r = ev.rehearsal;
  out.push(`4. REHEARSAL ${r ? gateWord(r.gate) : ''}`.trimEnd());
  if (!r) {
    const skipped = result.outcome === 'PLANNED' && !s.steps.some((x) => x.phase === 'REHEARSE');
    if (skipped) out.push('   skipped (--no-rehearsal)');
    else notReached('REHEARSE');
  } else {
    out.push(
      ...keyValues(
        [
          ['sentinel', `${bytes(r.valueBytes)} -> ${r.objectPath || '(no object)'}`],
          ['offloaded', yesNo(r.offloaded)],
          ['revert breaks reads', yesNo(r.breakConfirmed)],
          ['round trip intact', yesNo(r.roundTripIntact)],
          ['re-run heals', yesNo(r.healConfirmed)],
          ['sentinel cleaned', yesNo(r.sentinelCleaned)],
          [
            'timings',
            Object.entries(r.timingsMs)
              .map(([k, v]) => `${k} ${v} ms`)
              .join(', '),
          ],
        ],
        '   ',
      ),
    );
    for (const reason of r.gate.reasons) out.push(`   RED: ${reason}`);
  }
  out.push('');

  // The preflight row that says whether this worker could carry a real run past the go.
  const cannotDeploy = result.status.evidence.preflight?.checks.find(
    (c) => c.name === 'worker can deploy, verify, validate and revert' && c.status !== 'green',
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

type Settled = { result: CutoverResult } | { error: unknown };

/** Waits for the result, printing progress lines through `progress` (when given) while it runs. */
async function waitForResult(
  ctx: CliContext,
  handle: WorkflowHandle,
  taskQueue: string,
  timeoutMs: number,
  progress: ProgressPrinter | null,
): Promise<Settled | null> {
  const client = await ctx.client();
  const state: { settled: Settled | null; wake: (() => void) | null } = { settled: null, wake: null };
  void handle.result().then(
    (result: CutoverResult) => {
      state.settled = { result };
      state.wake?.();
    },
    (error: unknown) => {
      state.settled = { error };
      state.wake?.();
    },
  );
  const deadline = Date.now() + timeoutMs;
  let silentWorker = false;
  while (state.settled === null && Date.now() < deadline) {
    if (progress) {
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
    }
    if (state.settled !== null) break;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, Math.min(POLL_MS, Math.max(0, deadline - Date.now())));
      state.wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }
  return state.settled;
}

export function registerPlan(program: Command, ctx: CliContext): void {
  program
    .command('plan')
    .description(
      'dry run: calibrate, preflight, render + diff and rehearse a plan, print the evidence, change nothing',
    )
    .argument('<file>', 'plan file (YAML); checked before anything starts')
    .option('--json', 'print the result record {outcome, reason, productionChanged, status}')
    .option('--no-rehearsal', 'skip the kill-switch rehearsal (it writes and deletes one sentinel object)')
    .option('--operator <name>', 'who runs the dry run (default: $CUTOVER_OPERATOR, then $USER)')
    .option('--timeout <duration>', 'give up after this long and cancel the dry run (exit 1)', '30m')
    .action(async (file: string, opts: PlanOptions) => {
      const plan = await loadPlan(file);
      let timeoutMs: number;
      try {
        timeoutMs = durationMs(/^\d+$/.test(opts.timeout) ? Number(opts.timeout) : opts.timeout);
      } catch {
        throw new CliError(EXIT.BAD_INPUT, `--timeout ${opts.timeout} is not a duration like 90s, 15m or 2h`);
      }
      const digest = planDigest(plan);
      const target = targetKey(plan);
      const workflowId = dryRunWorkflowId(plan);
      const startedBy = opts.operator?.trim() || ctx.operatorFromEnv || 'unknown';
      const input: CutoverInput = {
        plan,
        planDigest: digest,
        startedBy,
        dryRun: true,
        ...(opts.rehearsal ? {} : { skipRehearsal: true }),
      };
      const { taskQueue } = ctx.settings;

      const client = await ctx.client();
      const handle = await client.workflow.start<typeof xcomBackendCutover>(WORKFLOW_TYPE, {
        taskQueue,
        workflowId,
        args: [input],
        workflowIdConflictPolicy: 'FAIL',
        typedSearchAttributes: [
          { key: TARGET, value: target },
          { key: PLAN, value: plan.name },
          { key: PHASE, value: 'CALIBRATE' },
        ],
        staticSummary: `Dry run of XCom backend cut-over ${plan.name} on ${target}`,
        staticDetails: `Dry run (\`cutover plan\`) of **${plan.name}** (digest \`${digest}\`) by **${startedBy}** from \`${file}\`${opts.rehearsal ? '' : ', rehearsal skipped'}: evidence only, never reaches APPLY.`,
      });
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
          throw new CliError(
            EXIT.NEGATIVE,
            `the dry run ended without an outcome: ${messageOf(settled.error)}`,
          );
        throw settled.error;
      }
      const { result } = settled;
      progress?.update(result.status); // the steps that finished after the last poll
      if (opts.json) ctx.json(result);
      else ctx.out(...renderPlanEvidence(result, file));
      ctx.exitCode = result.outcome === 'PLANNED' ? EXIT.OK : EXIT.NEGATIVE;
    });
}
