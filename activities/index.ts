/**
 * createActivities(adapters): every runbook step as a Temporal activity, built
 * over injected adapters (the dependency-injection pattern of Temporal's
 * samples). The worker passes real adapters; a step whose adapter the worker
 * lacks fails with a non-retryable AdapterMissing naming it.
 */
import type { Adapters } from './adapters.js';
import { applyActivities } from './apply.js';
import { calibrateActivities } from './calibrate.js';
import { compensateActivities } from './compensate.js';
import { preflightActivities } from './preflight.js';
import { rehearseActivities } from './rehearse.js';
import { renderActivities } from './render.js';
import { validateActivities } from './validate.js';
import { verifyActivities } from './verify.js';

export function createActivities(adapters: Adapters) {
  return {
    ...calibrateActivities(adapters),
    ...preflightActivities(adapters),
    ...renderActivities(adapters),
    ...rehearseActivities(adapters),
    ...applyActivities(adapters),
    ...verifyActivities(adapters),
    ...validateActivities(adapters),
    ...compensateActivities(adapters),
  };
}

export type CutoverActivities = ReturnType<typeof createActivities>;
export type { Adapters } from './adapters.js';
