/**
 * Deploying one config stage and undoing it, for runbooks that change Airflow's config: the undo is
 * pushed before the apply (so an apply whose reply was lost is still undone), then the apply and
 * the rollout; and the heal steps every such runbook starts or ends with (the rollout of the old
 * config, finding and re-running the DAG runs that ran under the new one).
 */
import type { ChangeEvidence, ChangeStage } from '../../domain/evidence.js';
import type { AnyPlan } from '../../domain/runbooks.js';
import type { CompensationStep, UndoStack } from '../engine/compensation.js';
import { GateFailed } from '../engine/errors.js';
import type { Run } from '../engine/run.js';
import { changeSteps } from './steps.js';

type ChangeRun = Run<AnyPlan, ChangeEvidence>;

/**
 * Pushes the stage's revert, then applies `deployed` (the stage as it goes out; a drill may alter it).
 * The undo is on the stack before the apply, so an apply whose reply was lost is still undone.
 */
export async function applyWithUndo(
  run: ChangeRun,
  undo: UndoStack,
  stage: ChangeStage,
  deployed: ChangeStage = stage,
): Promise<void> {
  const { plan } = run;
  const steps = changeSteps(plan);
  let revertHandle: string | null = null;
  undo.push(`revert ${stage.label}`, async () => {
    const revert = await run.step(
      `revert ${stage.label}`,
      () => steps.revertChange({ plan, stage: deployed, revertHandle, changeId: run.changeId }),
      (r) => (r.changed ? `reverted (${r.ref})` : 'nothing to revert'),
    );
    run.evidence.reverts.push(revert);
  });
  const applied = await run.step(
    `apply ${stage.label}`,
    () => steps.applyChange({ plan, stage: deployed, changeId: run.changeId }),
    (a) => (a.changed ? `deployed ${a.ref}` : `already live (${a.ref})`),
  );
  revertHandle = applied.revertHandle;
  run.evidence.applies.push(applied);
}

/**
 * Pushes the stage's revert, applies `deployed` and waits until every component carries it. A red
 * rollout is a GateFailed in `phase`.
 */
export async function applyStage(
  run: ChangeRun,
  undo: UndoStack,
  stage: ChangeStage,
  deployed: ChangeStage,
  phase: string,
): Promise<void> {
  await applyWithUndo(run, undo, stage, deployed);
  const rollout = await run.step(
    `rollout ${stage.label}`,
    () => changeSteps(run.plan).waitForRollout({ plan: run.plan, expectEnv: deployed.env }),
    (r) =>
      `${r.components.filter((c) => c.ready).length}/${r.components.length} components carry the new env`,
  );
  run.evidence.rollouts.push(rollout);
  if (!rollout.gate.passed) throw new GateFailed(phase, rollout.gate);
}

/** The rollout of the reverted config: the oldest stage's revert restored what was live before. */
export function revertRolloutStep(run: ChangeRun): CompensationStep {
  const ev = run.evidence;
  return {
    name: 'waitForRollout',
    run: async () => {
      const restored = ev.reverts[ev.reverts.length - 1]?.restoredEnv ?? {};
      const rollout = await run.step(
        'rollout of the reverted config',
        () => changeSteps(run.plan).waitForRevertRollout({ plan: run.plan, expectEnv: restored }),
        (r) =>
          `${r.components.filter((c) => c.ready).length}/${r.components.length} components on the old config`,
      );
      ev.revertRollout = rollout;
      if (!rollout.gate.passed)
        throw new Error(`rollout of the reverted config: ${rollout.gate.reasons.join('; ')}`);
    },
  };
}

/** When the first apply started, else (its reply was lost) the end of the last evidence step. */
export type Since = () => string | undefined;

/** The DAG runs since the change, found and then cleared + re-run (each must end success). */
export function rerunSteps(run: ChangeRun, since: Since, stepName: string): CompensationStep[] {
  const ev = run.evidence;
  const steps = changeSteps(run.plan);
  return [
    {
      name: 'findAffectedRuns',
      run: async () => {
        const from = since();
        if (!from) throw new Error('no timestamp from before APPLY to search DAG runs from');
        ev.affected = await run.step(
          stepName,
          () => steps.findAffectedRuns({ plan: run.plan, since: from }),
          (r) => `${r.runs.length} run(s) since ${r.since}`,
        );
      },
    },
    {
      name: 'rerunAffectedRuns',
      run: async () => {
        const runs = ev.affected?.runs ?? [];
        ev.reruns = await run.step(
          'clear and re-run',
          () => steps.rerunAffectedRuns({ plan: run.plan, runs }),
          (r) =>
            r.runs.map((x) => `${x.dagId}/${x.runId}: ${x.finalState}`).join(', ') || 'no runs to re-run',
        );
        const failed = ev.reruns.runs.filter((r) => r.finalState !== 'success');
        if (failed.length > 0) {
          throw new Error(
            `re-run did not succeed: ${failed.map((r) => `${r.dagId}/${r.runId} ${r.finalState}`).join(', ')}`,
          );
        }
      },
    },
  ];
}
