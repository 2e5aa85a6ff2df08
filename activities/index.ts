/**
 * createActivities(adapters): every runbook step as a Temporal activity, built
 * over injected adapters (the dependency-injection pattern of Temporal's
 * samples). The worker passes real adapters; a step whose adapter the worker
 * lacks fails with a non-retryable AdapterMissing naming it. `notifications`
 * (webhook URL, metrics registry) come from the worker's environment too.
 */
import type { Adapters } from './adapters.js';
import { applyActivities } from './apply.js';
import { calibrateActivities } from './calibrate.js';
import { compensateActivities } from './compensate.js';
import { notifyActivities, type NotifyOptions } from './notify.js';
import { preflightActivities } from './preflight.js';
import { rehearseActivities } from './rehearse.js';
import { renderActivities } from './render.js';
import { validateActivities } from './validate.js';
import { verifyActivities } from './verify.js';

export function createActivities(adapters: Adapters, notifications: NotifyOptions = {}) {
  return {
    ...calibrateActivities(adapters),
    ...preflightActivities(adapters),
    ...renderActivities(adapters),
    ...rehearseActivities(adapters),
    ...applyActivities(adapters),
    ...verifyActivities(adapters),
    ...validateActivities(adapters),
    ...compensateActivities(adapters),
    ...notifyActivities(notifications),
  };
}

export type CutoverActivities = ReturnType<typeof createActivities>;
export type { Adapters } from './adapters.js';
