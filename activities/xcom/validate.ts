import { heartbeat } from '@temporalio/activity';
import type { ValidationEvidence } from '../../domain/evidence.js';
import { durationMs } from '../../domain/duration.js';
import { formatBytesExact } from '../../domain/figures.js';
import type { Plan } from '../../domain/plan.js';
import { requireAdapter, type Adapters, type DagRunResult } from '../adapters.js';
import { gate, timed } from '../engine/timing.js';

/**
 * How far above the stage's threshold the validation run's large value is: the backend offloads a
 * value whose JSON encoding is at least the threshold, so any margin works; 64 KiB is the rehearsal's.
 */
export const VALIDATION_MARGIN_BYTES = 64 * 1024;

/** A plan expects the validation run to offload unless it says at most 0 values may be. */
export function expectsOffload(plan: Plan): boolean {
  return plan.spec.validation.maxOffloaded !== 0;
}

/**
 * The size of the validation DAG's large value for a stage when the plan expects an offload: above
 * the stage's threshold, so a passing run proves the object-storage path (a fixed 2 MB value proved
 * nothing at a 3 MB threshold). A plan that expects none (maxOffloaded: 0) keeps the DAG's own size.
 */
export function validationLargeBytes(plan: Plan, thresholdBytes: number): number | undefined {
  return expectsOffload(plan) ? thresholdBytes + VALIDATION_MARGIN_BYTES : undefined;
}

export function validationVerdict(run: DagRunResult, plan: Plan, largeBytes?: number): string[] {
  const reasons: string[] = [];
  if (run.state !== 'success') reasons.push(`validation run ${run.runId} ended ${run.state}`);
  if (run.xcomErrors > 0) reasons.push(`${run.xcomErrors} task(s) failed on XCom / backend / config errors`);
  const offloaded = run.xcoms.filter((x) => x.offloaded).length;
  const max = plan.spec.validation.maxOffloaded;
  if (max !== undefined && offloaded > max)
    reasons.push(`${offloaded} XCom values offloaded, the plan expects at most ${max}`);
  if (expectsOffload(plan) && offloaded === 0 && run.state === 'success') {
    reasons.push(
      `no XCom value was offloaded${largeBytes !== undefined ? ` (the run's large value was ${formatBytesExact(largeBytes)})` : ''}: ` +
        'the run proves nothing about the object-storage path (set validation.maxOffloaded: 0 for a flip that offloads nothing)',
    );
  }
  return reasons;
}

export function validateActivities(adapters: Adapters) {
  return {
    /** The post-flip run: a real DAG run under the new backend, read back and counted. */
    async validateRun({
      plan,
      runId,
      thresholdBytes,
    }: {
      plan: Plan;
      runId: string;
      /** The stage's threshold; absent in runs scheduled before the value was sized from it. */
      thresholdBytes?: number;
    }): Promise<ValidationEvidence> {
      const airflowApi = requireAdapter(adapters, 'airflowApi', plan, 'trigger the validation DAG run');
      const largeBytes =
        thresholdBytes === undefined ? undefined : validationLargeBytes(plan, thresholdBytes);
      return timed(async () => {
        const run = await airflowApi.runValidationDag({
          dagId: plan.spec.validation.dagId,
          runId,
          unpause: plan.spec.validation.unpause,
          timeoutMs: durationMs(plan.spec.validation.timeout),
          heartbeat,
          ...(largeBytes !== undefined ? { conf: { large_bytes: largeBytes } } : {}),
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
          gate: gate(validationVerdict(run, plan, largeBytes)),
        };
      });
    },
  };
}
