/**
 * `npm run demo` as a newcomer runs it, minus setup: `node dist/demo/main.js` as a child process, on
 * its own ports, database and state directory (so it can run beside a user's demo). The whole
 * cut-over with --yes must end DONE with the dossier's figures and a validation run that offloaded
 * the large value; the drill (--break env-encoding) must end ROLLED_BACK with VERIFY naming the
 * misspelled variable and the env file restored; --dry-run must end PLANNED. Every run leaves
 * nothing behind: every process it started (seen by walking /proc under it while it runs, the
 * Airflow components under the supervisor included) is gone after it exits, and so is its
 * database. Another run is interrupted with SIGINT mid-way and must clean up the same way.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { parse } from 'yaml';
import { databaseExists, dropDatabase, pgServerUrl } from '../local/postgres.js';
import { REPO_ROOT } from './support/plans.js';
import { freePort } from './support/temporal.js';
import { venvDir } from './support/moto.js';

const DEMO = path.join(REPO_ROOT, 'dist', 'demo', 'main.js');
const SLOW = { timeout: 240_000 };
// Airflow starts in ~30 s and restarts its four components in ~30-40 s on two cores, once at APPLY
// and again at COMPENSATE; another long test may share the machine.
const VERY_SLOW = { timeout: 1_200_000 };

interface ProcInfo {
  ppid: number;
  start: string;
  state: string;
}

function readProc(pid: number): ProcInfo | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { state: f[0] ?? '', ppid: Number(f[1]), start: f[19] ?? '' };
  } catch {
    return null;
  }
}

function commandOf(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').trim();
  } catch {
    return '';
  }
}

/** Every live process below `root` right now. */
function descendants(root: number): number[] {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const info = readProc(Number(entry));
    if (!info) continue;
    const list = children.get(info.ppid) ?? [];
    list.push(Number(entry));
    children.set(info.ppid, list);
  }
  const out: number[] = [];
  const queue = [root];
  while (queue.length > 0) {
    const pid = queue.shift() as number;
    for (const c of children.get(pid) ?? []) {
      out.push(c);
      queue.push(c);
    }
  }
  return out;
}

interface Seen {
  pid: number;
  start: string;
  command: string;
}

interface DemoRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** Every process seen under the demo while it ran, keyed pid:starttime. */
  seen: Map<string, Seen>;
  ms: number;
}

/**
 * Runs the demo; sends SIGINT (to the demo process only) once its output matches `interruptAt`.
 * `act` is called with the output so far at every chunk and every 100 ms (a condition to wait on).
 */
function runDemo(args: string[], interruptAt?: RegExp, act?: (out: string) => void): Promise<DemoRun> {
  const venvBin = path.join(venvDir(), 'bin');
  const child = spawn(process.execPath, [DEMO, ...args], {
    cwd: REPO_ROOT,
    env: { ...process.env, PATH: `${venvBin}:${process.env.PATH ?? ''}` },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const started = Date.now();
  const run: DemoRun = { code: null, signal: null, stdout: '', stderr: '', seen: new Map(), ms: 0 };
  let interrupted = false;
  const maybeInterrupt = () => {
    if (interruptAt && !interrupted && interruptAt.test(run.stdout + run.stderr)) {
      interrupted = true;
      child.kill('SIGINT');
    }
  };
  child.stdout.on('data', (b: Buffer) => {
    run.stdout += b.toString('utf8');
    maybeInterrupt();
  });
  child.stderr.on('data', (b: Buffer) => {
    run.stderr += b.toString('utf8');
    maybeInterrupt();
  });
  const watch = () => {
    act?.(run.stdout + run.stderr);
    if (child.pid === undefined) return;
    for (const pid of descendants(child.pid)) {
      const info = readProc(pid);
      if (!info || info.state === 'Z') continue;
      const key = `${pid}:${info.start}`;
      if (!run.seen.has(key)) run.seen.set(key, { pid, start: info.start, command: commandOf(pid) });
    }
  };
  const timer = setInterval(watch, 100);
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code, signal) => {
      clearInterval(timer);
      run.code = code;
      run.signal = signal;
      run.ms = Date.now() - started;
      // Let the pipes drain.
      setTimeout(() => resolve(run), 100);
    });
  });
}

