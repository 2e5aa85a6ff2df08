/**
 * createActivities(adapters): the engine's activities plus every runbook's, for
 * one worker that serves all runbooks on one task queue. Built over injected
 * adapters (the dependency-injection pattern of Temporal's samples); a step
 * whose adapter the worker lacks fails with a non-retryable AdapterMissing
 * naming it. Two runbooks registering one activity name would make one of them
 * run the other's code, so that is refused when the worker is built.
 */
import type { Adapters } from './adapters.js';
import { changeActivities } from './change.js';
import { assessmentActivities } from './assessment/index.js';
import { dagRunActivities } from './dag-runs.js';
import { deploymentHealthActivities } from './deployment-health.js';
import { notifyActivities, type NotifyOptions } from './engine/notify.js';
import { objectStorageActivities } from './object-storage.js';
import { signatureActivities } from './engine/signatures.js';
import { stateStoreActivities } from './statestore/index.js';
import { upgradeActivities } from './upgrade/index.js';
import { xcomActivities } from './xcom/index.js';

/** Each runbook's activity factory, by plan kind. */
export const RUNBOOK_ACTIVITIES = {
  XComBackendCutover: xcomActivities,
  StateStoreBackendCutover: stateStoreActivities,
  DeploymentAssessment: (adapters: Adapters) => assessmentActivities(adapters),
  AirflowUpgrade: upgradeActivities,
} satisfies Record<string, (adapters: Adapters) => object>;

/** Merges activity sets, refusing a name that two of them register. */
export function mergeActivities<T extends object[]>(...sets: T): UnionToIntersection<T[number]> {
  const merged: Record<string, unknown> = {};
  const owner = new Map<string, number>();
  sets.forEach((set, i) => {
    for (const [name, fn] of Object.entries(set)) {
      const first = owner.get(name);
      if (first !== undefined)
        throw new Error(
          `activity name collision: "${name}" is registered by activity sets ${first} and ${i}`,
        );
      owner.set(name, i);
      merged[name] = fn;
    }
  });
  return merged as UnionToIntersection<T[number]>;
}

type UnionToIntersection<U> = (U extends unknown ? (u: U) => void : never) extends (i: infer I) => void
  ? I
  : never;

export function createActivities(adapters: Adapters, notifications: NotifyOptions = {}) {
  return mergeActivities(
    notifyActivities(notifications),
    signatureActivities(adapters),
    changeActivities(adapters),
    dagRunActivities(adapters),
    objectStorageActivities(adapters),
    deploymentHealthActivities(adapters),
    ...Object.values(RUNBOOK_ACTIVITIES).map((factory) => factory(adapters)),
  ) as SharedActivities &
    ReturnType<typeof xcomActivities> &
    ReturnType<typeof stateStoreActivities> &
    ReturnType<typeof assessmentActivities> &
    ReturnType<typeof upgradeActivities>;
}

/**
 * The activities every runbook may call: notifications, signature checks, the change and its rollout, DAG re-runs, the
 * bucket, the deployment health checks.
 */
export type SharedActivities = ReturnType<typeof notifyActivities> &
  ReturnType<typeof signatureActivities> &
  ReturnType<typeof changeActivities> &
  ReturnType<typeof dagRunActivities> &
  ReturnType<typeof objectStorageActivities> &
  ReturnType<typeof deploymentHealthActivities>;

export type CutoverActivities = ReturnType<typeof createActivities>;
export type { Adapters } from './adapters.js';
