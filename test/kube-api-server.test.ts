/**
 * The Kubernetes API test server (test/support/kube-api-server.ts) as the production adapters
 * will meet it: ConfigMaps, Deployments and StatefulSets through the real
 * @kubernetes/client-node, its rollout controller (env fixed at pod creation, stuck rollouts,
 * progress deadline), and kubectl as a second, independent client, over http and over TLS.
 */
import assert from 'node:assert/strict';
import https from 'node:https';
import { after, before, describe, test } from 'node:test';
import * as k8s from '@kubernetes/client-node';
import { ExecError } from '../adapters/exec/port.js';
import { KubeExecPort } from '../adapters/kube/exec.js';
import {
  startKubeApiServer,
  type JsonObject,
  type KubeApiServer,
  type TestWorkload,
} from './support/kube-api-server.js';
import { kubectl as kubectlIn } from './support/kubectl.js';

const NS = 'airflow';
const RELEASE = 'af';
const ENV_CM = `${RELEASE}-airflow-env`;

const kubectl = (server: KubeApiServer, args: string[], kubeconfig = server.kubeconfigPath) =>
  kubectlIn(kubeconfig, NS, args);

/** The HTTP status and Status body of a failed client-node call. */
async function apiFailure(p: Promise<unknown>): Promise<{ code: number; status: JsonObject }> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof k8s.ApiException, String(err));
    const e = err as k8s.ApiException<unknown>;
    const body: unknown = e.body;
    return {
      code: e.code,
      status: JSON.parse(typeof body === 'string' ? body : JSON.stringify(body)) as JsonObject,
    };
  }
  assert.fail('the call succeeded');
}

const helm = (component: string) => ({ tier: 'airflow', component, release: RELEASE });

function workload(name: string, component: string, extra: Partial<TestWorkload> = {}): TestWorkload {
  return {
    namespace: NS,
    name,
    labels: helm(component),
    replicas: 2,
    selector: { matchLabels: helm(component) },
    template: {
      metadata: { labels: helm(component) },
      spec: {
        containers: [
          {
            name: component,
            envFrom: [{ configMapRef: { name: ENV_CM } }],
            env: [{ name: 'ROLE', value: component }],
          },
        ],
      },
    },
    ...extra,
  };
}

const restartPatch = (at: string) => ({
  spec: { template: { metadata: { annotations: { 'kubectl.kubernetes.io/restartedAt': at } } } },
});
const strategic = () => k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.StrategicMergePatch);
const merge = () => k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch);
const jsonPatch = () => k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.JsonPatch);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function condition(d: k8s.V1Deployment, type: string): k8s.V1DeploymentCondition | undefined {
  return d.status?.conditions?.find((c) => c.type === type);
}

