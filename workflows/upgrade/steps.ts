/** The upgrade's activities as typed steps, with the timeouts and retry policies each needs. */
import type { ActivityOptions } from '@temporalio/workflow';
import type { SharedActivities } from '../../activities/index.js';
import type { UpgradeActivities as Own } from '../../activities/upgrade/index.js';
import { durationMs } from '../../domain/duration.js';
import type { UpgradePlan } from '../../domain/upgrade/plan.js';
import { COMPENSATING, HEARTBEAT, QUICK, READS, proxyStep, retry } from '../engine/steps.js';

type Activities = Own & SharedActivities;

function step<K extends keyof Activities & string>(name: K, summary: string, options: ActivityOptions) {
  return proxyStep<Activities, K>(name, summary, options);
}

/** Long DB work (a copy, a dump, a migration, a restore) on a big metadata DB. */
const DB_WORK = '2h';

export function upgradeSteps(plan: UpgradePlan) {
  const rolloutMs = durationMs(plan.rollout.timeout);
  const validationMs =
    durationMs(plan.spec.validation.timeout) + durationMs(plan.spec.validation.scheduleGrace);
  return {
    preflight: step(
      'upgrade.preflight',
      'Reads the release in every component, the providers, the migration SQL, the DB size and the Airflow 3 findings (PREFLIGHT).',
      READS,
    ),
    rehearse: step(
      'upgrade.rehearse',
      'Copies the metadata DB, migrates the copy with the new release, times it, compares row counts and drops it (REHEARSE).',
      { startToCloseTimeout: DB_WORK, heartbeatTimeout: HEARTBEAT, retry: retry(3) },
    ),
    backup: step('upgrade.backup', 'Backs up the metadata DB and verifies the backup (BACKUP).', {
      startToCloseTimeout: DB_WORK,
      heartbeatTimeout: HEARTBEAT,
      retry: retry(3),
    }),
    drain: step(
      'upgrade.drain',
      'Stops the scheduler and every other component: the downtime starts (DRAIN).',
      {
        startToCloseTimeout: rolloutMs + 60_000,
        heartbeatTimeout: HEARTBEAT,
        retry: retry(3),
      },
    ),
    measureHistory: step(
      'upgrade.measureHistory',
      'Counts and checksums the history tables of the stopped DB (DRAIN).',
      { startToCloseTimeout: DB_WORK, heartbeatTimeout: HEARTBEAT, retry: retry(3) },
    ),
    injectMigrationFault: step(
      'upgrade.injectMigrationFault',
      'Drill: puts in rows the new release’s migration cannot take (MIGRATE).',
      QUICK,
    ),
    migrate: step('upgrade.migrate', 'Migrates the metadata DB with the new release (MIGRATE).', {
      startToCloseTimeout: DB_WORK,
      heartbeatTimeout: HEARTBEAT,
      // A killed worker's retry finds the schema at head (or waits on the migration lock): it runs once.
      retry: retry(3),
    }),
    awaitMigrationJob: step(
      'upgrade.awaitMigrationJob',
      "Waits for the Helm chart's migration Job the GitOps tool made for the new image (MIGRATE, Kubernetes).",
      {
        // The activity's own wait (the CD's sync and the migration) ends first, with a clear error.
        startToCloseTimeout: rolloutMs + durationMs(plan.spec.rehearsal.maxMigrationTime ?? DB_WORK) + 60_000,
        heartbeatTimeout: HEARTBEAT,
        // It only waits: a retry waits for the same Job, which runs once.
        retry: retry(3),
      },
    ),
    start: step('upgrade.start', 'Starts every component on the release the env file names (SWITCH).', {
      startToCloseTimeout: rolloutMs + 60_000,
      heartbeatTimeout: HEARTBEAT,
      retry: retry(2),
    }),
    verifyVersions: step(
      'upgrade.verifyVersions',
      'Reads the release inside every component and checks the schema is at its head (VERIFY).',
      READS,
    ),
    validate: step(
      'upgrade.validate',
      'Runs the critical DAGs first, then the validation DAG, and checks every DAG due in the downtime got scheduled (VALIDATE).',
      { startToCloseTimeout: validationMs + 60_000, heartbeatTimeout: HEARTBEAT, retry: retry(2) },
    ),
    runsSinceSwitch: step(
      'upgrade.runsSinceSwitch',
      'Reads the DAG runs made on the new release, before the rollback stops it (COMPENSATE).',
      { startToCloseTimeout: '5m', ...COMPENSATING },
    ),
    restore: step(
      'upgrade.restore',
      'Stops the components and brings the metadata DB back: the backup, or a downgrade that keeps new runs (COMPENSATE).',
      { startToCloseTimeout: DB_WORK, ...COMPENSATING },
    ),
    restartOld: step('upgrade.start', 'Starts every component on the old release again (COMPENSATE).', {
      startToCloseTimeout: rolloutMs + 60_000,
      ...COMPENSATING,
    }),
    verifyOld: step(
      'upgrade.verifyVersions',
      'Reads the release inside every component after the rollback (COMPENSATE).',
      { startToCloseTimeout: '10m', ...COMPENSATING },
    ),
    rerunOnOldRelease: step(
      'upgrade.rerunOnOldRelease',
      'Runs the DAG runs made on the new release again on the old one (COMPENSATE).',
      { startToCloseTimeout: validationMs + 60_000, ...COMPENSATING },
    ),
  };
}
