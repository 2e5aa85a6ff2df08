/**
 * The `cutover` CLI end to end against a real Temporal dev server: an in-process
 * worker with scripted activities serves the task queue the CLI starts on, and
 * the CLI runs in-process through main() (plus once as the real bin).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { copyFileSync, mkdtempSync, readFileSync, realpathSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import type { Worker } from '@temporalio/worker';
import { main } from '../client/cli.js';
import { ProgressPrinter } from '../client/commands/watch-run.js';
import { clock } from '../client/format.js';
import type { CutoverStatus } from '../domain/cutover.js';
import { lockKeys } from '../domain/engine/locks.js';
import type { RunStatus } from '../domain/engine/run.js';
import { createCutoverWorker } from '../worker/create-worker.js';
import { statusQuery } from '../workflows/engine/messages.js';
import { startCutoverEnv, type CutoverEnv } from './support/cutover-env.js';
import { REPO_ROOT } from './support/plans.js';
import { scriptedActivities } from './support/scripted-activities.js';
import { freePort } from './support/temporal.js';

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

let env: CutoverEnv;
let worker: Worker;
let workerDone: Promise<void>;
let ioEnv: NodeJS.ProcessEnv;
const taskQueue = `cli-${randomUUID()}`;
const dir = mkdtempSync(path.join(os.tmpdir(), 'cutover-cli-'));
const planFile = path.join(dir, 'reference-dossier.yaml');
const ID = 'cutover/k8s-scaleway-prod-cvntrade-airflow/xcom-flip-prod';

async function cli(args: string[], extraEnv: NodeJS.ProcessEnv = {}): Promise<Run> {
  let stdout = '';
  let stderr = '';
  const code = await main(args, {
    stdout: { write: (s: string) => (stdout += s) },
    stderr: { write: (s: string) => (stderr += s) },
    env: { ...ioEnv, ...extraEnv },
  });
  return { code, stdout, stderr };
}

/** Polls `status --json` until `pred` holds. */
async function waitForStatus(
  id: string,
  pred: (s: CutoverStatus) => boolean,
  timeoutMs = 30_000,
): Promise<CutoverStatus> {
  const deadline = Date.now() + timeoutMs;
  let last: Run | undefined;
  while (Date.now() < deadline) {
    last = await cli(['status', id, '--json']);
    if (last.code === 0) {
      const s = JSON.parse(last.stdout) as CutoverStatus;
      if (pred(s)) return s;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`status never matched; last: ${last?.code} ${last?.stdout.slice(0, 200)} ${last?.stderr}`);
}

/** Visibility is eventually consistent: retry a list until `pred` holds. */
async function listUntil(
  args: string[],
  pred: (rows: { workflowId: string; outcome: string | null }[]) => boolean,
) {
  for (let i = 0; i < 50; i += 1) {
    const r = await cli(['list', '--json', ...args]);
    assert.equal(r.code, 0, r.stderr);
    const rows = JSON.parse(r.stdout) as {
      workflowId: string;
      outcome: string | null;
      approver: string | null;
    }[];
    if (pred(rows)) return rows;
    await new Promise((res) => setTimeout(res, 200));
  }
  throw new Error(`list ${args.join(' ')} never matched`);
}

before(async () => {
  env = await startCutoverEnv();
  worker = await createCutoverWorker({
    connection: env.connection,
    taskQueue,
    activities: scriptedActivities(),
  });
  workerDone = worker.run();
  ioEnv = {
    TEMPORAL_ADDRESS: env.server.address,
    TEMPORAL_NAMESPACE: 'default',
    CUTOVER_TASK_QUEUE: taskQueue,
    CUTOVER_OPERATOR: 'alice',
  };
  copyFileSync(path.join(REPO_ROOT, 'plans', 'reference-dossier.yaml'), planFile);
});

after(async () => {
  worker?.shutdown();
  await workerDone;
  await env?.close();
});

void test('start with an invalid plan exits 2 with field-named problems and starts nothing', async () => {
  const bad = path.join(dir, 'bad.yaml');
  writeFileSync(
    bad,
    readFileSync(planFile, 'utf8').replace(
      'threshold: { strategy: above-quantile, quantile: p99.9, roundTo: 100000 }',
      'threshold: { strategy: fixed, bytes: "1MB" }',
    ),
  );
  const r = await cli(['start', '--plan', bad]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /^cutover: .*bad\.yaml: invalid plan/);
  assert.match(r.stderr, /xcom\.threshold\.bytes: /);
  assert.equal(r.stdout, '');
  const all = await cli(['list', '--all', '--json']);
  assert.equal(all.code, 0, all.stderr);
  assert.deepEqual(JSON.parse(all.stdout), [], 'no workflow was started');
});

void test('start --json starts the reference plan on the configured task queue', async () => {
  const r = await cli(['start', '--plan', planFile, '--json']);
  assert.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout) as {
    workflowId: string;
    runId: string;
    planDigest: string;
    uiLink: string;
  };
  assert.equal(out.workflowId, ID);
  assert.match(out.runId, /^[0-9a-f-]{36}$/);
  assert.match(out.planDigest, /^sha256:[0-9a-f]{16}$/);
  assert.ok(out.uiLink.includes(encodeURIComponent(ID)), out.uiLink);
  const described = await env.client.workflow.getHandle(ID).describe();
  assert.equal(described.taskQueue, taskQueue);
});

