import { heartbeat } from '@temporalio/activity';
import type { ValidationEvidence } from '../../domain/evidence.js';
import { durationMs } from '../../domain/duration.js';
import type { Plan } from '../../domain/plan.js';
import { requireAdapter, type Adapters, type DagRunResult } from '../adapters.js';
import { gate, timed } from '../engine/timing.js';

export function validationVerdict(run: DagRunResult, plan: Plan): string[] {
  const reasons: string[] = [];
  if (run.state !== 'success') reasons.push(`validation run ${run.runId} ended ${run.state}`);
  if (run.xcomErrors > 0) reasons.push(`${run.xcomErrors} task(s) failed on XCom / backend / config errors`);
  const offloaded = run.xcoms.filter((x) => x.offloaded).length;
  const max = plan.spec.validation.maxOffloaded;
  if (max !== undefined && offloaded > max)
    reasons.push(`${offloaded} XCom values offloaded, the plan expects at most ${max}`);
  return reasons;
}

export function validateActivities(adapters: Adapters) {
  return {
    /** The post-flip run: a real DAG run under the new backend, read back and counted. */
    async validateRun({ plan, runId }: { plan: Plan; runId: string }): Promise<ValidationEvidence> {
      const airflowApi = requireAdapter(adapters, 'airflowApi', plan, 'trigger the validation DAG run');
      return timed(async () => {
        const run = await airflowApi.runValidationDag({
          dagId: plan.spec.validation.dagId,
          runId,
          unpause: plan.spec.validation.unpause,
          timeoutMs: durationMs(plan.spec.validation.timeout),
          heartbeat,
        });
        return {
          dagId: run.dagId,
          runId: run.runId,
          state: run.state,
          taskStates: run.taskStates,
          xcomErrors: run.xcomErrors,
          inlineCount: run.xcoms.filter((x) => !x.offloaded).length,
          offloadedCount: run.xcoms.filter((x) => x.offloaded).length,
          largestXComBytes: Math.max(0, ...run.xcoms.map((x) => x.bytes)),
          objectCount: run.objectCount,
          gate: gate(validationVerdict(run, plan)),
        };
      });
    },
  };
}
