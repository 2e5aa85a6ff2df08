/**
 * The whole cut-over on a KUBERNETES target, through the real workflow on the Temporal dev
 * server: evidence in-pod (PostgreSQL migrated by Airflow, moto S3), the approval, APPLY (a
 * ConfigMap patch, or a GitOps merge that a CD loop syncs to the ConfigMap), the rollout (restart
 * of the scheduler Deployment, the env read inside the new pod), VERIFY through pod exec into the
 * pod running the venv's real Airflow, and the kill-switch (revert + rollout back) when VERIFY or
 * the rollout fails. Every adapter is the shipped one except the Airflow REST API, which is a
 * scripted double here: no Airflow api-server runs "in" the test cluster (VALIDATE and the re-run
 * side are tested against a running Airflow on the local target).
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import { createActivities } from '../activities/index.js';
import type { AirflowApiPort } from '../activities/adapters.js';
import type { CutoverInput, CutoverResult } from '../domain/cutover.js';
import type { Plan, PlanInput } from '../domain/plan.js';
import { planSchema } from '../domain/plan.js';
import { sameLifecycle } from '../domain/lifecycle.js';
import { S3ObjectStore } from '../adapters/s3-object-store.js';
import { adaptersFromEnv, type WorkerAdapters } from '../worker/adapters-from-env.js';
import { approveUpdate } from '../workflows/engine/messages.js';
import { createAirflowTestDatabase, type AirflowTestDatabase } from './support/airflow-db.js';
import { airflowBaseEnv } from './support/airflow.js';
import {
  inputFor,
  startCutover,
  startCutoverEnv,
  waitForPhase,
  type CutoverEnv,
} from './support/cutover-env.js';
import { startGitOpsSync, type GitOpsSync } from './support/gitops-sync.js';
import { git, seedValuesRepo } from './support/gitops-repo.js';
import { startKubeApiServer, type KubeApiServer } from './support/kube-api-server.js';
import { startMoto, TEST_REGION, venvDir, type MotoServer } from './support/moto.js';
import { referencePlanInput } from './support/plans.js';
import { seedReferenceHistory } from './support/xcom-fixture.js';
import { airflowInTestCluster } from './support/airflow-in-test-cluster.js';

const SLOW = { timeout: 300_000 };
const NS = 'cvntrade';
const BUCKET = 'cutover-kube-e2e';
const CM = 'airflow-env';
const ORIGINAL = { AIRFLOW__CORE__LOAD_EXAMPLES: 'False' };
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
  '# Resources are tuned per environment.',
  'scheduler:',
  '  replicas: 1',
  '',
].join('\n');

/** The REST API side is not part of this test: a scripted double that records what it was asked. */
function scriptedAirflowApi(calls: string[]): AirflowApiPort {
  return {
    runValidationDag: ({ dagId, runId }) => {
      calls.push(`validate ${dagId}`);
      return Promise.resolve({
        dagId,
        runId,
        state: 'success',
        taskStates: { push: 'success', pull: 'success' },
        xcomErrors: 0,
        xcoms: [{ taskId: 'push', key: 'return_value', bytes: 40, offloaded: false }],
        objectCount: 0,
      });
    },
    runsSince: ({ since }) => {
      calls.push(`runsSince ${since}`);
      return Promise.resolve([]);
    },
    clearAndWait: ({ runs }) => Promise.resolve(runs.map((r) => ({ ...r, finalState: 'success' }))),
    readsData: () => Promise.resolve({ readsData: true, detail: 'scripted' }),
  };
}

