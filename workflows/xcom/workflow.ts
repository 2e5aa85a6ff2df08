/**
 * xcomBackendCutover: the XCom-backend cut-over runbook as one durable workflow
 * on the engine. It reads top to bottom like the dossier: §1 calibrate, §2
 * preflight, §3 render the change, §5 rehearse the kill-switch, §6 operator go
 * (the engine's gate), deploy, verify in the pods, validate with a real DAG
 * run; and on failure after the deploy, the kill-switch: revert (the undo
 * stack) + re-run the affected DAG runs (this runbook's heal).
 */
import { workflowInfo } from '@temporalio/workflow';
import { formatBytes, formatBytesExact, formatCount } from '../../domain/figures.js';
import type { CutoverInput, CutoverResult, Evidence } from '../../domain/cutover.js';
import { emptyEvidence, XCOM_KIND } from '../../domain/cutover.js';
import type { ChangeStage } from '../../domain/evidence.js';
import { withDottedSectionSpelling } from '../../domain/airflow-env.js';
import type { Plan } from '../../domain/plan.js';
import { withSpecLayout } from '../../domain/xcom-layout.js';
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
import { runRunbook, type Runbook } from '../engine/runbook.js';
import type { Run } from '../engine/run.js';
import { stepsFor } from './steps.js';

type XComRun = Run<Plan, Evidence>;

export async function xcomBackendCutover(input: CutoverInput): Promise<CutoverResult> {
  // Runs started before the engine carry their plan in the old layout (fields beside the envelope).
  return runRunbook({ ...input, plan: withSpecLayout(input.plan) }, xcomFlip);
}

const xcomFlip: Runbook<Plan, Evidence> = {
  kind: XCOM_KIND,
  firstPhase: 'CALIBRATE',
  emptyEvidence,
  offloadedValues: (ev) => ev.validations.reduce((n, v) => n + v.offloadedCount, 0),

  async evidence(run) {
    const { plan, input } = run;
    const steps = stepsFor(plan);
    const runId = workflowInfo().runId;

    // §1 Threshold calibration: measured, not assumed.
    run.enter('CALIBRATE', `measuring XCom value sizes (${plan.airflow.metadataDb.access} access)`);
    const calibration = await run.step(
      'measure XCom sizes',
      () =>
        steps.calibrate({
          plan,
          ...(input.calibrationSamplePercent === undefined
            ? {}
            : { samplePercent: input.calibrationSamplePercent }),
        }),
      (c) =>
        `${c.sample ? `estimated from a ${c.sample.percent}% sample: ` : ''}${formatCount(c.rowCount)} rows, p99.9 ${formatBytes(c.sizeBytes.p999)}, max ${formatBytes(c.sizeBytes.max)}; threshold ${formatBytesExact(c.proposal.thresholdBytes)} would offload ${formatCount(c.projectedOffloadRows)} rows (max ${formatCount(c.maxOffloadRows)})`,
    );
    run.evidence.calibration = calibration;
    if (!calibration.gate.passed) return run.stop('CALIBRATE', calibration.gate);
    await reportObjects(run);
    const thresholdBytes = calibration.proposal.thresholdBytes;

    // §2 Preflight: read-only, a hard gate. Any red row stops here with nothing changed.
    run.enter('PREFLIGHT', `read-only checks against ${plan.spec.xcom.path}`);
    const preflight = await run.step(
      'read-only checks',
      () => steps.preflight({ plan, runId, thresholdBytes, dryRun: input.dryRun ?? false }),
      (p) => `${p.checks.filter((c) => c.status !== 'red').length}/${p.checks.length} checks green or amber`,
    );
    run.evidence.preflight = preflight;
    await healthBeforeChange(run, preflight);
    if (!preflight.gate.passed) return run.stop('PREFLIGHT', preflight.gate);

    // §3 The change: exact env vars, encoding lint, and the diff an approver reads.
    run.enter('RENDER', 'rendering the change and its diff');
    const change = await run.step(
      'render env vars',
      () => steps.renderChange({ plan, thresholdBytes }),
      (c) => `${c.stages.length} stage(s), lint ${c.lint.passed ? 'clean' : 'FAILED'}`,
    );
    run.evidence.change = change;
    if (!change.lint.passed) {
      return run.stop('RENDER', {
        passed: false,
        reasons: change.lint.findings.map((f) => `${f.variable}: ${f.problem}`),
      });
    }
    const [firstStage] = change.stages;
    if (!firstStage) return run.stop('RENDER', { passed: false, reasons: ['no change rendered'] });
    await renderLifecycle(run);
    run.evidence.preview = await run.step(
      'diff against live config',
      () => changeSteps(plan).previewChange({ plan, stage: firstStage }),
      (p) =>
        p.diff === '' ? `${p.destination} already holds this change` : `diff ready for ${p.destination}`,
    );

    // §5 Kill-switch rehearsal: a mandatory gate (only a dry run may skip it).
    if (!(input.dryRun && input.skipRehearsal)) {
      run.enter('REHEARSE', 'offload a sentinel, confirm revert breaks and re-run heals');
      const rehearsal = await run.step(
        'kill-switch rehearsal',
        () => steps.rehearse({ plan, runId, stage: firstStage }),
        (r) =>
          `break ${r.breakConfirmed ? 'confirmed' : 'NOT confirmed'}, heal ${r.healConfirmed ? 'confirmed' : 'NOT confirmed'}, sentinel ${r.sentinelCleaned ? 'cleaned' : 'LEFT BEHIND'}`,
      );
      run.evidence.rehearsal = rehearsal;
      if (!rehearsal.gate.passed) return run.stop('REHEARSE', rehearsal.gate);
    }
  },

  review,

  // §6 after the go: each stage (the flip, or the ramp's two) is applied, rolled out, verified, validated.
  async change(run, undo) {
    for (const [i, stage] of (run.evidence.change?.stages ?? []).entries()) {
      if (i === 0) await applyLifecycle(run, undo, 'before-flip');
      await deployStage(run, undo, stage, i === 0 ? 'APPLY' : 'RAMP');
    }
    const target = run.evidence.calibration?.proposal.thresholdBytes;
    return `XComObjectStorageBackend live at threshold ${formatBytesExact(target)}, verified in every component and validated by a DAG run`;
  },

  // A bare revert leaves downstream tasks reading path strings: re-run what ran under the new backend.
  heal(run) {
    const { plan } = run;
    const steps = stepsFor(plan);
    const ev = run.evidence;
    const since = () => ev.applies[0]?.startedAt ?? ev.rehearsal?.finishedAt ?? ev.preflight?.finishedAt;
    return [
      revertRolloutStep(run),
      ...rerunSteps(run, since, 'find DAG runs under the new backend'),
      {
        name: 'confirmHealed',
        run: async () => {
          const runs = ev.affected?.runs ?? [];
          ev.heal = await run.step(
            'confirm re-runs read data',
            () => steps.confirmHealed({ plan, runs }),
            (r) => `${r.runs.filter((x) => x.readsData).length}/${r.runs.length} run(s) read data`,
          );
          if (!ev.heal.gate.passed) throw new Error(ev.heal.gate.reasons.join('; '));
        },
      },
      ...healthAfterRollbackStep(run),
    ];
  },

  rolledBack: (run) =>
    `change reverted, ${run.evidence.heal?.runs.length ?? 0} affected DAG run(s) re-run and reading data`,
};

