/**
 * The shared activities of runbooks that change Airflow's config the way teams deploy it (the diff,
 * the apply, the rollout, the revert, the DAG re-runs), as typed steps with the timeouts and retry
 * policies each needs. Not the engine: a runbook that changes something else would not use them.
 */
import type { SharedActivities } from '../../activities/index.js';
import { durationMs } from '../../domain/duration.js';
import type { AnyPlan } from '../../domain/runbooks.js';
import { COMPENSATING, HEARTBEAT, QUICK, proxyStep, retry } from '../engine/steps.js';

export function changeSteps(plan: AnyPlan) {
  const rolloutMs = durationMs(plan.rollout.timeout);
  const validationMs = durationMs(plan.spec.validation.timeout);
  const step = <K extends keyof SharedActivities & string>(
    name: K,
    summary: string,
    options: Parameters<typeof proxyStep>[2],
  ) => proxyStep<SharedActivities, K>(name, summary, options);
  return {
    previewChange: step('previewChange', 'Diffs the change against what is live (RENDER).', QUICK),
    applyChange: step('applyChange', 'Deploys the change the way the target is deployed (APPLY).', {
      startToCloseTimeout: '10m',
      // A GitOps push or a patch is quick, but a worker that dies in it must be noticed in 20 s, not 10 min.
      heartbeatTimeout: HEARTBEAT,
      retry: retry(5),
    }),
    waitForRollout: step(
      'waitForRollout',
      'Restarts the components and waits until the rollout is complete (APPLY).',
      {
        startToCloseTimeout: rolloutMs + 60_000,
        heartbeatTimeout: HEARTBEAT,
        retry: retry(2),
      },
    ),
    revertChange: step('revertChange', 'Reverts the change (COMPENSATE).', {
      startToCloseTimeout: '10m',
      ...COMPENSATING,
    }),
    waitForRevertRollout: step(
      'waitForRollout',
      'Waits until every component runs the old config again (COMPENSATE).',
      { startToCloseTimeout: rolloutMs + 60_000, ...COMPENSATING },
    ),
    findAffectedRuns: step(
      'findAffectedRuns',
      'Finds the DAG runs that ran under the new config (COMPENSATE).',
      {
        startToCloseTimeout: '5m',
        ...COMPENSATING,
      },
    ),
    rerunAffectedRuns: step('rerunAffectedRuns', 'Clears and re-runs the affected DAG runs (COMPENSATE).', {
      startToCloseTimeout: validationMs + 60_000,
      ...COMPENSATING,
    }),
  };
}
