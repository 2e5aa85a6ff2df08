/**
 * airflowUpgrade: a version upgrade of Airflow as one durable workflow on the engine, the way Slack's
 * upgrade post says it should go and what it wished it had done:
 *
 *   ASSESS     never upgrade a sick deployment
 *   PREFLIGHT  the release in every component, the target installed, providers, the migration SQL,
 *              the DB's size; for 2.x -> 3.x the config lint and the Airflow 3 DAG rules
 *   REHEARSE   the migration on a copy of the DB, timed (the downtime it predicts), history kept
 *   AWAIT_GO   the SQL, the rehearsed time, the backup plan
 *   BACKUP     a verified backup before anything stops (a clone is made once stopped)
 *   DRAIN      every component stopped: the downtime starts
 *   MIGRATE    the new release's `airflow db migrate`
 *   SWITCH     the env file names the new release; every component started on it
 *   VERIFY     the release inside every component, the schema at its head, the health checks
 *   VALIDATE   critical DAGs first (a few at a time, never a bulk clear), the validation DAG, and every
 *              DAG due during the downtime scheduled
 *
 * The undo stack (saga): the env file's release back, the DB back (the backup, or a downgrade when
 * runs worth keeping were made since the switch), the old release started; then the runs made on the
 * new release run again on the old one.
 *
 * On a KUBERNETES target the change is GitOps and the chart migrates (kubeChange): DRAIN scales the
 * workloads to 0; SWITCH merges `airflowVersion` / `defaultAirflowTag` into the Helm values, and the
 * CD applies the new image and the chart's migration Job (migrateDatabaseJob.useHelmHooks false);
 * MIGRATE waits for that Job, then the workloads scale back up on the new image. Its undo stack:
 * the DB back, the merge reverted (the CD puts the old image back), the workloads scaled back up.
 */
import { workflowInfo } from '@temporalio/workflow';
import { DEFAULT_HEALTH_OPTIONS } from '../../domain/assessment/options.js';
import { formatBytes, formatCount } from '../../domain/figures.js';
import { chartReleaseValues } from '../../domain/helm-values.js';
import { AIRFLOW_VERSION_KEY, UPGRADE_KIND } from '../../domain/upgrade/kind.js';
import type { UpgradePlan } from '../../domain/upgrade/plan.js';
import {
  downtimeMs,
  emptyUpgradeEvidence,
  sameHistory,
  type ScheduleCheck,
  type UpgradeEvidence,
  type UpgradeInput,
  type UpgradeResult,
} from '../../domain/upgrade/run.js';
import { applyWithUndo } from '../change/deploy.js';
import type { CompensationStep, UndoStack } from '../engine/compensation.js';
import { GateFailed } from '../engine/errors.js';
import type { Run } from '../engine/run.js';
import { runRunbook, type Runbook } from '../engine/runbook.js';
import { readHealth } from '../health/steps.js';
import { healthAfterChange, healthAfterRollbackStep } from '../health/gate.js';
import { upgradeSteps } from './steps.js';

type UpgradeRun = Run<UpgradePlan, UpgradeEvidence>;

export async function airflowUpgrade(input: UpgradeInput): Promise<UpgradeResult> {
  return runRunbook(input, airflowUpgradeRunbook);
}

const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

