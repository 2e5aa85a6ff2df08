/**
 * `npm run demo` (test/support/demo-run.ts runs it as a child process, on its own ports, database
 * and state directory): its help and option errors; the whole cut-over with --yes must end DONE with
 * the dossier's figures and a validation run that offloaded the large value; --dry-run must end
 * PLANNED. Every run leaves nothing behind: every process it started is gone after it exits, and so
 * is its database. The drills are in demo-drills.test.ts, the other runbooks in
 * demo-runbooks.test.ts (separate files, so that the runner can run them side by side).
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';
import { parse } from 'yaml';
import {
  assertCalibration,
  assertNothingLeft,
  cleanUpDemoRuns,
  demoArgs,
  describeRun,
  reportTimings,
  runDemo,
  SLOW,
  VERY_SLOW,
} from './support/demo-run.js';

cleanUpDemoRuns();

void describe('npm run demo (node dist/demo/main.js)', () => {
  void test('--help explains the steps and the options', async () => {
    const run = await runDemo(['--help']);
    assert.equal(run.code, 0, describeRun(run));
    for (const word of [
      '--yes',
      '--runbook xcom|state-store|assess|upgrade',
      '--break env-encoding',
      '--break draft-backend-key',
      '--break break-migration',
      '--break fail-validation',
      'scripts/setup.sh --upgrade-venvs',
      '--dry-run',
      '--keep',
      '--keep-db',
      '--db',
      '--temporal-port',
      '--ui-port',
      '--airflow-port',
      '--dir',
      'CUTOVER_PG_URL',
    ])
      assert.ok(run.stdout.includes(word), `--help mentions ${word}`);
    assert.match(run.stdout, /cutover start --plan plans\/local\.yaml/);
    assert.match(run.stdout, /cutover plan plans\/local\.yaml/);
  });

  void test('a bad option exits 2 and starts nothing', async () => {
    for (const args of [
      ['--db', 'Not-A-Name'],
      ['--break', 'nonsense'],
      ['--runbook', 'nonsense'],
      // Each runbook takes only its own drills.
      ['--runbook', 'state-store', '--break', 'env-encoding'],
      ['--runbook', 'upgrade', '--break', 'env-encoding'],
      ['--runbook', 'xcom', '--break', 'break-migration'],
      ['--dry-run', '--yes'],
      // The assessment only reads: nothing to approve, nothing to dry-run.
      ['--runbook', 'assess', '--yes'],
    ]) {
      const run = await runDemo(args);
      assert.equal(run.code, 2, describeRun(run));
      assert.match(run.stderr, new RegExp(args.map((a) => a.replace(/[-]/g, '\\-')).join('|')));
      assert.equal(run.seen.size, 0);
    }
  });

  void test(
    '--yes: the whole cut-over on real components ends DONE, dossier written, nothing left behind',
    VERY_SLOW,
    async (t) => {
      const { args, dir, db, uiPort, airflowPort } = await demoArgs();
      const run = await runDemo(['--yes', ...args]);
      reportTimings(run, t, dir);
      assert.equal(run.code, 0, describeRun(run));

      const out = run.stdout;
      assertCalibration(out);
      assert.match(out, /^AWAIT_GO: the run waits for a go from demo or platform-oncall/m);
      assert.match(
        out,
        // With the test's own ports the command names the server (TEMPORAL_ADDRESS=...).
        /^ {4}(?:[A-Z_]+=\S+ )*npx cutover approve cutover\/local-demo\/xcom-flip-local --operator demo --reason "evidence reviewed"$/m,
      );
      assert.match(out, /approved as demo/);
      assert.match(out, /^Cut-over cutover\/local-demo\/xcom-flip-local: DONE$/m);
      assert.match(
        out,
        /validation run: xcom_backend_validation\/\S+ success; 1 offloaded value\(s\), .*; [1-9]\d* object\(s\) in bucket cutover-demo; 0 XCom error\(s\); gate green/,
      );
      assert.match(
        out,
        new RegExp(
          `Temporal Web UI: http://127\\.0\\.0\\.1:${uiPort}/namespaces/default/workflows/cutover%2Flocal-demo%2Fxcom-flip-local/[0-9a-f-]+/history`,
        ),
      );
      for (const phase of [
        'CALIBRATE',
        'PREFLIGHT',
        'RENDER',
        'REHEARSE',
        'AWAIT_GO',
        'APPLY',
        'VERIFY',
        'VALIDATE',
      ])
        assert.match(out, new RegExp(`^ {4}${phase} +\\d+\\.\\d s`, 'm'), `wall time of ${phase}`);
      assert.match(out, /^ {2}Airflow start \(4 components\) +\d+\.\d s$/m);
      assert.match(
        out,
        /^ {2}shutdown +\d+\.\d s +\(worker stopped, Airflow stopped, moto stopped, database \w+ dropped/m,
      );

      const dossier = readFileSync(path.join(dir, 'dossier.md'), 'utf8');
      assert.match(dossier, /^# Cut-over xcom-flip-local: DONE/m);
      // plans/local.yaml asks for a 7-day rule: put on the demo's bucket once VERIFY held.
      assert.match(
        dossier,
        /Rule `cutover:xcom-flip-local:xcom\/`: expire `cutover-demo\/xcom\/` after 7 days, put once VERIFY holds/,
      );
      assert.match(dossier, /Applied \(.*\): rule cutover:xcom-flip-local:xcom\/ put on bucket cutover-demo/);
      assert.match(dossier, /Objects under `cutover-demo\/xcom\/` against the metadata DB's references/);
      assert.match(out, new RegExp(`dossier: +${dir.replace(/[.]/g, '\\.')}/dossier\\.md`));

      // Another state dir and REST API port: the plan is plans/local.yaml pointed at both.
      const plan = parse(readFileSync(path.join(dir, 'plan.yaml'), 'utf8')) as {
        target: { envFile: string };
        spec: { xcom: { path: string } };
        airflow: { api: { url: string } };
      };
      assert.equal(plan.target.envFile, path.join(dir, 'airflow.env'));
      assert.equal(plan.airflow.api.url, `http://127.0.0.1:${airflowPort}`);
      assert.equal(plan.spec.xcom.path, 's3://aws_default@cutover-demo/xcom');
      assert.ok(existsSync(path.join(dir, 'logs', 'worker.log')));

      const commands = [...run.seen.values()].map((p) => p.command);
      for (const [what, re] of [
        ['the dev server', /temporal server start-dev/],
        ['moto', /moto\.server/],
        ['the migration', /airflow db migrate/],
        ['the supervisor', /supervisor-main\.js/],
        ['the scheduler', /airflow scheduler/],
        ['the dag-processor', /airflow dag-processor/],
        ['the triggerer', /airflow triggerer/],
      ] as const)
        assert.ok(
          commands.some((c) => re.test(c)),
          `${what} was seen: ${commands.join('\n')}`,
        );
      assert.doesNotMatch(out + run.stderr, /PASSWORD=/, 'the REST API password is never printed');
      await assertNothingLeft(run, db);
    },
  );

  void test('--dry-run: PLANNED with the dossier figures, the env file untouched', SLOW, async (t) => {
    const { args, dir, db } = await demoArgs();
    const run = await runDemo(['--dry-run', ...args]);
    reportTimings(run, t, dir);
    assert.equal(run.code, 0, describeRun(run));
    const out = run.stdout;
    assert.match(out, /^Dry run of plan xcom-flip-local on local-demo: PLANNED$/m);
    assert.match(out, /7 175 +15 B +73 KB +307 KB +1\.52 MB +1\.99 MB/);
    assert.match(out, /threshold proposed: 1\.6 MB \(1 600 000 B\) \(above-p99\.9/);
    assert.match(out, /env file: +\S+airflow\.env \(unchanged by the dry run, byte for byte\)/);
    for (const phase of ['CALIBRATE', 'PREFLIGHT', 'RENDER', 'REHEARSE'])
      assert.match(out, new RegExp(`^ {4}${phase} +\\d+\\.\\d s$`, 'm'), `wall time of ${phase}`);
    assert.ok(
      ![...run.seen.values()].some((p) => /supervisor-main/.test(p.command)),
      'a dry run starts no Airflow components',
    );
    await assertNothingLeft(run, db);
  });
});
