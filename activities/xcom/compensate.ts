import type { AffectedRun, HealEvidence } from '../../domain/evidence.js';
import type { Plan } from '../../domain/plan.js';
import { requireAdapter, type Adapters } from '../adapters.js';
import { gate, timed } from '../engine/timing.js';

export function compensateActivities(adapters: Adapters) {
  const api = (plan: Plan, needs: string) => requireAdapter(adapters, 'airflowApi', plan, needs);
  return {
    /** Downstream tasks of each re-run read data again, not a path string. */
    async confirmHealed({ plan, runs }: { plan: Plan; runs: AffectedRun[] }): Promise<HealEvidence> {
      const a = api(plan, 'confirm the re-run DAG runs read data');
      return timed(async () => {
        const checked: HealEvidence['runs'] = [];
        for (const run of runs)
          checked.push({ dagId: run.dagId, runId: run.runId, ...(await a.readsData({ run })) });
        return {
          runs: checked,
          gate: gate(checked.filter((r) => !r.readsData).map((r) => `${r.dagId}/${r.runId}: ${r.detail}`)),
        };
      });
    },
  };
}