const airflowUpgradeRunbook: Runbook<UpgradePlan, UpgradeEvidence> = {
  kind: UPGRADE_KIND,
  firstPhase: 'ASSESS',
  emptyEvidence: emptyUpgradeEvidence,

  async evidence(run) {
    const { plan, input } = run;
    const steps = upgradeSteps(plan);
    const from = plan.airflow.version;
    const to = plan.spec.upgrade.toVersion;

    run.enter('ASSESS', `reading the deployment's health before upgrading Airflow ${from}`);
    const { assessment } = await readHealth(run, DEFAULT_HEALTH_OPTIONS, undefined, input.dryRun ?? false);
    run.evidence.health = { before: assessment, afterChange: null, afterRollback: null };
    if (assessment.row.status === 'red')
      return run.stop('ASSESS', {
        passed: false,
        reasons: [`${assessment.row.name}: ${assessment.row.detail}`],
      });

    run.enter('PREFLIGHT', `read-only checks for Airflow ${from} -> ${to}`);
    const preflight = await run.step(
      'read-only checks',
      () => steps.preflight({ plan }),
      (p) =>
        `${p.checks.filter((c) => c.status !== 'red').length}/${p.checks.length} checks green or amber; ${p.migrationSql ? `${p.migrationSql.statements} SQL statement(s)` : 'no migration SQL'}; DB ${formatBytes(p.db.sizeBytes)}`,
    );
    run.evidence.preflight = preflight;
    if (!preflight.gate.passed) return run.stop('PREFLIGHT', preflight.gate);

    if (!(input.dryRun && input.skipRehearsal)) {
      run.enter('REHEARSE', `migrating a copy of the metadata DB with Airflow ${to}`);
      const rehearsal = await run.step(
        'rehearse the migration on a copy',
        () => steps.rehearse({ plan }),
        (r) =>
          `copied in ${seconds(r.copyMs)}, migrated in ${seconds(r.migrateMs)}; ${r.rowCounts.map((c) => `${c.table} ${formatCount(c.before)} -> ${formatCount(c.after)}`).join(', ')}; copy ${r.dropped ? 'dropped' : 'LEFT'}`,
      );
      run.evidence.rehearsal = rehearsal;
      if (!rehearsal.gate.passed) return run.stop('REHEARSE', rehearsal.gate);
    }
    return undefined;
  },

  review(run) {
    return {
      openedAfter: reviewOpenedAfter(run.evidence),
      lines: upgradeReviewLines(run.plan, run.evidence, run.input.inject),
    };
  },

  async change(run, undo) {
    if (run.plan.target.kind === 'kubernetes') return kubeChange(run, undo);
    const { plan } = run;
    const steps = upgradeSteps(plan);
    const ev = run.evidence;
    const to = plan.spec.upgrade.toVersion;

    await backupBeforeStop(run);
    pushRestartOld(run, undo);
    await drainAndMeasure(run);

    let migrated = false;
    pushRestore(run, undo, () => migrated);
    run.enter(
      'MIGRATE',
      `airflow db migrate with Airflow ${to} (rehearsed: ${seconds(ev.rehearsal?.migrateMs ?? 0)})`,
    );
    if (run.input.inject === 'break-migration') await injectMigrationFault(run);
    ev.migration = await run.step(
      `migrate to Airflow ${to}`,
      () => steps.migrate({ plan }),
      (m) => `${m.fromRevision} -> ${m.toRevision} in ${seconds(m.durationMs)}`,
    );
    migrated = true;

    run.enter('SWITCH', `starting every component on Airflow ${to}`);
    // The env file names the new release (its revert pushed first); nothing restarts until start.
    await applyWithUndo(run, undo, {
      label: `airflow ${to}`,
      thresholdBytes: 0,
      env: { [AIRFLOW_VERSION_KEY]: to },
    });
    await startNew(run);
    return verifyAndValidate(run);
  },

  heal(run) {
    const { plan } = run;
    const ev = run.evidence;
    const steps: CompensationStep[] = [
      {
        name: 'rerunOnOldRelease',
        run: async () => {
          const method = ev.restore?.method ?? 'restore';
          // The validation DAG's own run proved the new release; the others were real work.
          const runs = (ev.runsSinceSwitch?.runs ?? []).filter(
            (r) => !(r.cutover && r.dagId === plan.spec.validation.dagId),
          );
          if (runs.length === 0) return;
          ev.retriggered = await run.step(
            `run again on Airflow ${plan.airflow.version}`,
            () => upgradeSteps(plan).rerunOnOldRelease({ plan, runs, method }),
            (r) => r.runs.map((x) => `${x.dagId}/${x.runId}: ${x.finalState}`).join(', '),
          );
          const failed = ev.retriggered.runs.filter((r) => r.finalState !== 'success');
          if (failed.length > 0)
            throw new Error(
              `runs did not succeed on the old release: ${failed.map((r) => `${r.dagId}/${r.runId} ${r.finalState}`).join(', ')}`,
            );
        },
      },
    ];
    steps.push(...healthAfterRollbackStep(run));
    return steps;
  },

  rolledBack: (run) => {
    const ev = run.evidence;
    const r = ev.restore;
    return `Airflow ${run.plan.airflow.version} runs again${r ? `; metadata DB ${r.method === 'restore' ? 'restored from the backup' : 'downgraded'} (${r.reason})` : ''}; ${ev.retriggered?.runs.length ?? 0} DAG run(s) made on ${run.plan.spec.upgrade.toVersion} run again`;
  },
};

