import { heartbeat } from '@temporalio/activity';
import type {
  ApplyRecord,
  ChangePreview,
  ChangeStage,
  RevertRecord,
  RolloutEvidence,
} from '../domain/evidence.js';
import { durationMs } from '../domain/duration.js';
import type { AnyPlan } from '../domain/runbooks.js';
import { requireAdapter, type Adapters } from './adapters.js';
import { gate, timed } from './engine/timing.js';

/**
 * The production change the way teams deploy it (GitOps merge, ConfigMap patch, env file) and the rollout
 * of the components: shared by every runbook that changes Airflow's config. Their activity names are
 * the ones the XCom flip's recorded histories schedule.
 */
export function changeActivities(adapters: Adapters) {
  return {
    /** The diff an approver reads: a stage against what is live at the destination. */
    async previewChange({ plan, stage }: { plan: AnyPlan; stage: ChangeStage }): Promise<ChangePreview> {
      const change = requireAdapter(adapters, 'change', plan, 'show the diff of the change');
      return timed(async () => ({
        destination: change.describeDestination(),
        diff: await change.diff(stage),
      }));
    },

    /** Deploys one stage (GitOps merge, ConfigMap patch, env file). Idempotent per workflow. */
    async applyChange({
      plan,
      stage,
      changeId,
    }: {
      plan: AnyPlan;
      stage: ChangeStage;
      changeId: string;
    }): Promise<ApplyRecord> {
      const change = requireAdapter(adapters, 'change', plan, 'apply the change');
      return timed(async () => ({
        stage: stage.label,
        mode: change.mode,
        ...(await change.apply({ stage, changeId })),
      }));
    },

    /** Restarts the components and waits until every live pod carries the expected env. */
    async waitForRollout({
      plan,
      expectEnv,
    }: {
      plan: AnyPlan;
      expectEnv: Record<string, string | null>;
    }): Promise<RolloutEvidence> {
      const rollout = requireAdapter(adapters, 'rollout', plan, 'restart the Airflow components');
      return timed(async () => {
        const components = await rollout.restartAndWait({
          components: plan.target.components,
          expectEnv,
          timeoutMs: durationMs(plan.rollout.timeout),
          heartbeat,
        });
        return {
          components,
          gate: gate(components.filter((c) => !c.ready).map((c) => `${c.name}: ${c.detail}`)),
        };
      });
    },

    /** Undoes one applied stage the way it was applied (git revert of the merge, old ConfigMap data). */
    async revertChange({
      plan,
      stage,
      revertHandle,
      changeId,
    }: {
      plan: AnyPlan;
      stage: ChangeStage;
      revertHandle: string | null;
      changeId: string;
    }): Promise<RevertRecord> {
      const change = requireAdapter(adapters, 'change', plan, 'revert the change');
      return timed(async () => ({
        stage: stage.label,
        ...(await change.revert({ stage, revertHandle, changeId })),
      }));
    },
  };
}