void describe('cut-over on a Kubernetes target, end to end', () => {
  let env: CutoverEnv;
  let db: AirflowTestDatabase;
  let moto: MotoServer;
  let s3Store: S3ObjectStore;
  let kube: KubeApiServer;
  let dir: string;
  let origin: string;
  let wa: WorkerAdapters;
  let sync: GitOpsSync | undefined;
  const apiCalls: string[] = [];

  before(async () => {
    [env, db, moto] = await Promise.all([
      startCutoverEnv(),
      createAirflowTestDatabase('cutover_kube_e2e'),
      startMoto({ bucket: BUCKET }),
    ]);
    await seedReferenceHistory(db.url);
    dir = mkdtempSync(path.join(tmpdir(), 'cutover-kube-e2e-'));
    const home = path.join(dir, 'airflow-home');
    mkdirSync(home);
    const base = airflowBaseEnv({ airflowHome: home, s3Endpoint: moto.endpoint });
    // Everything but the flip's keys is in the pod template; the ConfigMap is what changes.
    const podEnv: Record<string, string> = {
      ...base,
      AIRFLOW__DATABASE__SQL_ALCHEMY_CONN: db.sqlalchemyUrl,
      AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC: '',
      PATH: `${path.join(venvDir(), 'bin')}:/usr/local/bin:/usr/bin:/bin`,
      HOME: dir,
    };
    kube = await startKubeApiServer({
      configMaps: [{ namespace: NS, name: CM, data: { ...ORIGINAL } }],
      deployments: [
        {
          namespace: NS,
          name: 'airflow-scheduler',
          replicas: 1,
          progressDeadlineSeconds: 3,
          template: {
            metadata: { labels: { tier: 'airflow', component: 'scheduler', release: 'airflow' } },
            spec: {
              containers: [
                {
                  name: 'scheduler',
                  env: Object.entries(podEnv).map(([name, value]) => ({ name, value })),
                  envFrom: [{ configMapRef: { name: CM } }],
                  workingDir: home,
                },
              ],
            },
          },
        },
      ],
      podReadyDelayMs: 150,
    });

    // The GitOps repo: a bare "origin" holding the Helm values.

    origin = seedValuesRepo(dir, 'helm/values-prod.yaml', VALUES);

    wa = adaptersFromEnv({
      ...process.env,
      CUTOVER_KUBECONFIG: kube.kubeconfigPath,
      CUTOVER_GITOPS_DIR: path.join(dir, 'gitops-work'),
      CUTOVER_POD_PYTHON: 'python',
      // The worker's S3 (the lifecycle rule, the orphan report) is moto's.
      AWS_ENDPOINT_URL_S3: moto.endpoint,
      AWS_REGION: TEST_REGION,
      AWS_ACCESS_KEY_ID: moto.credentials.accessKeyId,
      AWS_SECRET_ACCESS_KEY: moto.credentials.secretAccessKey,
    });
    s3Store = new S3ObjectStore({
      endpoint: moto.endpoint,
      region: TEST_REGION,
      credentials: moto.credentials,
    });
  }, SLOW);

  after(async () => {
    s3Store?.close();
    await sync?.stop();
    await wa?.close();
    await kube?.close();
    await env?.close();
    await moto?.stop();
    await db?.drop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const planWith = (
    change: PlanInput['change'],
    when: 'after-verify' | 'before-flip' = 'after-verify',
  ): Plan => {
    const raw = referencePlanInput();
    if (raw.target.kind !== 'kubernetes') throw new Error('the reference plan is a kubernetes target');
    raw.name = `kube-e2e-${randomUUID().slice(0, 8)}`;
    raw.target.context = kube.context;
    raw.target.components = [
      {
        name: 'scheduler',
        container: 'scheduler',
        workload: { kind: 'Deployment', name: 'airflow-scheduler' },
      },
    ];
    raw.spec.xcom.path = `s3://aws_default@${BUCKET}/xcom`;
    delete raw.spec.xcom.ramp;
    raw.spec.lifecycle = { days: 7, when };
    raw.change = change;
    raw.rollout = { timeout: '60s' };
    return planSchema.parse(raw);
  };

  const configMapData = () => (kube.getConfigMap(NS, CM)?.['data'] ?? {}) as Record<string, string>;

  /** Runs the cut-over with the shipped activities (REST API scripted) and approves at AWAIT_GO. */
  async function runApproved(input: CutoverInput, atCompensate?: () => void): Promise<CutoverResult> {
    const activities = createActivities({
      ...wa.adapters,
      ...airflowInTestCluster('3.1.7'),
      airflowApi: scriptedAirflowApi(apiCalls),
    });
    const run = await startCutover(env, input, activities);
    const waiting = await waitForPhase(run.handle, 'AWAIT_GO', 180_000);
    assert.ok(waiting.pendingApproval, 'the approval request is pending');
    assert.ok(
      waiting.evidence.preflight?.checks.every((c) => c.status !== 'red'),
      JSON.stringify(waiting.evidence.preflight?.checks),
    );
    await run.handle.executeUpdate(approveUpdate, {
      args: [{ operator: 'dococeven', reason: 'evidence reviewed', digest: input.planDigest }],
    });
    if (atCompensate) {
      await waitForPhase(run.handle, 'COMPENSATE', 120_000);
      atCompensate();
    }
    return run.result;
  }

  test(
    'configmap mode: APPLY patches the ConfigMap, the scheduler rolls, VERIFY resolves in the new pod: DONE',
    SLOW,
    async () => {
      const plan = planWith({ mode: 'configmap', configMap: CM });
      const rolloutsBefore = kube.rollouts('Deployment', NS, 'airflow-scheduler');
      const podsBefore = kube.workloadPods('Deployment', NS, 'airflow-scheduler').map((p) => p.name);

      const result = await runApproved(inputFor(plan));
      assert.equal(result.outcome, 'DONE', result.reason);
      assert.equal(result.productionChanged, true);

      const ev = result.status.evidence;
      assert.equal(ev.preview?.destination, `ConfigMap ${NS}/${CM}`);
      assert.match(
        ev.preview?.diff ?? '',
        /\+AIRFLOW__CORE__XCOM_BACKEND: "airflow\.providers\.common\.io\.xcom\.backend\.XComObjectStorageBackend"/,
      );
      assert.equal(ev.applies[0]?.mode, 'configmap');
      assert.equal(ev.applies[0]?.changed, true);
      assert.equal(ev.rollouts[0]?.gate.passed, true, JSON.stringify(ev.rollouts[0]));
      assert.match(
        ev.rollouts[0]?.components[0]?.detail ?? '',
        /after restarting Deployment cvntrade\/airflow-scheduler/,
      );
      const v = ev.verifications[0];
      assert.equal(v?.gate.passed, true, JSON.stringify(v));
      assert.equal(v?.components[0]?.xcomClass, 'XComObjectStorageBackend');
      assert.equal(v?.components[0]?.threshold, 1_600_000);
      assert.equal(v?.components[0]?.path, plan.spec.xcom.path);

      assert.equal(configMapData().AIRFLOW__COMMON_IO__XCOM_OBJECTSTORAGE_THRESHOLD, '1600000');
      assert.equal(kube.rollouts('Deployment', NS, 'airflow-scheduler'), rolloutsBefore + 1);
      const podsAfter = kube.workloadPods('Deployment', NS, 'airflow-scheduler').map((p) => p.name);
      assert.equal(podsAfter.filter((p) => podsBefore.includes(p)).length, 0, 'every pod was replaced');
      const left = await moto.s3.send(new ListObjectsV2Command({ Bucket: BUCKET }));
      assert.deepEqual(
        (left.Contents ?? []).map((o) => o.Key),
        [],
        'preflight and rehearsal cleaned up',
      );

      // The retention rule went out once VERIFY held, merged into the bucket's configuration.
      const rules = await s3Store.getLifecycle(BUCKET);
      assert.deepEqual(
        rules?.map((r) => [r.ID, r.Filter?.Prefix, r.Expiration?.Days]),
        [[`cutover:${plan.name}:xcom/`, 'xcom/', 7]],
      );
      assert.equal(ev.lifecycleApplied?.changed, true);

      // Put the cluster back for the next scenario (as an operator would with the journal).
      kube.setConfigMap({ namespace: NS, name: CM, data: { ...ORIGINAL } });
    },
  );

  test(
    'gitops mode with the dossier footgun injected: VERIFY names the variable, git revert, CD syncs back, ROLLED_BACK',
    SLOW,
    async () => {
      const plan = planWith(
        {
          mode: 'gitops',
          repo: origin,
          baseBranch: 'main',
          valuesFile: 'helm/values-prod.yaml',
          location: 'extraConfigMaps.airflow-env.data',
        },
        'before-flip',
      );
      // The dossier's bucket: one existing rule, which the merge keeps and the revert restores.
      const l2Events = {
        ID: 'l2-events-7d-retention',
        Status: 'Enabled',
        Filter: { Prefix: 'l2-events/' },
        Expiration: { Days: 7 },
      };
      await s3Store.putLifecycle(BUCKET, [l2Events]);
      const lifecycleBefore = await s3Store.getLifecycle(BUCKET);
      sync = startGitOpsSync({
        repo: origin,
        branch: 'main',
        valuesFile: 'helm/values-prod.yaml',
        location: 'extraConfigMaps.airflow-env.data',
        apply: (data) => kube.setConfigMap({ namespace: NS, name: CM, data }),
      });
      const valuesBefore = git(origin, 'show', 'main:helm/values-prod.yaml');
      const headBefore = git(origin, 'rev-parse', 'main');
      apiCalls.length = 0;

      const result = await runApproved(inputFor(plan, { inject: 'env-encoding' }));
      assert.equal(result.outcome, 'ROLLED_BACK', result.reason);
      assert.equal(result.productionChanged, false);
      assert.match(result.reason, /VERIFY failed/);
      assert.match(
        result.reason,
        /AIRFLOW__COMMON\.IO__XCOM_OBJECTSTORAGE_PATH is set but Airflow never reads it/,
      );

      const ev = result.status.evidence;
      assert.ok(
        ev.verifications[0]?.gate.reasons.some((r) =>
          r.includes('AIRFLOW__COMMON.IO__XCOM_OBJECTSTORAGE_THRESHOLD'),
        ),
        JSON.stringify(ev.verifications[0]),
      );
      const comp = result.status.compensation;
      assert.deepEqual(comp?.completed, [
        'revert target',
        'revert the lifecycle rule',
        'waitForRollout',
        'findAffectedRuns',
        'rerunAffectedRuns',
        'confirmHealed',
        'leftHealthy',
      ]);
      assert.equal(ev.reverts[0]?.changed, true);
      assert.equal(ev.revertRollout?.gate.passed, true, JSON.stringify(ev.revertRollout));
      assert.ok(
        apiCalls.some((c) => c.startsWith('runsSince')),
        'affected runs were looked up',
      );
      assert.ok(!apiCalls.some((c) => c.startsWith('validate')), 'VALIDATE never ran after a red VERIFY');

      // The rule went out before the flip and is gone again: the bucket holds exactly what it held.
      assert.equal(ev.lifecycleApplied?.changed, true);
      assert.equal(ev.lifecycleReverted?.outcome, 'restored');
      assert.ok(sameLifecycle(await s3Store.getLifecycle(BUCKET), lifecycleBefore));

      // The merge and its revert are on main; the values file is byte for byte what it was.
      assert.notEqual(git(origin, 'rev-parse', 'main'), headBefore);
      assert.equal(git(origin, 'show', 'main:helm/values-prod.yaml'), valuesBefore);
      const log = git(origin, 'log', '--format=%s', `${headBefore}..main`);
      assert.match(log, /Revert/);
      // The cluster followed: the ConfigMap and the live pod are back on BaseXCom.
      assert.deepEqual(configMapData(), ORIGINAL);
      const [pod] = kube.workloadPods('Deployment', NS, 'airflow-scheduler');
      const live = Object.values(pod?.env ?? {})[0] ?? {};
      assert.equal(
        Object.keys(live).filter((k) => k.includes('XCOM')).length,
        0,
        JSON.stringify(Object.keys(live)),
      );
      await sync.stop();
      sync = undefined;
    },
  );

  test(
    'configmap mode, the new pods never get Ready: the rollout gate is red, compensation reverts and rolls back',
    SLOW,
    async () => {
      const plan = planWith({ mode: 'configmap', configMap: CM });
      kube.setConfigMap({ namespace: NS, name: CM, data: { ...ORIGINAL } });
      kube.failNewPods('Deployment', NS, 'airflow-scheduler', true);
      // The stuck pods are "fixed" once compensation starts (they had the new config; the revert must roll them away).
      const result = await runApproved(inputFor(plan), () =>
        kube.failNewPods('Deployment', NS, 'airflow-scheduler', false),
      );
      assert.equal(result.outcome, 'ROLLED_BACK', result.reason);
      assert.match(result.reason, /APPLY failed/);
      assert.match(result.reason, /exceeded its progress deadline/);
      const ev = result.status.evidence;
      assert.equal(ev.rollouts[0]?.gate.passed, false);
      assert.equal(ev.verifications.length, 0, 'VERIFY never ran');
      assert.equal(ev.revertRollout?.gate.passed, true, JSON.stringify(ev.revertRollout));
      assert.deepEqual(configMapData(), ORIGINAL, 'the ConfigMap is exactly what it was');
      const pods = kube.workloadPods('Deployment', NS, 'airflow-scheduler');
      assert.ok(pods.every((p) => p.ready));
    },
  );
});