/** The processes of `seen` still alive (same pid and start time, not a zombie). */
async function survivors(seen: Map<string, Seen>): Promise<Seen[]> {
  // A process killed as the demo exits may need a moment to be reaped.
  const deadline = Date.now() + 5_000;
  for (;;) {
    const alive = [...seen.values()].filter((p) => {
      const info = readProc(p.pid);
      return info !== null && info.start === p.start && info.state !== 'Z';
    });
    if (alive.length === 0 || Date.now() > deadline) return alive;
    await new Promise((r) => setTimeout(r, 200));
  }
}

const dirs: string[] = [];
const databases: string[] = [];

interface DemoArgs {
  args: string[];
  dir: string;
  db: string;
  uiPort: number;
  airflowPort: number;
}

async function demoArgs(): Promise<DemoArgs> {
  const dir = mkdtempSync(path.join(tmpdir(), 'cutover-demo-test-'));
  dirs.push(dir);
  const db = `cutover_demo_test_${randomBytes(4).toString('hex')}`;
  databases.push(db);
  const ports = new Set<number>();
  while (ports.size < 3) ports.add(await freePort());
  const [port, uiPort, airflowPort] = [...ports] as [number, number, number];
  const args = [
    '--dir',
    dir,
    '--db',
    db,
    '--temporal-port',
    String(port),
    '--ui-port',
    String(uiPort),
    '--airflow-port',
    String(airflowPort),
  ];
  return { args, dir, db, uiPort, airflowPort };
}

function describeRun(run: DemoRun): string {
  return `exit ${run.code ?? run.signal} after ${run.ms} ms\n--- stdout\n${run.stdout}\n--- stderr\n${run.stderr}`;
}

/** The wall-time lines of the run's table, for the test log. */
function reportTimings(run: DemoRun, t: { diagnostic(message: string): void }): void {
  t.diagnostic(`demo took ${run.ms} ms`);
  for (const line of run.stdout.split('\n').filter((l) => /^ {2}\S.* \d+\.\d s/.test(l))) t.diagnostic(line);
}

async function assertNothingLeft(run: DemoRun, db: string): Promise<void> {
  assert.deepEqual(await survivors(run.seen), [], 'no process the demo started is alive');
  assert.equal(await databaseExists(db, pgServerUrl()), false, 'the demo database was dropped');
}

function assertCalibration(out: string): void {
  assert.match(out, /7 175 +15 B +73 KB +307 KB +1\.52 MB +1\.99 MB/);
  assert.match(out, /threshold proposed: 1\.6 MB \(1 600 000 B\) \(above-p99\.9/);
  assert.match(out, /historical rows that would offload: 7 \(plan allows 10\)/);
  assert.match(out, /^ {2}2\. PREFLIGHT green$/m);
  assert.match(out, /^ {2}4\. REHEARSAL green$/m);
}

after(async () => {
  for (const db of databases) await dropDatabase(db, pgServerUrl()).catch(() => undefined);
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

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
      reportTimings(run, t);
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

  void test(
    '--yes --break env-encoding: VERIFY names the variable, the workflow heals itself: ROLLED_BACK, exit 0',
    VERY_SLOW,
    async (t) => {
      const { args, dir, db } = await demoArgs();
      const run = await runDemo(['--yes', '--break', 'env-encoding', ...args]);
      reportTimings(run, t);
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
    '--runbook assess: the assessment of the demo stack, OPERATIONAL, its document written, nothing left',
    VERY_SLOW,
    async (t) => {
      const { args, dir, db } = await demoArgs();
      const run = await runDemo(['--runbook', 'assess', ...args]);
      reportTimings(run, t);
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
      reportTimings(run, t);
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
      reportTimings(run, t);
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

  void test('--dry-run: PLANNED with the dossier figures, the env file untouched', SLOW, async (t) => {
    const { args, db } = await demoArgs();
    const run = await runDemo(['--dry-run', ...args]);
    reportTimings(run, t);
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
