/**
 * The deployment assessment on a Kubernetes target, end to end on real components: the seed
 * assessment's cluster (../shared/reference/airflow-k8s-deployment-assessment.txt) laid out on the
 * Kubernetes API test server from a scenario fixture, read by the real @kubernetes/client-node (and
 * kubectl as a second client); the metadata DB is PostgreSQL migrated by Airflow with no DAG
 * serialized; the run goes through `cutover assess` on a Temporal dev server and a real worker.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { after, before, test } from 'node:test';
import type { Worker } from '@temporalio/worker';
import { parse, stringify } from 'yaml';
import { main } from '../client/cli.js';
import type { AssessmentPlanInput } from '../domain/assessment/plan.js';
import type { AssessmentEvidence } from '../domain/assessment/run.js';
import type { RunResult } from '../domain/engine/run.js';
import { VERDICT } from '../workflows/engine/search-attributes.js';
import { adaptersFromEnv, type WorkerAdapters } from '../worker/adapters-from-env.js';
import { createCutoverWorker } from '../worker/create-worker.js';
import { createAirflowTestDatabase, repoRoot, type AirflowTestDatabase } from './support/airflow-db.js';
import { startCutoverEnv, workflowBundle, type CutoverEnv } from './support/cutover-env.js';
import { startKubeApiServer, type KubeApiServer } from './support/kube-api-server.js';
import { loadKubeScenario } from './support/kube-scenario.js';
import { kubectl } from './support/kubectl.js';
import { freePort } from './support/temporal.js';

const SLOW = { timeout: 240_000 };
const FIXTURES = path.join(repoRoot(), 'test', 'fixtures', 'kube');

let env: CutoverEnv;
let db: AirflowTestDatabase;
let kube: KubeApiServer;
let dir: string;
let kubeconfig: string;
let wa: WorkerAdapters;
let worker: Worker;
let workerDone: Promise<void>;
const taskQueue = `assess-kube-${randomUUID()}`;

before(async () => {
  const { options } = loadKubeScenario(path.join(FIXTURES, 'seed-assessment.yaml'));
  [env, db, kube] = await Promise.all([
    startCutoverEnv(),
    createAirflowTestDatabase('cutover_assess'),
    startKubeApiServer(options),
  ]);
  dir = mkdtempSync(path.join(tmpdir(), 'cutover-assess-'));
  // The test server's kubeconfig plus a context whose API server is not listening.
  const config = parse(readFileSync(kube.kubeconfigPath, 'utf8')) as {
    clusters: { name: string; cluster: Record<string, unknown> }[];
    contexts: { name: string; context: Record<string, unknown> }[];
  };
  const deadPort = await freePort();
  config.clusters.push({
    name: 'dead',
    cluster: { server: `http://127.0.0.1:${deadPort}`, 'insecure-skip-tls-verify': true },
  });
  config.contexts.push({ name: 'dead', context: { cluster: 'dead', user: kube.context } });
  kubeconfig = path.join(dir, 'kubeconfig');
  writeFileSync(kubeconfig, stringify(config));

  wa = adaptersFromEnv({ ...process.env, CUTOVER_KUBECONFIG: kubeconfig, CUTOVER_ASSESS_DB: db.url });
  worker = await createCutoverWorker({
    connection: env.connection,
    taskQueue,
    adapters: wa.adapters,
    workflowBundle: await workflowBundle(),
  });
  workerDone = worker.run();
}, SLOW);

after(async () => {
  worker?.shutdown();
  await workerDone;
  await wa?.close();
  await kube?.close();
  await env?.close();
  await db?.drop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function seedPlan(overrides: { namespace?: string; context?: string } = {}): AssessmentPlanInput {
  return {
    apiVersion: 'cutover/v1',
    kind: 'DeploymentAssessment',
    name: 'assess-seed',
    target: {
      kind: 'kubernetes',
      context: overrides.context ?? kube.context,
      namespace: overrides.namespace ?? 'airflow',
      release: 'airflow',
      components: [
        { name: 'api-server' },
        { name: 'scheduler' },
        { name: 'dag-processor' },
        { name: 'triggerer' },
      ],
    },
    airflow: { version: '3.0', metadataDb: { access: 'direct', urlEnv: 'CUTOVER_ASSESS_DB' } },
    spec: { helmValues: path.join(FIXTURES, 'seed-values.yaml') },
  };
}

async function assess(plan: AssessmentPlanInput, extra: string[] = []) {
  const file = path.join(dir, `plan-${randomUUID()}.yaml`);
  writeFileSync(file, stringify(plan));
  let stdout = '';
  let stderr = '';
  const code = await main(['assess', '--plan', file, '--json', ...extra], {
    stdout: { write: (s: string) => (stdout += s) },
    stderr: { write: (s: string) => (stderr += s) },
    env: {
      TEMPORAL_ADDRESS: env.server.address,
      TEMPORAL_NAMESPACE: 'default',
      CUTOVER_TASK_QUEUE: taskQueue,
      CUTOVER_OPERATOR: 'alice',
    },
  });
  assert.ok(stdout.trim().startsWith('{'), `no JSON result (exit ${code}): ${stderr}`);
  const result = JSON.parse(stdout) as RunResult<AssessmentEvidence>;
  return { code, result, stderr };
}

test(
  'the seed cluster: DOWN, the RWO Multi-Attach conflict critical with its claim, pods and nodes, no DAGs visible',
  SLOW,
  async () => {
    // Kept for CI beside the other artifacts (docs/assessment-example.md is one of these, committed).
    mkdirSync(path.join(repoRoot(), 'test-artifacts'), { recursive: true });
    const doc = path.join(repoRoot(), 'test-artifacts', 'assessment-seed.md');
    const { code, result, stderr } = await assess(seedPlan(), ['--out', doc]);
    assert.equal(result.outcome, 'ASSESSED', `${result.reason}\n${stderr}`);
    assert.equal(code, 1, 'a deployment that is not OPERATIONAL exits 1');
    assert.equal(result.productionChanged, false);
    const a = result.status.evidence.assessment;
    assert.ok(a);
    assert.equal(a.verdict, 'DOWN', 'the scheduler cannot start');

    const byId = new Map(a.findings.map((f) => [f.id, f]));
    const pvc = byId.get('rwo-multi-attach:airflow-dags');
    assert.ok(pvc, `findings: ${[...byId.keys()].join(', ')}`);
    assert.equal(pvc.severity, 'critical');
    const pvcText = pvc.evidence.join('\n');
    for (const name of [
      'pvc-d0aad7bd-81df-4579-8747-1e7581c8b804',
      'airflow-triggerer-0',
      'airflow-scheduler-0',
      'airflow-dag-processor-d55949988-69nzr',
      'pi-worker-03',
      'pi-worker-06',
      'pi-worker-07',
    ])
      assert.ok(pvcText.includes(name), `the PVC finding names ${name}:\n${pvcText}`);
    assert.match(pvc.rootCause, /airflow-triggerer-0 holds it/);

    const scheduler = byId.get('pod-init-stuck:airflow-scheduler-0');
    assert.ok(scheduler);
    assert.equal(scheduler.severity, 'critical');
    assert.equal(scheduler.down, true);
    assert.match(scheduler.title, /Init:0\/1/);
    assert.match(scheduler.rootCause, /volume cannot attach/);
    // The second dag-processor replica is stuck while the first serves: a warning, not the outage.
    assert.equal(byId.get('pod-init-stuck:airflow-dag-processor-d55949988-69nzr')?.severity, 'warning');

    const dags = byId.get('no-dags-visible');
    assert.ok(dags);
    assert.equal(dags.severity, 'critical');
    assert.match(dags.evidence.join('\n'), /serialized_dag: 0 DAGs .*dag: 0 active/);

    const chart = byId.get('chart-dags-persistence-rwo');
    assert.ok(chart, 'the values file names the setting behind the conflict');
    assert.match(chart.evidence[0] ?? '', /dags\.persistence\.enabled: true, accessMode: ReadWriteOnce/);

    const rows = Object.fromEntries(a.components.map((c) => [c.component, c.state]));
    assert.deepEqual(rows, {
      'api-server': 'running',
      scheduler: 'failed',
      'dag-processor': 'partial',
      triggerer: 'running',
      'metadata database': 'running',
      'DAG visibility': 'failed',
    });
    assert.equal(a.counts.critical, a.findings.filter((f) => f.severity === 'critical').length);
    assert.ok(a.counts.recommendations > 0);
    assert.equal(a.recommendations[0]?.title, 'Fix the PVC Multi-Attach conflict');

    // The verdict and counts are search attributes of the run.
    const described = await env.client.workflow.getHandle(result.status.workflowId).describe();
    assert.equal(described.typedSearchAttributes.get(VERDICT), 'DOWN');

    // The document, in the seed's structure, says what the evidence says.
    const md = readFileSync(doc, 'utf8');
    for (const heading of [
      '# Airflow Deployment Assessment',
      '## Executive Summary',
      '### Overall Status: ❌ **DOWN**',
      '## 1. Pod Status Analysis',
      '### Running Pods (5/7)',
      '### Failed/Stuck Pods (2/7)',
      '## 2. Critical Issues',
      '## 3. Warnings and Configuration Issues',
      '## 4. DAG Visibility',
      '## 6. Recommendations',
      '### Immediate Actions (Priority 1) 🔴',
    ])
      assert.ok(md.includes(heading), `the document has "${heading}"`);
    assert.match(md, /\| \*\*scheduler\*\* \| ❌ Failed \|/);
    assert.match(md, /PVC Multi-Attach conflict: ReadWriteOnce claim airflow-dags is needed on 3 nodes/);
    assert.match(md, /\| DAGs serialized \| 0 \|/);
    assert.match(md, new RegExp(`\\*\\*Critical Issues:\\*\\* ${a.counts.critical}`));

    // kubectl, a second client, sees the same cluster.
    const events = await kubectl(kube.kubeconfigPath, 'airflow', ['get', 'events']);
    assert.equal(events.code, 0, events.stderr);
    assert.match(
      events.stdout,
      /FailedAttachVolume\s+pod\/airflow-dag-processor-d55949988-69nzr\s+Multi-Attach error/,
    );
    const pods = await kubectl(kube.kubeconfigPath, 'airflow', ['get', 'pods']);
    assert.match(pods.stdout, /airflow-scheduler-0\s+0\/1\s+Init:0\/1/);
    const describe = await kubectl(kube.kubeconfigPath, 'airflow', [
      'describe',
      'pod',
      'airflow-scheduler-0',
    ]);
    assert.equal(describe.code, 0, describe.stderr);
    assert.match(describe.stdout, /Node:\s+pi-worker-06/);
    assert.match(
      describe.stdout,
      /wait-for-airflow-migrations:[\s\S]*State:\s+Waiting\s+Reason:\s+PodInitializing/,
    );
    assert.match(describe.stdout, /Initialized\s+False/);
    assert.match(describe.stdout, /ClaimName:\s+airflow-dags/);
    assert.match(describe.stdout, /Warning\s+FailedMount\s+.*Unable to attach or mount volumes/);
    const pvcs = await kubectl(kube.kubeconfigPath, 'airflow', ['get', 'pvc']);
    assert.match(
      pvcs.stdout,
      /airflow-dags\s+Bound\s+pvc-d0aad7bd-81df-4579-8747-1e7581c8b804\s+RWO\s+longhorn/,
    );
  },
);

test('cutover start with an assessment plan: its own id, no busy check, ASSESSED', SLOW, async () => {
  const file = path.join(dir, 'plan-start.yaml');
  writeFileSync(file, stringify(seedPlan()));
  let stdout = '';
  let stderr = '';
  const code = await main(['start', '--plan', file, '--wait', '--json'], {
    stdout: { write: (s: string) => (stdout += s) },
    stderr: { write: (s: string) => (stderr += s) },
    env: {
      TEMPORAL_ADDRESS: env.server.address,
      TEMPORAL_NAMESPACE: 'default',
      CUTOVER_TASK_QUEUE: taskQueue,
      CUTOVER_OPERATOR: 'alice',
    },
  });
  assert.equal(code, 0, stderr);
  const out = JSON.parse(stdout) as { workflowId: string; outcome: string };
  assert.match(
    out.workflowId,
    /^cutover-assess\/k8s-cutover-test-airflow-airflow\/assess-seed\/[0-9a-f]{6}$/,
  );
  assert.equal(out.outcome, 'ASSESSED');
});

test('a namespace that does not exist is a named finding, not a crash', SLOW, async () => {
  const { result } = await assess(seedPlan({ namespace: 'no-such-ns' }));
  assert.equal(result.outcome, 'ASSESSED', result.reason);
  const a = result.status.evidence.assessment;
  assert.equal(a?.verdict, 'DOWN');
  assert.ok(a?.findings.some((f) => f.id === 'namespace-missing:no-such-ns' && f.severity === 'critical'));
});

test('an unreachable API server is a named finding, and the metadata DB is still read', SLOW, async () => {
  const { result } = await assess(seedPlan({ context: 'dead' }));
  assert.equal(result.outcome, 'ASSESSED', result.reason);
  const a = result.status.evidence.assessment;
  const f = a?.findings.find((x) => x.id === 'kubernetes-unreadable');
  assert.ok(f, JSON.stringify(a?.findings.map((x) => x.id)));
  assert.match(f.evidence.join(' '), /ECONNREFUSED|connect/i);
  assert.equal(result.status.evidence.airflow?.db?.visibility.serializedDags, 0);
});

/** Polls until `fn` returns a value (not undefined): tests wait on conditions, not on the clock. */
async function until<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

