/**
 * `cutover plan` on a KUBERNETES target, end to end on real components: the
 * probes and the in-pod calibration exec into a scheduler "pod" of the
 * Kubernetes API test server (a local process running the venv's Airflow with
 * the env of its ConfigMap), the change is previewed against a real git repo
 * holding Helm values, S3 is moto, the metadata DB is PostgreSQL migrated by
 * Airflow. Nothing may be committed to the repo and nothing left in the bucket.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { after, before, test } from 'node:test';
import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import type { Worker } from '@temporalio/worker';
import { stringify } from 'yaml';
import { main } from '../client/cli.js';
import type { CutoverResult } from '../domain/cutover.js';
import { adaptersFromEnv, type WorkerAdapters } from '../worker/adapters-from-env.js';
import { createCutoverWorker } from '../worker/create-worker.js';
import { createAirflowTestDatabase, type AirflowTestDatabase } from './support/airflow-db.js';
import { airflowBaseEnv } from './support/airflow.js';
import { startCutoverEnv, workflowBundle, type CutoverEnv } from './support/cutover-env.js';
import { git, seedValuesRepo } from './support/gitops-repo.js';
import { startKubeApiServer, type KubeApiServer } from './support/kube-api-server.js';
import { startMoto, TEST_REGION, venvDir, type MotoServer } from './support/moto.js';
import { S3ObjectStore } from '../adapters/s3-object-store.js';
import { referencePlanInput } from './support/plans.js';
import { seedReferenceHistory } from './support/xcom-fixture.js';
import { airflowInTestCluster } from './support/airflow-in-test-cluster.js';

const SLOW = { timeout: 240_000 };
const BUCKET = 'cutover-kube-xcom';
const VALUES = [
  '# Helm values of the production Airflow (official chart).',
  'executor: KubernetesExecutor',
  '',
  'extraConfigMaps:',
  '  # Consumed by every component through extraEnvFrom.',
  '  airflow-env:',
  '    data:',
  '      AIRFLOW__CORE__LOAD_EXAMPLES: "False"',
  '',
].join('\n');

let env: CutoverEnv;
let db: AirflowTestDatabase;
let moto: MotoServer;
let kube: KubeApiServer;
let dir: string;
let origin: string;
let wa: WorkerAdapters;
let worker: Worker;
let workerDone: Promise<void>;
const taskQueue = `kube-plan-${randomUUID()}`;

before(async () => {
  [env, db, moto] = await Promise.all([
    startCutoverEnv(),
    createAirflowTestDatabase('cutover_kube'),
    startMoto({ bucket: BUCKET }),
  ]);
  await seedReferenceHistory(db.url);

  dir = mkdtempSync(path.join(tmpdir(), 'cutover-kube-'));
  const home = path.join(dir, 'airflow-home');
  mkdirSync(home);
  const base = airflowBaseEnv({ airflowHome: home, s3Endpoint: moto.endpoint });
  kube = await startKubeApiServer({
    configMaps: [
      {
        namespace: 'cvntrade',
        name: 'airflow-env',
        data: {
          AIRFLOW_HOME: home,
          AIRFLOW__DATABASE__SQL_ALCHEMY_CONN: db.sqlalchemyUrl,
          AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC: '',
          AIRFLOW__CORE__LOAD_EXAMPLES: 'False',
          AIRFLOW_CONN_AWS_DEFAULT: base.AIRFLOW_CONN_AWS_DEFAULT ?? '',
          AWS_ACCESS_KEY_ID: base.AWS_ACCESS_KEY_ID ?? '',
          AWS_SECRET_ACCESS_KEY: base.AWS_SECRET_ACCESS_KEY ?? '',
          AWS_DEFAULT_REGION: base.AWS_DEFAULT_REGION ?? '',
        },
      },
    ],
    pods: [
      {
        namespace: 'cvntrade',
        name: 'airflow-scheduler-0',
        labels: { tier: 'airflow', component: 'scheduler', release: 'airflow' },
        containers: [
          {
            name: 'scheduler',
            envFrom: [{ configMapRef: { name: 'airflow-env' } }],
            env: [
              { name: 'PATH', value: `${path.join(venvDir(), 'bin')}:/usr/local/bin:/usr/bin:/bin` },
              { name: 'HOME', value: dir },
            ],
            workingDir: home,
          },
        ],
      },
    ],
  });

  // The GitOps repo: a bare "origin" holding the Helm values.

  origin = seedValuesRepo(dir, 'helm/values-prod.yaml', VALUES);

  wa = adaptersFromEnv({
    ...process.env,
    CUTOVER_KUBECONFIG: kube.kubeconfigPath,
    CUTOVER_GITOPS_DIR: path.join(dir, 'gitops-work'),
    CUTOVER_POD_PYTHON: 'python',
    // The worker's S3 (the lifecycle rule's RENDER) is moto's.
    AWS_ENDPOINT_URL_S3: moto.endpoint,
    AWS_REGION: TEST_REGION,
    AWS_ACCESS_KEY_ID: moto.credentials.accessKeyId,
    AWS_SECRET_ACCESS_KEY: moto.credentials.secretAccessKey,
  });
  worker = await createCutoverWorker({
    connection: env.connection,
    taskQueue,
    adapters: { ...wa.adapters, ...airflowInTestCluster('3.1.7') },
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
  await moto?.stop();
  await db?.drop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test(
  'cutover plan on a Kubernetes target: in-pod evidence through pod exec, the Helm values diff, nothing changed',
  SLOW,
  async () => {
    const raw = referencePlanInput();
    if (raw.target.kind !== 'kubernetes') throw new Error('the reference plan is a kubernetes target');
    raw.target.context = kube.context;
    raw.target.components = [{ name: 'scheduler', container: 'scheduler' }];
    raw.spec.xcom.path = `s3://aws_default@${BUCKET}/xcom`;
    delete raw.spec.xcom.ramp;
    raw.change = {
      mode: 'gitops',
      repo: origin,
      baseBranch: 'main',
      valuesFile: 'helm/values-prod.yaml',
      location: 'extraConfigMaps.airflow-env.data',
    };
    const file = path.join(dir, 'plan.yaml');
    writeFileSync(file, stringify(raw));
    const headBefore = git(origin, 'rev-parse', 'main');

    let stdout = '';
    let stderr = '';
    const code = await main(['plan', file, '--json'], {
      stdout: { write: (s: string) => (stdout += s) },
      stderr: { write: (s: string) => (stderr += s) },
      env: {
        TEMPORAL_ADDRESS: env.server.address,
        TEMPORAL_NAMESPACE: 'default',
        CUTOVER_TASK_QUEUE: taskQueue,
        CUTOVER_OPERATOR: 'alice',
      },
    });
    const result = JSON.parse(stdout) as CutoverResult;
    assert.equal(code, 0, `${stderr}\n${result.reason}`);
    assert.equal(result.outcome, 'PLANNED', result.reason);

    const ev = result.status.evidence;
    assert.equal(ev.calibration?.source, 'in-pod');
    assert.deepEqual(ev.calibration?.sizeBytes, {
      p50: 15,
      p95: 73_000,
      p99: 307_000,
      p999: 1_520_000,
      max: 1_990_000,
    });
    assert.equal(ev.calibration?.proposal.thresholdBytes, 1_600_000);
    assert.equal(ev.calibration?.projectedOffloadRows, 7);

    assert.ok(ev.preflight);
    assert.deepEqual(
      ev.preflight.checks.filter((c) => c.status !== 'green').map((c) => `${c.status} ${c.name}`),
      ['amber worker can deploy, verify, validate and revert', 'amber deployment healthy'],
      JSON.stringify(ev.preflight.checks, null, 1),
    );
    // The pods are read from the test cluster; the plan names no REST API, so Airflow's own health is
    // not read, and the gate says so (amber) without stopping the run.
    assert.match(
      ev.preflight.checks.find((c) => c.id === 'deployment-healthy')?.detail ?? '',
      /the plan names no airflow\.api/,
    );
    assert.equal(ev.health?.before?.components.find((c) => c.component === 'scheduler')?.state, 'running');
    assert.match(ev.preflight.checks.find((c) => c.name.startsWith('provider'))?.detail ?? '', /1\.11\.0/);

    // The plan's 7-day rule is rendered against the bucket, never put by a dry run; the orphan
    // report needs direct DB access, which this in-pod plan does not have, and says so.
    assert.equal(ev.lifecycle?.before, null);
    assert.match(ev.lifecycle?.diff ?? '', /^\+ +"ID": "cutover:.*:xcom\/",$/m);
    assert.equal(ev.lifecycleApplied, undefined);
    const bucketStore = new S3ObjectStore({
      endpoint: moto.endpoint,
      region: TEST_REGION,
      credentials: moto.credentials,
    });
    assert.equal(
      await bucketStore.getLifecycle(BUCKET),
      null,
      'no lifecycle configuration after the dry run',
    );
    bucketStore.close();
    assert.match(ev.objects?.skipped ?? '', /direct/);

    assert.ok(ev.preview);
    assert.match(ev.preview.destination, /helm\/values-prod\.yaml at extraConfigMaps\.airflow-env\.data/);
    const added = ev.preview.diff
      .split('\n')
      .filter((l) => l.startsWith('+') && !l.startsWith('+++'))
      .map((l) => l.slice(1).trim().split(':')[0]);
    assert.deepEqual(
      added,
      [
        'AIRFLOW__CORE__XCOM_BACKEND',
        'AIRFLOW__COMMON_IO__XCOM_OBJECTSTORAGE_PATH',
        'AIRFLOW__COMMON_IO__XCOM_OBJECTSTORAGE_THRESHOLD',
        'AIRFLOW__COMMON_IO__XCOM_OBJECTSTORAGE_COMPRESSION',
      ],
      ev.preview.diff,
    );

    const r = ev.rehearsal;
    assert.ok(r?.breakConfirmed && r.healConfirmed && r.sentinelCleaned, JSON.stringify(r));

    assert.equal(git(origin, 'rev-parse', 'main'), headBefore, 'a dry run commits nothing');
    const left = await moto.s3.send(new ListObjectsV2Command({ Bucket: BUCKET }));
    assert.deepEqual(
      (left.Contents ?? []).map((o) => o.Key),
      [],
      'no _preflight/ or _rehearsal/ object left',
    );
    assert.ok(kube.execCount() >= 3, 'the probes ran through pod exec');
    assert.ok(!stdout.includes(db.sqlalchemyUrl), 'no DB URL in the evidence');
  },
);
