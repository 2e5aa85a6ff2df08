/**
 * The state-store flip's own activities over injected adapters. Their names
 * carry the runbook's prefix (`stateStore.calibrate`, ...), so they never
 * collide with another runbook's on the shared task queue; the change, its
 * rollout and DAG re-runs are the shared activities.
 */
import { formatBytesExact, formatCount } from '../../domain/figures.js';
import { heartbeat } from '@temporalio/activity';
import { lintAirflowEnv } from '../../domain/airflow-env.js';
import type { CheckRow } from '../../domain/engine/evidence.js';
import type { ChangeStage, RenderedChange } from '../../domain/evidence.js';
import { durationMs } from '../../domain/duration.js';
import {
  METASTORE_STATE_BACKEND,
  STATE_STORE_OBJECT_STORAGE_BACKEND,
  stateStoreEnv,
} from '../../domain/state-store.js';
import { STATE_STORE_ACTIVITY_PREFIX } from '../../domain/statestore/kind.js';
import type { StateStorePlan } from '../../domain/statestore/plan.js';
import type {
  ResolvedStateStore,
  StateStoreCalibration,
  StateStoreHealEvidence,
  StateStorePreflight,
  StateStoreRehearsalEvidence,
  StateStoreValidation,
  StateStoreVerify,
  StoreSizes,
} from '../../domain/statestore/run.js';
import { proposeThreshold } from '../../domain/threshold.js';
import type { SizeQuantiles } from '../../domain/evidence.js';
import { requireAdapter, type Adapters } from '../adapters.js';
import { adapterMissing } from '../engine/errors.js';
import { gate, timed } from '../engine/timing.js';
import { encodingLintRow, workerCanDeploy } from '../worker-capability.js';
import { lifecycleNeeds, lifecyclePreflightRow } from '../object-storage.js';
import { inEachComponent } from '../engine/each-component.js';

/** Prefixes every key with the runbook's name: `calibrate` becomes `stateStore.calibrate`. */
type Prefixed<T> = { [K in keyof T & string as `stateStore.${K}`]: T[K] };

function prefixed<T extends object>(activities: T): Prefixed<T> {
  return Object.fromEntries(
    Object.entries(activities).map(([k, v]) => [`${STATE_STORE_ACTIVITY_PREFIX}${k}`, v]),
  ) as Prefixed<T>;
}

/** How far apart the worker's clock and the Airflow components' clocks may be. */
const CLOCK_SKEW_MARGIN_MS = 60_000;

const QUANTILES: (keyof SizeQuantiles)[] = ['p50', 'p95', 'p99', 'p999', 'max'];

/** The settings a stage deploys, for the plan and a threshold. */
export function renderStateStoreStage(plan: StateStorePlan, thresholdBytes: number): ChangeStage {
  const { path, compression } = plan.spec.stateStore;
  return { label: 'target', thresholdBytes, env: stateStoreEnv({ path, thresholdBytes, compression }) };
}

