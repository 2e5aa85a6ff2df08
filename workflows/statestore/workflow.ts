/**
 * stateStoreBackendCutover: Airflow 3.3's task and asset state routed through
 * object storage (StateStoreObjectStorageBackend via [workers]
 * state_store_backend), as one durable workflow on the engine: measure the
 * state tables, check every component resolves the config, rehearse the flip
 * and its undo inside a component, the operator's go, deploy, verify in every
 * component, validate with a DAG that writes and reads back its state.
 *
 * The undo is data-aware: while the backend is set the task SDK writes every
 * value wrapped in a marker, and unwraps it only while a backend is set. A bare
 * revert would leave tasks reading the marker, and re-running DAG runs does not
 * help (state is meant to survive re-runs), so after the revert every row
 * written since APPLY is rewritten to its plain value before the affected runs
 * are re-run.
 */
import { workflowInfo } from '@temporalio/workflow';
import { formatBytes, formatBytesExact, formatCount } from '../../domain/figures.js';
import type { ChangeStage } from '../../domain/evidence.js';
import { STATE_STORE_KIND } from '../../domain/statestore/kind.js';
import type { StateStorePlan } from '../../domain/statestore/plan.js';
import { withDraftBackendKey } from '../../domain/statestore/drill.js';
import {
  emptyStateStoreEvidence,
  type StateStoreEvidence,
  type StateStoreInput,
  type StateStoreResult,
} from '../../domain/statestore/run.js';
import type { UndoStack } from '../engine/compensation.js';
import { applyStage, rerunSteps, revertRolloutStep } from '../change/deploy.js';
import { changeReviewLines } from '../change/review.js';
import { changeSteps } from '../change/steps.js';
import {
  applyLifecycle,
  lifecycleReviewLines,
  renderLifecycle,
  reportObjects,
} from '../change/object-storage.js';
import { GateFailed } from '../engine/errors.js';
import { healthAfterChange, healthAfterRollbackStep, healthBeforeChange } from '../health/gate.js';
import type { Run } from '../engine/run.js';
import { runRunbook, type Runbook } from '../engine/runbook.js';
import { stateStoreSteps } from './steps.js';

type StateStoreRun = Run<StateStorePlan, StateStoreEvidence>;

export async function stateStoreBackendCutover(input: StateStoreInput): Promise<StateStoreResult> {
  return runRunbook(input, stateStoreFlip);
}

