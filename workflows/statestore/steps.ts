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
      'Measures the size of every task and asset state value in the metadata DB (CALIBRATE).',
      READS,
    ),
    preflight: step(
      'stateStore.preflight',
      'Checks, read-only, the versions, how the config resolves in every component and the draft names (PREFLIGHT).',
      READS,
    ),
    renderChange: step(
      'stateStore.renderChange',
      'Renders the exact environment variables and lints their encoding (RENDER).',
      QUICK,
    ),
    rehearse: step(
      'stateStore.rehearse',
      'Rehearses the kill-switch: a marker row, an object round trip, a break, a heal and the clean-up (REHEARSE).',
      {
        startToCloseTimeout: '15m',
        heartbeatTimeout: HEARTBEAT,
        retry: retry(3),
      },
    ),
    verifyConfig: step(
      'stateStore.verifyConfig',
      'Resolves the effective state-store config inside every component (VERIFY).',
      READS,
    ),
    validateRun: step(
      'stateStore.validateRun',
      'Runs the validation DAG, which writes its state and reads it back (VALIDATE).',
      {
        startToCloseTimeout: validationMs + 60_000,
        heartbeatTimeout: HEARTBEAT,
        retry: retry(2),
      },
    ),
    healRows: step(
      'stateStore.healRows',
      'Rewrites the state rows written under the backend back to plain values (COMPENSATE).',
      {
        // A big window is rewritten in one go; the journal makes a retry resume, the heartbeat notices a dead worker.
        startToCloseTimeout: '60m',
        ...COMPENSATING,
      },
    ),
  };
}