export function stateStoreActivities(adapters: Adapters) {
  const probes = (plan: StateStorePlan, needs: string) =>
    requireAdapter(adapters, 'stateStoreProbes', plan, needs);

  return prefixed({
    /** In-DB sizes of the state the flip would route through object storage, and the threshold. */
    async calibrate({ plan }: { plan: StateStorePlan }): Promise<StateStoreCalibration> {
      const db = requireAdapter(adapters, 'stateStoreDb', plan, 'measure the state-store tables');
      return timed(async () => {
        const sizes = await db.measureStateStoreSizes({ topProducers: 5 });
        // One threshold serves both stores: propose from the larger of their quantiles.
        const combined = Object.fromEntries(
          QUANTILES.map((q) => [q, Math.max(sizes.task.sizeBytes[q], sizes.asset.sizeBytes[q])]),
        ) as unknown as SizeQuantiles;
        const proposal = proposeThreshold(combined, plan.spec.stateStore.threshold);
        const counts = await db.countRowsAtOrAbove([proposal.thresholdBytes]);
        const projected = (counts.task[0] ?? 0) + (counts.asset[0] ?? 0);
        const max = plan.spec.stateStore.maxOffloadRows;
        const task: StoreSizes = {
          rowCount: sizes.task.rowCount,
          sizeBytes: sizes.task.sizeBytes,
          sizeBands: sizes.task.sizeBands,
          wrapped: sizes.task.wrapped,
          topProducers: sizes.task.topProducers.map((p) => ({
            name: `${p.dagId}/${p.taskId}`,
            key: p.key,
            rows: p.rows,
            maxBytes: p.maxBytes,
          })),
        };
        const asset: StoreSizes = {
          rowCount: sizes.asset.rowCount,
          sizeBytes: sizes.asset.sizeBytes,
          sizeBands: sizes.asset.sizeBands,
          wrapped: sizes.asset.wrapped,
          topProducers: sizes.asset.topProducers.map((p) => ({
            name: p.assetName ?? '(asset gone)',
            key: p.key,
            rows: p.rows,
            maxBytes: p.maxBytes,
          })),
        };
        return {
          task,
          asset,
          proposal,
          projectedOffloadRows: projected,
          maxOffloadRows: max,
          gate: gate(
            projected > max
              ? [
                  `${formatCount(projected)} existing state rows are at or above ${formatBytesExact(proposal.thresholdBytes)} (the plan allows ${formatCount(max)}): raise spec.stateStore.maxOffloadRows or the threshold`,
                ]
              : [],
          ),
        };
      });
    },

    /** Read-only checks: the config resolves in every component, versions, draft names, who carries the env. */
    async preflight({
      plan,
      thresholdBytes,
      dryRun = false,
    }: {
      plan: StateStorePlan;
      thresholdBytes: number;
      dryRun?: boolean;
    }): Promise<StateStorePreflight> {
      const p = probes(plan, 'resolve the state-store config inside the components');
      return timed(async () => {
        const stage = renderStateStoreStage(plan, thresholdBytes);
        const rows: CheckRow[] = [];
        rows.push(encodingLintRow(stage.env));
        const resolved = await inEachComponent(plan.target.components, async (component) => {
          const started = Date.now();
          const c = await p.resolve({ component, extraEnv: stage.env });
          return { component, c, durationMs: Date.now() - started };
        });
        for (const { component, c, durationMs } of resolved) {
          const problems = [...c.problems, ...(c.error ? [c.error] : [])];
          const versions = Object.entries(c.versions)
            .map(([k, v]) => `${k} ${v ?? 'absent'}`)
            .join(', ');
          rows.push({
            name: `config resolution in ${component.name}`,
            status: problems.length === 0 ? 'green' : 'red',
            detail:
              problems.length === 0
                ? `[workers] state_store_backend -> ${c.workerBackendClass ?? c.workerBackend}, path ${c.path}, threshold ${c.threshold} B, compression '${c.compression ?? ''}'; ${versions}`
                : `${problems.join('; ')} (${versions})`,
            durationMs,
          });
        }
        rows.push(carriers(plan));
        rows.push(await lifecyclePreflightRow(adapters, plan));
        rows.push(
          workerCanDeploy(adapters, plan, dryRun, [
            ['change', `apply and revert the change (${plan.change.mode})`],
            ['rollout', 'restart the components and wait for the rollout'],
            ['stateStoreProbes', 'verify the config inside the components'],
            ['stateStoreHeal', 'rewrite state rows back to plain values if the flip is undone'],
            ['airflowApi', 'run the validation DAG and re-run affected runs'],
            ...lifecycleNeeds(plan),
          ]),
        );
        return {
          checks: rows,
          gate: gate(rows.filter((r) => r.status === 'red').map((r) => `${r.name}: ${r.detail}`)),
        };
      });
    },

    /** The exact env vars and their encoding lint. */
    async renderChange({
      plan,
      thresholdBytes,
    }: {
      plan: StateStorePlan;
      thresholdBytes: number;
    }): Promise<RenderedChange> {
      return timed(async () => {
        const stages = [renderStateStoreStage(plan, thresholdBytes)];
        const findings = stages.flatMap((s) => lintAirflowEnv(Object.keys(s.env)));
        return { stages, lint: { passed: findings.length === 0, findings } };
      });
    },

    /** In a component, with the env as deployed: marker in the DB, object round trip, break, heal, clean. */
    async rehearse({
      plan,
      runId,
      stage,
    }: {
      plan: StateStorePlan;
      runId: string;
      stage: ChangeStage;
    }): Promise<StateStoreRehearsalEvidence> {
      const p = probes(plan, 'rehearse the flip inside a component');
      const component = plan.target.components[0];
      if (!component) throw adapterMissing('component', 'rehearse: the plan lists no component');
      return timed(async () => {
        const r = await p.rehearse({ component, runId, env: stage.env, heartbeat });
        const checks = {
          offloaded: r.checks.offloaded,
          markerInDb: r.checks.markerInDb,
          roundTripIntact: r.checks.roundTripIntact,
          breakConfirmed: r.checks.breakConfirmed,
          healConfirmed: r.checks.healConfirmed,
          cleaned: r.checks.cleaned,
        };
        const failed = Object.entries(checks)
          .filter(([, ok]) => !ok)
          .map(([name]) => `${name} not confirmed in ${component.name}`);
        return {
          component: component.name,
          valueBytes: r.valueBytes,
          objectPaths: r.objectPaths,
          checks,
          timingsMs: r.timingsMs,
          gate: gate(failed),
        };
      });
    },

    /** VERIFY: every component resolves the backend and its options as the stage says. */
    async verifyConfig({
      plan,
      stage,
    }: {
      plan: StateStorePlan;
      stage: ChangeStage;
    }): Promise<StateStoreVerify> {
      const p = probes(plan, 'verify the config inside the components');
      return timed(async () => {
        const components: ResolvedStateStore[] = [];
        const reasons: string[] = [];
        const { path, compression } = plan.spec.stateStore;
        const resolved = await inEachComponent(plan.target.components, async (component) => ({
          component,
          c: await p.resolve({ component }),
        }));
        for (const { component, c } of resolved) {
          const wrong: string[] = [...c.problems, ...(c.error ? [c.error] : [])];
          if (c.workerBackendClass !== STATE_STORE_OBJECT_STORAGE_BACKEND)
            wrong.push(
              `[workers] state_store_backend resolves to '${c.workerBackend ?? ''}', not ${STATE_STORE_OBJECT_STORAGE_BACKEND}`,
            );
          if (c.path !== path) wrong.push(`path resolves to ${c.path ?? '(unset)'}, not ${path}`);
          if (c.threshold !== stage.thresholdBytes)
            wrong.push(`threshold resolves to ${c.threshold ?? '(unset)'}, not ${stage.thresholdBytes}`);
          if ((c.compression ?? '') !== compression)
            wrong.push(`compression resolves to '${c.compression ?? ''}', not '${compression}'`);
          if (c.serverBackendClass && c.serverBackendClass !== METASTORE_STATE_BACKEND)
            wrong.push(`[state_store] backend is ${c.serverBackendClass}, not the metastore`);
          const error = [...new Set(wrong)].join('; ') || null;
          if (error) reasons.push(`${component.name}: ${error}`);
          components.push({
            component: component.name,
            workerBackend: c.workerBackend,
            serverBackend: c.serverBackend,
            path: c.path,
            threshold: c.threshold,
            compression: c.compression,
            error,
          });
        }
        return { components, gate: gate(reasons) };
      });
    },

    /** VALIDATE: the validation DAG writes task and asset state and reads it back, failing on a marker. */
    async validateRun({
      plan,
      runId,
    }: {
      plan: StateStorePlan;
      runId: string;
    }): Promise<StateStoreValidation> {
      const api = requireAdapter(adapters, 'airflowApi', plan, 'run the validation DAG');
      const v = plan.spec.validation;
      return timed(async () => {
        const r = await api.runValidationDag({
          dagId: v.dagId,
          runId,
          unpause: v.unpause,
          timeoutMs: durationMs(v.timeout),
          heartbeat,
        });
        const failedTasks = Object.entries(r.taskStates).filter(([, s]) => s !== 'success');
        const tooMany =
          v.maxObjects !== undefined && r.objectCount > v.maxObjects
            ? [`the run put ${r.objectCount} object(s) in object storage, the plan allows ${v.maxObjects}`]
            : [];
        return {
          dagId: r.dagId,
          runId: r.runId,
          state: r.state,
          taskStates: r.taskStates,
          objectCount: r.objectCount,
          gate: gate([
            ...(r.state === 'success'
              ? []
              : [
                  `${r.dagId}/${r.runId} ended ${r.state}${failedTasks.length ? ` (${failedTasks.map(([t, s]) => `${t} ${s}`).join(', ')})` : ''}`,
                ]),
            ...tooMany,
          ]),
        };
      });
    },

    /**
     * The data-aware heal: every state row written under the backend since APPLY back to its plain value,
     * journaled and resumable (a retry continues where a killed worker stopped).
     */
    async healRows({
      plan,
      since,
      changeId,
    }: {
      plan: StateStorePlan;
      since: string;
      changeId: string;
    }): Promise<StateStoreHealEvidence> {
      const heal = requireAdapter(adapters, 'stateStoreHeal', plan, 'rewrite the wrapped state rows');
      const component = plan.target.components[0];
      if (!component) throw adapterMissing('component', 'heal: the plan lists no component');
      const { path, compression } = plan.spec.stateStore;
      return timed(async () => {
        // `since` is the worker's clock, rows carry the writers' (updated_at): start a little earlier. Only
        // marker rows are touched, so an earlier bound can only heal more rows that are broken anyway.
        const r = await heal.heal({
          component,
          changeId,
          since: new Date(Date.parse(since) - CLOCK_SKEW_MARGIN_MS),
          path,
          compression,
          heartbeat,
        });
        const left = r.markerRowsRemaining.sinceApply.task + r.markerRowsRemaining.sinceApply.asset;
        const unreadable = r.unreadable.map((u) => ({
          store: u.store,
          key: u.key,
          path: u.path,
          reason: u.reason,
          where:
            u.store === 'task'
              ? `${u.dagId ?? '?'}/${u.runId ?? '?'}/${u.taskId ?? '?'}[${u.mapIndex ?? -1}]`
              : `asset ${u.assetName ?? u.assetId ?? '?'}`,
        }));
        return {
          since,
          rewritten: r.rewritten,
          inlineRefs: r.stores.task.inlineRefs + r.stores.asset.inlineRefs,
          objectRefs: r.stores.task.objectRefs + r.stores.asset.objectRefs,
          unreadable,
          markerRowsRemaining: left,
          durationMs: r.durationsMs.total,
          gate: gate([
            ...unreadable.map(
              (u) => `${u.store} state ${u.where} key ${u.key}: ${u.reason} (${u.path ?? 'no path'})`,
            ),
            ...(left > 0 && unreadable.length === 0 ? [`${left} marker row(s) remain since APPLY`] : []),
            ...(r.unreadableTruncated ? ['more unreadable rows than listed'] : []),
          ]),
        };
      });
    },
  });
}

/** Who will carry the env: the triggerer reads asset state through the worker backend too. */
function carriers(plan: StateStorePlan): CheckRow {
  const names = plan.target.components.map((c) => c.name);
  const lacking = ['triggerer'].filter((n) => !names.includes(n));
  const executorNote =
    plan.target.kind === 'kubernetes'
      ? '; task pods started by the KubernetesExecutor take their env from the pod template, which this change must reach too'
      : '';
  return {
    name: 'components that will carry the env',
    status: lacking.length === 0 && !executorNote ? 'green' : 'amber',
    detail:
      `${names.join(', ')}` +
      (lacking.length
        ? `; no triggerer listed: triggers read asset state through the worker backend and would read the marker`
        : '') +
      executorNote,
    durationMs: 0,
  };
}

export type StateStoreActivities = ReturnType<typeof stateStoreActivities>;