/**
 * The upgrade on a Kubernetes target: the image comes from the Helm values (GitOps) and the chart's
 * migration Job migrates, so the order differs from the local one: the merge comes before the
 * migration (the CD starts the Job when it syncs it), and the DB's restore is pushed after the
 * merge's revert so a rollback restores the DB before the CD puts the old image (and its own
 * migration Job, then a no-op) back.
 */
async function kubeChange(run: UpgradeRun, undo: UndoStack): Promise<string> {
  const { plan } = run;
  const steps = upgradeSteps(plan);
  const ev = run.evidence;
  const to = plan.spec.upgrade.toVersion;

  await backupBeforeStop(run);
  pushRestartOld(run, undo);
  await drainAndMeasure(run);
  // Before the merge: the CD runs the migration Job as soon as it syncs it.
  if (run.input.inject === 'break-migration') await injectMigrationFault(run);

  run.enter(
    'SWITCH',
    `merging airflowVersion and defaultAirflowTag ${to} into the Helm values: the CD applies the image and the chart's migration Job`,
  );
  await applyWithUndo(run, undo, { label: `airflow ${to}`, thresholdBytes: 0, env: chartReleaseValues(to) });

  let migrated = false;
  pushRestore(run, undo, () => migrated);
  run.enter(
    'MIGRATE',
    `the chart's migration Job with Airflow ${to} (rehearsed: ${seconds(ev.rehearsal?.migrateMs ?? 0)})`,
  );
  ev.migration = await run.step(
    `the chart's migration Job for Airflow ${to}`,
    () => steps.awaitMigrationJob({ plan, fromRevision: ev.preflight?.dbRevision.revision ?? '' }),
    (m) => `${m.fromRevision} -> ${m.toRevision} in ${seconds(m.durationMs)}: ${m.outputTail}`,
  );
  migrated = true;
  await startNew(run);
  return verifyAndValidate(run);
}

/** A pg-dump backup is taken while Airflow still runs (a clone waits for the stop). */
async function backupBeforeStop(run: UpgradeRun): Promise<void> {
  const backup = run.plan.spec.backup;
  if (backup.strategy === 'pg-dump') {
    run.enter(
      'BACKUP',
      `pg_dump of the metadata DB to ${backup.to} while Airflow ${run.plan.airflow.version} still runs`,
    );
    run.evidence.backup = await backupStep(run);
  }
}

/** The rollback's last step: the old release started and verified in every component. */
function pushRestartOld(run: UpgradeRun, undo: UndoStack): void {
  const { plan } = run;
  const steps = upgradeSteps(plan);
  const ev = run.evidence;
  const from = plan.airflow.version;
  undo.push(`start Airflow ${from} again`, async () => {
    ev.restarted = await run.step(
      `start Airflow ${from}`,
      () => steps.restartOld({ plan, version: from }),
      (s) => `${s.components.length} component(s) healthy at ${s.healthyAt}`,
    );
    ev.rolledBackVersions = await run.step(
      `verify Airflow ${from}`,
      () => steps.verifyOld({ plan, version: from }),
      (v) => versionsSummary(v.components, v.migrationsCurrent),
    );
    if (!ev.rolledBackVersions.gate.passed)
      throw new Error(`after the rollback: ${ev.rolledBackVersions.gate.reasons.join('; ')}`);
  });
}

/** Every component stopped, the still DB measured, and backed up again (or cloned) when needed. */
async function drainAndMeasure(run: UpgradeRun): Promise<void> {
  const { plan } = run;
  const steps = upgradeSteps(plan);
  const ev = run.evidence;
  run.enter('DRAIN', `stopping ${plan.target.components.length} component(s): the downtime starts`);
  ev.drain = await run.step(
    'stop every component',
    () => steps.drain({ plan }),
    (d) => `stopped at ${d.stoppedAt}; ${d.schedule.length} unpaused DAG(s) with a next run`,
  );
  const still = await run.step(
    'count the history tables',
    () => steps.measureHistory({ plan }),
    (h) => h.rowCounts.map((c) => `${c.table} ${formatCount(c.rows)}`).join(', '),
  );
  if (ev.backup && !sameHistory(ev.backup.checksums, still.checksums)) {
    // Runs wrote between the dump and the stop: a restore of that dump would lose them.
    run.say('the DB changed between the dump and the stop: dumping it again, now that nothing writes');
    ev.backup = await backupStep(run);
  } else if (!ev.backup) {
    run.enter('BACKUP', 'cloning the stopped metadata DB on its server');
    ev.backup = await backupStep(run);
  }
}