void test('status shows CALIBRATE..REHEARSE evidence and the pending approval at AWAIT_GO', async () => {
  const s = await waitForStatus(ID, (x) => x.phase === 'AWAIT_GO');
  assert.deepEqual(
    [...new Set(s.steps.map((st) => st.phase))],
    ['CALIBRATE', 'PREFLIGHT', 'RENDER', 'REHEARSE'],
  );
  assert.ok(s.steps.every((st) => st.status === 'ok'));
  assert.deepEqual(s.pendingApproval?.approvers, ['dococeven', 'platform-oncall']);
  assert.equal(s.startedBy, 'alice');

  const human = await cli(['status', ID]);
  assert.equal(human.code, 0, human.stderr);
  assert.match(human.stdout, /phase: +AWAIT_GO/);
  assert.match(human.stdout, /CALIBRATE +measure XCom sizes +ok +7 175 rows/);
  assert.match(human.stdout, /pending approval:/);
  assert.match(human.stdout, /who may approve: +dococeven, platform-oncall/);
  assert.ok(
    human.stdout.includes(
      `cutover approve ${ID} --operator <name> --reason "<why>" --digest ${s.planDigest}`,
    ),
  );
});

void test('watch returns at AWAIT_GO with the approve command (exit 0)', async () => {
  const r = await cli(['watch', ID]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /Web UI: http/);
  assert.match(r.stdout, /AWAIT_GO: the run waits for a person/);
  assert.ok(r.stdout.includes(`cutover approve ${ID}`));
});

void test('watch attached late stamps each line with the time of its event, not the time it prints it', () => {
  const lines: string[] = [];
  const at = (iso: string) => clock(new Date(iso));
  const status = {
    phase: 'COMPENSATE',
    details: 'reverting',
    steps: [
      {
        phase: 'CALIBRATE',
        step: 'calibrate',
        status: 'ok',
        summary: 'p99 1.6 MB',
        startedAt: '2020-01-02T03:04:05.000Z',
        finishedAt: '2020-01-02T03:04:09.000Z',
      },
      { phase: 'VERIFY', step: 'verify', status: 'failed', summary: 'scheduler: old config' },
      { phase: 'COMPENSATE', step: 'revert', status: 'running', summary: '' },
    ],
  } as unknown as RunStatus;
  const entries = [
    { phase: 'CALIBRATE', at: '2020-01-02T03:04:04.000Z' },
    { phase: 'VERIFY', at: '2020-01-02T03:05:00.000Z' },
    { phase: 'COMPENSATE', at: '2020-01-02T03:06:00.000Z' },
  ];
  const printer = new ProgressPrinter(
    (l) => lines.push(l),
    entries,
    () => new Date('2030-06-07T08:09:10Z'),
  );
  printer.update(status);
  assert.deepEqual(lines, [
    `${at('2020-01-02T03:04:04.000Z')} CALIBRATE`,
    `${at('2020-01-02T03:04:09.000Z')}   [ok] calibrate: p99 1.6 MB`,
    `${at('2020-01-02T03:05:00.000Z')} VERIFY`,
    // A failed step ends its phase: the time the run moved on.
    `${at('2020-01-02T03:06:00.000Z')}   [FAILED] verify: scheduler: old config`,
    `${at('2020-01-02T03:06:00.000Z')} COMPENSATE     reverting`,
    `${at('2020-01-02T03:06:00.000Z')}   [..] revert`,
  ]);
  // What changes after attaching is news from the last poll: stamped now.
  printer.update({ ...status, details: 'restarting' } as RunStatus);
  assert.equal(lines.at(-1), `${at('2030-06-07T08:09:10Z')} COMPENSATE     restarting`);
});

