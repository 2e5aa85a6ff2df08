import { heartbeat } from '@temporalio/activity';
import type {
  AffectedRun,
  AffectedRunsEvidence,
  HealEvidence,
  RerunEvidence,
} from '../../domain/evidence.js';
import { durationMs } from '../../domain/duration.js';
import type { Plan } from '../../domain/plan.js';
import { requireAdapter, type Adapters } from '../adapters.js';
import { gate, timed } from '../engine/timing.js';

export function compensateActivities(adapters: Adapters) {
  const api = (plan: Plan, needs: string) => requireAdapter(adapters, 'airflowApi', plan, needs);
  return {
    /** DAG runs that ran under the new backend: their offloaded XComs read as path strings after a revert. */
    async findAffectedRuns({ plan, since }: { plan: Plan; since: string }): Promise<AffectedRunsEvidence> {
      const a = api(plan, 'find the DAG runs that ran under the new backend');
      return timed(async () => ({ since, runs: await a.runsSince({ since }) }));
    },

    /** Clear + re-run: upstream tasks re-emit their XComs under BaseXCom. */
    async rerunAffectedRuns({ plan, runs }: { plan: Plan; runs: AffectedRun[] }): Promise<RerunEvidence> {
      const a = api(plan, 'clear and re-run DAG runs');
      return timed(async () => ({
        runs: await a.clearAndWait({ runs, timeoutMs: durationMs(plan.spec.validation.timeout), heartbeat }),
      }));
    },

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
