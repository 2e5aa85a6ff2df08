/** The XCom flip's activities as typed steps, with the timeouts and retry policies each needs. */
import type { ActivityOptions } from '@temporalio/workflow';
import type { SharedActivities } from '../../activities/index.js';
import type { XComActivities as Own } from '../../activities/xcom/index.js';

/** What this runbook calls: its own activities and the shared change, rollout and re-run ones. */
type XComActivities = Own & SharedActivities;
import { durationMs } from '../../domain/duration.js';
import type { Plan } from '../../domain/plan.js';
import { COMPENSATING, HEARTBEAT, QUICK, READS, proxyStep, retry } from '../engine/steps.js';

function step<K extends keyof XComActivities & string>(name: K, summary: string, options: ActivityOptions) {
  return proxyStep<XComActivities, K>(name, summary, options);
}

export function stepsFor(plan: Plan) {
  const validationMs = durationMs(plan.spec.validation.timeout);
  const quick = QUICK;
  const reads = READS;
  const compensating = COMPENSATING;
  return {
    calibrate: step('calibrate', 'CALIBRATE: measure XCom value sizes in the metadata DB', reads),
    preflight: step(
      'preflight',
      'PREFLIGHT: read-only checks (provider, connection, S3 round trip, config resolution)',
      reads,
    ),
    renderChange: step('renderChange', 'RENDER: the exact env vars and their encoding lint', quick),
    rehearse: step('rehearse', 'REHEARSE: kill-switch rehearsal (offload, break, heal, clean up)', {
      startToCloseTimeout: '15m',
      heartbeatTimeout: HEARTBEAT,
      retry: retry(3),
    }),
    verifyConfig: step('verifyConfig', 'VERIFY: resolve the config inside every component', reads),
    validateRun: step('validateRun', 'VALIDATE: post-flip DAG run', {
      startToCloseTimeout: validationMs + 60_000,
      heartbeatTimeout: HEARTBEAT,
      retry: retry(2),
    }),
    confirmHealed: step('confirmHealed', 'COMPENSATE: confirm the re-runs read data again', {
      startToCloseTimeout: '5m',
      ...compensating,
    }),
  };
}

export type Steps = ReturnType<typeof stepsFor>;
