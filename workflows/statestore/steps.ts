/** The state-store flip's activities as typed steps, with the timeouts and retry policies each needs. */
import type { ActivityOptions } from '@temporalio/workflow';
import type { SharedActivities } from '../../activities/index.js';
import type { StateStoreActivities as Own } from '../../activities/statestore/index.js';
import { durationMs } from '../../domain/duration.js';
import type { StateStorePlan } from '../../domain/statestore/plan.js';
import { COMPENSATING, HEARTBEAT, QUICK, READS, proxyStep, retry } from '../engine/steps.js';

/** What this runbook calls: its own activities and the shared change, rollout and re-run ones. */
type Activities = Own & SharedActivities;

function step<K extends keyof Activities & string>(name: K, summary: string, options: ActivityOptions) {
  return proxyStep<Activities, K>(name, summary, options);
}

export function stateStoreSteps(plan: StateStorePlan) {
  const validationMs = durationMs(plan.spec.validation.timeout);
  return {
    calibrate: step(
      'stateStore.calibrate',
      'CALIBRATE: measure task and asset state sizes in the metadata DB',
      READS,
    ),
    preflight: step(
      'stateStore.preflight',
      'PREFLIGHT: read-only checks (versions, config resolution in every component, draft names)',
      READS,
    ),
    renderChange: step(
      'stateStore.renderChange',
      'RENDER: the exact env vars and their encoding lint',
      QUICK,
    ),
    rehearse: step(
      'stateStore.rehearse',
      'REHEARSE: marker in the DB, object round trip, break, heal, clean up',
      {
        startToCloseTimeout: '15m',
        heartbeatTimeout: HEARTBEAT,
        retry: retry(3),
      },
    ),
    verifyConfig: step(
      'stateStore.verifyConfig',
      'VERIFY: resolve the state-store config inside every component',
      READS,
    ),
    validateRun: step(
      'stateStore.validateRun',
      'VALIDATE: the validation DAG writes and reads back its state',
      {
        startToCloseTimeout: validationMs + 60_000,
        heartbeatTimeout: HEARTBEAT,
        retry: retry(2),
      },
    ),
    healRows: step(
      'stateStore.healRows',
      'COMPENSATE: rewrite state rows written under the backend to plain values',
      {
        // A big window is rewritten in one go; the journal makes a retry resume, the heartbeat notices a dead worker.
        startToCloseTimeout: '60m',
        ...COMPENSATING,
      },
    ),
  };
}