void describe('Kubernetes API test server', () => {
  let server: KubeApiServer;
  let kc: k8s.KubeConfig;
  let core: k8s.CoreV1Api;
  let apps: k8s.AppsV1Api;
  let port: KubeExecPort;

  before(async () => {
    server = await startKubeApiServer({
      podReadyDelayMs: 150,
      configMaps: [
        { namespace: NS, name: ENV_CM, data: { KEY: 'old', GONE: 'soon' }, labels: { release: RELEASE } },
        { namespace: NS, name: 'other', data: {}, labels: { release: 'someone-else' } },
      ],
      deployments: [
        workload(`${RELEASE}-scheduler`, 'scheduler'),
        workload(`${RELEASE}-api-server`, 'api-server'),
        workload(`${RELEASE}-triggerer`, 'triggerer', { replicas: 1, progressDeadlineSeconds: 1 }),
      ],
      statefulSets: [workload(`${RELEASE}-worker`, 'worker')],
    });
    kc = new k8s.KubeConfig();
    kc.loadFromFile(server.kubeconfigPath);
    core = kc.makeApiClient(k8s.CoreV1Api);
    apps = kc.makeApiClient(k8s.AppsV1Api);
    port = new KubeExecPort({ kubeConfig: kc, namespace: NS, release: RELEASE });
  });

  after(async () => {
    await server.close();
  });

  const printenv = async (pod: string, container: string, name: string) => {
    const r = await port.execIn({
      component: { name: container },
      pod,
      container,
      command: ['printenv', name],
      timeoutMs: 10_000,
    });
    assert.equal(r.exitCode, 0, r.stderr);
    return r.stdout.trim();
  };

  void test('ConfigMap: metadata, merge / strategic / JSON patches, label selector', async () => {
    const cm = await core.readNamespacedConfigMap({ name: ENV_CM, namespace: NS });
    const rv0 = Number(cm.metadata?.resourceVersion);
    assert.ok(rv0 > 0, 'resourceVersion is a number');
    assert.match(cm.metadata?.uid ?? '', /^[0-9a-f-]{36}$/);
    assert.ok(cm.metadata?.creationTimestamp instanceof Date);
    assert.deepEqual(cm.data, { KEY: 'old', GONE: 'soon' });

    const merged = await core.patchNamespacedConfigMap(
      { name: ENV_CM, namespace: NS, body: { data: { ADDED: 'a', GONE: null } } },
      merge(),
    );
    assert.deepEqual(merged.data, { KEY: 'old', ADDED: 'a' });
    const rv1 = Number(merged.metadata?.resourceVersion);
    assert.ok(rv1 > rv0, `resourceVersion moved on: ${rv0} -> ${rv1}`);
    assert.equal(merged.metadata?.uid, cm.metadata?.uid);

    const smp = await core.patchNamespacedConfigMap(
      {
        name: ENV_CM,
        namespace: NS,
        body: { metadata: { annotations: { note: 'smp' } }, data: { ADDED: null, S: 's' } },
      },
      strategic(),
    );
    assert.deepEqual(smp.data, { KEY: 'old', S: 's' });
    assert.equal(smp.metadata?.annotations?.['note'], 'smp');

    const jp = await core.patchNamespacedConfigMap(
      {
        name: ENV_CM,
        namespace: NS,
        body: [
          { op: 'test', path: '/data/KEY', value: 'old' },
          { op: 'add', path: '/data/J', value: 'j' },
          { op: 'replace', path: '/data/S', value: 's2' },
          { op: 'remove', path: '/data/S' },
        ],
      },
      jsonPatch(),
    );
    assert.deepEqual(jp.data, { KEY: 'old', J: 'j' });

    const failedTest = await apiFailure(
      core.patchNamespacedConfigMap(
        { name: ENV_CM, namespace: NS, body: [{ op: 'test', path: '/data/KEY', value: 'nope' }] },
        jsonPatch(),
      ),
    );
    assert.equal(failedTest.code, 422);

    // A patch that changes nothing is no write: the resourceVersion stays.
    const noop = await core.patchNamespacedConfigMap(
      { name: ENV_CM, namespace: NS, body: { data: { KEY: 'old' } } },
      merge(),
    );
    assert.equal(noop.metadata?.resourceVersion, jp.metadata?.resourceVersion);

    const bad = await apiFailure(
      core.patchNamespacedConfigMap(
        { name: ENV_CM, namespace: NS, body: { data: { 'AIRFLOW__COMMON IO__X': 'v' } } },
        merge(),
      ),
    );
    assert.equal(bad.code, 422);
    assert.match(String(bad.status['message']), /a valid config key must consist of alphanumeric characters/);

    const unsupported = await apiFailure(
      core.patchNamespacedConfigMap(
        { name: ENV_CM, namespace: NS, body: { data: { KEY: 'x' } } },
        k8s.setHeaderOptions('Content-Type', 'application/apply-patch+yaml'),
      ),
    );
    assert.equal(unsupported.code, 415);
    assert.equal(unsupported.status['reason'], 'UnsupportedMediaType');

    const listed = await core.listNamespacedConfigMap({ namespace: NS, labelSelector: `release=${RELEASE}` });
    assert.deepEqual(
      listed.items.map((c) => c.metadata?.name),
      [ENV_CM],
    );
    assert.ok(Number(listed.metadata?.resourceVersion) >= Number(jp.metadata?.resourceVersion));
    // Back to where the other tests start from.
    await core.patchNamespacedConfigMap(
      { name: ENV_CM, namespace: NS, body: { data: { J: null } } },
      merge(),
    );
    assert.deepEqual(server.getConfigMap(NS, ENV_CM)?.['data'], { KEY: 'old' });
  });

  void test('ConfigMap: PUT with a stale resourceVersion is 409 Conflict; create twice is AlreadyExists', async () => {
    const cm = await core.readNamespacedConfigMap({ name: 'other', namespace: NS });
    const stale = cm.metadata?.resourceVersion;
    const first = await core.replaceNamespacedConfigMap({
      name: 'other',
      namespace: NS,
      body: { ...cm, data: { A: '1' } },
    });
    assert.deepEqual(first.data, { A: '1' });
    assert.notEqual(first.metadata?.resourceVersion, stale);

    const conflict = await apiFailure(
      core.replaceNamespacedConfigMap({ name: 'other', namespace: NS, body: { ...cm, data: { A: '2' } } }),
    );
    assert.equal(conflict.code, 409);
    assert.equal(conflict.status['reason'], 'Conflict');
    assert.equal(
      conflict.status['message'],
      'Operation cannot be fulfilled on configmaps "other": the object has been modified; please apply your changes to the latest version and try again',
    );
    // The same precondition holds for a merge patch that carries the resourceVersion it read.
    const patchConflict = await apiFailure(
      core.patchNamespacedConfigMap(
        { name: 'other', namespace: NS, body: { metadata: { resourceVersion: stale }, data: { A: '3' } } },
        merge(),
      ),
    );
    assert.equal(patchConflict.code, 409);
    assert.deepEqual(server.getConfigMap(NS, 'other')?.['data'], { A: '1' });

    const created = await core.createNamespacedConfigMap({
      namespace: NS,
      body: { metadata: { name: 'fresh' }, data: { F: 'f' } },
    });
    assert.equal(created.metadata?.namespace, NS);
    const again = await apiFailure(
      core.createNamespacedConfigMap({ namespace: NS, body: { metadata: { name: 'fresh' }, data: {} } }),
    );
    assert.equal(again.code, 409);
    assert.equal(again.status['reason'], 'AlreadyExists');
    assert.equal(again.status['message'], 'configmaps "fresh" already exists');
    await core.deleteNamespacedConfigMap({ name: 'fresh', namespace: NS });
    assert.equal(server.getConfigMap(NS, 'fresh'), null);
    const missing = await apiFailure(core.readNamespacedConfigMap({ name: 'fresh', namespace: NS }));
    assert.equal(missing.code, 404);
    assert.equal(missing.status['message'], 'configmaps "fresh" not found');
  });

  void test('Deployment restart: generation bump, pods replaced step by step, env fixed at pod creation', async () => {
    const name = `${RELEASE}-scheduler`;
    const before = await apps.readNamespacedDeployment({ name, namespace: NS });
    assert.equal(before.metadata?.generation, 1);
    assert.equal(before.status?.observedGeneration, 1);
    assert.equal(condition(before, 'Progressing')?.reason, 'NewReplicaSetAvailable');
    const oldPods = server.workloadPods('Deployment', NS, name);
    assert.equal(oldPods.length, 2);
    const oldHash = oldPods[0]?.revision ?? '';
    const oldPod = oldPods[0]?.name ?? '';
    assert.match(oldPod, new RegExp(`^${name}-${oldHash}-[a-z0-9]{5}$`));

    // The ConfigMap changes; the running pods keep the env they started with.
    await core.patchNamespacedConfigMap(
      { name: ENV_CM, namespace: NS, body: { data: { KEY: 'new' } } },
      merge(),
    );
    assert.equal(await printenv(oldPod, 'scheduler', 'KEY'), 'old');

    // A metadata-only change is no new generation.
    const labelled = await apps.patchNamespacedDeployment(
      { name, namespace: NS, body: { metadata: { labels: { touched: 'yes' } } } },
      merge(),
    );
    assert.equal(labelled.metadata?.generation, 1);

    // An exec running in an old pod dies with it.
    const longExec = port.execIn({
      component: { name: 'scheduler' },
      pod: oldPod,
      container: 'scheduler',
      command: ['sleep', '60'],
      timeoutMs: 60_000,
    });
    const longExecOutcome = longExec.then(
      () => 'resolved',
      (err: unknown) => (err instanceof ExecError ? err.kind : String(err)),
    );

    const patched = await apps.patchNamespacedDeployment(
      { name, namespace: NS, body: restartPatch(new Date().toISOString()) },
      strategic(),
    );
    assert.equal(patched.metadata?.generation, 2);
    assert.equal(
      patched.spec?.template.metadata?.labels?.['component'],
      'scheduler',
      'labels kept by the SMP',
    );

    // Poll like a rollout waiter does: it must see the rollout incomplete before it completes.
    const seen: string[] = [];
    let done: k8s.V1Deployment | null = null;
    for (let i = 0; i < 500 && !done; i++) {
      const d = await apps.readNamespacedDeploymentStatus({ name, namespace: NS });
      const s = d.status;
      const state = `og=${s?.observedGeneration} r=${s?.replicas ?? 0} u=${s?.updatedReplicas ?? 0} ready=${s?.readyReplicas ?? 0} av=${s?.availableReplicas ?? 0}`;
      if (seen.at(-1) !== state) seen.push(state);
      if (
        s?.observedGeneration === 2 &&
        s.replicas === 2 &&
        s.updatedReplicas === 2 &&
        s.readyReplicas === 2 &&
        s.availableReplicas === 2
      )
        done = d;
      else await sleep(20);
    }
    assert.ok(done, `rollout completed; states seen: ${seen.join(' | ')}`);
    assert.ok(seen.length >= 3, `intermediate states seen: ${seen.join(' | ')}`);
    assert.ok(
      seen.some((s) => /og=2 r=3 u=1/.test(s)),
      `a surge pod alongside the old ones: ${seen.join(' | ')}`,
    );
    assert.equal(condition(done, 'Progressing')?.status, 'True');
    assert.equal(condition(done, 'Progressing')?.reason, 'NewReplicaSetAvailable');
    assert.equal(condition(done, 'Available')?.status, 'True');
    assert.equal(done.metadata?.annotations?.['deployment.kubernetes.io/revision'], '2');

    const listed = await core.listNamespacedPod({ namespace: NS, labelSelector: 'component=scheduler' });
    const newNames = listed.items.map((p) => p.metadata?.name ?? '');
    assert.equal(newNames.length, 2);
    for (const p of listed.items) {
      assert.ok(!oldPods.some((o) => o.name === p.metadata?.name), `${p.metadata?.name} is new`);
      assert.notEqual(p.metadata?.labels?.['pod-template-hash'], oldHash);
      assert.equal(p.metadata?.ownerReferences?.[0]?.kind, 'ReplicaSet');
      assert.equal(
        p.metadata?.ownerReferences?.[0]?.name,
        `${name}-${p.metadata?.labels?.['pod-template-hash'] ?? ''}`,
      );
      assert.deepEqual(
        p.spec?.containers[0]?.envFrom?.map((e) => e.configMapRef?.name),
        [ENV_CM],
      );
    }
    assert.equal(await printenv(newNames[0] ?? '', 'scheduler', 'KEY'), 'new');
    assert.equal(await printenv(newNames[0] ?? '', 'scheduler', 'ROLE'), 'scheduler');
    assert.equal(await longExecOutcome, 'closed-without-status');
    assert.equal(server.rollouts('Deployment', NS, name), 1);
    const gone = await apiFailure(core.readNamespacedPod({ name: oldPod, namespace: NS }));
    assert.equal(gone.code, 404);
  });

  void test('Deployment: 409 on a stale resourceVersion, 422 on an invalid template, /status ignores spec', async () => {
    const name = `${RELEASE}-api-server`;
    const d = await apps.readNamespacedDeployment({ name, namespace: NS });
    await apps.patchNamespacedDeployment({ name, namespace: NS, body: { spec: { replicas: 2 } } }, merge());
    const scaled = await apps.patchNamespacedDeployment(
      { name, namespace: NS, body: { metadata: { annotations: { a: 'b' } } } },
      merge(),
    );
    assert.notEqual(scaled.metadata?.resourceVersion, d.metadata?.resourceVersion);
    const stale = await apiFailure(
      apps.replaceNamespacedDeployment({
        name,
        namespace: NS,
        body: { ...d, spec: { ...(d.spec as k8s.V1DeploymentSpec), replicas: 3 } },
      }),
    );
    assert.equal(stale.code, 409);
    assert.equal(
      stale.status['message'],
      `Operation cannot be fulfilled on deployments.apps "${name}": the object has been modified; please apply your changes to the latest version and try again`,
    );
    const badSelector = await apiFailure(
      apps.patchNamespacedDeployment(
        { name, namespace: NS, body: { spec: { template: { metadata: { labels: { component: 'x' } } } } } },
        strategic(),
      ),
    );
    assert.equal(badSelector.code, 422);
    const viaStatus = await apps.patchNamespacedDeploymentStatus(
      { name, namespace: NS, body: { spec: { replicas: 5 } } },
      merge(),
    );
    assert.equal(viaStatus.spec?.replicas, 2);
    assert.equal(viaStatus.metadata?.generation, 1);
    const missing = await apiFailure(apps.readNamespacedDeployment({ name: 'ghost', namespace: NS }));
    assert.equal(missing.code, 404);
    assert.equal(missing.status['message'], 'deployments.apps "ghost" not found');
  });

  void test('StatefulSet restart: pods replaced from the highest ordinal, revisions converge', async () => {
    const name = `${RELEASE}-worker`;
    const before = await apps.readNamespacedStatefulSet({ name, namespace: NS });
    const rev0 = before.status?.currentRevision ?? '';
    assert.equal(before.status?.updateRevision, rev0);
    const oldPods = server.workloadPods('StatefulSet', NS, name);
    assert.deepEqual(
      oldPods.map((p) => p.name),
      [`${name}-0`, `${name}-1`],
    );
    assert.equal(oldPods[0]?.env['worker']?.['KEY'], 'old', 'created before the ConfigMap changed');
    assert.equal(oldPods[0]?.revision, rev0);

    const patched = await apps.patchNamespacedStatefulSet(
      { name, namespace: NS, body: restartPatch(new Date().toISOString()) },
      strategic(),
    );
    assert.equal(patched.metadata?.generation, 2);
    const order: string[] = [];
    let done: k8s.V1StatefulSet | null = null;
    for (let i = 0; i < 500 && !done; i++) {
      for (const p of server.workloadPods('StatefulSet', NS, name))
        if (p.revision !== rev0 && !order.includes(p.name)) order.push(p.name);
      const s = (await apps.readNamespacedStatefulSetStatus({ name, namespace: NS })).status;
      if (
        s?.observedGeneration === 2 &&
        s.updatedReplicas === 2 &&
        s.readyReplicas === 2 &&
        s.currentRevision === s.updateRevision
      )
        done = await apps.readNamespacedStatefulSet({ name, namespace: NS });
      else await sleep(20);
    }
    assert.ok(done, 'the StatefulSet rollout completed');
    assert.deepEqual(order, [`${name}-1`, `${name}-0`], 'highest ordinal first');
    const rev1 = done.status?.updateRevision ?? '';
    assert.notEqual(rev1, rev0);
    assert.match(rev1, new RegExp(`^${name}-[a-z0-9]{10}$`));
    assert.equal(done.status?.currentReplicas, 2);
    const pods = server.workloadPods('StatefulSet', NS, name);
    assert.deepEqual(
      pods.map((p) => [p.name, p.revision, p.ready]),
      [
        [`${name}-0`, rev1, true],
        [`${name}-1`, rev1, true],
      ],
    );
    for (const p of pods) assert.ok(!oldPods.some((o) => o.uid === p.uid), 'a new pod under the old name');
    assert.equal(await printenv(`${name}-0`, 'worker', 'KEY'), 'new');
    assert.equal(server.rollouts('StatefulSet', NS, name), 1);
  });

  void test('stuck rollout: ProgressDeadlineExceeded, old pod keeps serving; kubectl rollout status fails', async () => {
    const name = `${RELEASE}-triggerer`;
    const [old] = server.workloadPods('Deployment', NS, name);
    assert.ok(old?.ready);
    server.failNewPods('Deployment', NS, name, true);
    await apps.patchNamespacedDeployment(
      { name, namespace: NS, body: restartPatch(new Date().toISOString()) },
      strategic(),
    );
    let d: k8s.V1Deployment | null = null;
    for (let i = 0; i < 400; i++) {
      const got = await apps.readNamespacedDeploymentStatus({ name, namespace: NS });
      if (condition(got, 'Progressing')?.reason === 'ProgressDeadlineExceeded') {
        d = got;
        break;
      }
      await sleep(25);
    }
    assert.ok(d, 'the progress deadline was exceeded');
    const pods = server.workloadPods('Deployment', NS, name);
    const fresh = pods.find((p) => p.name !== old.name);
    assert.ok(fresh && !fresh.ready, 'the new pod is not Ready');
    // Not before progressDeadlineSeconds (1 s) without progress, by the server's own clock: the
    // rollout's last progress is at or after the new pod's creation (both stamps in whole seconds).
    const exceededAt = condition(d, 'Progressing')?.lastTransitionTime;
    assert.ok(exceededAt instanceof Date, 'the condition says when it was exceeded');
    assert.ok(
      exceededAt.getTime() - Date.parse(fresh.creationTimestamp) >= 1_000,
      `exceeded at ${exceededAt.toISOString()}, new pod created at ${fresh.creationTimestamp}`,
    );
    assert.ok(
      pods.some((p) => p.name === old.name && p.ready),
      'the old pod is still there and Ready',
    );
    const progressing = condition(d, 'Progressing');
    assert.equal(progressing?.status, 'False');
    assert.equal(progressing.reason, 'ProgressDeadlineExceeded');
    assert.equal(
      progressing.message,
      `ReplicaSet "${name}-${fresh.revision ?? ''}" has timed out progressing.`,
    );
    assert.equal(d.status?.updatedReplicas, 1);
    assert.equal(d.status?.replicas, 2);
    assert.equal(d.status?.availableReplicas, 1);
    assert.equal(d.status?.unavailableReplicas, 1);
    assert.equal(condition(d, 'Available')?.status, 'True');
    await assert.rejects(
      server.waitForRollout('Deployment', NS, name, 1_000),
      /exceeded its progress deadline/,
    );

    const r = await kubectl(server, ['rollout', 'status', `deployment/${name}`, '--timeout=30s']);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, new RegExp(`deployment "${name}" exceeded its progress deadline`));

    // Once pods can become Ready again, the same rollout completes and the deadline is lifted.
    server.failNewPods('Deployment', NS, name, false);
    // kubectl gives up at once on a deadline it sees: wait for the controller to record the progress first.
    for (let i = 0; i < 200; i++) {
      const got = await apps.readNamespacedDeploymentStatus({ name, namespace: NS });
      if (condition(got, 'Progressing')?.reason !== 'ProgressDeadlineExceeded') break;
      await sleep(25);
    }
    const ok = await kubectl(server, ['rollout', 'status', `deployment/${name}`, '--timeout=30s']);
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, new RegExp(`deployment "${name}" successfully rolled out`));
    const after = await apps.readNamespacedDeployment({ name, namespace: NS });
    assert.equal(condition(after, 'Progressing')?.reason, 'NewReplicaSetAvailable');
    assert.deepEqual(
      server.workloadPods('Deployment', NS, name).map((p) => p.name),
      [fresh.name],
    );
  });

  void test('StatefulSet stuck rollout never completes (no progress deadline)', async () => {
    const name = `${RELEASE}-worker`;
    server.failNewPods('StatefulSet', NS, name, true);
    await apps.patchNamespacedStatefulSet(
      { name, namespace: NS, body: restartPatch(`stuck-${Date.now()}`) },
      strategic(),
    );
    // Wait for the controller to have replaced the pod with one that stays unready; kubectl's own
    // --timeout below is what shows the rollout never completes.
    let s: k8s.V1StatefulSet | null = null;
    for (let i = 0; i < 400; i++) {
      const got = await apps.readNamespacedStatefulSet({ name, namespace: NS });
      const stuck = server.workloadPods('StatefulSet', NS, name).some((p) => !p.ready);
      if (got.status?.updatedReplicas === 1 && stuck) {
        s = got;
        break;
      }
      await sleep(25);
    }
    assert.ok(s, 'the controller started the rollout');
    assert.equal(s.status?.observedGeneration, s.metadata?.generation);
    assert.notEqual(s.status?.currentRevision, s.status?.updateRevision);
    assert.equal(s.status?.readyReplicas, 1);
    assert.equal(s.status?.updatedReplicas, 1);
    const r = await kubectl(server, ['rollout', 'status', `statefulset/${name}`, '--timeout=2s']);
    assert.notEqual(r.code, 0);
    assert.match(r.stdout + r.stderr, /Waiting for 1 pods to be ready/);
    server.failNewPods('StatefulSet', NS, name, false);
    await server.waitForRollout('StatefulSet', NS, name, 20_000);
  });

  void test('kubectl: api-resources, get, patch, rollout restart, rollout status', async () => {
    const res = await kubectl(server, ['api-resources', '--api-group=apps']);
    assert.equal(res.code, 0, res.stderr);
    assert.match(res.stdout, /^deployments\s+deploy\s+apps\/v1\s+true\s+Deployment$/m);
    assert.match(res.stdout, /^statefulsets\s+sts\s+apps\/v1\s+true\s+StatefulSet$/m);

    const get = await kubectl(server, ['get', 'deploy']);
    assert.equal(get.code, 0, get.stderr);
    assert.match(get.stdout, /^NAME\s+READY\s+UP-TO-DATE\s+AVAILABLE\s+AGE$/m);
    assert.match(get.stdout, new RegExp(`^${RELEASE}-scheduler\\s+2/2\\s+2\\s+2\\s+\\d+s$`, 'm'));

    const patch = await kubectl(server, [
      'patch',
      'configmap',
      ENV_CM,
      '--type',
      'merge',
      '-p',
      '{"data":{"KEY":"from-kubectl"}}',
    ]);
    assert.equal(patch.code, 0, patch.stderr);
    assert.equal(patch.stdout.trim(), `configmap/${ENV_CM} patched`);
    assert.equal((server.getConfigMap(NS, ENV_CM)?.['data'] as JsonObject)['KEY'], 'from-kubectl');
    const cmPatch = server
      .requests()
      .filter((q) => q.method === 'PATCH')
      .at(-1);
    assert.equal(cmPatch?.contentType, 'application/merge-patch+json');

    const name = `${RELEASE}-scheduler`;
    const rollouts = server.rollouts('Deployment', NS, name);
    const restart = await kubectl(server, ['rollout', 'restart', `deployment/${name}`]);
    assert.equal(restart.code, 0, restart.stderr);
    assert.equal(restart.stdout.trim(), `deployment.apps/${name} restarted`);
    const sent = server
      .requests()
      .filter((q) => q.method === 'PATCH')
      .at(-1);
    assert.equal(sent?.path, `/apis/apps/v1/namespaces/${NS}/deployments/${name}`);
    assert.equal(sent?.contentType, 'application/strategic-merge-patch+json');
    const status = await kubectl(server, ['rollout', 'status', `deployment/${name}`, '--timeout=30s']);
    assert.equal(status.code, 0, status.stderr);
    assert.match(status.stdout, new RegExp(`deployment "${name}" successfully rolled out\\n$`));
    assert.equal(server.rollouts('Deployment', NS, name), rollouts + 1);
    const d = server.getWorkload('Deployment', NS, name);
    const annotations = ((d?.['spec'] as JsonObject)['template'] as JsonObject)['metadata'] as JsonObject;
    assert.ok((annotations['annotations'] as JsonObject)['kubectl.kubernetes.io/restartedAt']);
    const [pod] = server.workloadPods('Deployment', NS, name);
    assert.equal(pod?.env['scheduler']?.['KEY'], 'from-kubectl');

    const sts = `${RELEASE}-worker`;
    const stsRestart = await kubectl(server, ['rollout', 'restart', `statefulset/${sts}`]);
    assert.equal(stsRestart.code, 0, stsRestart.stderr);
    const stsStatus = await kubectl(server, ['rollout', 'status', `statefulset/${sts}`, '--timeout=30s']);
    assert.equal(stsStatus.code, 0, stsStatus.stderr);
    assert.match(stsStatus.stdout, /partitioned roll out complete: 2 new pods have been updated\.\.\.\n$/);
    for (const p of server.workloadPods('StatefulSet', NS, sts))
      assert.equal(p.env['worker']?.['KEY'], 'from-kubectl');
  });

  void test('kubectl rollout undo goes back to the previous ReplicaSet (served read-only)', async () => {
    const name = `${RELEASE}-api-server`;
    const [first] = server.workloadPods('Deployment', NS, name);
    const hash0 = first?.revision ?? '';
    const restart = await kubectl(server, ['rollout', 'restart', `deployment/${name}`]);
    assert.equal(restart.code, 0, restart.stderr);
    await server.waitForRollout('Deployment', NS, name);
    const rs = await apps.listNamespacedReplicaSet({ namespace: NS, labelSelector: 'component=api-server' });
    assert.equal(rs.items.length, 2);
    const hash1 = server.workloadPods('Deployment', NS, name)[0]?.revision ?? '';
    assert.notEqual(hash1, hash0);
    const undo = await kubectl(server, ['rollout', 'undo', `deployment/${name}`]);
    assert.equal(undo.code, 0, undo.stderr);
    const status = await kubectl(server, ['rollout', 'status', `deployment/${name}`, '--timeout=30s']);
    assert.equal(status.code, 0, status.stderr);
    assert.deepEqual(
      server.workloadPods('Deployment', NS, name).map((p) => p.revision),
      [hash0, hash0],
      'the template kubectl sent back hashes to the first ReplicaSet',
    );
    const table = await kubectl(server, ['get', 'rs', '-l', 'component=api-server']);
    assert.match(table.stdout, new RegExp(`^${name}-${hash0}\\s+2\\s+2\\s+2\\s+\\d+s$`, 'm'));
    assert.match(table.stdout, new RegExp(`^${name}-${hash1}\\s+0\\s+0\\s+0\\s+\\d+s$`, 'm'));
  });
});