void test('a second cut-over of the same target is refused while one runs (exit 3)', async () => {
  const same = await cli(['start', '--plan', planFile]);
  assert.equal(same.code, 3);
  assert.match(
    same.stderr,
    new RegExp(
      `^cutover: refused: cut-over ${ID} .*already running on target k8s-scaleway-prod-cvntrade-airflow`,
    ),
  );
  assert.equal(same.stderr.trim().split('\n').length, 1, 'one line');

  // Another plan for the same target: a different workflow id, caught by the visibility check.
  const other = path.join(dir, 'other.yaml');
  writeFileSync(
    other,
    readFileSync(planFile, 'utf8').replace('name: xcom-flip-prod', 'name: xcom-flip-prod-again'),
  );
  const r = await cli(['start', '--plan', other]);
  assert.equal(r.code, 3);
  assert.ok(r.stderr.includes(ID), r.stderr);
});

void test('approve by someone who may not approve is refused with the workflow reason (exit 3)', async () => {
  const s = await waitForStatus(ID, (x) => x.phase === 'AWAIT_GO');
  const mallory = await cli([
    'approve',
    ID,
    '--operator',
    'mallory',
    '--reason',
    'lgtm',
    '--digest',
    s.planDigest,
  ]);
  assert.equal(mallory.code, 3);
  assert.equal(
    mallory.stderr,
    "cutover: refused: mallory is not one of the plan's approvers (dococeven, platform-oncall)\n",
  );

  const wrongDigest = await cli([
    'approve',
    ID,
    '--operator',
    'dococeven',
    '--reason',
    'lgtm',
    '--digest',
    'sha256:0000',
  ]);
  assert.equal(wrongDigest.code, 3);
  assert.match(wrongDigest.stderr, /digest sha256:0000 does not match the plan under review/);

  const missing = await cli(['approve', ID, '--operator', 'dococeven']);
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /^cutover: required option '--reason <text>' not specified/);
});

void test('approve by an approver succeeds and watch follows the run to DONE (exit 0)', async () => {
  const s = await waitForStatus(ID, (x) => x.phase === 'AWAIT_GO');
  const ok = await cli(['approve', ID, '--operator', 'dococeven', '--reason', 'evidence reviewed']);
  assert.equal(ok.code, 0, ok.stderr);
  assert.equal(
    ok.stdout,
    `approving digest ${s.planDigest} (the plan under review)\napproved by dococeven (digest ${s.planDigest})\n`,
  );

  const w = await cli(['watch', ID, '--timeout', '60s']);
  assert.equal(w.code, 0, w.stderr);
  assert.match(w.stdout, /outcome: DONE: /);

  const again = await cli(['approve', ID, '--operator', 'dococeven', '--reason', 'twice']);
  assert.equal(again.code, 3);
  assert.match(again.stderr, /no approval is pending: the run has ended \(DONE\)/);
});