/** The DB brought back on rollback: the backup, or a downgrade when `migrated` and runs worth keeping exist. */
function pushRestore(run: UpgradeRun, undo: UndoStack, migrated: () => boolean): void {
  const { plan } = run;
  const steps = upgradeSteps(plan);
  const ev = run.evidence;
  const to = plan.spec.upgrade.toVersion;
  undo.push('restore the metadata DB', async () => {
    const started = ev.started;
    if (started && !ev.runsSinceSwitch)
      ev.runsSinceSwitch = await run.step(
        `find DAG runs made on Airflow ${to}`,
        () => steps.runsSinceSwitch({ plan, since: ev.drain?.stoppedAt ?? started.startedAt, version: to }),
        (r) => `${r.runs.length} run(s) since ${r.since}`,
      );
    ev.restore = await run.step(
      'bring the metadata DB back',
      () => steps.restore({ plan, backup: ev.backup, runs: ev.runsSinceSwitch, migrated: migrated() }),
      (r) => `${r.method} in ${seconds(r.durationMs)}: ${r.reason}`,
    );
  });
}

async function injectMigrationFault(run: UpgradeRun): Promise<void> {
  run.say(
    'FAULT INJECTION break-migration: putting in what the migration cannot take (drills/upgrade-break-migration-*.sql)',
  );
  await run.step(
    'drill: break the migration',
    () => upgradeSteps(run.plan).injectMigrationFault({ plan: run.plan }),
    (d) => `${d.injected} applied`,
  );
}

async function startNew(run: UpgradeRun): Promise<void> {
  const { plan } = run;
  const to = plan.spec.upgrade.toVersion;
  run.evidence.started = await run.step(
    `start Airflow ${to}`,
    () => upgradeSteps(plan).start({ plan, version: to }),
    (s) => `${s.components.length} component(s) healthy at ${s.healthyAt}`,
  );
}

/** VERIFY (the release in every component, the schema, the health) and VALIDATE; the run's summary. */
async function verifyAndValidate(run: UpgradeRun): Promise<string> {
  const { plan } = run;
  const steps = upgradeSteps(plan);
  const ev = run.evidence;
  const to = plan.spec.upgrade.toVersion;
  const started = ev.started;
  const drain = ev.drain;
  const migration = ev.migration;
  if (!started || !drain || !migration) throw new Error('VERIFY before the components started');

  run.enter('VERIFY', `reading the release inside ${plan.target.components.length} component(s)`);
  ev.versions = await run.step(
    `verify Airflow ${to}`,
    () => steps.verifyVersions({ plan, version: to }),
    (v) => versionsSummary(v.components, v.migrationsCurrent),
  );
  if (!ev.versions.gate.passed) throw new GateFailed('VERIFY', ev.versions.gate);
  await healthAfterChange(run, 'VERIFY', { ...plan.airflow, version: to });

  run.enter('VALIDATE', `critical DAGs first, then ${plan.spec.validation.dagId}, then the schedule`);
  const healthyAt = Date.parse(started.healthyAt);
  const due: ScheduleCheck[] = (drain.schedule ?? [])
    .filter((d) => Date.parse(d.dueAt) <= healthyAt)
    .map((d) => ({ ...d, scheduled: false }));
  ev.validation = await run.step(
    'validate on the new release',
    () =>
      steps.validate({
        plan,
        runPrefix: `cutover__${workflowInfo().runId}`,
        due,
        ...(run.input.inject === 'fail-validation' ? { failOnPurpose: true } : {}),
      }),
    (v) =>
      `${v.runs.map((r) => `${r.dagId} ${r.state}`).join(', ')}; ${v.schedule.filter((s) => s.scheduled).length}/${v.schedule.length} due DAG(s) scheduled`,
  );
  if (!ev.validation.gate.passed) throw new GateFailed('VALIDATE', ev.validation.gate);
  const down = downtimeMs(ev);
  return `Airflow ${to} runs in every component; downtime ${down === null ? 'unknown' : seconds(down)}, migration ${seconds(migration.durationMs)} (rehearsed ${seconds(ev.rehearsal?.migrateMs ?? 0)})`;
}

