/**
 * `cutover plan` end to end on real components: a Temporal dev server, a worker
 * in-process built from adaptersFromEnv (the production adapters), a PostgreSQL
 * database migrated by Airflow 3.3 and seeded with the reference distribution,
 * moto S3, and a local target whose env file points Airflow at both. The CLI runs
 * in-process through main(). One server, one migrated DB, one moto for the file.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { HeadBucketCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import type { Worker } from '@temporalio/worker';
import { parse, stringify } from 'yaml';
import { createActivities } from '../activities/index.js';
import { renderStages } from '../activities/xcom/render.js';
import { main } from '../client/cli.js';
import { dryRunWorkflowId } from '../client/commands/plan-run.js';
import type { CutoverInput, CutoverResult } from '../domain/cutover.js';
import { WORKFLOW_TYPE } from '../domain/cutover.js';
import { planDigest } from '../domain/plan-file.js';
import { targetKey, workflowIdFor } from '../domain/plan-key.js';
import { planSchema, type PlanInput } from '../domain/plan.js';
import { createCutoverWorker } from '../worker/create-worker.js';
import { adaptersFromEnv, type WorkerAdapters } from '../worker/adapters-from-env.js';
import { PLAN, TARGET } from '../workflows/engine/search-attributes.js';
import { createAirflowTestDatabase, type AirflowTestDatabase } from './support/airflow-db.js';
import { localTargetEnvFile } from '../local/airflow-env.js';
import { startCutoverEnv, workflowBundle, type CutoverEnv } from './support/cutover-env.js';
import { startMoto, TEST_REGION, type MotoServer } from './support/moto.js';
import { REPO_ROOT } from './support/plans.js';
import { DOSSIER, referenceRows, seedReferenceHistory } from './support/xcom-fixture.js';

const SLOW = { timeout: 240_000 };
const URL_ENV = 'CUTOVER_TEST_PLAN_METADB_URL';
const BUCKET = 'cutover-plan-xcom';
const XCOM_VARS = [
  'AIRFLOW__CORE__XCOM_BACKEND',
  'AIRFLOW__COMMON_IO__XCOM_OBJECTSTORAGE_PATH',
  'AIRFLOW__COMMON_IO__XCOM_OBJECTSTORAGE_THRESHOLD',
  'AIRFLOW__COMMON_IO__XCOM_OBJECTSTORAGE_COMPRESSION',
];

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

let env: CutoverEnv;
let db: AirflowTestDatabase;
let moto: MotoServer;
let dir: string;
let envFile: string;
let envFileText: string;
let wa: WorkerAdapters;
let worker: Worker;
let workerDone: Promise<void>;
const taskQueue = `plan-${randomUUID()}`;
let ioEnv: NodeJS.ProcessEnv;

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

/** plans/local.yaml pointed at this file's env file, bucket and DB, then edited by `patch`. */
function writePlan(name: string, patch: (raw: PlanInput) => void = () => {}): string {
  const raw = parse(readFileSync(path.join(REPO_ROOT, 'plans', 'local.yaml'), 'utf8')) as PlanInput;
  if (raw.target.kind !== 'local') throw new Error('plans/local.yaml is not a local target');
  raw.target.envFile = envFile;
  raw.spec.xcom.path = `s3://aws_default@${BUCKET}/xcom`;
  raw.airflow.metadataDb = { access: 'direct', urlEnv: URL_ENV };
  patch(raw);
  planSchema.parse(raw); // the test's own edits must be valid
  const file = path.join(dir, `${name}.yaml`);
  writeFileSync(file, stringify(raw));
  return file;
}

async function planJson(file: string, ...flags: string[]): Promise<{ run: Run; result: CutoverResult }> {
  const run = await cli(['plan', file, '--json', ...flags]);
  let result: CutoverResult;
  try {
    result = JSON.parse(run.stdout) as CutoverResult;
  } catch {
    throw new Error(`plan --json printed no JSON (exit ${run.code}):\n${run.stdout}\n${run.stderr}`);
  }
  return { run, result };
}

async function bucketKeys(): Promise<string[]> {
  const res = await moto.s3.send(new ListObjectsV2Command({ Bucket: BUCKET }));
  return (res.Contents ?? []).map((o) => o.Key ?? '');
}

function assertEnvFileUntouched(): void {
  assert.equal(readFileSync(envFile, 'utf8'), envFileText, 'the env file is unchanged byte for byte');
  assert.equal(existsSync(path.join(dir, '.cutover-journal')), false, 'no change journal was written');
}