void test('status --json and list --all show the finished run', async () => {
  const r = await cli(['status', ID, '--json']);
  assert.equal(r.code, 0, r.stderr);
  const s = JSON.parse(r.stdout) as CutoverStatus & {
    execution: { status: string };
    result: { productionChanged: boolean };
  };
  assert.equal(s.outcome, 'DONE');
  assert.equal(s.phase, 'FINISHED');
  assert.equal(s.execution.status, 'COMPLETED');
  assert.equal(s.result.productionChanged, true);
  assert.equal(s.decision?.operator, 'dococeven');

  // The CLI reads a completed run from its result; the query works too, replayed by the worker.
  const queried = await env.client.workflow.getHandle(ID).query(statusQuery);
  assert.equal(queried.outcome, 'DONE');

  const rows = await listUntil(['--all'], (rs) =>
    rs.some((x) => x.workflowId === ID && x.outcome === 'DONE'),
  );
  assert.equal(rows.find((x) => x.workflowId === ID)?.outcome, 'DONE');
  const table = await cli([
    'list',
    '--all',
    '--target',
    'k8s-scaleway-prod-cvntrade-airflow',
    '--phase',
    'FINISHED',
  ]);
  assert.equal(table.code, 0, table.stderr);
  assert.match(
    table.stdout,
    /^WORKFLOW ID +RUNBOOK +STATUS +PHASE +OUTCOME +TARGET +PLAN +APPROVER +STARTED/,
  );
  assert.match(
    table.stdout,
    /XComBackendCutover +COMPLETED +FINISHED +DONE +k8s-scaleway-prod-cvntrade-airflow +xcom-flip-prod +dococeven/,
  );
  // --runbook filters by the plan kind: the XCom run is listed under its kind and not under another.
  const xcom = await cli(['list', '--all', '--json', '--runbook', 'XComBackendCutover']);
  assert.equal(xcom.code, 0, xcom.stderr);
  assert.equal((JSON.parse(xcom.stdout) as { runbook: string }[])[0]?.runbook, 'XComBackendCutover');
  const other = await cli(['list', '--all', '--json', '--runbook', 'StateStoreBackendCutover']);
  assert.deepEqual(JSON.parse(other.stdout), []);
  const running = await cli(['list', '--json']);
  assert.deepEqual(JSON.parse(running.stdout), []);
  const elsewhere = await cli(['list', '--all', '--json', '--target', 'k8s-elsewhere']);
  assert.deepEqual(JSON.parse(elsewhere.stdout), []);
});