/** APPLY (or one RAMP step) -> rollout -> VERIFY -> VALIDATE for one change stage. */
async function deployStage(
  run: XComRun,
  undo: UndoStack,
  stage: ChangeStage,
  phase: 'APPLY' | 'RAMP',
): Promise<void> {
  const plan = run.plan;
  const steps = stepsFor(plan);
  run.enter(
    phase,
    `deploying ${stage.label} (threshold ${formatBytesExact(stage.thresholdBytes)}) via ${plan.change.mode}`,
  );
  // A drill: the stage goes out misspelled as in the reference incident; VERIFY still holds it to the plan.
  const deployed =
    phase === 'APPLY' && run.input.inject === 'env-encoding' ? withDottedSectionSpelling(stage) : stage;
  if (deployed !== stage)
    run.say(
      `FAULT INJECTION env-encoding: deploying ${Object.keys(deployed.env).join(', ')} (lint bypassed)`,
    );
  await applyStage(run, undo, stage, deployed, phase);

  // §6.3 The hardened gate: the config must RESOLVE in each component, not merely be present.
  run.enter(
    phase === 'APPLY' ? 'VERIFY' : 'RAMP',
    `resolving the config inside ${plan.target.components.length} component(s)`,
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
  if (phase === 'APPLY') await healthAfterChange(run, 'VERIFY');
  // Nothing is deleted for a flip that never took: the retention rule goes out once VERIFY holds.
  if (phase === 'APPLY') await applyLifecycle(run, undo, 'after-verify');

  run.enter(phase === 'APPLY' ? 'VALIDATE' : 'RAMP', `post-flip run of ${plan.spec.validation.dagId}`);
  const validation = await run.step(
    `validate ${stage.label}`,
    () => steps.validateRun({ plan, runId: validationRunId(stage), thresholdBytes: stage.thresholdBytes }),
    (v) => `${v.dagId}/${v.runId} ${v.state}, ${v.xcomErrors} XCom errors, ${v.offloadedCount} offloaded`,
  );
  run.evidence.validations.push(validation);
  if (!validation.gate.passed) throw new GateFailed('VALIDATE', validation.gate);
}

/**
 * One Airflow run id per workflow run and stage, so an activity retry finds its own DAG run instead of
 * triggering another. The whole run id: its leading characters are a coarse timestamp, not unique.
 */
function validationRunId(stage: ChangeStage): string {
  return `cutover__${workflowInfo().runId}__${stage.label}`;
}

function review(run: XComRun): { openedAfter: string; lines: string[] } {
  const ev = run.evidence;
  const openedAfter = ev.rehearsal?.finishedAt ?? ev.preview?.finishedAt ?? ev.change?.finishedAt ?? '';
  const lines: string[] = [];
  const c = ev.calibration;
  if (c) {
    lines.push(
      `calibration: ${formatCount(c.rowCount)} XCom rows; p50 ${formatBytes(c.sizeBytes.p50)}, p99.9 ${formatBytes(c.sizeBytes.p999)}, max ${formatBytes(c.sizeBytes.max)}; threshold ${formatBytesExact(c.proposal.thresholdBytes)} (${c.proposal.rationale}); ${formatCount(c.projectedOffloadRows)} historical rows would offload (allowed ${formatCount(c.maxOffloadRows)})`,
    );
  }
  lines.push(...changeReviewLines(ev));
  lines.push(...lifecycleReviewLines(ev));
  if (run.input.inject)
    lines.push(
      `FAULT INJECTION ${run.input.inject}: APPLY deploys the AIRFLOW__COMMON.IO__ spelling on purpose, so VERIFY fails and the kill-switch runs`,
    );
  const r = ev.rehearsal;
  if (r) {
    lines.push(
      `rehearsal: ${formatBytes(r.valueBytes)} offloaded; break ${r.breakConfirmed ? 'confirmed' : 'not confirmed'}; heal ${r.healConfirmed ? 'confirmed' : 'not confirmed'}; sentinel ${r.sentinelCleaned ? 'cleaned' : 'left behind'}`,
    );
  }
  return { openedAfter, lines };
}
