/**
 * Running `npm run demo` as a newcomer runs it, minus setup, for the demo test files
 * (test/demo*.test.ts): `node dist/demo/main.js` as a child process, on its own ports, database and
 * state directory (so runs can go side by side, and beside a user's demo). Every process seen under
 * it while it runs (walking /proc, the Airflow components under the supervisor included) is
 * recorded, so that a test can check that all of them are gone after it exits, and its database too.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after } from 'node:test';
import { databaseExists, dropDatabase, pgServerUrl } from '../../local/postgres.js';
import { REPO_ROOT } from './plans.js';
import { freeServicePort } from '../../local/ports.js';
import { venvDir } from './moto.js';

const DEMO = path.join(REPO_ROOT, 'dist', 'demo', 'main.js');
export const SLOW = { timeout: 240_000 };
// Airflow starts in ~30 s and restarts its four components in ~30-40 s on two cores, once at APPLY
// and again at COMPENSATE; another long test may share the machine.
export const VERY_SLOW = { timeout: 1_200_000 };

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
  /**
   * Every command line it was seen with, one per line: a process read between its fork and its
   * exec still shows its parent's (node's), so one reading is not enough to know what it ran.
   */
  command: string;
}

export interface DemoRun {
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
export function runDemo(args: string[], interruptAt?: RegExp, act?: (out: string) => void): Promise<DemoRun> {
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
      const command = commandOf(pid);
      const known = run.seen.get(key);
      if (!known) run.seen.set(key, { pid, start: info.start, command });
      else if (command !== '' && !known.command.split('\n').includes(command))
        known.command += `\n${command}`;
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

export interface DemoArgs {
  args: string[];
  dir: string;
  db: string;
  uiPort: number;
  airflowPort: number;
}

export async function demoArgs(): Promise<DemoArgs> {
  const dir = mkdtempSync(path.join(tmpdir(), 'cutover-demo-test-'));
  dirs.push(dir);
  const db = `cutover_demo_test_${randomBytes(4).toString('hex')}`;
  databases.push(db);
  const ports = new Set<number>();
  // Below the ephemeral range: the demo binds these seconds later, and an outgoing connection on
  // this busy machine may meanwhile be given an ephemeral one (local/ports.ts).
  while (ports.size < 3) ports.add(await freeServicePort());
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

export function describeRun(run: DemoRun): string {
  return `exit ${run.code ?? run.signal} after ${run.ms} ms\n--- stdout\n${run.stdout}\n--- stderr\n${run.stderr}`;
}

/** The wall-time lines of the run's table, for the test log. */
export function reportTimings(run: DemoRun, t: { diagnostic(message: string): void }, dir?: string): void {
  t.diagnostic(`demo took ${run.ms} ms`);
  for (const line of run.stdout.split('\n').filter((l) => /^ {2}\S.* \d+\.\d s/.test(l))) t.diagnostic(line);
  if (dir === undefined) return;
  // What the shutdown spent, by what was stopped, and each Airflow component's own stop.
  const read = (f: string) => (existsSync(f) ? readFileSync(f, 'utf8') : '');
  const lines = read(path.join(dir, 'logs', 'shutdown.log'))
    .split('\n')
    .filter(Boolean);
  const airflow = path.join(dir, 'logs', 'airflow');
  for (const f of existsSync(airflow) ? readdirSync(airflow).filter((n) => n.endsWith('.log')) : [])
    lines.push(
      ...read(path.join(airflow, f))
        .split('\n')
        .filter((l) => l.startsWith('=== cutover: stopped')),
    );
  for (const line of lines) t.diagnostic(line);
}

export async function assertNothingLeft(run: DemoRun, db: string): Promise<void> {
  assert.deepEqual(await survivors(run.seen), [], 'no process the demo started is alive');
  assert.equal(await databaseExists(db, pgServerUrl()), false, 'the demo database was dropped');
}

export function assertCalibration(out: string): void {
  assert.match(out, /7 175 +15 B +73 KB +307 KB +1\.52 MB +1\.99 MB/);
  assert.match(out, /threshold proposed: 1\.6 MB \(1 600 000 B\) \(above-p99\.9/);
  assert.match(out, /historical rows that would offload: 7 \(plan allows 10\)/);
  assert.match(out, /^ {2}2\. PREFLIGHT green$/m);
  assert.match(out, /^ {2}4\. REHEARSAL green$/m);
}

/** Drops the databases and state dirs of this file's demo runs: call once at a test file's top level. */
export function cleanUpDemoRuns(): void {
  after(async () => {
    for (const db of databases) await dropDatabase(db, pgServerUrl()).catch(() => undefined);
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });
}