void describe('Kubernetes API test server over TLS', () => {
  let server: KubeApiServer;

  before(async () => {
    server = await startKubeApiServer({
      tls: true,
      token: 'tls-token',
      podReadyDelayMs: 50,
      configMaps: [{ namespace: NS, name: ENV_CM, data: { KEY: 'over-tls' } }],
      deployments: [workload(`${RELEASE}-scheduler`, 'scheduler', { replicas: 1 })],
    });
  });

  after(async () => {
    await server.close();
  });

  void test('https with the kubeconfig CA; the bearer token is required', async () => {
    assert.match(server.url, /^https:\/\/127\.0\.0\.1:\d+$/);
    const kc = new k8s.KubeConfig();
    kc.loadFromFile(server.kubeconfigPath);
    const cluster = kc.getCurrentCluster();
    assert.equal(cluster?.skipTLSVerify, false);
    assert.equal(Buffer.from(cluster?.caData ?? '', 'base64').toString(), server.caPem);
    const pods = await kc.makeApiClient(k8s.CoreV1Api).listNamespacedPod({ namespace: NS });
    assert.equal(pods.items.length, 1);

    const status = (headers: Record<string, string>) =>
      new Promise<number>((resolve, reject) => {
        https
          .get(`${server.url}/api/v1/namespaces/${NS}/pods`, { ca: server.caPem ?? '', headers }, (res) => {
            res.resume();
            resolve(res.statusCode ?? 0);
          })
          .on('error', reject);
      });
    assert.equal(await status({}), 401);
    assert.equal(await status({ Authorization: 'Bearer wrong' }), 401);
    assert.equal(await status({ Authorization: 'Bearer tls-token' }), 200);
  });

  void test('kubectl exec and rollout over TLS; KubeExecPort over WSS', async () => {
    const [pod] = server.listPods(NS, { component: 'scheduler' });
    assert.ok(pod);
    const r = await kubectl(server, ['exec', pod.name, '--', 'printenv', 'KEY']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'over-tls\n');

    const port = new KubeExecPort({ kubeconfigPath: server.kubeconfigPath, namespace: NS, release: RELEASE });
    const viaPort = await port.exec({
      component: { name: 'scheduler' },
      command: ['printenv', 'ROLE'],
      timeoutMs: 10_000,
    });
    assert.deepEqual(viaPort, { exitCode: 0, stdout: 'scheduler\n', stderr: '' });

    const restart = await kubectl(server, ['rollout', 'restart', `deployment/${RELEASE}-scheduler`]);
    assert.equal(restart.code, 0, restart.stderr);
    const status = await kubectl(server, [
      'rollout',
      'status',
      `deployment/${RELEASE}-scheduler`,
      '--timeout=30s',
    ]);
    assert.equal(status.code, 0, status.stderr);
    assert.notEqual(server.listPods(NS, { component: 'scheduler' })[0]?.name, pod.name);
  });
});
