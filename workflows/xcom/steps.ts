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
    calibrate: step(
      'calibrate',
      'Measures the size of every XCom value in the metadata DB and proposes a threshold (CALIBRATE).',
      reads,
    ),
    preflight: step(
      'preflight',
      'Checks, read-only, the provider, the connection, an S3 round trip and how the config resolves (PREFLIGHT).',
      reads,
    ),
    renderChange: step(
      'renderChange',
      'Renders the exact environment variables and lints their encoding (RENDER).',
      quick,
    ),
    rehearse: step(
      'rehearse',
      'Rehearses the kill-switch: offloads a sentinel, breaks reads, heals them and cleans up (REHEARSE).',
      {
        startToCloseTimeout: '15m',
        heartbeatTimeout: HEARTBEAT,
        retry: retry(3),
      },
    ),
    verifyConfig: step(
      'verifyConfig',
      'Resolves the effective config inside every component (VERIFY).',
      reads,
    ),
    validateRun: step(
      'validateRun',
      'Runs the validation DAG on the new config and checks what it wrote (VALIDATE).',
      {
        startToCloseTimeout: validationMs + 60_000,
        heartbeatTimeout: HEARTBEAT,
        retry: retry(2),
      },
    ),
    confirmHealed: step(
      'confirmHealed',
      'Confirms that the re-run DAG runs read their data again (COMPENSATE).',
      {
        startToCloseTimeout: '5m',
        ...compensating,
      },
    ),
  };
}

export type Steps = ReturnType<typeof stepsFor>;
