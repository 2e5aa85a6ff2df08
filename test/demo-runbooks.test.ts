/**
 * `npm run demo --runbook ...` for the runbooks other than the XCom flip, each on the demo's own
 * stack: the assessment (OPERATIONAL), the state-store flip (DONE) and the upgrade 3.2.2 -> 3.3.2
 * (DONE, history kept, downtime told). Every run leaves nothing behind.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';
import { parse } from 'yaml';
import { databaseExists, pgServerUrl } from '../local/postgres.js';
import { REPO_ROOT } from './support/plans.js';
import {
  assertNothingLeft,
  cleanUpDemoRuns,
  demoArgs,
  describeRun,
  reportTimings,
  runDemo,
  VERY_SLOW,
} from './support/demo-run.js';

cleanUpDemoRuns();

void describe('npm run demo --runbook', () => {
  void test(
    '--runbook assess: the assessment of the demo stack, OPERATIONAL, its document written, nothing left',
    VERY_SLOW,
    async (t) => {
      const { args, dir, db } = await demoArgs();
      const run = await runDemo(['--runbook', 'assess', ...args]);
      reportTimings(run, t, dir);
      assert.equal(run.code, 0, describeRun(run));
      const out = run.stdout;
      // Every DAG file of the repo's dags/, the upgrade's validation DAG among them.
      const files = readdirSync(path.join(REPO_ROOT, 'dags')).filter((f) => f.endsWith('.py')).length;
      assert.match(out, new RegExp(`the dag processor serialized the ${files} DAGs of dags/`));
      assert.match(out, /^ASSESS: OPERATIONAL \(0 critical, 0 warnings, 0 recommendations\)$/m);
      for (const c of ['scheduler', 'api-server', 'dag-processor', 'triggerer'])
        assert.match(out, new RegExp(`^ +${c} +running +pid \\d+`, 'm'));
      assert.match(
        out,
        new RegExp(
          `^ +DAG visibility +running +${files} serialized, ${files} active from ${files} files$`,
          'm',
        ),
      );
      const doc = readFileSync(path.join(dir, 'assessment.md'), 'utf8');
      assert.match(doc, /^# Airflow Deployment Assessment$/m);
      assert.match(doc, /### Overall Status: ✅ \*\*OPERATIONAL\*\*/);
      assert.match(doc, /## \d\. Process Status/);
      await assertNothingLeft(run, db);
    },
  );

  void test(
    '--runbook state-store --yes: the state-store flip on the same stack ends DONE, dossier written',
    VERY_SLOW,
    async (t) => {
      const { args, dir, db } = await demoArgs();
      const run = await runDemo(['--runbook', 'state-store', '--yes', ...args]);
      reportTimings(run, t, dir);
      assert.equal(run.code, 0, describeRun(run));

      const out = run.stdout;
      // No XCom history: the state tables start empty and the plan's fixed threshold is proposed.
      assert.doesNotMatch(out, /XCom rows seeded/);
      assert.match(out, /^ {2}1\. CALIBRATE green$/m);
      assert.match(out, /threshold 1 KB \(1 000 B\) \(fixed by the plan/);
      assert.match(out, /^ {2}4\. REHEARSAL green$/m);
      assert.match(out, /approved as demo/);
      assert.match(out, /^Cut-over cutover\/local-demo\/state-store-flip-local: DONE$/m);
      assert.match(
        out,
        /^ {2}validation run: state_store_backend_validation\/\S+ success; tasks: .*; [1-9]\d* state object\(s\) in bucket cutover-demo; gate green$/m,
      );
      const dossier = readFileSync(path.join(dir, 'dossier.md'), 'utf8');
      assert.match(dossier, /^# Cut-over state-store-flip-local: DONE/m);
      // The state store's 30-day rule, merged with the XCom flip's on the same bucket when both ran.
      assert.match(
        dossier,
        /Applied \(.*\): rule cutover:state-store-flip-local:state\/ put on bucket cutover-demo/,
      );
      assert.doesNotMatch(dossier, /\| lifecycle rule \| \*\*amber\*\*/);
      assert.match(out, new RegExp(`dossier: +${dir.replace(/[.]/g, '\\.')}/dossier\\.md`));
      // The state-store plan pointed at the demo's stack: the same bucket, prefix state.
      const plan = parse(readFileSync(path.join(dir, 'plan.yaml'), 'utf8')) as {
        kind: string;
        target: { envFile: string };
        spec: { stateStore: { path: string } };
      };
      assert.equal(plan.kind, 'StateStoreBackendCutover');
      assert.equal(plan.target.envFile, path.join(dir, 'airflow.env'));
      assert.equal(plan.spec.stateStore.path, 's3://aws_default@cutover-demo/state');
      await assertNothingLeft(run, db);
    },
  );

  void test(
    '--runbook upgrade --yes: Airflow 3.2.2 -> 3.3.2 on the demo stack ends DONE, history kept, downtime told, nothing left',
    VERY_SLOW,
    async (t) => {
      const { args, dir, db } = await demoArgs();
      const run = await runDemo(['--runbook', 'upgrade', '--yes', ...args]);
      reportTimings(run, t, dir);
      assert.equal(run.code, 0, describeRun(run));
      const out = run.stdout;

      // The stack starts on the release the plan upgrades from, its DB migrated by it, with history.
      assert.match(out, /^ {2}\[ok\] Airflow 3\.2\.2 in \S*\.venvs\/airflow-3\.2\.2, up to date/m);
      assert.match(out, /airflow db migrate \(Airflow 3\.2\.2\) \[\d+\.\d s\], 7 175 XCom rows seeded/);
      assert.match(
        out,
        /DAGs from \S+\/dags\/ \(upgrade_validation\.py, xcom_backend_validation\.py\)/,
        'only the plan’s DAGs, which run on both releases',
      );
      // The evidence as it arrives: the health, the preflight with the SQL, the rehearsal.
      assert.match(out, /^ {2}1\. ASSESS green$/m);
      assert.match(out, /^ {2}2\. PREFLIGHT green$/m);
      assert.match(out, /^ {7}scheduler +3\.2\.2 /m);
      assert.match(out, /migration SQL: \d+ statement\(s\), .* from revision \w+/);
      assert.match(out, /^ {2}3\. REHEARSAL green$/m);
      for (const [table, rows] of [
        ['task_instance', '7 175'],
        ['xcom', '7 175'],
      ])
        assert.match(
          out,
          new RegExp(`^ +${table} +${rows} +${rows} +yes$`, 'm'),
          `${table} kept on the copy`,
        );
      assert.match(out, /^ {4}- expected downtime: .*rehearsed \d+\.\d s/m);
      assert.match(out, /approved as demo/);

      assert.match(out, /^Cut-over cutover\/local-demo\/airflow-upgrade-local: DONE$/m);
      assert.match(out, /^ {2}production changed: yes \(Airflow 3\.3\.2 runs\)$/m);
      assert.match(
        out,
        /^ {2}backup: +pg-dump \S+\/backups\/\S+\.dump \(.*, sha256 [0-9a-f]{12}…, [\d ]+ entries read back by pg_restore --list\)/m,
      );
      assert.match(
        out,
        /^ {2}downtime: +\d+\.\d s \(every component stopped at \d\d:\d\d:\d\d UTC, healthy on 3\.3\.2 at \d\d:\d\d:\d\d UTC\)$/m,
      );
      assert.match(
        out,
        /^ {2}migration: +\d+\.\d s against \d+\.\d s rehearsed \(\d+\.\d\d×\); \w+ -> \w+$/m,
      );
      assert.match(
        out,
        /^ {2}versions: +scheduler 3\.3\.2, api-server 3\.3\.2, dag-processor 3\.3\.2, triggerer 3\.3\.2; schema at its head$/m,
      );
      // The critical DAG first, then the validation DAG, both on 3.3.2.
      const runs = [...out.matchAll(/^ {2}validation run: +(\w+)\/\S+ (\w+) in /gm)].map(
        (m) => `${m[1]}:${m[2]}`,
      );
      assert.deepEqual(runs, ['xcom_backend_validation:success', 'upgrade_validation:success']);
      assert.match(out, new RegExp(`dossier: +${dir.replace(/[.]/g, '\\.')}/dossier\\.md`));
      for (const phase of [
        'ASSESS',
        'PREFLIGHT',
        'REHEARSE',
        'AWAIT_GO',
        'BACKUP',
        'DRAIN',
        'MIGRATE',
        'SWITCH',
        'VERIFY',
        'VALIDATE',
      ])
        assert.match(out, new RegExp(`^ {4}${phase} +\\d+\\.\\d s`, 'm'), `wall time of ${phase}`);
      assert.match(out, /^ {2}downtime \(stopped -> healthy on the new release\) +\d+\.\d s$/m);
      assert.match(
        out,
        /^ {2}shutdown +\d+\.\d s +\(worker stopped, Airflow stopped, moto stopped, database \w+ dropped, backups removed/m,
      );

      const dossier = readFileSync(path.join(dir, 'dossier.md'), 'utf8');
      assert.match(dossier, /^# Cut-over airflow-upgrade-local: DONE/m);
      assert.match(dossier, /^## \d+\. Downtime$/m);
      // The plan pointed at the demo's env file and its own backups directory, which is gone now.
      const plan = parse(readFileSync(path.join(dir, 'plan.yaml'), 'utf8')) as {
        kind: string;
        target: { envFile: string };
        spec: { backup: { strategy: string; to: string } };
      };
      assert.equal(plan.kind, 'AirflowUpgrade');
      assert.equal(plan.target.envFile, path.join(dir, 'airflow.env'));
      assert.deepEqual(plan.spec.backup, { strategy: 'pg-dump', to: path.join(dir, 'backups') });
      assert.equal(existsSync(path.join(dir, 'backups')), false, 'the dumps went with the database');
      assert.match(readFileSync(path.join(dir, 'airflow.env'), 'utf8'), /^AIRFLOW_VERSION=3\.3\.2$/m);
      // Which Airflow the scheduler ran from, seen while it ran: 3.2.2's venv, then the default one.
      const schedulers = new Set(
        [...run.seen.values()].flatMap(
          (p) => /(\.venvs\/airflow-[\d.]+|\.venv)\/bin\/airflow scheduler/.exec(p.command)?.[1] ?? [],
        ),
      );
      assert.deepEqual(
        [...schedulers].sort(),
        ['.venv', '.venvs/airflow-3.2.2'],
        'the scheduler ran from both',
      );
      assert.doesNotMatch(out + run.stderr, /PASSWORD=/, 'the REST API password is never printed');
      await assertNothingLeft(run, db);
      assert.equal(
        await databaseExists(`${db}_cutover_rehearsal`, pgServerUrl()),
        false,
        'no rehearsal copy left',
      );
    },
  );
});