const stateStoreFlip: Runbook<StateStorePlan, StateStoreEvidence> = {
  kind: STATE_STORE_KIND,
  firstPhase: 'CALIBRATE',
  emptyEvidence: emptyStateStoreEvidence,
  offloadedValues: (ev) => ev.validations.reduce((n, v) => n + v.objectCount, 0),

  async evidence(run) {
    const { plan, input } = run;
    const steps = stateStoreSteps(plan);

    run.enter('CALIBRATE', 'measuring task and asset state sizes in the metadata DB');
    const calibration = await run.step(
      'measure state sizes',
      () => steps.calibrate({ plan }),
      (c) =>
        `${formatCount(c.task.rowCount)} task + ${formatCount(c.asset.rowCount)} asset rows (${formatCount(c.task.wrapped.rows + c.asset.wrapped.rows)} already wrapped); threshold ${formatBytesExact(c.proposal.thresholdBytes)} would offload ${formatCount(c.projectedOffloadRows)} (max ${formatCount(c.maxOffloadRows)})`,
    );
    run.evidence.calibration = calibration;
    if (!calibration.gate.passed) return run.stop('CALIBRATE', calibration.gate);
    await reportObjects(run);
    const thresholdBytes = calibration.proposal.thresholdBytes;

    run.enter('PREFLIGHT', `read-only checks in ${plan.target.components.length} component(s)`);
    const preflight = await run.step(
      'read-only checks',
      () => steps.preflight({ plan, thresholdBytes, dryRun: input.dryRun ?? false }),
      (p) => `${p.checks.filter((c) => c.status !== 'red').length}/${p.checks.length} checks green or amber`,
    );
    run.evidence.preflight = preflight;
    await healthBeforeChange(run, preflight);
    if (!preflight.gate.passed) return run.stop('PREFLIGHT', preflight.gate);

    run.enter('RENDER', 'rendering the change and its diff');
    const change = await run.step(
      'render env vars',
      () => steps.renderChange({ plan, thresholdBytes }),
      (c) => `${c.stages.length} stage(s), lint ${c.lint.passed ? 'clean' : 'FAILED'}`,
    );
    run.evidence.change = change;
    const [stage] = change.stages;
    if (!change.lint.passed || !stage) {
      return run.stop('RENDER', {
        passed: false,
        reasons: stage
          ? change.lint.findings.map((f) => `${f.variable}: ${f.problem}`)
          : ['no change rendered'],
      });
    }
    run.evidence.preview = await run.step(
      'diff against live config',
      () => changeSteps(plan).previewChange({ plan, stage }),
      (p) =>
        p.diff === '' ? `${p.destination} already holds this change` : `diff ready for ${p.destination}`,
    );
    await renderLifecycle(run);

    if (!(input.dryRun && input.skipRehearsal)) {
      run.enter(
        'REHEARSE',
        'write state below and above the threshold, confirm the revert breaks and the heal restores',
      );
      const rehearsal = await run.step(
        'flip and heal rehearsal',
        () => steps.rehearse({ plan, runId: workflowInfo().runId, stage }),
        (r) =>
          `marker ${r.checks.markerInDb ? 'in DB' : 'MISSING'}, break ${r.checks.breakConfirmed ? 'confirmed' : 'NOT confirmed'}, heal ${r.checks.healConfirmed ? 'confirmed' : 'NOT confirmed'}, ${r.checks.cleaned ? 'cleaned' : 'LEFT BEHIND'}`,
      );
      run.evidence.rehearsal = rehearsal;
      if (!rehearsal.gate.passed) return run.stop('REHEARSE', rehearsal.gate);
    }
    return undefined;
  },

  review(run) {
    const ev = run.evidence;
    const lines: string[] = [];
    const c = ev.calibration;
    if (c)
      lines.push(
        `calibration: ${formatCount(c.task.rowCount)} task and ${formatCount(c.asset.rowCount)} asset state rows; p99.9 ${formatBytes(Math.max(c.task.sizeBytes.p999, c.asset.sizeBytes.p999))}, max ${formatBytes(Math.max(c.task.sizeBytes.max, c.asset.sizeBytes.max))}; threshold ${formatBytesExact(c.proposal.thresholdBytes)} (${c.proposal.rationale}); ${formatCount(c.projectedOffloadRows)} existing rows at or above it (allowed ${formatCount(c.maxOffloadRows)})`,
      );
    lines.push(...changeReviewLines(ev));
    lines.push(...lifecycleReviewLines(ev));
    if (run.input.inject)
      lines.push(
        `FAULT INJECTION ${run.input.inject}: APPLY deploys the draft key AIRFLOW__STATE_STORE__BACKEND on purpose, so VERIFY fails and the data-aware heal runs`,
      );
    const r = ev.rehearsal;
    if (r)
      lines.push(
        `rehearsal in ${r.component}: ${r.valueBytes.small} B and ${r.valueBytes.large} B values; marker in DB ${r.checks.markerInDb ? 'yes' : 'no'}; break ${r.checks.breakConfirmed ? 'confirmed' : 'not confirmed'}; heal ${r.checks.healConfirmed ? 'confirmed' : 'not confirmed'}`,
      );
    lines.push(
      'undo: revert the change, then rewrite every state row written since APPLY to its plain value (journaled), then re-run the affected DAG runs',
    );
    const openedAfter = r?.finishedAt ?? ev.preview?.finishedAt ?? ev.change?.finishedAt ?? '';
    return { openedAfter, lines };
  },

  async change(run, undo) {
    const stage = run.evidence.change?.stages[0];
    if (!stage) throw new Error('no rendered stage to deploy');
    await applyLifecycle(run, undo, 'before-flip');
    await deploy(run, undo, stage);
    return `StateStoreObjectStorageBackend live at threshold ${formatBytesExact(stage.thresholdBytes)}, verified in every component and validated by a DAG run`;
  },

  heal(run) {
    const { plan } = run;
    const steps = stateStoreSteps(plan);
    const ev = run.evidence;
    // Rows and runs since the apply started: its own record, else (a reply that was lost) the last evidence step.
    const since = () => ev.applies[0]?.startedAt ?? ev.rehearsal?.finishedAt ?? ev.preflight?.finishedAt;
    return [
      revertRolloutStep(run),
      {
        name: 'healRows',
        run: async () => {
          const from = since();
          if (!from) throw new Error('no timestamp from before APPLY to heal state rows from');
          ev.heal = await run.step(
            'rewrite wrapped state rows',
            () => steps.healRows({ plan, since: from, changeId: run.changeId }),
            (h) =>
              `${h.rewritten} row(s) rewritten (${h.inlineRefs} inline, ${h.objectRefs} from objects), ${h.unreadable.length} unreadable, ${h.markerRowsRemaining} marker row(s) left`,
          );
          if (!ev.heal.gate.passed)
            throw new Error(`state rows not healed: ${ev.heal.gate.reasons.join('; ')}`);
        },
      },
      ...rerunSteps(run, since, 'find DAG runs while the flip was live'),
      ...healthAfterRollbackStep(run),
    ];
  },

  rolledBack: (run) =>
    `change reverted, ${run.evidence.heal?.rewritten ?? 0} state row(s) rewritten to plain values, ${run.evidence.reruns?.runs.length ?? 0} affected DAG run(s) re-run`,
};

