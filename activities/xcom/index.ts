/**
 * The XCom flip's activities over injected adapters. Their names are the ones
 * the recorded histories of `xcomBackendCutover` schedule (calibrate,
 * preflight, ...), so they keep them; later runbooks prefix theirs.
 */
import type { Adapters } from '../adapters.js';
import { calibrateActivities } from './calibrate.js';
import { compensateActivities } from './compensate.js';
import { preflightActivities } from './preflight.js';
import { rehearseActivities } from './rehearse.js';
import { renderActivities } from './render.js';
import { validateActivities } from './validate.js';
import { verifyActivities } from './verify.js';

export function xcomActivities(adapters: Adapters) {
  return {
    ...calibrateActivities(adapters),
    ...preflightActivities(adapters),
    ...renderActivities(),
    ...rehearseActivities(adapters),
    ...verifyActivities(adapters),
    ...validateActivities(adapters),
    ...compensateActivities(adapters),
  };
}

export type XComActivities = ReturnType<typeof xcomActivities>;