void test('report renders the evidence, with the calibration figures', async () => {
  const r = await cli(['report', ID]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^# Cut-over xcom-flip-prod: DONE/);
  assert.ok(r.stdout.includes('| 7 175 | 15 B | 73 KB | 307 KB | 1.52 MB | 1.99 MB |'), r.stdout);
  assert.ok(r.stdout.includes('Proposed threshold: **1.6 MB (1 600 000 B)**'));
  assert.ok(!r.stdout.includes('.svg)'), 'on stdout the Markdown travels without its plots');
  assert.ok(r.stdout.includes('**Approved** by **dococeven** (via update): evidence reviewed'));
  const out = path.join(dir, 'report.md');
  const toFile = await cli(['report', ID, '--out', out]);
  assert.equal(toFile.code, 0, toFile.stderr);
  assert.match(toFile.stdout, /^wrote .*report\.md/);
  assert.equal(readFileSync(out, 'utf8'), r.stdout);

  // Into a directory: the Markdown with its plots as SVG files beside it.
  const outDir = path.join(dir, 'dossier-dir/');
  const toDir = await cli(['report', ID, '--out', outDir]);
  assert.equal(toDir.code, 0, toDir.stderr);
  assert.match(toDir.stdout, /dossier\.md .* and timeline\.svg, calibration\.svg beside it/);
  const md = readFileSync(path.join(outDir, 'dossier.md'), 'utf8');
  assert.match(md, /^!\[XCom value sizes: 7 175 values, threshold 1\.6 MB\]\(calibration\.svg\)$/m);
  assert.match(md, /^!\[Timeline of .*\]\(timeline\.svg\)$/m);
  const svg = readFileSync(path.join(outDir, 'calibration.svg'), 'utf8');
  assert.match(svg, /^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
  assert.match(svg, /data-role="threshold" data-bytes="1600000"/);

  // One self-contained HTML page, with the same plots inline.
  const html = await cli(['report', ID, '--format', 'html']);
  assert.equal(html.code, 0, html.stderr);
  assert.match(html.stdout, /^<!doctype html>/);
  assert.match(html.stdout, /<figure id="calibration"><svg /);
  assert.match(html.stdout, /<figure id="timeline"><svg /);
  assert.ok(html.stdout.includes("default-src 'none'"), 'a CSP that forbids every request');
  assert.ok(!/<script|<link|src="http/.test(html.stdout), 'no script, no external asset');
});

void test(
  'replay is deterministic and prints a timeline with the approval',
  { timeout: 60_000 },
  async () => {
    const exported = path.join(dir, 'history.json');
    const r = await cli(['replay', ID, '--export', exported]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^replay of .* events\): deterministic with the current workflow code/);
    assert.match(r.stdout, /#\s*1 {2}workflow xcomBackendCutover started by alice: plan xcom-flip-prod/);
    assert.match(
      r.stdout,
      /update approveUpdate from dococeven, reason "evidence reviewed", digest sha256:\w+ passed validation/,
    );
    assert.match(r.stdout, /update approveUpdate from dococeven accepted: approved by dococeven/);
    assert.match(r.stdout, /workflow completed: DONE: /);

    // The exported history replays from the file too; a tampered one does not.
    const fromFile = await cli(['replay', '--file', exported, '--json']);
    assert.equal(fromFile.code, 0, fromFile.stderr);
    const verdict = JSON.parse(fromFile.stdout) as {
      workflowId: string;
      deterministic: boolean;
      timeline: unknown[];
    };
    assert.equal(verdict.deterministic, true);
    assert.equal(verdict.workflowId, ID, 'the workflow id comes back from the plan in the history');
    assert.ok(verdict.timeline.length > 10);

    // An incident bundle, replayed by another process from a directory holding nothing else.
    const bundle = mkdtempSync(path.join(os.tmpdir(), 'cutover-bundle-'));
    const b = await cli(['replay', ID, '--bundle', bundle]);
    assert.equal(b.code, 0, b.stderr);
    assert.match(b.stdout, /bundle written: .*history\.json, .*plan\.yaml, .*README\.md/);
    assert.match(
      readFileSync(path.join(bundle, 'README.md'), 'utf8'),
      /npx cutover replay --file history\.json/,
    );
    assert.match(readFileSync(path.join(bundle, 'plan.yaml'), 'utf8'), /name: xcom-flip-prod/);
    const elsewhere = spawnSync(
      process.execPath,
      [path.join(REPO_ROOT, 'dist', 'client', 'cli.js'), 'replay', '--file', 'history.json', '--json'],
      { cwd: bundle, encoding: 'utf8', env: { PATH: process.env.PATH ?? '' } },
    );
    assert.equal(elsewhere.status, 0, elsewhere.stderr);
    assert.equal((JSON.parse(elsewhere.stdout) as { deterministic: boolean }).deterministic, true);

    const history = JSON.parse(readFileSync(exported, 'utf8')) as {
      events: {
        eventId: string;
        activityTaskScheduledEventAttributes?: { activityType: { name: string } };
      }[];
    };
    const preflight = history.events.find(
      (e) => e.activityTaskScheduledEventAttributes?.activityType.name === 'preflight',
    );
    assert.ok(preflight?.activityTaskScheduledEventAttributes);
    preflight.activityTaskScheduledEventAttributes.activityType.name = 'dropTheDatabase';
    const tampered = path.join(dir, 'tampered.json');
    writeFileSync(tampered, JSON.stringify(history));
    const bad = await cli(['replay', '--file', tampered]);
    assert.equal(bad.code, 1, bad.stderr);
    assert.match(
      bad.stdout,
      new RegExp(
        `NONDETERMINISTIC at event #${preflight.eventId}: .*Nondeterminism error: Activity type of scheduled event 'dropTheDatabase'`,
      ),
    );
  },
);

void test('reject: a new run of the same plan (the last one closed) ends REJECTED', async () => {
  const started = await cli(['start', '--plan', planFile, '--id']);
  assert.equal(started.code, 0, started.stderr);
  assert.equal(started.stdout, `${ID}\n`);
  const s = await waitForStatus(ID, (x) => x.phase === 'AWAIT_GO');

  const r = await cli([
    'reject',
    ID,
    '--operator',
    'alice',
    '--reason',
    'wrong window',
    '--digest',
    s.planDigest,
  ]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^rejected by alice/);

  const w = await cli(['watch', ID]);
  assert.equal(w.code, 1, 'a run that ends other than DONE is a negative answer');
  assert.match(w.stdout, /outcome: REJECTED: rejected by alice: wrong window; nothing changed/);
  const st = JSON.parse((await cli(['status', ID, '--json'])).stdout) as CutoverStatus;
  assert.equal(st.outcome, 'REJECTED');
  assert.equal(st.evidence.applies.length, 0);
});

void test('start --wait reports the outcome; retry-compensation on a run not waiting for it is refused', async () => {
  const dry = path.join(dir, 'other-target.yaml');
  writeFileSync(dry, readFileSync(planFile, 'utf8').replace('release: airflow', 'release: airflow-two'));
  const started = cli(['start', '--plan', dry, '--wait', '--operator', 'bob']);
  const id = 'cutover/k8s-scaleway-prod-cvntrade-airflow-two/xcom-flip-prod';
  const s = await waitForStatus(id, (x) => x.phase === 'AWAIT_GO');
  const retry = await cli(['retry-compensation', id, '--operator', 'bob', '--reason', 'try again']);
  assert.equal(retry.code, 3);
  assert.match(retry.stderr, /refused: the run is not waiting for an operator \(phase AWAIT_GO\)/);
  const ok = await cli([
    'approve',
    id,
    '--operator',
    'platform-oncall',
    '--reason',
    'go',
    '--digest',
    s.planDigest,
  ]);
  assert.equal(ok.code, 0, ok.stderr);
  const r = await started;
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^started cut-over cutover\/k8s-scaleway-prod-cvntrade-airflow-two\/xcom-flip-prod/);
  assert.match(r.stdout, /outcome: DONE: /);
});

void test('errors: unknown workflow (4), unknown flag (2), no server (5, within the connect timeout)', async () => {
  const missing = await cli(['status', 'cutover/nope/nope']);
  assert.equal(missing.code, 4);
  assert.equal(
    missing.stderr,
    'cutover: no cut-over with workflow id cutover/nope/nope in namespace default\n',
  );

  // replay reads history, where a missing run is a bare gRPC NOT_FOUND: still 4, in words.
  const replayMissing = await cli(['replay', 'cutover/nope/nope']);
  assert.equal(replayMissing.code, 4, replayMissing.stderr);
  assert.equal(replayMissing.stderr, 'cutover: no run with workflow id cutover/nope/nope\n');

  const flag = await cli(['status', ID, '--frobnicate']);
  assert.equal(flag.code, 2);
  assert.equal(flag.stderr, "cutover: unknown option '--frobnicate' (see cutover status --help)\n");

  // How long giving up takes is a figure for bench/, not an assertion: the test checks that the
  // bound given is the one applied and said.
  const port = await freePort();
  const down = await cli(['list'], { TEMPORAL_ADDRESS: `127.0.0.1:${port}`, CUTOVER_CONNECT_TIMEOUT: '1s' });
  assert.equal(down.code, 5);
  assert.match(down.stderr, new RegExp(`^cutover: cannot reach Temporal at 127\\.0\\.0\\.1:${port}: `));
  assert.match(down.stderr, /\(waited 1s; set TEMPORAL_ADDRESS/);
});

void test('the bin runs the compiled CLI', () => {
  const r = spawnSync(process.execPath, [path.join(REPO_ROOT, 'bin', 'cutover.js'), '--help'], {
    encoding: 'utf8',
  });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^Usage: cutover /);
  assert.match(r.stdout, /Exit codes:\n {2}0 {3}ok/);
  const sub = spawnSync(process.execPath, [path.join(REPO_ROOT, 'bin', 'cutover.js'), 'approve', '--help'], {
    encoding: 'utf8',
  });
  assert.equal(sub.status, 0);
  assert.match(sub.stdout, /--digest <digest>/);
});

void test('one cut-over per thing changed: another plan and target name on the same env file is refused (exit 3)', async () => {
  const envFile = path.join(dir, 'airflow.env');
  writeFileSync(envFile, 'AIRFLOW__CORE__LOAD_EXAMPLES=False\n');
  const alias = path.join(dir, 'alias.env');
  symlinkSync(envFile, alias);
  const localPlan = (file: string, target: string, name: string, envPath: string) => {
    writeFileSync(
      file,
      readFileSync(path.join(REPO_ROOT, 'plans', 'local.yaml'), 'utf8')
        .replace('envFile: .cutover/demo/airflow.env', `envFile: ${envPath}`)
        .replace('  name: demo', `  name: ${target}`)
        .replace('name: xcom-flip-local', `name: ${name}`),
    );
    return file;
  };
  const first = localPlan(path.join(dir, 'local-a.yaml'), 'team-a', 'flip-a', envFile);
  const started = await cli(['start', '--plan', first, '--id']);
  assert.equal(started.code, 0, started.stderr);
  const firstId = started.stdout.trim();
  try {
    await listUntil(['--target', 'local-team-a'], (rows) => rows.some((r) => r.workflowId === firstId));
    // Same file through a symlink, another target name, another plan name: the lock is the file.
    const second = localPlan(path.join(dir, 'local-b.yaml'), 'team-b', 'flip-b', alias);
    const r = await cli(['start', '--plan', second]);
    assert.equal(r.code, 3, r.stderr);
    const runId = env.client.workflow
      .getHandle(firstId)
      .describe()
      .then((d) => d.runId);
    assert.equal(
      r.stderr,
      `cutover: refused: cut-over ${firstId} (run ${await runId}) is already running on target local-team-a and changes bucket-lifecycle:cutover-demo, env-file:${realpathSync(envFile)}; follow it with: cutover watch ${firstId}\n`,
    );
    // Another env file and another bucket is another system: not refused by the first run.
    const otherEnv = path.join(dir, 'other.env');
    writeFileSync(otherEnv, 'AIRFLOW__CORE__LOAD_EXAMPLES=False\n');
    const third = localPlan(path.join(dir, 'local-c.yaml'), 'team-c', 'flip-c', otherEnv);
    writeFileSync(third, readFileSync(third, 'utf8').replaceAll('cutover-demo', 'cutover-other'));
    const ok = await cli(['start', '--plan', third, '--id']);
    assert.equal(ok.code, 0, ok.stderr);
    await env.client.workflow.getHandle(ok.stdout.trim()).terminate('test cleanup: scripted run at AWAIT_GO');
  } finally {
    await env.client.workflow.getHandle(firstId).terminate('test cleanup: scripted run at AWAIT_GO');
  }
});

void test('lock keys name what is changed: the release, the ConfigMap, the values file, the bucket lifecycle', () => {
  const resolver = {
    canonicalPath: (f: string) => `/real${f}`,
    cluster: (c: string | undefined) =>
      c === 'admin@prod' || c === 'ro@prod' ? 'https://prod:6443' : 'other',
    repo: (r: string) => r,
  };
  const k8s = (context: string, change: Record<string, string>) =>
    lockKeys(
      {
        target: {
          kind: 'kubernetes',
          context,
          namespace: 'airflow',
          release: 'af',
          components: [{ name: 's' }],
        },
        change,
      } as unknown as Parameters<typeof lockKeys>[0],
      resolver,
    );
  // Two contexts on one cluster share the release's key.
  assert.deepEqual(k8s('admin@prod', { mode: 'configmap', configMap: 'airflow-env' }), [
    'configmap:https://prod:6443/airflow/airflow-env',
    'release:https://prod:6443/airflow/af',
  ]);
  assert.deepEqual(
    k8s('ro@prod', { mode: 'gitops', repo: 'https://git.example/infra', valuesFile: 'airflow/values.yaml' }),
    ['release:https://prod:6443/airflow/af', 'values-file:https://git.example/infra#airflow/values.yaml'],
  );
});
