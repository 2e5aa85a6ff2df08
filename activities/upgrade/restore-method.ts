/**
 * How a rollback brings the metadata DB back. The backup is exact and fast; it loses what was written
 * after it. A downgrade with the new release's code keeps that, at the cost of trusting its
 * downgrade path. Which one is the evidence's call, within what the plan allows.
 */
import type { UpgradePlan } from '../../domain/upgrade/plan.js';
import type { BackupRecord, RunsSinceSwitch } from '../../domain/upgrade/run.js';

export interface RestoreChoice {
  method: 'restore' | 'downgrade';
  reason: string;
}

export function chooseRestoreMethod(
  allowed: UpgradePlan['spec']['rollback']['method'],
  backup: BackupRecord | null,
  runs: RunsSinceSwitch | null,
  migrated: boolean,
): RestoreChoice {
  const theirs = (runs?.runs ?? []).filter((r) => !r.cutover);
  const named = theirs.map((r) => `${r.dagId}/${r.runId}`).join(', ');
  if (!migrated && backup)
    return {
      method: 'restore',
      reason: 'the migration did not finish: the schema may be half-migrated, only the backup is sure',
    };
  if (allowed === 'restore' || (allowed === 'auto' && theirs.length === 0)) {
    if (!backup) return { method: 'downgrade', reason: 'no backup was taken before the migration' };
    return {
      method: 'restore',
      reason:
        theirs.length === 0
          ? 'no DAG run other than cutover’s own was written since the switch: the backup loses nothing'
          : `rollback.method restore: ${theirs.length} run(s) since the switch (${named}) are triggered again on the old release`,
    };
  }
  return {
    method: 'downgrade',
    reason:
      allowed === 'downgrade'
        ? 'rollback.method downgrade: airflow db downgrade keeps what was written since the switch'
        : `${theirs.length} DAG run(s) not made by cutover were written since the switch (${named}): a downgrade keeps them, a restore would lose them`,
  };
}
