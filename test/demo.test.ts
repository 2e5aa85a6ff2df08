/**
 * `npm run demo` as a newcomer runs it, minus setup: `node dist/demo/main.js` as a child process, on
 * its own ports, database and state directory (so it can run beside a user's demo). It must print
 * the dry run's evidence with the dossier's figures and end PLANNED, and leave nothing behind: every
 * process it started (seen by walking /proc under it while it runs) is gone after it exits, and so
 * is its database. A second run is interrupted with SIGINT mid-way and must clean up the same way.
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

/** Runs the demo; sends SIGINT (to the demo process only) once its output matches `interruptAt`. */
function runDemo(args: string[], interruptAt?: RegExp): Promise<DemoRun> {
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

async function demoArgs(): Promise<{ args: string[]; dir: string; db: string; uiPort: number }> {
  const dir = mkdtempSync(path.join(tmpdir(), 'cutover-demo-test-'));
  dirs.push(dir);
  const db = `cutover_demo_test_${randomBytes(4).toString('hex')}`;
  databases.push(db);
  const port = await freePort();
  let uiPort = await freePort();
  while (uiPort === port) uiPort = await freePort();
  const args = ['--dir', dir, '--db', db, '--temporal-port', String(port), '--ui-port', String(uiPort)];
  return { args, dir, db, uiPort };
}

function describeRun(run: DemoRun): string {
  return `exit ${run.code ?? run.signal} after ${run.ms} ms\n--- stdout\n${run.stdout}\n--- stderr\n${run.stderr}`;
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
      '--keep',
      '--keep-db',
      '--db',
      '--temporal-port',
      '--ui-port',
      '--dir',
      'CUTOVER_PG_URL',
    ])
      assert.ok(run.stdout.includes(word), `--help mentions ${word}`);
    assert.match(run.stdout, /cutover plan plans\/local\.yaml/);
  });

  void test('a bad option exits 2 and starts nothing', async () => {
    const run = await runDemo(['--db', 'Not-A-Name']);
    assert.equal(run.code, 2, describeRun(run));
    assert.match(run.stderr, /--db Not-A-Name/);
    assert.equal(run.seen.size, 0);
  });

  void test(
    'the dry run on real components: PLANNED with the dossier figures, then nothing left behind',
    SLOW,
    async (t) => {
      const { args, dir, db, uiPort } = await demoArgs();
      const run = await runDemo(args);
      t.diagnostic(`demo took ${run.ms} ms`);
      for (const line of run.stdout.split('\n').filter((l) => /^ {2}\S.* \d+\.\d s/.test(l)))
        t.diagnostic(line);
      assert.equal(run.code, 0, describeRun(run));

      const out = run.stdout;
      assert.match(out, /^Dry run of plan xcom-flip-local on local-demo: PLANNED$/m);
      assert.match(out, /7,175 +15 B +73,000 B +307,000 B +1,520,000 B +1,990,000 B/);
      assert.match(out, /threshold proposed: 1,600,000 B \(above-p99\.9/);
      assert.match(out, /historical rows that would offload: 7 \(plan allows 10\)/);
      assert.match(out, /^2\. PREFLIGHT green$/m);
      assert.match(out, /^4\. REHEARSAL green$/m);
      assert.match(out, /^PLANNED: the evidence is complete and nothing was changed/m);
      assert.match(out, /env file: +\S+airflow\.env \(unchanged by the dry run, byte for byte\)/);
      assert.match(
        out,
        new RegExp(
          `Temporal Web UI: http://127\\.0\\.0\\.1:${uiPort}/namespaces/default/workflows/cutover-plan%2Flocal-demo%2Fxcom-flip-local%2F[0-9a-f]{6}/[0-9a-f-]+/history`,
        ),
      );
      for (const phase of ['CALIBRATE', 'PREFLIGHT', 'RENDER', 'REHEARSE'])
        assert.match(out, new RegExp(`^ {4}${phase} +\\d+\\.\\d s$`, 'm'), `wall time of ${phase}`);
      assert.match(out, /^ {2}airflow db migrate +\d+\.\d s$/m);
      assert.match(out, /^ {2}shutdown +\d+\.\d s +\(worker stopped, moto stopped, database \w+ dropped/m);

      // Another state dir than the default: the plan is plans/local.yaml pointed at its env file.
      const plan = parse(readFileSync(path.join(dir, 'plan.yaml'), 'utf8')) as {
        target: { envFile: string };
        xcom: { path: string };
      };
      assert.equal(plan.target.envFile, path.join(dir, 'airflow.env'));
      assert.equal(plan.xcom.path, 's3://aws_default@cutover-demo/xcom');
      assert.ok(existsSync(path.join(dir, 'temporal.db')), 'the dev server kept its state in the dir');
      assert.ok(existsSync(path.join(dir, 'logs', 'worker.log')));

      const commands = [...run.seen.values()].map((p) => p.command);
      assert.ok(
        commands.some((c) => /temporal server start-dev/.test(c)),
        `the dev server was seen: ${commands.join('\n')}`,
      );
      assert.ok(
        commands.some((c) => /moto\.server/.test(c)),
        'moto was seen',
      );
      assert.ok(
        commands.some((c) => /airflow db migrate/.test(c)),
        'the migration was seen',
      );
      assert.deepEqual(await survivors(run.seen), [], 'no process the demo started is alive');
      assert.equal(await databaseExists(db, pgServerUrl()), false, 'the demo database was dropped');
    },
  );

  void test(
    'SIGINT during the dry run: exit 130, everything stopped, the database dropped',
    SLOW,
    async () => {
      const { args, db } = await demoArgs();
      const run = await runDemo(args, /^\d\d:\d\d:\d\d CALIBRATE/m);
      assert.equal(run.code, 130, describeRun(run));
      assert.match(run.stderr, /SIGINT: stopping everything the demo started/);
      assert.match(
        run.stderr,
        /terminated the dry run cutover-plan\/local-demo\/xcom-flip-local\/[0-9a-f]{6}/,
      );
      assert.match(
        run.stdout,
        /^ {2}shutdown +\d+\.\d s +\(worker stopped, moto stopped, database \w+ dropped/m,
      );
      assert.doesNotMatch(run.stdout, /^PLANNED/m);
      assert.deepEqual(await survivors(run.seen), [], 'no process the demo started is alive');
      assert.equal(await databaseExists(db, pgServerUrl()), false, 'the demo database was dropped');
    },
  );
});
