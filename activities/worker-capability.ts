/**
 * The preflight rows every changing runbook has: the encoding lint of what it would deploy, and
 * whether this worker could finish or undo it. Each runbook names the adapters
 * it needs past the go; the row is red for a real run when any is missing.
 */
import { lintAirflowEnv } from '../domain/airflow-env.js';
import { WORKER_CAN_DEPLOY_CHECK, type CheckRow } from '../domain/engine/evidence.js';
import type { AnyPlan } from '../domain/runbooks.js';
import { resolveAdapter, type Adapters, type AdapterSource } from './adapters.js';
import { PermanentFault } from './engine/errors.js';

/**
 * Can this worker carry the run past the go? A cut-over whose worker cannot roll out, validate or
 * revert would change production and then be unable to finish or undo it, so for a real run that is
 * a red row here, before anything changes; a dry run only needs the evidence steps (amber).
 */
export function workerCanDeploy(
  adapters: Adapters,
  plan: AnyPlan,
  dryRun: boolean,
  needed: [keyof Adapters, string][],
): CheckRow {
  const started = Date.now();
  const lacking: string[] = [];
  for (const [key, what] of needed) {
    try {
      if (!resolveAdapter(adapters[key] as AdapterSource<object, AnyPlan> | undefined, plan))
        lacking.push(what);
    } catch (err) {
      // Factories throw AdapterMissing for what they cannot build, and say why when the plan names
      // something the worker lacks (an unset credentials variable, an unreadable kubeconfig).
      lacking.push(err instanceof PermanentFault ? `${what} (${err.message})` : what);
    }
  }
  return {
    id: WORKER_CAN_DEPLOY_CHECK,
    name: 'worker can deploy, verify, validate and revert',
    status: lacking.length === 0 ? 'green' : dryRun ? 'amber' : 'red',
    detail:
      lacking.length === 0
        ? `adapters for ${plan.target.kind} target with ${plan.change.mode} changes are all present`
        : `this worker cannot ${lacking.join('; ')}${dryRun ? ' (not needed for a dry run)' : ': it must not start a change it could not finish or undo'}`,
    durationMs: Date.now() - started,
  };
}

/** Red when a variable would be spelled so that Airflow never reads it (the dotted-section footgun). */
export function encodingLintRow(env: Record<string, string>): CheckRow {
  const started = Date.now();
  const findings = lintAirflowEnv(Object.keys(env));
  return {
    name: 'env var encoding lint',
    status: findings.length === 0 ? 'green' : 'red',
    detail:
      findings.length === 0
        ? `${Object.keys(env).length} variables spelled the way Airflow looks them up`
        : findings.map((f) => `${f.variable}: ${f.problem}`).join('; '),
    durationMs: Date.now() - started,
  };
}
