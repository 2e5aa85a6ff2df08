import type { PreflightEvidence } from '../../domain/evidence.js';
import type { Plan } from '../../domain/plan.js';
import { requireAdapter, type Adapters } from '../adapters.js';
import { encodingLintRow, workerCanDeploy } from '../worker-capability.js';
import { lifecycleNeeds, lifecyclePreflightRow } from '../object-storage.js';
import { renderStages } from './render.js';
import { gate, timed } from '../engine/timing.js';

/** What the XCom flip needs past the go (apply, roll out, verify, validate, revert). */
export function xcomNeeds(plan: Plan): [keyof Adapters, string][] {
  return [
    ['change', `apply and revert the change (${plan.change.mode})`],
    ['rollout', 'restart the components and wait for the rollout'],
    ['probes', 'verify the config inside the components'],
    ['airflowApi', 'run the validation DAG and re-run affected runs'],
    ...lifecycleNeeds(plan),
  ];
}

export function preflightActivities(adapters: Adapters) {
  return {
    /** §2 of the dossier: read-only checks; any red row stops the run before anything changes. */
    async preflight({
      plan,
      runId,
      thresholdBytes,
      dryRun = false,
    }: {
      plan: Plan;
      runId: string;
      thresholdBytes: number;
      dryRun?: boolean;
    }): Promise<PreflightEvidence> {
      const probes = requireAdapter(adapters, 'probes', plan, 'run the preflight checks inside Airflow');
      return timed(async () => {
        const [stage] = renderStages(plan, thresholdBytes);
        if (!stage) throw new Error('no change stage rendered');
        const lint = encodingLintRow(stage.env);
        const component = plan.target.components[0];
        if (!component) throw new Error('plan has no components');
        const rows = [
          lint,
          ...(await probes.preflight({ component, plan, runId, env: stage.env })),
          await lifecyclePreflightRow(adapters, plan),
          workerCanDeploy(adapters, plan, dryRun, xcomNeeds(plan)),
        ];
        return {
          checks: rows,
          gate: gate(rows.filter((r) => r.status === 'red').map((r) => `${r.name}: ${r.detail}`)),
        };
      });
    },
  };
}
