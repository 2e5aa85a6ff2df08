/**
 * xcomBackendCutover: the XCom-backend cut-over runbook as one durable workflow.
 * It reads top to bottom like the dossier: §1 calibrate, §2 preflight, §3 render
 * the change, §5 rehearse the kill-switch, §6 operator go, deploy, verify in the
 * pods, validate with a real DAG run; and on failure after the deploy, the
 * kill-switch: revert + re-run.
 */
import {
  CancellationScope,
  CancelledFailure,
  TemporalFailure,
  isCancellation,
  patched,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow';
import type { ApprovalRequest, CutoverInput, CutoverResult, Phase } from '../domain/cutover.js';
import type { ChangeStage, GateVerdict } from '../domain/evidence.js';
import { withDottedSectionSpelling } from '../domain/airflow-env.js';
import { durationMs } from '../domain/duration.js';
import { awaitGo, handleDecisions } from './approval.js';
import { compensate, handleOperatorActions, type AppliedStage } from './compensation.js';
import { statusQuery } from './messages.js';
import { NOTIFICATIONS_PATCH, Notifications } from './notifications.js';
import { CutoverRun, describeError } from './run-state.js';
import { stepsFor } from './steps.js';

/** A red gate after APPLY: the trigger for the kill-switch. */
class GateFailed extends Error {
  constructor(
    readonly phase: Phase,
    gate: GateVerdict,
  ) {
    super(gate.reasons.join('; ') || `${phase} gate failed`);
  }
}

export async function xcomBackendCutover(input: CutoverInput): Promise<CutoverResult> {
  const run = new CutoverRun(input);
  // Temporal's patching API: the notify activity calls change the shape of the history, so a run recorded
  // before them (test/histories/*.json, or a run in flight during an upgrade) must replay without them.
  // patched() records a marker in new runs and answers false when replaying history that lacks it.
  // Asked once, here: a run is on one side of the patch from start to end, never half notified. Once no
  // run without the marker can be open any more, this becomes deprecatePatch(NOTIFICATIONS_PATCH).
  if (patched(NOTIFICATIONS_PATCH)) run.notifications = new Notifications(run);
  const result = await runbook(run);
  if (!run.notifications) return result;
  // The outcome is decided; the run closes once its messages are out (or given up on), and its status
  // says which were delivered.
  await run.notifications.settled();
  return { ...result, status: run.status() };
}

async function runbook(run: CutoverRun): Promise<CutoverResult> {
  const input = run.input;
  const operatorChoices: Parameters<typeof handleOperatorActions>[1] = [];
  setHandler(statusQuery, () => run.status());
  handleDecisions(run);
  handleOperatorActions(run, operatorChoices);

  const { plan } = input;
  const steps = stepsFor(plan);
  const runId = workflowInfo().runId;
  const stop = (phase: Phase, gate: GateVerdict) =>
    run.finish('STOPPED', `${phase} gate red, nothing changed: ${gate.reasons.join('; ')}`);

  try {
    // §1 Threshold calibration: measured, not assumed.
    run.enter('CALIBRATE', `measuring XCom value sizes (${plan.airflow.metadataDb.access} access)`);
    const calibration = await run.step(
      'measure XCom sizes',
      () => steps.calibrate({ plan }),
      (c) =>
        `${c.rowCount} rows, p99.9 ${c.sizeBytes.p999} B, max ${c.sizeBytes.max} B; threshold ${c.proposal.thresholdBytes} B would offload ${c.projectedOffloadRows} rows (max ${c.maxOffloadRows})`,
    );
    run.evidence.calibration = calibration;
    if (!calibration.gate.passed) return stop('CALIBRATE', calibration.gate);
    const thresholdBytes = calibration.proposal.thresholdBytes;

    // §2 Preflight: read-only, a hard gate. Any red row stops here with nothing changed.
    run.enter('PREFLIGHT', `read-only checks against ${plan.xcom.path}`);
    const preflight = await run.step(
      'read-only checks',
      () => steps.preflight({ plan, runId, thresholdBytes, dryRun: input.dryRun ?? false }),
      (p) => `${p.checks.filter((c) => c.status !== 'red').length}/${p.checks.length} checks green or amber`,
    );
    run.evidence.preflight = preflight;
    if (!preflight.gate.passed) return stop('PREFLIGHT', preflight.gate);

    // §3 The change: exact env vars, encoding lint, and the diff an approver reads.
    run.enter('RENDER', 'rendering the change and its diff');
    const change = await run.step(
      'render env vars',
      () => steps.renderChange({ plan, thresholdBytes }),
      (c) => `${c.stages.length} stage(s), lint ${c.lint.passed ? 'clean' : 'FAILED'}`,
    );
    run.evidence.change = change;
    if (!change.lint.passed) {
      return stop('RENDER', {
        passed: false,
        reasons: change.lint.findings.map((f) => `${f.variable}: ${f.problem}`),
      });
    }
    const [firstStage] = change.stages;
    if (!firstStage) return stop('RENDER', { passed: false, reasons: ['no change rendered'] });
    run.evidence.preview = await run.step(
      'diff against live config',
      () => steps.previewChange({ plan, stage: firstStage }),
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
      if (!rehearsal.gate.passed) return stop('REHEARSE', rehearsal.gate);
    }

    if (input.dryRun) return run.finish('PLANNED', 'evidence complete; a dry run never reaches APPLY');

    // §6 Operator go: nothing below runs without it.
    const request = approvalRequest(run);
    run.enter(
      'AWAIT_GO',
      `waiting for approval from ${request.approvers.join(' or ')} until ${request.deadline} (digest ${request.planDigest})`,
    );
    run.notifications?.approvalRequested(request);
    const go = await awaitGo(run, request);
    if (go === 'timed-out') {
      return run.finish('TIMED_OUT', `no decision within ${plan.approval.timeout}; nothing changed`);
    }
    const decision = run.evidence.decision;
    if (go === 'rejected') {
      return run.finish(
        'REJECTED',
        `rejected by ${decision?.operator}: ${decision?.reason}; nothing changed`,
      );
    }
    run.notifications?.approved();
  } catch (err) {
    if (isCancellation(err)) return run.finish('CANCELLED', 'cancelled before APPLY; nothing changed');
    // A bug in this code is not a verdict: let the workflow task fail so a fixed worker can carry on.
    if (!(err instanceof TemporalFailure)) throw err;
    return run.finish('STOPPED', `${run.phase} could not complete: ${describeError(err)}; nothing changed`);
  }

  // From here on production changes: every failure goes through the kill-switch.
  const applied: AppliedStage[] = [];
  try {
    for (const [i, stage] of (run.evidence.change?.stages ?? []).entries()) {
      await deployStage(run, steps, applied, stage, i === 0 ? 'APPLY' : 'RAMP', runId);
    }
    // A cancel that raced the last step still means "put it back": the operator asked for it.
    if (CancellationScope.current().consideredCancelled) throw new CancelledFailure('cancel requested');
    const target = run.evidence.calibration?.proposal.thresholdBytes;
    return run.finish(
      'DONE',
      `XComObjectStorageBackend live at threshold ${target} B, verified in every component and validated by a DAG run`,
      true,
    );
  } catch (err) {
    if (!(err instanceof TemporalFailure || err instanceof GateFailed)) throw err;
    const trigger = {
      phase: err instanceof GateFailed ? err.phase : run.phase,
      error: isCancellation(err) ? 'the run was cancelled after APPLY' : describeError(err),
    };
    // Compensation must finish even if the run was cancelled: a half-flipped Airflow is the worst outcome.
    return CancellationScope.nonCancellable(() => compensate(run, steps, applied, trigger, operatorChoices));
  }
}

/** APPLY (or one RAMP step) -> rollout -> VERIFY -> VALIDATE for one change stage. */
async function deployStage(
  run: CutoverRun,
  steps: ReturnType<typeof stepsFor>,
  applied: AppliedStage[],
  stage: ChangeStage,
  phase: 'APPLY' | 'RAMP',
  runId: string,
): Promise<void> {
  const plan = run.plan;
  run.enter(phase, `deploying ${stage.label} (threshold ${stage.thresholdBytes} B) via ${plan.change.mode}`);
  // A drill: the stage goes out misspelled as in the reference incident; VERIFY still holds it to the plan.
  const deployed =
    phase === 'APPLY' && run.input.inject === 'env-encoding' ? withDottedSectionSpelling(stage) : stage;
  if (deployed !== stage)
    run.say(
      `FAULT INJECTION env-encoding: deploying ${Object.keys(deployed.env).join(', ')} (lint bypassed)`,
    );
  const pending: AppliedStage = { stage: deployed, record: null };
  applied.push(pending);
  pending.record = await run.step(
    `apply ${stage.label}`,
    () => steps.applyChange({ plan, stage: deployed, changeId: run.changeId }),
    (a) => (a.changed ? `deployed ${a.ref}` : `already live (${a.ref})`),
  );
  run.evidence.applies.push(pending.record);
  const rollout = await run.step(
    `rollout ${stage.label}`,
    () => steps.waitForRollout({ plan, expectEnv: deployed.env }),
    (r) =>
      `${r.components.filter((c) => c.ready).length}/${r.components.length} components carry the new env`,
  );
  run.evidence.rollouts.push(rollout);
  if (!rollout.gate.passed) throw new GateFailed(phase, rollout.gate);

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

  run.enter(phase === 'APPLY' ? 'VALIDATE' : 'RAMP', `post-flip run of ${plan.validation.dagId}`);
  const validation = await run.step(
    `validate ${stage.label}`,
    () => steps.validateRun({ plan, runId: validationRunId(runId, stage) }),
    (v) => `${v.dagId}/${v.runId} ${v.state}, ${v.xcomErrors} XCom errors, ${v.offloadedCount} offloaded`,
  );
  run.evidence.validations.push(validation);
  if (!validation.gate.passed) throw new GateFailed('VALIDATE', validation.gate);
}

/**
 * One Airflow run id per workflow run and stage, so an activity retry finds its own DAG run instead of
 * triggering another. The whole run id: its leading characters are a coarse timestamp, not unique.
 */
function validationRunId(runId: string, stage: ChangeStage): string {
  return `cutover__${runId}__${stage.label}`;
}

function approvalRequest(run: CutoverRun): ApprovalRequest {
  const { plan, planDigest, startedBy } = run.input;
  const ev = run.evidence;
  const timeoutMs = durationMs(plan.approval.timeout);
  // The gate opens as soon as the last evidence step ends; that step's clock is the workflow's only time source.
  const openedAfter = ev.rehearsal?.finishedAt ?? ev.preview?.finishedAt ?? ev.change?.finishedAt ?? '';
  const review: string[] = [];
  const c = ev.calibration;
  if (c) {
    review.push(
      `calibration: ${c.rowCount} XCom rows; p50 ${c.sizeBytes.p50} B, p99.9 ${c.sizeBytes.p999} B, max ${c.sizeBytes.max} B; threshold ${c.proposal.thresholdBytes} B (${c.proposal.rationale}); ${c.projectedOffloadRows} historical rows would offload (allowed ${c.maxOffloadRows})`,
    );
  }
  if (ev.preflight) {
    const amber = ev.preflight.checks.filter((x) => x.status === 'amber');
    review.push(
      `preflight: ${ev.preflight.checks.length - amber.length}/${ev.preflight.checks.length} green` +
        (amber.length ? `; amber: ${amber.map((x) => `${x.name} (${x.detail})`).join('; ')}` : ''),
    );
  }
  for (const s of ev.change?.stages ?? []) {
    review.push(
      `change ${s.label}: ${Object.entries(s.env)
        .map(([k, v]) => `${k}=${JSON.stringify(v)}`)
        .join(' ')}`,
    );
  }
  if (ev.preview)
    review.push(
      `destination: ${ev.preview.destination}${ev.preview.diff ? '' : ' (already holds this change)'}`,
    );
  if (run.input.inject)
    review.push(
      `FAULT INJECTION ${run.input.inject}: APPLY deploys the AIRFLOW__COMMON.IO__ spelling on purpose, so VERIFY fails and the kill-switch runs`,
    );
  const r = ev.rehearsal;
  if (r) {
    review.push(
      `rehearsal: ${r.valueBytes} B offloaded; break ${r.breakConfirmed ? 'confirmed' : 'not confirmed'}; heal ${r.healConfirmed ? 'confirmed' : 'not confirmed'}; sentinel ${r.sentinelCleaned ? 'cleaned' : 'left behind'}`,
    );
  }
  return {
    planDigest,
    approvers: plan.approval.approvers,
    startedBy,
    allowSelfApproval: plan.approval.allowSelfApproval,
    timeoutMs,
    openedAfter,
    deadline: openedAfter
      ? new Date(Date.parse(openedAfter) + timeoutMs).toISOString()
      : `${plan.approval.timeout} after the evidence`,
    review,
  };
}