test(
  '--every: a Temporal Schedule; a run tells only when the verdict or the findings change',
  SLOW,
  async () => {
    const file = path.join(dir, 'plan-scheduled.yaml');
    writeFileSync(file, stringify({ ...seedPlan(), name: 'assess-hourly' }));
    const cliEnv = {
      TEMPORAL_ADDRESS: env.server.address,
      TEMPORAL_NAMESPACE: 'default',
      CUTOVER_TASK_QUEUE: taskQueue,
      CUTOVER_OPERATOR: 'alice',
    };
    const run = async (args: string[]) => {
      let stdout = '';
      let stderr = '';
      const code = await main(args, {
        stdout: { write: (s: string) => (stdout += s) },
        stderr: { write: (s: string) => (stderr += s) },
        env: cliEnv,
      });
      return { code, stdout, stderr };
    };
    const created = await run(['assess', '--plan', file, '--every', '1h', '--json']);
    assert.equal(created.code, 0, created.stderr);
    const { scheduleId } = JSON.parse(created.stdout) as { scheduleId: string };
    assert.equal(scheduleId, 'cutover-assess/k8s-cutover-test-airflow-airflow/assess-hourly');

    const completed = async (n: number) =>
      until(`${n} completed scheduled run(s)`, async () => {
        const runs = [];
        for await (const w of env.client.workflow.list({
          query: `TemporalScheduledById = "${scheduleId}" AND ExecutionStatus = "Completed"`,
        }))
          runs.push(w);
        return runs.length >= n ? runs : undefined;
      });
    const resultOf = async (workflowId: string, runId: string) =>
      (await env.client.workflow.getHandle(workflowId, runId).result()) as RunResult<AssessmentEvidence>;
    const newest = async (n: number) => {
      const runs = await completed(n);
      const sorted = [...runs].sort((a, b) => (a.startTime < b.startTime ? 1 : -1));
      const w = sorted[0];
      if (!w) throw new Error('no run');
      return resultOf(w.workflowId, w.runId);
    };

    // The first run (triggered at creation) has nothing to compare with: it announces itself.
    const first = await newest(1);
    assert.equal(first.status.evidence.assessment?.verdict, 'DOWN');
    assert.equal(first.status.evidence.comparison?.previousRun, null);
    assert.equal(first.status.evidence.comparison?.changed, true);
    assert.deepEqual(
      first.status.notifications?.map((x) => x.event),
      ['assessed'],
    );

    // Nothing changed: the second run is quiet.
    const schedule = env.client.schedule.getHandle(scheduleId);
    await schedule.trigger();
    const second = await newest(2);
    assert.equal(
      second.status.evidence.comparison?.changed,
      false,
      JSON.stringify(second.status.evidence.comparison),
    );
    assert.match(second.reason, /unchanged since the previous run \(no message\)/);
    assert.deepEqual(second.status.notifications, []);

    // The stuck dag-processor replica goes away: its finding clears, and the run says so.
    kube.deletePod('airflow', 'airflow-dag-processor-d55949988-69nzr');
    await schedule.trigger();
    const third = await newest(3);
    const c = third.status.evidence.comparison;
    assert.equal(c?.changed, true);
    assert.deepEqual(c?.cleared, ['pod-init-stuck:airflow-dag-processor-d55949988-69nzr']);
    assert.deepEqual(
      third.status.notifications?.map((x) => x.event),
      ['assessed'],
    );

    const removed = await run(['assess', '--plan', file, '--unschedule']);
    assert.equal(removed.code, 0, removed.stderr);
    const again = await run(['assess', '--plan', file, '--unschedule']);
    assert.equal(again.code, 4, 'no such schedule any more');
  },
);
