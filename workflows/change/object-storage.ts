/**
 * The object-storage steps of a backend flip, shared by the runbooks that make one: the orphan
 * report in CALIBRATE, the retention rule rendered in RENDER, put after the go (its undo pushed
 * first, like every change) and reverted by the kill-switch.
 *
 * Both steps came after the first runs of these workflows were recorded: `patched` keeps those
 * histories replaying (they never took the steps).
 */
import { formatBytes, formatCount } from '../../domain/figures.js';
import { patched } from '@temporalio/workflow';
import type { SharedActivities } from '../../activities/index.js';
import type { ObjectStorageEvidence } from '../../domain/lifecycle.js';
import type { BackendFlipPlan } from '../../domain/runbooks.js';
import type { UndoStack } from '../engine/compensation.js';
import type { Run } from '../engine/run.js';
import { COMPENSATING, QUICK, READS, proxyStep } from '../engine/steps.js';

const OBJECT_STORAGE_PATCH = 'object-storage-steps-v1';

type StorageRun = Run<BackendFlipPlan, ObjectStorageEvidence>;

const step = <K extends keyof SharedActivities & string>(
  name: K,
  summary: string,
  options: Parameters<typeof proxyStep>[2],
) => proxyStep<SharedActivities, K>(name, summary, options);

const steps = {
  reportObjects: step(
    'reportObjects',
    'Lists the objects under the backend prefix against the references in the metadata DB (CALIBRATE).',
    READS,
  ),
  renderLifecycle: step(
    'renderLifecycle',
    'Merges the retention rule into the bucket lifecycle configuration (RENDER).',
    QUICK,
  ),
  applyLifecycle: step('applyLifecycle', 'Puts the merged bucket lifecycle configuration (APPLY).', QUICK),
  revertLifecycle: step(
    'revertLifecycle',
    'Restores the bucket lifecycle configuration as it was (COMPENSATE).',
    {
      startToCloseTimeout: '2m',
      ...COMPENSATING,
    },
  ),
};

function lifecycleOf(plan: BackendFlipPlan) {
  return plan.spec.lifecycle;
}

/** CALIBRATE: what is under the prefix and what the DB still references (read-only evidence). */
export async function reportObjects(run: StorageRun): Promise<void> {
  if (!patched(OBJECT_STORAGE_PATCH)) return;
  run.evidence.objects = await run.step(
    'objects under the backend prefix',
    () => steps.reportObjects({ plan: run.plan }),
    (r) =>
      r.skipped
        ? `not compared: ${r.skipped}`
        : `${formatCount(r.listed.objects)} object(s) under ${r.keyPrefix}: ${formatCount(r.referenced.objects)} referenced, ${formatCount(r.orphaned.objects)} orphaned (${formatBytes(r.orphaned.bytes)})`,
  );
}

/** RENDER: the merged configuration and its diff, when the plan asks for a rule. */
export async function renderLifecycle(run: StorageRun): Promise<void> {
  if (!lifecycleOf(run.plan) || !patched(OBJECT_STORAGE_PATCH)) return;
  run.evidence.lifecycle = await run.step(
    'render the lifecycle rule',
    () => steps.renderLifecycle({ plan: run.plan, objects: run.evidence.objects ?? null }),
    (l) =>
      `${l.changed ? `rule ${l.ruleId} to put` : `bucket already holds rule ${l.ruleId}`}; ${l.before?.length ?? 0} existing rule(s) kept; ${l.warnings.length} warning(s)`,
  );
}

/**
 * Puts the rule when the plan's `when` is `at`. Its undo is pushed first, so a put whose reply
 * was lost is still reverted.
 */
export async function applyLifecycle(
  run: StorageRun,
  undo: UndoStack,
  at: 'before-flip' | 'after-verify',
): Promise<void> {
  const render = run.evidence.lifecycle;
  if (!render || render.when !== at) return;
  undo.push('revert the lifecycle rule', async () => {
    run.evidence.lifecycleReverted = await run.step(
      'revert the lifecycle rule',
      () => steps.revertLifecycle({ plan: run.plan, render }),
      (r) => r.detail,
    );
  });
  run.evidence.lifecycleApplied = await run.step(
    'put the lifecycle rule',
    () => steps.applyLifecycle({ plan: run.plan, render }),
    (a) => a.detail,
  );
}

/** What an approver reads of the rule: the diff of the bucket's configuration and every warning. */
export function lifecycleReviewLines(ev: ObjectStorageEvidence): string[] {
  const lines: string[] = [];
  const o = ev.objects;
  if (o && !o.skipped)
    lines.push(
      `objects under ${o.bucket}/${o.keyPrefix}: ${formatCount(o.listed.objects)} (${formatBytes(o.listed.bytes)}), ${formatCount(o.orphaned.objects)} no longer referenced by the DB (${formatBytes(o.orphaned.bytes)}, oldest ${o.orphaned.oldest ?? '-'})`,
    );
  const l = ev.lifecycle;
  if (!l) return lines;
  lines.push(
    `lifecycle: rule ${l.ruleId} expires ${l.keyPrefix} after ${l.days} days, put ${l.when === 'before-flip' ? 'before the flip' : 'after VERIFY'}; ${l.changed ? 'configuration diff:' : 'the bucket already holds it'}`,
  );
  if (l.changed) lines.push(...l.diff.split('\n').map((d) => `  ${d}`));
  for (const w of l.warnings) lines.push(`lifecycle warning: ${w}`);
  return lines;
}