function assertReferenceCalibration(result: CutoverResult, source: 'metadata-db' | 'in-pod'): void {
  const c = result.status.evidence.calibration;
  assert.ok(c, 'calibration evidence');
  assert.equal(c.source, source);
  assert.equal(c.rowCount, DOSSIER.rows);
  assert.deepEqual(c.sizeBytes, {
    p50: 15,
    p95: 73_000,
    p99: 307_000,
    p999: 1_520_000,
    max: 1_990_000,
  });
  assert.deepEqual(c.rowsAbove, { '48KB': 545, '100KB': 277, '1MB': 11 });
  assert.equal(c.proposal.thresholdBytes, 1_600_000);
  assert.equal(c.proposal.strategy, 'above-p99.9');
  // The fixture puts exactly 7 values at or above 1.6 MB (ranks 7169..7175).
  assert.equal(c.projectedOffloadRows, referenceRows().filter((r) => r.bytes >= 1_600_000).length);
  assert.equal(c.projectedOffloadRows, 7);
  assert.equal(c.maxOffloadRows, 10);
  assert.ok(c.gate.passed);
}

function assertRenderedAndPreviewed(result: CutoverResult): void {
  const ev = result.status.evidence;
  assert.ok(ev.change?.lint.passed, 'lint clean');
  assert.equal(ev.change.stages.length, 1);
  const stage = ev.change.stages[0];
  assert.ok(stage);
  assert.deepEqual(stage.env, {
    AIRFLOW__CORE__XCOM_BACKEND: 'airflow.providers.common.io.xcom.backend.XComObjectStorageBackend',
    AIRFLOW__COMMON_IO__XCOM_OBJECTSTORAGE_PATH: `s3://aws_default@${BUCKET}/xcom`,
    AIRFLOW__COMMON_IO__XCOM_OBJECTSTORAGE_THRESHOLD: '1600000',
    AIRFLOW__COMMON_IO__XCOM_OBJECTSTORAGE_COMPRESSION: '',
  });
  assert.ok(ev.preview);
  assert.equal(ev.preview.destination, `env file ${envFile}`);
  const added = ev.preview.diff
    .split('\n')
    .filter((l) => l.startsWith('+') && !l.startsWith('+++'))
    .map((l) => l.slice(1).split('=')[0]);
  assert.deepEqual(added, XCOM_VARS, ev.preview.diff);
  assert.doesNotMatch(ev.preview.diff, /^-[^-]/m, 'nothing removed from the env file');
  // The lines around the change are other variables of the file (credentials): the diff carries none.
  assert.doesNotMatch(ev.preview.diff, /AWS_SECRET_ACCESS_KEY|SQL_ALCHEMY_CONN|AIRFLOW_CONN_/);
  const everything = JSON.stringify(result);
  assert.ok(!everything.includes('AWS_SECRET_ACCESS_KEY=testing'), 'no credential in the evidence');
  assert.ok(!everything.includes(db.sqlalchemyUrl), 'no DB URL in the evidence');
}

before(async () => {
  [env, db, moto] = await Promise.all([
    startCutoverEnv(),
    createAirflowTestDatabase('cutover_plan'),
    startMoto({ bucket: BUCKET }),
  ]);
  await seedReferenceHistory(db.url);

  dir = mkdtempSync(path.join(tmpdir(), 'cutover-plan-'));
  const home = path.join(dir, 'airflow-home');
  mkdirSync(home);
  envFile = path.join(dir, 'airflow.env');
  envFileText = localTargetEnvFile({
    airflowHome: home,
    sqlalchemyUrl: db.sqlalchemyUrl,
    s3Endpoint: moto.endpoint,
    title: 'The local Airflow of this test: components read this file at start.',
  });
  writeFileSync(envFile, envFileText);

  wa = adaptersFromEnv({
    ...process.env,
    [URL_ENV]: db.url,
    // The worker's S3 (the orphan report, the lifecycle rule) is moto's.
    AWS_ENDPOINT_URL_S3: moto.endpoint,
    AWS_REGION: TEST_REGION,
    AWS_ACCESS_KEY_ID: moto.credentials.accessKeyId,
    AWS_SECRET_ACCESS_KEY: moto.credentials.secretAccessKey,
  });
  worker = await createCutoverWorker({
    connection: env.connection,
    taskQueue,
    adapters: wa.adapters,
    workflowBundle: await workflowBundle(),
  });
  workerDone = worker.run();
  ioEnv = {
    TEMPORAL_ADDRESS: env.server.address,
    TEMPORAL_NAMESPACE: 'default',
    CUTOVER_TASK_QUEUE: taskQueue,
    CUTOVER_OPERATOR: 'alice',
  };
}, SLOW);

