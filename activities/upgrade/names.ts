/** Names the upgrade gives what it makes, derived from the plan so a retried step finds its own. */
import type { UpgradePlan } from '../../domain/upgrade/plan.js';

const underscored = (version: string) => version.replace(/\./g, '_');

/** The scratch database the migration is rehearsed on. */
export function rehearsalDatabase(plan: UpgradePlan, live: string): string {
  return plan.spec.rehearsal.database ?? `${live}_cutover_rehearsal`;
}

/** The clone the `clone` backup strategy makes and a rollback renames back. */
export function cloneDatabaseName(plan: UpgradePlan, live: string): string {
  const backup = plan.spec.backup;
  const given = backup.strategy === 'clone' ? backup.cloneName : undefined;
  return given ?? `${live}_before_${underscored(plan.spec.upgrade.toVersion)}`;
}

/** The dump file: which DB, from and to which release, and which run made it. */
export function dumpFileName(plan: UpgradePlan, live: string, changeId: string): string {
  const id = changeId.replace(/[^A-Za-z0-9_-]+/g, '-').slice(0, 48);
  return `${live}-airflow-${plan.airflow.version}-before-${plan.spec.upgrade.toVersion}-${id}.dump`;
}

/** The plan as the release `version` reads it: the REST API adapter picks /api/v1 or /api/v2 from it. */
export function planAtRelease(plan: UpgradePlan, version: string): UpgradePlan {
  return version === plan.airflow.version ? plan : { ...plan, airflow: { ...plan.airflow, version } };
}
