import { lintAirflowEnv } from '../../domain/airflow-env.js';
import type { CheckRow, PreflightEvidence } from '../../domain/evidence.js';
import type { Plan } from '../../domain/plan.js';
import { requireAdapter, resolveAdapter, type Adapters } from '../adapters.js';
import { PermanentFault } from '../engine/errors.js';
import { renderStages } from './render.js';
import { gate, timed } from '../engine/timing.js';

/**
 * Can this worker carry the run past the go? A cut-over whose worker cannot roll out, validate or
 * revert would change production and then be unable to finish or undo it, so for a real run that is
 * a red row here, before anything changes; a dry run only needs the evidence steps (amber).
 */
export function workerCanDeploy(adapters: Adapters, plan: Plan, dryRun: boolean): CheckRow {
  const started = Date.now();
  const lacking: string[] = [];
  const needed: [keyof Adapters, string][] = [
    ['change', `apply and revert the change (${plan.change.mode})`],
    ['rollout', 'restart the components and wait for the rollout'],
    ['probes', 'verify the config inside the components'],
    ['airflowApi', 'run the validation DAG and re-run affected runs'],
  ];
  for (const [key, what] of needed) {
    try {
      if (!resolveAdapter(adapters[key], plan)) lacking.push(what);
    } catch (err) {
      // Factories throw AdapterMissing for what they cannot build, and say why when the plan names
      // something the worker lacks (an unset credentials variable, an unreadable kubeconfig).
      lacking.push(err instanceof PermanentFault ? `${what} (${err.message})` : what);
    }
  }
  return {
    name: 'worker can deploy, verify, validate and revert',
    status: lacking.length === 0 ? 'green' : dryRun ? 'amber' : 'red',
    detail:
      lacking.length === 0
        ? `adapters for ${plan.target.kind} target with ${plan.change.mode} changes are all present`
        : `this worker cannot ${lacking.join('; ')}${dryRun ? ' (not needed for a dry run)' : ': it must not start a change it could not finish or undo'}`,
    durationMs: Date.now() - started,
  };
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
        const lintStarted = Date.now();
        const findings = lintAirflowEnv(Object.keys(stage.env));
        const lint: CheckRow = {
          name: 'env var encoding lint',
          status: findings.length === 0 ? 'green' : 'red',
          detail:
            findings.length === 0
              ? `${Object.keys(stage.env).length} variables spelled the way Airflow looks them up`
              : findings.map((f) => `${f.variable}: ${f.problem}`).join('; '),
          durationMs: Date.now() - lintStarted,
        };
        const component = plan.target.components[0];
        if (!component) throw new Error('plan has no components');
        const rows = [
          lint,
          ...(await probes.preflight({ component, plan, runId, env: stage.env })),
          workerCanDeploy(adapters, plan, dryRun),
        ];
        return {
          checks: rows,
          gate: gate(rows.filter((r) => r.status === 'red').map((r) => `${r.name}: ${r.detail}`)),
        };
      });
    },
  };
}
