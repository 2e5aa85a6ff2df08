/**
 * The kill-switch: revert + re-trigger (dossier §5, ADR "a bare revert is unsafe
 * once offloaded"). Reverting alone leaves downstream tasks reading path
 * strings, so the runs that ran under the new backend are cleared and re-run
 * and checked. If any step fails the run does not end: it waits in
 * NEEDS_OPERATOR, saying exactly what is left, for retryCompensation or
 * acknowledge.
 */
import { ApplicationFailure, condition, setHandler } from '@temporalio/workflow';
import type { CompensationState, CompensationStep, CutoverResult, Phase } from '../domain/cutover.js';
import { COMPENSATION_STEPS } from '../domain/cutover.js';
import type { ApplyRecord, ChangeStage } from '../domain/evidence.js';
import {
  acknowledgeSignal,
  acknowledgeUpdate,
  retryCompensationSignal,
  retryCompensationUpdate,
  type OperatorAction,
} from './messages.js';
import { describeError, type CutoverRun } from './run-state.js';
import type { Steps } from './steps.js';

/** A stage that APPLY started: its record is null when the apply never reported back. */
export interface AppliedStage {
  stage: ChangeStage;
  record: ApplyRecord | null;
}

type OperatorChoice = { action: 'retryCompensation' | 'acknowledge' } & OperatorAction;

/** Registers the NEEDS_OPERATOR messages; they are refused unless the run is waiting for them. */
export function handleOperatorActions(run: CutoverRun, choices: OperatorChoice[]): void {
  const refusal = (a: OperatorAction): string | null => {
    if (run.phase !== 'NEEDS_OPERATOR') return `the run is not waiting for an operator (phase ${run.phase})`;
    if (!a || typeof a.operator !== 'string' || a.operator.trim() === '')
      return 'an operator name is required';
    if (typeof a.reason !== 'string' || a.reason.trim() === '') return 'a reason is required';
    const allowed = [...run.plan.approval.approvers, run.input.startedBy];
    if (!allowed.includes(a.operator))
      return `${a.operator} is neither an approver nor the operator who started the run`;
    if (choices.length > 0) return 'an operator action is already being carried out';
    return null;
  };
  for (const [action, signal, update] of [
    ['retryCompensation', retryCompensationSignal, retryCompensationUpdate],
    ['acknowledge', acknowledgeSignal, acknowledgeUpdate],
  ] as const) {
    setHandler(signal, (a: OperatorAction) => {
      const why = refusal(a);
      if (why)
        run.refusals.push({ message: action, operator: String(a?.operator ?? ''), via: 'signal', why });
      else choices.push({ action, ...a });
    });
    setHandler(
      update,
      (a: OperatorAction) => {
        const why = refusal(a);
        if (why) throw ApplicationFailure.create({ type: 'Refused', message: why, nonRetryable: true });
        choices.push({ action, ...a });
        return action === 'acknowledge'
          ? `acknowledged by ${a.operator}: the run ends and the remaining steps are theirs`
          : `retrying compensation from step ${run.evidence.compensation?.failed?.step ?? '?'}`;
      },
      {
        validator: (a: OperatorAction) => {
          const why = refusal(a);
          if (why) throw new Error(why);
        },
      },
    );
  }
}

