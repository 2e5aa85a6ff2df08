/**
 * `npm run demo`'s failures, each of which must still leave nothing behind: the drill
 * (--break env-encoding) must end ROLLED_BACK with VERIFY naming the misspelled variable and the env
 * file restored; a run interrupted with SIGINT mid-way must be cancelled and clean up; the supervisor
 * killed mid-APPLY must end in the kill-switch with the env file as it was.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';
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

void describe('npm run demo: drills and interruptions', () => {
  void test(
    '--yes --break env-encoding: VERIFY names the variable, the workflow heals itself: ROLLED_BACK, exit 0',
    VERY_SLOW,
    async (t) => {
      const { args, dir, db } = await demoArgs();
      const run = await runDemo(['--yes', '--break', 'env-encoding', ...args]);
      reportTimings(run, t, dir);
      assert.equal(run.code, 0, describeRun(run));

      const out = run.stdout;
      assert.match(out, /FAULT INJECTION env-encoding/);
      assert.match(
        out,
        /^Cut-over cutover\/local-demo\/xcom-flip-local: ROLLED_BACK \(drill: --break env-encoding\)$/m,
      );
      assert.match(out, /^ {2}failed: VERIFY \(the config as each running component resolves it\)$/m);
      assert.match(
        out,
        /^ {6}AIRFLOW__COMMON\.IO__XCOM_OBJECTSTORAGE_PATH is set but Airflow never reads it/m,
      );
      assert.match(out, /revert target: env file restored/);
      assert.match(out, /restart: 4\/4 components back on the old config/);
      assert.match(out, /healed: yes/);
      assert.match(out, /time from detection to healed: \d+\.\d s/);
      assert.match(out, /^ {4}COMPENSATE +\d+\.\d s/m);
      assert.match(out, /production changed: no/);
      assert.match(out, /env file: +\S+airflow\.env \(byte for byte what the demo wrote\)/);
      const envFile = readFileSync(path.join(dir, 'airflow.env'), 'utf8');
      assert.doesNotMatch(envFile, /XCOM/, 'no XCom setting is left in the env file');
      assert.match(readFileSync(path.join(dir, 'dossier.md'), 'utf8'), /ROLLED_BACK/);
      await assertNothingLeft(run, db);
    },
  );

  void test(
    'SIGINT during the cut-over: exit 130, the run cancelled (never terminated) and its outcome told, then Airflow and everything else stopped, the database dropped',
    VERY_SLOW,
    async () => {
      const { args, db } = await demoArgs();
      const run = await runDemo(['--yes', ...args], /^\d\d:\d\d:\d\d CALIBRATE/m);
      assert.equal(run.code, 130, describeRun(run));
      assert.match(run.stderr, /SIGINT: stopping everything the demo started/);
      assert.match(run.stderr, /SIGINT: cancelling the cut-over cutover\/local-demo\/xcom-flip-local/);
      assert.doesNotMatch(run.stderr, /terminated/);
      assert.match(
        run.stdout,
        /^Cut-over cutover\/local-demo\/xcom-flip-local: CANCELLED \(cancelled: SIGINT\)$/m,
      );
      assert.match(
        run.stdout,
        /^ {2}shutdown +\d+\.\d s +\(worker stopped, Airflow stopped, moto stopped, database \w+ dropped/m,
      );
      assert.ok(
        [...run.seen.values()].some((p) => /airflow scheduler/.test(p.command)),
        'Airflow was running when the demo was interrupted',
      );
      await assertNothingLeft(run, db);
    },
  );

  void test(
    'the supervisor killed (SIGKILL) mid-APPLY under --keep: the run cancelled, its kill-switch ends it, the env file as before, no process left',
    VERY_SLOW,
    async () => {
      const { args, dir, db } = await demoArgs();
      const envFile = path.join(dir, 'airflow.env');
      let written: string | null = null;
      let killed: number | null = null;
      const run = await runDemo(['--yes', '--keep', ...args], undefined, (out) => {
        if (killed !== null) return;
        // The env file as the demo wrote it, read before the cut-over can touch it.
        if (written === null && /\[ok\] env file/.test(out)) written = readFileSync(envFile, 'utf8');
        const pid = /supervisor pid (\d+)/.exec(out)?.[1];
        // Mid-APPLY: the change is in the env file, the rollout is restarting the components.
        if (written !== null && pid && /^\d\d:\d\d:\d\d APPLY/m.test(out)) {
          if (readFileSync(envFile, 'utf8') === written) return;
          killed = Number(pid);
          process.kill(killed, 'SIGKILL');
        }
      });
      assert.ok(killed !== null, `the supervisor was killed mid-APPLY\n${describeRun(run)}`);
      assert.equal(run.code, 1, describeRun(run));
      assert.match(
        run.stderr,
        /the Airflow supervisor exited \(code null, signal SIGKILL\).*: cancelling the cut-over cutover\/local-demo\/xcom-flip-local/,
      );
      assert.doesNotMatch(run.stderr, /terminated/);
      const outcome =
        /^Cut-over cutover\/local-demo\/xcom-flip-local: (ROLLED_BACK|NEEDS_OPERATOR) \(cancelled: /m.exec(
          run.stdout,
        );
      assert.ok(outcome, describeRun(run));
      if (outcome[1] === 'NEEDS_OPERATOR') {
        // Told plainly and once: the supervisor is gone, which components are down and since when.
        const details = /^ {2}details: (.*)$/m.exec(run.stdout)?.[1] ?? '';
        assert.match(
          details,
          /supervisor unreachable at http:\/\/127\.0\.0\.1:\d+ \(ECONNREFUSED, 3 tries over 30 s\)/,
        );
        assert.match(
          details,
          /the Airflow components (?:(?:api-server|scheduler|dag-processor|triggerer)(?:, |(?= are))){4} are down or unmanaged since \d{4}-/,
        );
        assert.equal(details.split('supervisor unreachable').length, 2, details);
        assert.doesNotMatch(details, /components on the old config/);
      }
      // The revert needs no supervisor: the env file is what the demo wrote, and the demo says so.
      assert.equal(readFileSync(envFile, 'utf8'), written);
      assert.match(run.stdout, /the env file \S+airflow\.env is byte for byte what the demo wrote/);
      assert.doesNotMatch(run.stdout, /Running until Ctrl-C/, '--keep does not keep a broken stack');
      await assertNothingLeft(run, db);
    },
  );
});
