/**
 * Activity proxies with the timeouts and retry policies each runbook step
 * needs. Reads and checks retry transient faults; a red gate is evidence, not
 * an error, so it is never retried; faults retrying cannot fix are
 * non-retryable by type.
 */
import { proxyActivities, type ActivityOptions } from '@temporalio/workflow';
import type { CutoverActivities } from '../activities/index.js';
import { durationMs } from '../domain/duration.js';
import { NON_RETRYABLE_TYPES } from '../domain/failure-types.js';
import type { Plan } from '../domain/plan.js';

/** A worker that dies mid-step is noticed within this window, whatever the step's own timeout. */
const HEARTBEAT = '20s';

const retry = (maximumAttempts: number): ActivityOptions['retry'] => ({
  initialInterval: '1s',
  backoffCoefficient: 2,
  maximumInterval: '30s',
  maximumAttempts,
  nonRetryableErrorTypes: [...NON_RETRYABLE_TYPES],
});

function step<K extends keyof CutoverActivities>(name: K, summary: string, options: ActivityOptions) {
  return proxyActivities<Pick<CutoverActivities, K>>({ ...options, summary })[name];
}

export function stepsFor(plan: Plan) {
  const rolloutMs = durationMs(plan.rollout.timeout);
  const validationMs = durationMs(plan.validation.timeout);
  // Every activity heartbeats while it runs (activities/timing.ts): a dead worker is noticed in 20 s.
  const quick = {
    startToCloseTimeout: '2m',
    heartbeatTimeout: HEARTBEAT,
    retry: retry(5),
  } satisfies ActivityOptions;
  const reads = {
    startToCloseTimeout: '10m',
    heartbeatTimeout: HEARTBEAT,
    retry: retry(5),
  } satisfies ActivityOptions;
  // Compensation must not give up easily: after these attempts the run waits for an operator.
  const compensating = { heartbeatTimeout: HEARTBEAT, retry: retry(8) } satisfies Partial<ActivityOptions>;
  return {
    calibrate: step('calibrate', 'CALIBRATE: measure XCom value sizes in the metadata DB', reads),
    preflight: step(
      'preflight',
      'PREFLIGHT: read-only checks (provider, connection, S3 round trip, config resolution)',
      reads,
    ),
    renderChange: step('renderChange', 'RENDER: the exact env vars and their encoding lint', quick),
    previewChange: step('previewChange', 'RENDER: diff of the change against what is live', quick),
    rehearse: step('rehearse', 'REHEARSE: kill-switch rehearsal (offload, break, heal, clean up)', {
      startToCloseTimeout: '15m',
      heartbeatTimeout: HEARTBEAT,
      retry: retry(3),
    }),
    applyChange: step('applyChange', 'APPLY: deploy the change', {
      startToCloseTimeout: '10m',
      // A GitOps push or a patch is quick, but a worker that dies in it must be noticed in 20 s, not 10 min.
      heartbeatTimeout: HEARTBEAT,
      retry: retry(5),
    }),
    waitForRollout: step('waitForRollout', 'APPLY: restart components and wait for the rollout', {
      startToCloseTimeout: rolloutMs + 60_000,
      heartbeatTimeout: HEARTBEAT,
      retry: retry(2),
    }),
    verifyConfig: step('verifyConfig', 'VERIFY: resolve the config inside every component', reads),
    validateRun: step('validateRun', 'VALIDATE: post-flip DAG run', {
      startToCloseTimeout: validationMs + 60_000,
      heartbeatTimeout: HEARTBEAT,
      retry: retry(2),
    }),
    revertChange: step('revertChange', 'COMPENSATE: revert the change', {
      startToCloseTimeout: '10m',
      ...compensating,
    }),
    waitForRevertRollout: step(
      'waitForRollout',
      'COMPENSATE: wait until every component runs the old config',
      {
        startToCloseTimeout: rolloutMs + 60_000,
        ...compensating,
      },
    ),
    findAffectedRuns: step('findAffectedRuns', 'COMPENSATE: find DAG runs that ran under the new backend', {
      startToCloseTimeout: '5m',
      ...compensating,
    }),
    rerunAffectedRuns: step('rerunAffectedRuns', 'COMPENSATE: clear and re-run the affected DAG runs', {
      startToCloseTimeout: validationMs + 60_000,
      ...compensating,
    }),
    confirmHealed: step('confirmHealed', 'COMPENSATE: confirm the re-runs read data again', {
      startToCloseTimeout: '5m',
      ...compensating,
    }),
  };
}

export type Steps = ReturnType<typeof stepsFor>;

/**
 * Webhook messages are best effort: a few quick attempts (about 8 s of backoff in all), then the workflow
 * records the failure and goes on. No heartbeat: one POST with its own 10 s timeout per attempt.
 */
export const notifyStep = step('notify', 'NOTIFY: webhook message for a state change', {
  startToCloseTimeout: '30s',
  retry: {
    initialInterval: '500ms',
    backoffCoefficient: 2,
    maximumInterval: '5s',
    maximumAttempts: 5,
    nonRetryableErrorTypes: [...NON_RETRYABLE_TYPES, 'WebhookRejected'],
  },
});