export async function compensate(
  run: CutoverRun,
  steps: Steps,
  applied: AppliedStage[],
  trigger: { phase: Phase; error: string },
  choices: OperatorChoice[],
): Promise<CutoverResult> {
  const state: CompensationState = {
    trigger,
    completed: [],
    failed: null,
    remaining: [...COMPENSATION_STEPS],
    reverts: [],
    rollout: null,
    affected: null,
    reruns: null,
    heal: null,
    operatorActions: [],
  };
  run.evidence.compensation = state;
  run.enter(
    'COMPENSATE',
    `${trigger.phase} failed (${trigger.error}); reverting and re-running affected DAG runs`,
  );
  let attempt = 1;

  for (;;) {
    const current = state.remaining[0];
    if (current === undefined) {
      const healed = state.heal?.runs.length ?? 0;
      return run.finish(
        'ROLLED_BACK',
        `${trigger.phase} failed (${trigger.error}); change reverted, ${healed} affected DAG run(s) re-run and reading data`,
      );
    }
    try {
      run.say(`step ${state.completed.length + 1}/${COMPENSATION_STEPS.length}: ${current}`);
      await runCompensationStep(current, run, steps, applied, state);
      state.completed.push(current);
      state.remaining.shift();
      state.failed = null;
    } catch (err) {
      state.failed = { step: current, error: describeError(err), attempt };
      run.enter(
        'NEEDS_OPERATOR',
        `compensation step "${current}" failed: ${state.failed.error}. Left to do: ${state.remaining.join(', ')}. ` +
          `Production is ${state.completed.includes('revert') ? 'reverted but not healed' : 'STILL CHANGED'}. ` +
          'Send retryCompensation to try again from this step, or acknowledge to take over by hand.',
      );
      run.notifications?.needsOperator(state);
      await condition(() => choices.length > 0);
      const choice = choices.shift();
      if (!choice) continue;
      state.operatorActions.push({ action: choice.action, operator: choice.operator, reason: choice.reason });
      if (choice.action === 'acknowledge') {
        const reverted = state.completed.includes('revert');
        return run.finish(
          'OPERATOR_TOOK_OVER',
          `compensation stopped at "${current}" (${state.failed.error}); ${choice.operator} took over the remaining steps: ${state.remaining.join(', ')}`,
          !reverted,
        );
      }
      attempt += 1;
      run.enter('COMPENSATE', `retrying from step "${current}" on ${choice.operator}'s request`);
    }
  }
}

async function runCompensationStep(
  current: CompensationStep,
  run: CutoverRun,
  steps: Steps,
  applied: AppliedStage[],
  state: CompensationState,
): Promise<void> {
  const plan = run.plan;
  switch (current) {
    case 'revert': {
      // Newest first, like a saga; stages already reverted on an earlier attempt are skipped.
      for (const { stage, record } of [...applied].reverse()) {
        if (state.reverts.some((r) => r.stage === stage.label)) continue;
        const revert = await run.step(
          `revert ${stage.label}`,
          () =>
            steps.revertChange({
              plan,
              stage,
              revertHandle: record?.revertHandle ?? null,
              changeId: run.changeId,
            }),
          (r) => (r.changed ? `reverted (${r.ref})` : 'nothing to revert'),
        );
        state.reverts.push(revert);
      }
      return;
    }
    case 'waitForRollout': {
      // The oldest stage's revert restored what was live before the cut-over.
      const restored = state.reverts[state.reverts.length - 1]?.restoredEnv ?? {};
      const rollout = await run.step(
        'rollout of the reverted config',
        () => steps.waitForRevertRollout({ plan, expectEnv: restored }),
        (r) =>
          `${r.components.filter((c) => c.ready).length}/${r.components.length} components on the old config`,
      );
      state.rollout = rollout;
      if (!rollout.gate.passed)
        throw new Error(`rollout of the reverted config: ${rollout.gate.reasons.join('; ')}`);
      return;
    }
    case 'findAffectedRuns': {
      const since =
        applied[0]?.record?.startedAt ??
        run.evidence.rehearsal?.finishedAt ??
        run.evidence.preflight?.finishedAt;
      if (!since) throw new Error('no timestamp from before APPLY to search DAG runs from');
      state.affected = await run.step(
        'find DAG runs under the new backend',
        () => steps.findAffectedRuns({ plan, since }),
        (r) => `${r.runs.length} run(s) since ${r.since}`,
      );
      return;
    }
    case 'rerunAffectedRuns': {
      const runs = state.affected?.runs ?? [];
      state.reruns = await run.step(
        'clear and re-run',
        () => steps.rerunAffectedRuns({ plan, runs }),
        (r) => r.runs.map((x) => `${x.dagId}/${x.runId}: ${x.finalState}`).join(', ') || 'no runs to re-run',
      );
      const failed = state.reruns.runs.filter((r) => r.finalState !== 'success');
      if (failed.length > 0) {
        throw new Error(
          `re-run did not succeed: ${failed.map((r) => `${r.dagId}/${r.runId} ${r.finalState}`).join(', ')}`,
        );
      }
      return;
    }
    case 'confirmHealed': {
      const runs = state.affected?.runs ?? [];
      state.heal = await run.step(
        'confirm re-runs read data',
        () => steps.confirmHealed({ plan, runs }),
        (r) => `${r.runs.filter((x) => x.readsData).length}/${r.runs.length} run(s) read data`,
      );
      if (!state.heal.gate.passed) throw new Error(state.heal.gate.reasons.join('; '));
      return;
    }
  }
}
