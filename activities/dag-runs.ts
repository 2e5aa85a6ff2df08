/**
 * Finding and re-running the DAG runs that ran while a change was live, through Airflow's REST API:
 * shared by every runbook whose heal re-runs them. Their activity names are the ones the XCom flip's
 * recorded histories schedule.
 */
import { heartbeat } from '@temporalio/activity';
import type { AffectedRun, AffectedRunsEvidence, RerunEvidence } from '../domain/evidence.js';
import { durationMs } from '../domain/duration.js';
import type { AnyPlan } from '../domain/runbooks.js';
import { requireAdapter, type Adapters } from './adapters.js';
import { timed } from './engine/timing.js';

export function dagRunActivities(adapters: Adapters) {
  const api = (plan: AnyPlan, needs: string) => requireAdapter(adapters, 'airflowApi', plan, needs);
  return {
    /** DAG runs that ran while the change was live (since it started). */
    async findAffectedRuns({ plan, since }: { plan: AnyPlan; since: string }): Promise<AffectedRunsEvidence> {
      const a = api(plan, 'find the DAG runs that ran under the new backend');
      return timed(async () => ({ since, runs: await a.runsSince({ since }) }));
    },

    /** Clear + re-run, and wait until each ends. */
    async rerunAffectedRuns({ plan, runs }: { plan: AnyPlan; runs: AffectedRun[] }): Promise<RerunEvidence> {
      const a = api(plan, 'clear and re-run DAG runs');
      return timed(async () => ({
        runs: await a.clearAndWait({ runs, timeoutMs: durationMs(plan.spec.validation.timeout), heartbeat }),
      }));
    },
  };
}