after(async () => {
  worker?.shutdown();
  await workerDone;
  await wa?.close();
  await env?.close();
  await moto?.stop();
  await db?.drop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

void describe('cutover plan (dry run) on real components', () => {
  void test(
    'direct metadata DB: PLANNED with the dossier figures, green preflight, diff and rehearsal',
    SLOW,
    async (t) => {
      const file = writePlan('direct');
      const started = Date.now();
      const { run, result } = await planJson(file);
      t.diagnostic(`dry run took ${Date.now() - started} ms`);
      assert.equal(run.code, 0, `${run.stderr}\n${result.reason}`);
      assert.equal(result.outcome, 'PLANNED', result.reason);
      assert.equal(result.productionChanged, false);
      assert.match(result.status.workflowId, /^cutover-plan\/local-demo\/xcom-flip-local\/[0-9a-f]{6}$/);

      assertReferenceCalibration(result, 'metadata-db');

      const pf = result.status.evidence.preflight;
      assert.ok(pf);
      // The eight checks of the flip, plans/local.yaml's lifecycle rule (the bucket's config readable)
      // and the deployment's health.
      assert.equal(pf.checks.length, 10, pf.checks.map((c) => c.name).join(', '));
      assert.match(pf.checks.find((c) => c.id === 'lifecycle')?.detail ?? '', /no configuration yet/);
      // Every check of Airflow and S3 is green. Amber: the REST API, whose credentials this test's worker
      // lacks, since a dry run does not need it; and the deployment's health, because no Airflow
      // component runs here (the probes run the venv's Airflow one command at a time): a real run
      // would stop on that row, a dry run reports it and goes on.
      assert.deepEqual(
        pf.checks.filter((c) => c.status !== 'green').map((c) => `${c.status} ${c.name}`),
        ['amber worker can deploy, verify, validate and revert', 'amber deployment healthy'],
      );
      assert.match(
        pf.checks.find((c) => c.id === 'deployment-healthy')?.detail ?? '',
        /local supervisor could not be read.*\(a real run stops here\)/,
      );
      assert.ok(pf.gate.passed);

      assertRenderedAndPreviewed(result);

      const r = result.status.evidence.rehearsal;
      assert.ok(r, 'rehearsal evidence');
      assert.ok(r.offloaded, 'the sentinel was offloaded');
      assert.ok(r.breakConfirmed, 'break confirmed');
      assert.ok(r.roundTripIntact);
      assert.ok(r.healConfirmed, 'heal confirmed');
      assert.ok(r.sentinelCleaned, 'sentinel cleaned');
      assert.ok(r.valueBytes >= 1_600_000, `the sentinel (${r.valueBytes} B) is above the threshold`);
      assert.ok(r.objectPath.startsWith(`s3://aws_default@${BUCKET}/xcom/_rehearsal/`), r.objectPath);

      const keys = await bucketKeys();
      assert.deepEqual(
        keys.filter((k) => k.includes('_rehearsal/') || k.includes('_preflight/')),
        [],
        'no rehearsal or preflight objects are left',
      );
      assert.deepEqual(keys, [], 'the bucket is as it was (empty)');

      const phases = new Set(result.status.steps.map((s) => s.phase));
      assert.deepEqual([...phases], ['CALIBRATE', 'PREFLIGHT', 'RENDER', 'REHEARSE']);
      assert.equal(result.status.evidence.applies.length, 0);
      assertEnvFileUntouched();
    },
  );

  void test(
    'in-pod metadata DB (--no-rehearsal): the same figures, measured inside the scheduler',
    SLOW,
    async () => {
      const file = writePlan('in-pod', (raw) => {
        raw.airflow.metadataDb = { access: 'in-pod', component: 'scheduler' };
      });
      const { run, result } = await planJson(file, '--no-rehearsal');
      assert.equal(run.code, 0, `${run.stderr}\n${result.reason}`);
      assert.equal(result.outcome, 'PLANNED', result.reason);
      assertReferenceCalibration(result, 'in-pod');
      assert.ok(result.status.evidence.preflight?.gate.passed);
      assertRenderedAndPreviewed(result);
      assert.equal(result.status.evidence.rehearsal, null, '--no-rehearsal skips REHEARSE');
      assert.ok(!result.status.steps.some((s) => s.phase === 'REHEARSE'));
      assertEnvFileUntouched();
    },
  );

  void test(
    'human output: the calibration table, the preflight rows, the diff and the rehearsal',
    SLOW,
    async (t) => {
      const file = writePlan('human');
      const run = await cli(['plan', file]);
      for (const line of run.stdout.trimEnd().split('\n')) t.diagnostic(line);
      assert.equal(run.code, 0, run.stderr);
      const out = run.stdout;
      assert.match(out, /^Dry run of plan xcom-flip-local on local-demo: PLANNED$/m);
      assert.match(out, /^1\. CALIBRATE green \(metadata DB\)$/m);
      assert.match(out, /XCom rows +p50 +p95 +p99 +p99\.9 +max/);
      assert.match(out, /7 175 +15 B +73 KB +307 KB +1\.52 MB +1\.99 MB/);
      assert.match(out, /rows > 48 KB +> 100 KB +> 1 MB\n +545 +277 +11/);
      assert.match(out, /threshold proposed: 1\.6 MB \(1 600 000 B\) \(above-p99\.9/);
      assert.match(out, /historical rows that would offload: 7 \(plan allows 10\)/);
      assert.match(out, /^2\. PREFLIGHT green$/m);
      assert.match(out, /^ +green +object storage write -> read -> delete/m);
      for (const v of XCOM_VARS) assert.match(out, new RegExp(`^ +\\+${v}=`, 'm'));
      assert.match(out, /^4\. REHEARSAL green$/m);
      assert.match(out, /revert breaks reads: +yes/);
      assert.match(out, /re-run heals: +yes/);
      assert.match(out, /sentinel cleaned: +yes/);
      assert.match(out, /^PLANNED: the evidence is complete and nothing was changed/m);
      assert.match(run.stderr, /dry run cutover-plan\/local-demo\/xcom-flip-local\/[0-9a-f]{6} started/);
      assert.match(run.stderr, /\[ok\] kill-switch rehearsal/, 'progress goes to stderr');
      assertEnvFileUntouched();
    },
  );

  void test(
    '(a) the bucket does not exist: STOPPED at PREFLIGHT, red row named, nothing after it ran',
    SLOW,
    async () => {
      const file = writePlan('no-bucket', (raw) => {
        raw.spec.xcom.path = 's3://aws_default@no-such-bucket-cutover/xcom';
      });
      const { run, result } = await planJson(file);
      assert.equal(run.code, 1);
      assert.equal(result.outcome, 'STOPPED');
      assert.match(
        result.reason,
        /^PREFLIGHT gate red, nothing changed: object storage write -> read -> delete: /,
      );
      assert.match(result.reason, /bucket does not exist/i);
      const red = result.status.evidence.preflight?.checks.filter((c) => c.status === 'red') ?? [];
      assert.deepEqual(
        red.map((c) => c.name),
        // The lifecycle rule's bucket is the same missing one: its row names the bucket too.
        ['object storage write -> read -> delete', 'lifecycle rule'],
      );
      assert.match(red[1]?.detail ?? '', /NoSuchBucket/);
      assert.equal(result.status.evidence.change, null);
      assert.equal(result.status.evidence.preview, null);
      assert.equal(result.status.evidence.rehearsal, null);
      assert.deepEqual([...new Set(result.status.steps.map((s) => s.phase))], ['CALIBRATE', 'PREFLIGHT']);
      await assert.rejects(moto.s3.send(new HeadBucketCommand({ Bucket: 'no-such-bucket-cutover' })));
      assertEnvFileUntouched();

      // The same, as a person reads it: the red row is printed.
      const human = await cli(['plan', file]);
      assert.equal(human.code, 1);
      assert.match(human.stdout, /^STOPPED: PREFLIGHT gate red/m);
      assert.match(
        human.stdout,
        /^STOPPED: .*object storage write -> read -> delete: .*write failed: .*bucket does not exist/m,
      );
      assert.match(human.stdout, /^ +RED +object storage write -> read -> delete/m);
      assert.match(human.stdout, /^3\. CHANGE\n +not reached$/m);
    },
  );

  void test('(b) maxOffloadRows 3: STOPPED at CALIBRATE (7 rows would offload)', SLOW, async () => {
    const file = writePlan('max3', (raw) => {
      raw.spec.xcom.maxOffloadRows = 3;
    });
    const { run, result } = await planJson(file);
    assert.equal(run.code, 1);
    assert.equal(result.outcome, 'STOPPED');
    assert.match(
      result.reason,
      /^CALIBRATE gate red, nothing changed: 7 historical rows would offload at 1\.6 MB \(1 600 000 B\), above the plan's maxOffloadRows 3/,
    );
    assert.equal(result.status.evidence.calibration?.gate.passed, false);
    assert.equal(result.status.evidence.preflight, null);
    assert.deepEqual([...new Set(result.status.steps.map((s) => s.phase))], ['CALIBRATE']);
    assertEnvFileUntouched();
  });

  void test(
    '(c) the metadata DB URL variable is unset on the worker: STOPPED naming it, no secret',
    SLOW,
    async () => {
      const file = writePlan('unset-url', (raw) => {
        raw.airflow.metadataDb = { access: 'direct', urlEnv: 'CUTOVER_TEST_UNSET_METADB_URL' };
      });
      const { run, result } = await planJson(file);
      assert.equal(run.code, 1);
      assert.equal(result.outcome, 'STOPPED');
      assert.match(
        result.reason,
        /^CALIBRATE could not complete: environment variable CUTOVER_TEST_UNSET_METADB_URL is not set on the worker/,
      );
      const text = JSON.stringify(result);
      assert.ok(!text.includes(db.url) && !text.includes(db.name), 'no DB URL in the result');
      assert.ok(!text.includes(db.sqlalchemyUrl));
      assert.equal(result.status.evidence.calibration, null);
      const failed = result.status.steps.filter((s) => s.status === 'failed');
      assert.equal(failed.length, 1);
      assert.equal(failed[0]?.step, 'measure XCom sizes');
      assertEnvFileUntouched();
    },
  );

  void test(
    'a real start on a worker that cannot deploy stops at PREFLIGHT, nothing changed',
    SLOW,
    async () => {
      const file = writePlan('cannot-deploy');
      const run = await cli(['start', '--plan', file, '--wait', '--json']);
      assert.equal(run.code, 1, run.stderr);
      const out = JSON.parse(run.stdout) as { outcome: string; reason: string };
      assert.equal(out.outcome, 'STOPPED');
      assert.match(
        out.reason,
        /PREFLIGHT gate red, nothing changed: .*worker can deploy, verify, validate and revert: this worker cannot run the validation DAG and re-run affected runs \(CUTOVER_AIRFLOW_USER and CUTOVER_AIRFLOW_PASSWORD are not set on the worker\)/,
      );
      assertEnvFileUntouched();
    },
  );

  void test('dry runs and real cut-overs never block each other on a target', SLOW, async () => {
    const file = writePlan('isolation');
    const plan = planSchema.parse(parse(readFileSync(file, 'utf8')));
    const idle = { CUTOVER_TASK_QUEUE: `idle-${randomUUID()}` }; // no worker: runs stay RUNNING
    const client = env.client;
    const target = targetKey(plan);

    // A dry run sits RUNNING on the target...
    const dryId = dryRunWorkflowId(plan);
    const input: CutoverInput = { plan, planDigest: planDigest(plan), startedBy: 'alice', dryRun: true };
    const dry = await client.workflow.start(WORKFLOW_TYPE, {
      taskQueue: idle.CUTOVER_TASK_QUEUE,
      workflowId: dryId,
      args: [input],
      typedSearchAttributes: [
        { key: TARGET, value: target },
        { key: PLAN, value: plan.name },
      ],
    });
    const realId = workflowIdFor(plan);
    /** Visibility is eventually consistent: wait until it lists `id` as running on the target. */
    const listed = async (id: string) => {
      for (let i = 0; i < 100; i += 1) {
        for await (const w of client.workflow.list({
          query: `CutoverTarget = "${target}" AND ExecutionStatus = "Running"`,
        }))
          if (w.workflowId === id) return;
        await new Promise((r) => setTimeout(r, 100));
      }
      assert.fail(`visibility never listed ${id}`);
    };
    try {
      await listed(dryId);
      // ...and start is not refused because of it,
      const started = await cli(['start', '--plan', file, '--id'], idle);
      assert.equal(started.code, 0, started.stderr);
      assert.equal(started.stdout.trim(), realId);
      // while a second real one is (the one-per-target check itself is alive).
      await listed(realId);
      const other = writePlan('isolation-other', (raw) => {
        raw.name = 'other';
      });
      const again = await cli(['start', '--plan', other, '--id'], idle);
      assert.equal(again.code, 3, again.stderr);
      assert.match(again.stderr, new RegExp(`refused: cut-over ${realId} `));
      // A dry run while the real one runs is not blocked either.
      const { run, result } = await planJson(file, '--no-rehearsal');
      assert.equal(run.code, 0, run.stderr);
      assert.equal(result.outcome, 'PLANNED');
      assertEnvFileUntouched();
    } finally {
      await dry.terminate('test done').catch(() => undefined);
      await client.workflow
        .getHandle(realId)
        .terminate('test done')
        .catch(() => undefined);
    }
  });

  void test(
    'no worker on the task queue: gives up after --timeout, cancels the dry run, exit 1',
    SLOW,
    async () => {
      const file = writePlan('no-worker');
      const queue = `idle-${randomUUID()}`;
      const run = await cli(['plan', file, '--timeout', '2s'], { CUTOVER_TASK_QUEUE: queue });
      assert.equal(run.code, 1, run.stderr);
      const m = /the dry run (cutover-plan\/local-demo\/xcom-flip-local\/[0-9a-f]{6}) was cancelled/.exec(
        run.stderr,
      );
      assert.ok(m?.[1], run.stderr);
      assert.match(
        run.stderr,
        new RegExp(`no result within 2s \\(is a worker polling task queue ${queue}\\?\\)`),
      );
      assert.equal(run.stdout, '');
      await env.client.workflow.getHandle(m[1]).terminate('test done');
    },
  );

  void test('an invalid plan exits 2 and starts nothing', async () => {
    const bad = path.join(dir, 'bad.yaml');
    writeFileSync(
      bad,
      readFileSync(writePlan('base'), 'utf8').replace('maxOffloadRows: 10', 'maxOffloadRows: -1'),
    );
    const run = await cli(['plan', bad, '--json']);
    assert.equal(run.code, 2);
    assert.match(run.stderr, /bad\.yaml: invalid plan/);
    assert.match(run.stderr, /xcom\.maxOffloadRows/);
    assert.equal(run.stdout, '');
  });

  // Last in the file: it changes the env file (and restores it); the tests above assert it untouched.
  void test(
    'VERIFY on the local target: the applied flip resolves in every component; the dossier spelling is named',
    SLOW,
    async () => {
      const plan = planSchema.parse(parse(readFileSync(writePlan('verify'), 'utf8')));
      const activities = createActivities(wa.adapters);
      const [stage] = renderStages(plan, 1_600_000);
      assert.ok(stage);
      const changeId = 'verify-test@1';
      try {
        const applied = await activities.applyChange({ plan, stage, changeId });
        assert.equal(applied.changed, true);
        const good = await activities.verifyConfig({ plan, stage });
        assert.deepEqual(good.gate, { passed: true, reasons: [] });
        assert.equal(good.components.length, plan.target.components.length);
        for (const c of good.components) {
          assert.equal(c.xcomClass, 'XComObjectStorageBackend', c.component);
          assert.equal(c.threshold, 1_600_000, c.component);
          assert.equal(c.path, plan.spec.xcom.path, c.component);
        }

        await activities.revertChange({ plan, stage, revertHandle: applied.revertHandle, changeId });
        assert.equal(readFileSync(envFile, 'utf8'), envFileText, 'the revert restored the env file');

        // The first attempt of the reference cut-over: the section spelled with a dot.
        const dotted = Object.entries(stage.env).map(
          ([k, v]) => `${k.replace('AIRFLOW__COMMON_IO__', 'AIRFLOW__COMMON.IO__')}=${v}`,
        );
        writeFileSync(envFile, `${envFileText}${dotted.join('\n')}\n`);
        const bad = await activities.verifyConfig({ plan, stage });
        assert.equal(bad.gate.passed, false);
        assert.match(bad.gate.reasons.join('\n'), /AIRFLOW__COMMON\.IO__XCOM_OBJECTSTORAGE_PATH/);
        assert.equal(bad.gate.reasons.length, plan.target.components.length, 'every component is named');
      } finally {
        writeFileSync(envFile, envFileText);
        rmSync(path.join(dir, '.cutover-journal'), { recursive: true, force: true });
      }
    },
  );
});