/** APPLY -> rollout -> VERIFY -> VALIDATE. */
async function deploy(run: StateStoreRun, undo: UndoStack, stage: ChangeStage): Promise<void> {
  const { plan } = run;
  const steps = stateStoreSteps(plan);
  run.enter(
    'APPLY',
    `deploying ${stage.label} (threshold ${formatBytesExact(stage.thresholdBytes)}) via ${plan.change.mode}`,
  );
  // A drill: the draft key goes out; VERIFY still holds the components to the plan.
  const deployed = run.input.inject === 'draft-backend-key' ? withDraftBackendKey(stage) : stage;
  if (deployed !== stage)
    run.say(`FAULT INJECTION draft-backend-key: deploying ${Object.keys(deployed.env).join(', ')}`);
  await applyStage(run, undo, stage, deployed, 'APPLY');

  run.enter(
    'VERIFY',
    `resolving the state-store config inside ${plan.target.components.length} component(s)`,
  );
  const verify = await run.step(
    `verify ${stage.label}`,
    () => steps.verifyConfig({ plan, stage }),
    (v) =>
      `${v.components.filter((c) => !c.error).length}/${v.components.length} components resolve the config`,
  );
  run.evidence.verifications.push(verify);
  if (!verify.gate.passed) {
    run.notifications?.verificationFailed(stage.label, verify.gate);
    throw new GateFailed('VERIFY', verify.gate);
  }
  await healthAfterChange(run, 'VERIFY');
  // Nothing is deleted for a flip that never took: the retention rule goes out once VERIFY holds.
  await applyLifecycle(run, undo, 'after-verify');

  run.enter('VALIDATE', `post-flip run of ${plan.spec.validation.dagId}`);
  const validation = await run.step(
    `validate ${stage.label}`,
    () => steps.validateRun({ plan, runId: `cutover__${workflowInfo().runId}__${stage.label}` }),
    (v) => `${v.dagId}/${v.runId} ${v.state}, ${v.objectCount} object(s) under the state path`,
  );
  run.evidence.validations.push(validation);
  if (!validation.gate.passed) throw new GateFailed('VALIDATE', validation.gate);
}