async function backupStep(run: UpgradeRun) {
  const backup = await run.step(
    `back up (${run.plan.spec.backup.strategy})`,
    () => upgradeSteps(run.plan).backup({ plan: run.plan, changeId: run.changeId }),
    (b) =>
      `${b.location}${b.bytes !== null ? `, ${formatBytes(b.bytes)}` : ''}${b.tocEntries !== null ? `, ${b.tocEntries} entries listed` : ''} in ${seconds(b.durationMs)}`,
  );
  return backup;
}

function versionsSummary(
  components: { component: string; airflowVersion: string | null; error: string | null }[],
  migrationsCurrent: boolean,
): string {
  return `${components.map((c) => `${c.component} ${c.airflowVersion ?? `? (${c.error ?? ''})`}`).join(', ')}; schema ${migrationsCurrent ? 'at head' : 'NOT at head'}`;
}

function reviewOpenedAfter(ev: UpgradeEvidence): string {
  return ev.rehearsal?.finishedAt ?? ev.preflight?.finishedAt ?? '';
}

/** What the approver reads: the SQL to be run, the rehearsed time, the downtime, the backup and rollback. */
export function upgradeReviewLines(plan: UpgradePlan, ev: UpgradeEvidence, inject?: string): string[] {
  const lines: string[] = [];
  const p = ev.preflight;
  const from = plan.airflow.version;
  const to = plan.spec.upgrade.toVersion;
  lines.push(
    `upgrade: Airflow ${from} -> ${to}${p?.major ? ' (major: Airflow 3 config and DAG rules checked)' : ''}`,
  );
  if (p?.migrationSql)
    lines.push(
      `SQL to be run: ${p.migrationSql.statements} statement(s), ${formatBytes(p.migrationSql.bytes)}, from revision ${p.migrationSql.fromRevision} (cutover report shows it whole${p.migrationSql.truncated ? ' up to 32 KB' : ''})`,
    );
  if (p)
    lines.push(
      `metadata DB: ${formatBytes(p.db.sizeBytes)}; largest ${p.db.largestTables.map((t) => `${t.table} ${formatCount(t.rows)}`).join(', ')}`,
    );
  const r = ev.rehearsal;
  if (r)
    lines.push(
      `rehearsal on ${r.database}: copy ${seconds(r.copyMs)}, migration ${seconds(r.migrateMs)}, ${r.rowCounts.map((c) => `${c.table} ${formatCount(c.before)}=${formatCount(c.after)}`).join(', ')}`,
    );
  const b = plan.spec.backup;
  lines.push(
    b.strategy === 'pg-dump'
      ? `backup: pg_dump -Fc to ${b.to} BEFORE anything stops (verified by pg_restore --list, sha256 kept); dumped again after the stop if anything wrote in between`
      : 'backup: CREATE DATABASE ... TEMPLATE on the same server, which needs the components STOPPED: the clone is made after DRAIN and its time counts as downtime',
  );
  const migrate = r?.migrateMs;
  lines.push(
    `expected downtime: stopping the components + the migration (${migrate === undefined ? 'not rehearsed' : `rehearsed ${seconds(migrate)}`})${b.strategy === 'clone' ? ' + the clone' : ''} + starting them on ${to}`,
  );
  const v = plan.spec.validation;
  lines.push(
    `after the switch: ${v.criticalDags.length > 0 ? `critical DAGs ${v.criticalDags.join(', ')} first, ${v.concurrency} at a time, then ` : ''}${v.dagId}; every DAG due during the downtime must be scheduled within ${String(v.scheduleGrace)}`,
  );
  lines.push(
    `rollback (${plan.spec.rollback.method}): stop, ${plan.spec.rollback.method === 'downgrade' ? 'airflow db downgrade' : 'restore the backup (or downgrade when runs worth keeping were made since the switch)'}, start Airflow ${from}, run the runs made on ${to} again`,
  );
  if (inject)
    lines.push(
      inject === 'break-migration'
        ? 'FAULT INJECTION break-migration: after the backup, what the migration cannot take goes in (schema drift from 3.x, a plain-text XCom value from 2.x), so MIGRATE fails and the rollback restores'
        : 'FAULT INJECTION fail-validation: the validation DAG is asked to fail on the new release, so the rollback runs',
    );
  return lines;
}
