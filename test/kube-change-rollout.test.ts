/**
 * The ConfigMap change adapter and the Kubernetes rollout adapter against the in-repo Kubernetes
 * API test server, driven by the real @kubernetes/client-node: apply -> rollout -> VERIFY inside
 * the new pod -> revert -> rollout, a concurrent writer, a GitOps sync that arrives late (and one
 * that never does), a stuck rollout, a StatefulSet, and kubectl reading what the adapters left.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, beforeEach, describe, test } from 'node:test';
import * as k8s from '@kubernetes/client-node';
import { ExecAirflowProbes } from '../adapters/airflow-probes.js';
import { ConfigMapChange, JOURNAL_PREFIX } from '../adapters/kube/configmap-change.js';
import { KubeExecPort } from '../adapters/kube/exec.js';
import { KubeRollout, RESTARTED_AT } from '../adapters/kube/rollout.js';
import { configMismatches } from '../activities/xcom/verify.js';
import { withDottedSectionSpelling, renderStage } from '../domain/airflow-env.js';
import type { Component } from '../domain/plan.js';
import { airflowBaseEnv, tempAirflowHome } from './support/airflow.js';
import { startKubeApiServer, type KubeApiServer } from './support/kube-api-server.js';
import { kubectl as kubectlIn } from './support/kubectl.js';
import { venvDir } from './support/moto.js';
import { testPlan } from './support/plans.js';

const NS = 'airflow';
const RELEASE = 'af';
const CM = 'af-env';
const SLOW = { timeout: 180_000 };
const XCOM_PATH = 's3://aws_default@cutover-xcom/xcom';
const ORIGINAL = {
  AIRFLOW__CORE__LOAD_EXAMPLES: 'False',
  AIRFLOW__COMMON_IO__XCOM_OBJECTSTORAGE_COMPRESSION: 'zip',
};
const stage = renderStage('target', { path: XCOM_PATH, thresholdBytes: 100_000, compression: '' });
const plan = testPlan((raw) => {
  raw.spec.xcom.path = XCOM_PATH;
  raw.spec.xcom.threshold = { strategy: 'fixed', bytes: 100_000 };
  delete raw.spec.xcom.ramp;
});
const scheduler: Component = { name: 'scheduler', workload: { kind: 'Deployment', name: 'af-scheduler' } };
const triggerer: Component = { name: 'triggerer' }; // the chart's default: StatefulSet af-triggerer
const helm = (component: string) => ({ tier: 'airflow', component, release: RELEASE });
const noBeat = () => undefined;

const kubectl = (server: KubeApiServer, args: string[]) => kubectlIn(server.kubeconfigPath, NS, args);

void describe('ConfigMap change + rollout on the Kubernetes API test server', () => {
  let server: KubeApiServer;
  let kc: k8s.KubeConfig;
  let core: k8s.CoreV1Api;
  let exec: KubeExecPort;
  let rollout: KubeRollout;
  let change: ConfigMapChange;
  const home = tempAirflowHome();
  const base = airflowBaseEnv({ airflowHome: home.dir, s3Endpoint: 'http://127.0.0.1:9' });
  const container = (name: string) => ({
    name,
    env: [
      ...Object.entries(base).map(([n, value]) => ({ name: n, value })),
      { name: 'PATH', value: `${path.join(venvDir(), 'bin')}:/usr/local/bin:/usr/bin:/bin` },
    ],
    envFrom: [{ configMapRef: { name: CM } }],
    workingDir: home.dir,
  });
  const workload = (name: string, component: string) => ({
    namespace: NS,
    name,
    replicas: 1,
    template: { metadata: { labels: helm(component) }, spec: { containers: [container(component)] } },
    progressDeadlineSeconds: 2,
  });

  before(async () => {
    server = await startKubeApiServer({
      configMaps: [{ namespace: NS, name: CM, data: { ...ORIGINAL } }],
      deployments: [workload('af-scheduler', 'scheduler')],
      statefulSets: [workload('af-triggerer', 'triggerer')],
      podReadyDelayMs: 150,
    });
    kc = new k8s.KubeConfig();
    kc.loadFromFile(server.kubeconfigPath);
    core = kc.makeApiClient(k8s.CoreV1Api);
    exec = new KubeExecPort({ kubeConfig: kc, namespace: NS, release: RELEASE });
    rollout = new KubeRollout({
      kubeConfig: kc,
      namespace: NS,
      release: RELEASE,
      exec,
      python: ['python'],
      pollMs: 200,
    });
    change = new ConfigMapChange({ core, namespace: NS, configMap: CM });
  }, SLOW);

  after(async () => {
    await server?.close();
    home.remove();
  });

  beforeEach(() => {
    server.setConfigMap({ namespace: NS, name: CM, data: { ...ORIGINAL } });
  });

  const data = () => (server.getConfigMap(NS, CM)?.['data'] ?? {}) as Record<string, string>;
  const annotations = () =>
    ((server.getConfigMap(NS, CM)?.['metadata'] as { annotations?: Record<string, string> } | undefined)
      ?.annotations ?? {}) as Record<string, string>;

  test(
    'apply -> rollout -> VERIFY in the new pod -> revert -> rollout: the ConfigMap comes back exactly',
    SLOW,
    async () => {
      const changeId = 'cutover/k/plan@run-1';
      const diff = await change.diff(stage);
      const body = diff.split('\n').filter((l) => /^[+-][^+-]/.test(l));
      assert.deepEqual(
        body.map((l) => l.slice(0, 1) + l.slice(1).split(':')[0]),
        [
          '-AIRFLOW__COMMON_IO__XCOM_OBJECTSTORAGE_COMPRESSION',
          '+AIRFLOW__COMMON_IO__XCOM_OBJECTSTORAGE_COMPRESSION',
          '+AIRFLOW__COMMON_IO__XCOM_OBJECTSTORAGE_PATH',
          '+AIRFLOW__COMMON_IO__XCOM_OBJECTSTORAGE_THRESHOLD',
          '+AIRFLOW__CORE__XCOM_BACKEND',
        ],
        diff,
      );
      assert.ok(!diff.includes('LOAD_EXAMPLES'), 'no neighbouring key in the diff');

      const applied = await change.apply({ stage, changeId });
      assert.equal(applied.changed, true);
      assert.match(applied.ref, /ConfigMap airflow\/af-env resourceVersion \d+/);
      assert.deepEqual(data(), { ...ORIGINAL, ...stage.env });
      assert.ok(applied.revertHandle.startsWith(JOURNAL_PREFIX));
      assert.ok(annotations()[applied.revertHandle], 'the journal is on the ConfigMap');
      assert.equal(await change.diff(stage), '', 'nothing left to change');
      const again = await change.apply({ stage, changeId });
      assert.equal(again.changed, true, 'the change id still changed the data (a retry reports the same)');
      assert.deepEqual(data(), { ...ORIGINAL, ...stage.env });

      // Before the restart the running pod still has the old env (fixed at container start).
      const before = await exec.exec({
        component: scheduler,
        command: ['printenv', 'AIRFLOW__CORE__XCOM_BACKEND'],
        timeoutMs: 30_000,
      });
      assert.equal(before.exitCode, 1, 'the running pod does not see the patched ConfigMap');

      const rolloutsBefore = server.rollouts('Deployment', NS, 'af-scheduler');
      const [sched] = await rollout.restartAndWait({
        components: [scheduler],
        expectEnv: stage.env,
        timeoutMs: 60_000,
        heartbeat: noBeat,
      });
      assert.equal(sched?.ready, true, sched?.detail);
      assert.match(
        sched?.detail ?? '',
        /1 Ready pod\(s\) carry the env after restarting Deployment airflow\/af-scheduler/,
      );
      assert.equal(server.rollouts('Deployment', NS, 'af-scheduler'), rolloutsBefore + 1);
      const tmpl = server.getWorkload('Deployment', NS, 'af-scheduler') as {
        spec: { template: { metadata: { annotations: Record<string, string> } } };
      };
      assert.ok(tmpl.spec.template.metadata.annotations[RESTARTED_AT], 'restarted the kubectl way');

      // VERIFY through exec, in the new pod.
      const probes = new ExecAirflowProbes(exec, { python: () => ['python'] });
      const got = await probes.resolveConfig({ component: scheduler });
      assert.deepEqual(configMismatches(got, stage, plan), [], JSON.stringify(got));
      assert.equal(got.xcomClass, 'XComObjectStorageBackend');

      // A retried rollout step restarts nothing.
      const [again2] = await rollout.restartAndWait({
        components: [scheduler],
        expectEnv: stage.env,
        timeoutMs: 30_000,
        heartbeat: noBeat,
      });
      assert.equal(again2?.ready, true);
      assert.match(again2?.detail ?? '', /no restart needed/);
      assert.equal(server.rollouts('Deployment', NS, 'af-scheduler'), rolloutsBefore + 1);

      const reverted = await change.revert({ stage, revertHandle: applied.revertHandle, changeId });
      assert.equal(reverted.changed, true);
      assert.deepEqual(reverted.restoredEnv, {
        AIRFLOW__CORE__XCOM_BACKEND: null,
        AIRFLOW__COMMON_IO__XCOM_OBJECTSTORAGE_PATH: null,
        AIRFLOW__COMMON_IO__XCOM_OBJECTSTORAGE_THRESHOLD: null,
        AIRFLOW__COMMON_IO__XCOM_OBJECTSTORAGE_COMPRESSION: 'zip',
      });
      assert.deepEqual(data(), ORIGINAL, 'the data is exactly what it was');
      assert.deepEqual(
        Object.keys(annotations()).filter((k) => k.startsWith(JOURNAL_PREFIX)),
        [],
        'journal dropped',
      );
      const twice = await change.revert({ stage, revertHandle: applied.revertHandle, changeId });
      assert.equal(twice.changed, false);
      assert.deepEqual(data(), ORIGINAL);

      const [back] = await rollout.restartAndWait({
        components: [scheduler],
        expectEnv: reverted.restoredEnv,
        timeoutMs: 60_000,
        heartbeat: noBeat,
      });
      assert.equal(back?.ready, true, back?.detail);
      const after = await probes.resolveConfig({ component: scheduler });
      assert.equal(after.xcomClass, 'BaseXCom', JSON.stringify(after));

      // kubectl, as a second client, sees the same state.
      const status = await kubectl(server, ['rollout', 'status', 'deployment/af-scheduler', '--timeout=20s']);
      assert.equal(status.code, 0, status.stderr);
      const cm = await kubectl(server, ['get', 'configmap', CM, '-o', 'jsonpath={.data}']);
      assert.deepEqual(JSON.parse(cm.stdout), ORIGINAL);
    },
  );

  test('the dotted spelling reaches the pod and VERIFY names it', SLOW, async () => {
    const broken = withDottedSectionSpelling(stage);
    const changeId = 'cutover/k/plan@run-dotted';
    const applied = await change.apply({ stage: broken, changeId });
    const [sched] = await rollout.restartAndWait({
      components: [scheduler],
      expectEnv: broken.env,
      timeoutMs: 60_000,
      heartbeat: noBeat,
    });
    assert.equal(sched?.ready, true, sched?.detail);
    const got = await new ExecAirflowProbes(exec, { python: () => ['python'] }).resolveConfig({
      component: scheduler,
    });
    const problems = configMismatches(got, stage, plan);
    assert.ok(problems.length > 0);
    assert.match(
      problems.join('\n'),
      /AIRFLOW__COMMON\.IO__XCOM_OBJECTSTORAGE_PATH is set but Airflow never reads it/,
    );
    const reverted = await change.revert({ stage: broken, revertHandle: applied.revertHandle, changeId });
    assert.deepEqual(data(), ORIGINAL);
    const [back] = await rollout.restartAndWait({
      components: [scheduler],
      expectEnv: reverted.restoredEnv,
      timeoutMs: 60_000,
      heartbeat: noBeat,
    });
    assert.equal(back?.ready, true, back?.detail);
  });

  test('a concurrent writer between read and patch: 409, read again, both changes kept', SLOW, async () => {
    let interfered = false;
    const racing = Object.create(core) as k8s.CoreV1Api;
    racing.readNamespacedConfigMap = async (args) => {
      const cm = await core.readNamespacedConfigMap(args);
      if (!interfered) {
        interfered = true;
        await core.patchNamespacedConfigMap(
          { name: CM, namespace: NS, body: { data: { SOMEONE_ELSE: 'was here' } } },
          k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
        );
      }
      return cm;
    };
    const racy = new ConfigMapChange({ core: racing, namespace: NS, configMap: CM });
    const changeId = 'cutover/k/plan@run-race';
    await racy.apply({ stage, changeId });
    assert.ok(interfered);
    assert.deepEqual(data(), { ...ORIGINAL, SOMEONE_ELSE: 'was here', ...stage.env });
    const patches = server
      .requests()
      .filter((r) => r.method === 'PATCH' && r.path.endsWith(`/configmaps/${CM}`));
    assert.ok(patches.length >= 3, 'ours was refused once and sent again');
    await racy.revert({ stage, revertHandle: null, changeId });
    assert.deepEqual(data(), { ...ORIGINAL, SOMEONE_ELSE: 'was here' }, 'revert restores our keys only');
  });

  test('a missing ConfigMap is a permanent fault naming it', async () => {
    const missing = new ConfigMapChange({ core, namespace: NS, configMap: 'nope' });
    await assert.rejects(missing.apply({ stage, changeId: 'x@y' }), (err: Error) => {
      assert.equal(err.name, 'PermanentFault');
      assert.match(err.message, /ConfigMap airflow\/nope does not exist/);
      return true;
    });
  });

  test(
    'GitOps: the rollout waits for the sync, restarts, and says so when the sync never comes',
    SLOW,
    async () => {
      // The "CD" writes the ConfigMap 1.5 s after the merge.
      const timer = setTimeout(
        () => server.setConfigMap({ namespace: NS, name: CM, data: { ...ORIGINAL, ...stage.env } }),
        1500,
      );
      const beats: unknown[] = [];
      const [sched] = await rollout.restartAndWait({
        components: [scheduler],
        expectEnv: stage.env,
        timeoutMs: 30_000,
        heartbeat: (d) => beats.push(d),
      });
      clearTimeout(timer);
      assert.equal(sched?.ready, true, sched?.detail);
      assert.ok(
        beats.some((b) => JSON.stringify(b).includes('GitOps sync pending')),
        JSON.stringify(beats),
      );

      server.setConfigMap({ namespace: NS, name: CM, data: { ...ORIGINAL } });
      const [never] = await rollout.restartAndWait({
        components: [scheduler],
        expectEnv: stage.env,
        timeoutMs: 1500,
        heartbeat: noBeat,
      });
      assert.equal(never?.ready, false);
      assert.match(
        never?.detail ?? '',
        /not there after 2 s: the pod template of Deployment airflow\/af-scheduler does not resolve to the wanted env yet \(AIRFLOW__CORE__XCOM_BACKEND is not set/,
      );
    },
  );

  test(
    'a stuck rollout fails with the progress deadline, and the next restart unsticks it',
    SLOW,
    async () => {
      // A threshold the pods do not run yet, so a restart is needed.
      const next = renderStage('target', { path: XCOM_PATH, thresholdBytes: 200_000, compression: '' });
      server.setConfigMap({ namespace: NS, name: CM, data: { ...ORIGINAL, ...next.env } });
      server.failNewPods('Deployment', NS, 'af-scheduler', true);
      const [stuck] = await rollout.restartAndWait({
        components: [scheduler],
        expectEnv: next.env,
        timeoutMs: 60_000,
        heartbeat: noBeat,
      });
      assert.equal(stuck?.ready, false);
      assert.match(
        stuck?.detail ?? '',
        /deployment "af-scheduler" exceeded its progress deadline: ReplicaSet "af-scheduler-[a-z0-9]+" has timed out progressing/,
      );
      const k = await kubectl(server, ['rollout', 'status', 'deployment/af-scheduler', '--timeout=10s']);
      assert.notEqual(k.code, 0);
      assert.match(k.stderr, /exceeded its progress deadline/);

      server.failNewPods('Deployment', NS, 'af-scheduler', false);
      server.setConfigMap({ namespace: NS, name: CM, data: { ...ORIGINAL } });
      const restore = Object.fromEntries(
        Object.keys(next.env).map((key) => [key, ORIGINAL[key as keyof typeof ORIGINAL] ?? null]),
      );
      const [back] = await rollout.restartAndWait({
        components: [scheduler],
        expectEnv: restore,
        timeoutMs: 60_000,
        heartbeat: noBeat,
      });
      assert.equal(back?.ready, true, back?.detail);
    },
  );

  test('a StatefulSet component (the chart default for the triggerer) rolls the same way', SLOW, async () => {
    server.setConfigMap({ namespace: NS, name: CM, data: { ...ORIGINAL, ...stage.env } });
    const before = server.rollouts('StatefulSet', NS, 'af-triggerer');
    const [trig] = await rollout.restartAndWait({
      components: [triggerer],
      expectEnv: stage.env,
      timeoutMs: 60_000,
      heartbeat: noBeat,
    });
    assert.equal(trig?.ready, true, trig?.detail);
    assert.equal(server.rollouts('StatefulSet', NS, 'af-triggerer'), before + 1);
    const k = await kubectl(server, ['rollout', 'status', 'statefulset/af-triggerer', '--timeout=10s']);
    assert.equal(k.code, 0, k.stderr);
  });

  test('a missing workload is a permanent fault naming it', async () => {
    await assert.rejects(
      rollout.restartAndWait({
        components: [{ name: 'webserver' }],
        expectEnv: stage.env,
        timeoutMs: 5000,
        heartbeat: noBeat,
      }),
      (err: Error) => {
        assert.equal(err.name, 'PermanentFault');
        assert.match(
          err.message,
          /reading Deployment airflow\/af-webserver: not found: deployments.apps "af-webserver" not found/,
        );
        return true;
      },
    );
  });
});
