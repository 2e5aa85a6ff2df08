/**
 * The upgrade (kind AirflowUpgrade) on the LOCAL target, every adapter the shipped one, on real
 * components: Airflow 3.2.2 from its venv (api-server, scheduler, dag-processor) under the supervisor,
 * its PostgreSQL metadata DB migrated by 3.2.2, Airflow 3.3.2 from the default venv as the target,
 * pg_dump / pg_restore, the Temporal dev server, the repo's upgrade_validation DAG, a critical DAG
 * and a DAG due every minute.
 *
 * 1. the fail-validation drill: the switch happens, the validation DAG fails on 3.3.2; the run
 *    rolls back (the DB restored or downgraded, as the runs since the switch say), 3.2.2 runs again
 *    in every component and the runs made on 3.3.2 run again on it: ROLLED_BACK
 * 2. the break-migration drill: 3.3.2's real migration fails mid-way; the backup is restored, the
 *    history tables' checksums equal the backup's, 3.2.2 runs again: ROLLED_BACK
 * 3. the upgrade: DONE, every component on 3.3.2, the schema at its head, history kept, the
 *    critical and validation DAGs succeeded on 3.3.2, downtime measured
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import type { UpgradePlan } from '../domain/upgrade/plan.js';
import type { UpgradeInput, UpgradeResult } from '../domain/upgrade/run.js';
import * as e2e from './support/upgrade-e2e.js';

const SLOW = { timeout: 1_200_000 };
const FROM = '3.2.2';
const TO = '3.3.2';
const HISTORY = ['dag_run', 'task_instance', 'xcom'] as const;

void describe('Airflow upgrade 3.2.2 -> 3.3.2 on the local target, end to end', () => {
  let rig: e2e.LocalUpgradeRig;
  let envFile: string;
  let backups: string;

  const { sql, revision, componentVersions, on } = e2e.rigReads(() => rig);

  before(async () => {
    rig = await e2e.startLocalUpgradeRig('upgrade-e2e', {
      from: FROM,
      inProcessWorker: true,
    });
    ({ envFile, backups } = rig.stage);
  }, SLOW);

  after(() => rig?.close());

  const planFor = (): UpgradePlan => e2e.localUpgradePlan(rig, { to: TO, rolloutTimeout: '5m' });
  const upgrade = (plan: UpgradePlan, inject?: UpgradeInput['inject']): Promise<UpgradeResult> =>
    e2e.runUpgrade(rig, plan, inject);

  test(
    'fail-validation: rolled back after the switch; 3.2.2 in every component; the runs made on 3.3.2 run again on 3.2.2',
    SLOW,
    async () => {
      const head = await revision();
      const result = await upgrade(planFor(), 'fail-validation');
      assert.equal(result.outcome, 'ROLLED_BACK', result.reason);
      const ev = result.status.evidence;
      assert.ok(ev.started, 'the components ran on 3.3.2 before the rollback');
      assert.equal(
        ev.versions?.components.every((c) => c.airflowVersion === TO),
        true,
      );
      assert.equal(ev.validation?.gate.passed, false);
      assert.ok(ev.restore, 'the DB was brought back');
      // The method follows the runs since the switch: production runs kept by a downgrade, else the backup.
      const theirs = (ev.runsSinceSwitch?.runs ?? []).filter((r) => !r.cutover);
      assert.equal(ev.restore.method, theirs.length > 0 ? 'downgrade' : 'restore', ev.restore.reason);
      assert.deepEqual(await componentVersions(), on(FROM));
      assert.equal(ev.rolledBackVersions?.gate.passed, true);
      assert.equal(await revision(), head, 'the schema is 3.2.2’s again');
      assert.match(readFileSync(envFile, 'utf8'), new RegExp(`^AIRFLOW_VERSION=${FROM}$`, 'm'));
      const rerun = ev.retriggered?.runs ?? [];
      assert.ok(
        rerun.some((r) => r.dagId === 'critical_report'),
        'the critical DAG ran again on 3.2.2',
      );
      assert.ok(
        rerun.every((r) => r.finalState === 'success'),
        JSON.stringify(rerun),
      );
      assert.ok(
        !rerun.some((r) => r.dagId === 'upgrade_validation'),
        'the failing validation run is not repeated',
      );
    },
  );

  test(
    'break-migration: the real migration fails mid-way; the backup is restored whole; 3.2.2 runs again',
    SLOW,
    async () => {
      const head = await revision();
      const result = await upgrade(planFor(), 'break-migration');
      assert.equal(result.outcome, 'ROLLED_BACK', result.reason);
      assert.match(result.reason, /^MIGRATE failed/);
      const ev = result.status.evidence;
      assert.equal(ev.started, null, 'nothing started on 3.3.2');
      assert.equal(ev.restore?.method, 'restore');
      assert.equal(ev.restore?.checksumsMatch, true);
      assert.deepEqual(
        Object.fromEntries(ev.restore?.rowCounts.map((r) => [r.table, r.rows]) ?? []),
        Object.fromEntries(ev.backup?.rowCounts.map((r) => [r.table, r.rows]) ?? []),
      );
      assert.equal(await revision(), head);
      const drift = await sql("SELECT 1 FROM pg_indexes WHERE indexname = 'ti_dag_version_id'");
      assert.equal(drift.length, 0, 'the drill’s index went with the restore');
      assert.deepEqual(await componentVersions(), on(FROM));
      assert.ok(ev.backup && existsSync(ev.backup.location), 'the verified dump is kept');
      assert.ok((ev.backup?.tocEntries ?? 0) > 100);
    },
  );

  test('the upgrade: DONE on 3.3.2, history kept, critical DAG first, downtime measured', SLOW, async () => {
    const before = await e2e.historySnapshot(rig.db.url, HISTORY);
    const result = await upgrade(planFor());
    assert.equal(result.outcome, 'DONE', result.reason);
    const ev = result.status.evidence;
    assert.deepEqual(await componentVersions(), on(TO));
    assert.equal(ev.versions?.migrationsCurrent, true);
    assert.equal(ev.rehearsal?.dropped, true);
    assert.deepEqual(
      ev.rehearsal?.rowCounts.map((r) => r.before === r.after),
      HISTORY.map(() => true),
    );
    await e2e.assertHistoryKept(rig.db.url, HISTORY, before, 'before');
    const runs = ev.validation?.runs ?? [];
    assert.deepEqual(
      runs.map((r) => `${r.dagId}:${r.state}`),
      ['critical_report:success', 'upgrade_validation:success'],
    );
    assert.ok(ev.validation?.schedule.every((s) => s.scheduled));
    assert.match(result.reason, /downtime \d+\.\d s, migration \d+\.\d s \(rehearsed \d+\.\d s\)/);
    assert.ok(readdirSync(backups).length >= 1);
    assert.match(readFileSync(envFile, 'utf8'), new RegExp(`^AIRFLOW_VERSION=${TO}$`, 'm'));
  });
});
