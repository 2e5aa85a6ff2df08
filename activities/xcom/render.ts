import { lintAirflowEnv, renderStage } from '../../domain/airflow-env.js';
import type { ChangePreview, ChangeStage, RenderedChange } from '../../domain/evidence.js';
import type { Plan } from '../../domain/plan.js';
import { requireAdapter, type Adapters } from '../adapters.js';
import { timed } from '../engine/timing.js';

/** The flip, or the ramp's two steps: first above every measured value, then the target. */
export function renderStages(plan: Plan, thresholdBytes: number): ChangeStage[] {
  const base = { path: plan.spec.xcom.path, compression: plan.spec.xcom.compression };
  const ramp = plan.spec.xcom.ramp;
  return ramp
    ? [
        renderStage('ramp-start', { ...base, thresholdBytes: ramp.startBytes }),
        renderStage('target', { ...base, thresholdBytes }),
      ]
    : [renderStage('target', { ...base, thresholdBytes })];
}

export function renderActivities(adapters: Adapters) {
  return {
    /** §3: the exact env vars, encoded the way Airflow reads them, plus the lint verdict. */
    async renderChange({
      plan,
      thresholdBytes,
    }: {
      plan: Plan;
      thresholdBytes: number;
    }): Promise<RenderedChange> {
      return timed(async () => {
        const stages = renderStages(plan, thresholdBytes);
        const findings = stages.flatMap((s) => lintAirflowEnv(Object.keys(s.env)));
        return { stages, lint: { passed: findings.length === 0, findings } };
      });
    },

    /** The diff an approver reads: the first stage against what is live at the destination. */
    async previewChange({ plan, stage }: { plan: Plan; stage: ChangeStage }): Promise<ChangePreview> {
      const change = requireAdapter(adapters, 'change', plan, 'show the diff of the change');
      return timed(async () => ({
        destination: change.describeDestination(),
        diff: await change.diff(stage),
      }));
    },
  };
}
