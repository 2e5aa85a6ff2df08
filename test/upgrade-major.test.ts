/**
 * The major upgrade Airflow 2.11.2 -> 3.3.2 on the LOCAL target, every adapter the shipped one, on
 * real components: Airflow 2.11.2 from .venvs/airflow-2.11.2 (the FAB webserver in the api-server
 * role, REST /api/v1 with basic auth; the scheduler; a standalone dag-processor) under the
 * supervisor, its PostgreSQL metadata DB migrated by 2.11.2, Airflow 3.3.2 from the default venv as
 * the target (/api/v2 with a JWT), pg_dump / pg_restore, the Temporal dev server, the repo's
 * upgrade_validation DAG, a critical DAG, a DAG due every minute (the history), and the Airflow 2
 * fixtures test/fixtures/upgrade/dags-airflow2 and config-airflow2.
 *
 * 1. PREFLIGHT is red: ruff's AIR3 rules name nightly_report.py's imports removed in Airflow 3 and
 *    3.3.2's `airflow config lint` names the renamed options; the run stops at PREFLIGHT with
 *    nothing changed (2.11.2 in every component, the DB at 2.11.2's revision).
 * 2. The DAG and the config fixed (dags-airflow3, config-airflow3), the same plan: DONE, every
 *    component on 3.3.2, the schema at 3.3.2's head, history kept (row counts, every DAG run from
 *    2.11.2 still there), the critical and the validation DAG succeeded on 3.3.2.
 */
import assert from 'node:assert/strict';
import { copyFileSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { UpgradePlan } from '../domain/upgrade/plan.js';
import type { UpgradeResult } from '../domain/upgrade/run.js';
import { repoRoot } from '../local/venv.js';
import * as e2e from './support/upgrade-e2e.js';

const SLOW = { timeout: 1_800_000 };
const FROM = '2.11.2';
const TO = '3.3.2';
const HISTORY = ['dag_run', 'task_instance', 'xcom'] as const;
const FIXTURES = path.join(repoRoot(), 'test', 'fixtures', 'upgrade');

void describe('Airflow upgrade 2.11.2 -> 3.3.2 (major) on the local target, end to end', () => {
  let rig: e2e.LocalUpgradeRig;
  let home: string;
  let dags: string;
  let envFile: string;

  const { sql, revision, componentVersions, on } = e2e.rigReads(() => rig);

  before(async () => {
    // The Airflow 2 deployment as it runs: its airflow.cfg with options Airflow 3 renamed, a DAG
    // with imports Airflow 3 removed, beside the validation, critical and every-minute DAGs.
    rig = await e2e.startLocalUpgradeRig('upgrade-major', {
      from: FROM,
      inProcessWorker: true,
      airflowCfg: path.join(FIXTURES, 'config-airflow2', 'airflow.cfg'),
      dagFixtures: [path.join(FIXTURES, 'dags-airflow2')],
      startTimeoutMs: 900_000,
      keepDir: Boolean(process.env.CUTOVER_KEEP_AIRFLOW_LOGS),
    });
    ({ home, dags, envFile } = rig.stage);
    assert.equal(rig.supervisor.apiVersion, 'v1');
  }, SLOW);

  after(() => rig?.close());

  const planFor = (): UpgradePlan => e2e.localUpgradePlan(rig, { to: TO, rolloutTimeout: '10m' });
  const upgrade = (plan: UpgradePlan): Promise<UpgradeResult> => e2e.runUpgrade(rig, plan);

  const plan = () => planFor();

  test('PREFLIGHT is red on the removed imports and the renamed options; nothing changed', SLOW, async () => {
    const head = await revision();
    const result = await upgrade(plan());
    assert.equal(result.outcome, 'STOPPED', result.reason);
    assert.match(result.reason, /^PREFLIGHT gate red, nothing changed/);
    assert.equal(result.productionChanged, false);
    const ev = result.status.evidence;
    assert.equal(ev.preflight?.major, true);
    assert.equal(ev.preflight?.gate.passed, false);
    const row = (name: string) => ev.preflight?.checks.find((c) => c.name === name);
    assert.equal(row('DAGs for Airflow 3')?.status, 'red');
    assert.equal(row('config for Airflow 3')?.status, 'red');
    // Each finding named: the file and line and rule for a DAG, the section and option for the config.
    const breaking = (ev.preflight?.dagFindings ?? []).filter((f) => f.breaking);
    assert.ok(
      breaking.some((f) => f.file === 'nightly_report.py' && f.rule === 'AIR302' && f.line > 0),
      JSON.stringify(ev.preflight?.dagFindings),
    );
    assert.ok(
      breaking.every((f) => f.file === 'nightly_report.py'),
      JSON.stringify(breaking),
    );
    assert.match(row('DAGs for Airflow 3')?.detail ?? '', /nightly_report\.py:\d+ AIR30[12]/);
    const options = (ev.preflight?.configLint ?? []).map((f) => `${f.section}.${f.option}`).sort();
    assert.ok(options.includes('scheduler.dag_dir_list_interval'), JSON.stringify(ev.preflight?.configLint));
    assert.ok(options.includes('webserver.web_server_port'), JSON.stringify(ev.preflight?.configLint));
    // Nothing changed: no rehearsal, no backup, 2.11.2 everywhere, the schema where it was.
    assert.equal(ev.rehearsal, null);
    assert.equal(ev.backup, null);
    assert.deepEqual(await componentVersions(), on(FROM));
    assert.equal(await revision(), head);
    assert.match(readFileSync(envFile, 'utf8'), new RegExp(`^AIRFLOW_VERSION=${FROM}$`, 'm'));
  });

  test('fixed DAG and config: DONE on 3.3.2, schema at head, history kept, DAGs succeed', SLOW, async () => {
    // The fixes go out before the upgrade, as they would: the DAG with Airflow 3's imports (it still
    // parses on 2.11.2 with the standard provider) and the config under Airflow 3's names.
    copyFileSync(
      path.join(FIXTURES, 'dags-airflow3', 'nightly_report.py'),
      path.join(dags, 'nightly_report.py'),
    );
    copyFileSync(path.join(FIXTURES, 'config-airflow3', 'airflow.cfg'), path.join(home, 'airflow.cfg'));
    // History made by 2.11.2: every_minute's runs, each with its task instance and XCom.
    const deadline = Date.now() + 600_000;
    while (
      Number(
        (
          await sql<{ n: string }>(
            "SELECT count(*) AS n FROM dag_run r JOIN xcom x USING (dag_id, run_id) WHERE r.dag_id = 'every_minute' AND r.state = 'success'",
          )
        )[0]?.n,
      ) < 1
    ) {
      assert.ok(Date.now() < deadline, 'every_minute made no successful run with an XCom on 2.11.2');
      await new Promise((r) => setTimeout(r, 2000));
    }
    const before = await e2e.historySnapshot(rig.db.url, HISTORY);
    const result = await upgrade(plan());
    assert.equal(result.outcome, 'DONE', result.reason);
    const ev = result.status.evidence;
    assert.equal(ev.preflight?.gate.passed, true);
    assert.deepEqual(await componentVersions(), on(TO));
    assert.equal(ev.versions?.migrationsCurrent, true);
    assert.ok(ev.versions?.components.every((c) => c.airflowVersion === TO));
    assert.notEqual(await revision(), ev.preflight?.dbRevision.revision, 'the schema moved');
    assert.equal(ev.migration?.toRevision, await revision());
    assert.deepEqual(
      ev.rehearsal?.rowCounts.map((r) => r.before === r.after),
      HISTORY.map(() => true),
    );
    await e2e.assertHistoryKept(rig.db.url, HISTORY, before, '2.11.2');
    assert.deepEqual(
      (ev.validation?.runs ?? []).map((r) => `${r.dagId}:${r.state}`),
      ['critical_report:success', 'upgrade_validation:success'],
    );
    assert.ok(ev.validation?.schedule.every((s) => s.scheduled));
    assert.match(readFileSync(envFile, 'utf8'), new RegExp(`^AIRFLOW_VERSION=${TO}$`, 'm'));
  });
});
