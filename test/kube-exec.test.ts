/**
 * KubeExecPort against the in-repo Kubernetes API test server (test/support/kube-api-server.ts),
 * driven by the real @kubernetes/client-node, with the real kubectl as a second client; and one
 * real Airflow probe (resolve_config) into a "scheduler pod" whose env comes from a ConfigMap.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import WebSocket from 'ws';
import { ExecAirflowProbes } from '../adapters/airflow-probes.js';
import { ExecError } from '../adapters/exec/port.js';
import { KubeExecPort } from '../adapters/kube/exec.js';
import { airflowEnvVarName, renderStage } from '../domain/airflow-env.js';
import type { Component } from '../domain/plan.js';
import { airflowBaseEnv, tempAirflowHome } from './support/airflow.js';
import { startKubeApiServer, type KubeApiServer } from './support/kube-api-server.js';
import { kubectl as kubectlIn, kubectlBin } from './support/kubectl.js';
import { venvPython } from './support/moto.js';

const NS = 'airflow';
const RELEASE = 'af';
const SLOW = { timeout: 180_000 };
const scheduler: Component = { name: 'scheduler' };
const helm = (component: string) => ({ tier: 'airflow', component, release: RELEASE });
const XCOM_PATH = 's3://aws_default@cutover-xcom/xcom';

const kubectl = (server: KubeApiServer, args: string[]) => kubectlIn(server.kubeconfigPath, NS, args);

async function rejectsWith(
  p: Promise<unknown>,
  kind: ExecError['kind'],
  pattern?: RegExp,
): Promise<ExecError> {
  let caught: unknown;
  await assert.rejects(p, (err: unknown) => {
    caught = err;
    return true;
  });
  assert.ok(caught instanceof ExecError, String(caught));
  assert.equal(caught.kind, kind, caught.message);
  if (pattern) assert.match(caught.message, pattern);
  return caught;
}

void describe('KubeExecPort over the Kubernetes API test server', () => {
  let server: KubeApiServer;
  let port: KubeExecPort;
  const home = tempAirflowHome();
  const base = airflowBaseEnv({ airflowHome: home.dir, s3Endpoint: 'http://127.0.0.1:9' });
  const correct = renderStage('target', {
    path: XCOM_PATH,
    thresholdBytes: 100_000,
    compression: 'gzip',
  }).env;

  before(async () => {
    server = await startKubeApiServer({
      pods: [
        {
          namespace: NS,
          name: `${RELEASE}-scheduler-0`,
          labels: helm('scheduler'),
          containers: [
            {
              name: 'scheduler',
              env: Object.entries(base).map(([name, value]) => ({ name, value })),
              envFrom: [{ configMapRef: { name: `${RELEASE}-airflow-env` } }],
            },
            { name: 'log-groomer', env: [{ name: 'ROLE', value: 'groomer' }] },
          ],
        },
        {
          namespace: NS,
          name: `${RELEASE}-triggerer-0`,
          labels: helm('triggerer'),
          containers: [{ name: 'triggerer' }],
          ready: false,
        },
        { namespace: NS, name: 'doomed', labels: { app: 'doomed' }, containers: [{ name: 'doomed' }] },
      ],
      configMaps: [{ namespace: NS, name: `${RELEASE}-airflow-env`, data: correct }],
    });
    port = new KubeExecPort({ kubeconfigPath: server.kubeconfigPath, namespace: NS, release: RELEASE });
  });

  after(async () => {
    await server.close();
    home.remove();
  });

  void test('exit 0: stdout and stderr apart, env from the pod spec and its ConfigMap', async () => {
    const r = await port.exec({
      component: scheduler,
      command: ['sh', '-c', 'echo "$HOSTNAME $AIRFLOW_HOME $AIRFLOW__CORE__XCOM_BACKEND"; echo oops >&2'],
      timeoutMs: 10_000,
    });
    assert.equal(r.exitCode, 0);
    assert.equal(r.stdout, `${RELEASE}-scheduler-0 ${home.dir} ${correct['AIRFLOW__CORE__XCOM_BACKEND']}\n`);
    assert.equal(r.stderr, 'oops\n');
  });

  void test('non-zero exit code with its output', async () => {
    const r = await port.exec({
      component: scheduler,
      command: ['sh', '-c', 'echo out; echo err >&2; exit 42'],
      timeoutMs: 10_000,
    });
    assert.deepEqual(r, { exitCode: 42, stdout: 'out\n', stderr: 'err\n' });
  });

  void test('the container named in the component is the one that runs', async () => {
    const r = await port.exec({
      component: { name: 'scheduler', container: 'log-groomer' },
      command: ['sh', '-c', 'echo $ROLE'],
      timeoutMs: 10_000,
    });
    assert.deepEqual(r, { exitCode: 0, stdout: 'groomer\n', stderr: '' });
  });

  void test('stdin is written then closed (a python script reads it to EOF)', async () => {
    const input = 'line\n'.repeat(40_000) + 'é-ünïcode\n';
    const r = await port.exec({
      component: scheduler,
      command: [
        'python3',
        '-c',
        'import sys; d = sys.stdin.read(); print(len(d)); sys.stdout.write(d.splitlines()[-1].upper())',
      ],
      stdin: input,
      timeoutMs: 20_000,
    });
    assert.equal(r.exitCode, 0, r.stderr);
    assert.equal(r.stdout, `${input.length}\nÉ-ÜNÏCODE`);
  });

  void test('without stdin, a reader sees EOF at once', async () => {
    const r = await port.exec({ component: scheduler, command: ['cat'], timeoutMs: 10_000 });
    assert.deepEqual(r, { exitCode: 0, stdout: '', stderr: '' });
  });

  void test('several MB of stdout and stderr arrive whole and apart', async () => {
    const r = await port.exec({
      component: scheduler,
      command: [
        'python3',
        '-c',
        'import sys\nfor i in range(100000): sys.stdout.write("%07d out line of fifty bytes...................\\n" % i)\nsys.stderr.write("e" * 3000000)',
      ],
      timeoutMs: 60_000,
    });
    assert.equal(r.exitCode, 0);
    const expected = Array.from(
      { length: 100_000 },
      (_, i) => `${String(i).padStart(7, '0')} out line of fifty bytes...................\n`,
    ).join('');
    assert.ok(r.stdout === expected, `stdout: ${r.stdout.length} bytes, expected ${expected.length}`);
    assert.equal(r.stderr.length, 3_000_000);
    assert.ok(/^e+$/.test(r.stderr));
  });

  void test('a command past its timeout is abandoned and its process killed', async () => {
    // The command sleeps 60 s and exits 0: only abandoning it at the timeout makes this a timeout.
    await rejectsWith(
      port.exec({
        component: scheduler,
        command: ['python3', '-c', 'import sys, time; print("started", flush=True); time.sleep(60)'],
        timeoutMs: 1_500,
      }),
      'timeout',
      /within 1500 ms/,
    );
    for (let i = 0; i < 50 && server.activeExecs() > 0; i++) await new Promise((r) => setTimeout(r, 100));
    assert.equal(server.activeExecs(), 0, 'the server killed the process when the socket closed');
  });

  void test('a container that does not exist: not-found before any exec', async () => {
    const before = server.execCount();
    await rejectsWith(
      port.exec({
        component: { name: 'scheduler', container: 'nope' },
        command: ['true'],
        timeoutMs: 10_000,
      }),
      'not-found',
      /container nope is not in pod af-scheduler-0/,
    );
    assert.equal(server.execCount(), before);
  });

  void test('the server itself refuses an unknown container (400) and pod (404): not-found', async () => {
    await rejectsWith(
      port.execIn({
        component: scheduler,
        pod: `${RELEASE}-scheduler-0`,
        container: 'nope',
        command: ['true'],
        timeoutMs: 10_000,
      }),
      'not-found',
      /container nope is not valid/,
    );
    await rejectsWith(
      port.execIn({
        component: scheduler,
        pod: 'ghost',
        container: 'scheduler',
        command: ['true'],
        timeoutMs: 10_000,
      }),
      'not-found',
      /404/,
    );
  });

  void test('no pod for the selector, and no Ready pod: not-found', async () => {
    await rejectsWith(
      port.exec({ component: { name: 'webserver' }, command: ['true'], timeoutMs: 10_000 }),
      'not-found',
      /no pod matches tier=airflow,component=webserver,release=af in namespace airflow/,
    );
    await rejectsWith(
      port.exec({ component: { name: 'triggerer' }, command: ['true'], timeoutMs: 10_000 }),
      'not-found',
      /none of the 1 pod\(s\) .* is Ready/,
    );
  });

  void test('a program missing in the container: not-found from the exec status', async () => {
    await rejectsWith(
      port.exec({ component: scheduler, command: ['no-such-program-xyz'], timeoutMs: 10_000 }),
      'not-found',
      /executable file not found/,
    );
  });

  void test('a pod that disappears mid-exec: closed-without-status, and it is gone after', async () => {
    const doomed: Component = { name: 'doomed', selector: { app: 'doomed' } };
    const sentBefore = server.execOutputBytes();
    const running = port.exec({
      component: doomed,
      command: ['sh', '-c', 'echo alive; echo dying >&2; exec python3 -c "import time; time.sleep(60)"'],
      timeoutMs: 30_000,
    });
    // Delete the pod once both lines have reached the client's socket, not after a guessed delay.
    const written = Buffer.byteLength('alive\ndying\n');
    const sent = () => server.execOutputBytes() - sentBefore;
    for (let i = 0; i < 400 && sent() < written; i++) await new Promise((r) => setTimeout(r, 25));
    assert.equal(sent(), written, 'the exec wrote its two lines');
    server.deletePod(NS, 'doomed');
    const err = await rejectsWith(running, 'closed-without-status');
    assert.match(err.stderrTail, /dying/);
    for (let i = 0; i < 50 && server.activeExecs() > 0; i++) await new Promise((r) => setTimeout(r, 100));
    assert.equal(server.activeExecs(), 0, 'the process died with its pod');
    await rejectsWith(port.exec({ component: doomed, command: ['true'], timeoutMs: 10_000 }), 'not-found');
  });

  void test('the raw protocol: v5 close-stdin, and v4 when only v4 is offered', async () => {
    const raw = (protocols: string[], command: string[], stdin?: string) =>
      new Promise<{ protocol: string; frames: Buffer[] }>((resolve, reject) => {
        const q = new URLSearchParams([
          ...command.map((c): [string, string] => ['command', c]),
          ['container', 'scheduler'],
          ['stdout', 'true'],
          ['stderr', 'true'],
          ['stdin', stdin === undefined ? 'false' : 'true'],
        ]);
        const ws = new WebSocket(
          `${server.url.replace('http', 'ws')}/api/v1/namespaces/${NS}/pods/${RELEASE}-scheduler-0/exec?${q.toString()}`,
          protocols,
          { headers: { Authorization: `Bearer ${server.token}` } },
        );
        const frames: Buffer[] = [];
        ws.on('open', () => {
          if (stdin === undefined) return;
          ws.send(Buffer.concat([Buffer.from([0]), Buffer.from(stdin)]));
          ws.send(Buffer.from([255, 0]));
        });
        ws.on('message', (d: Buffer) => frames.push(d));
        ws.on('close', () => resolve({ protocol: ws.protocol, frames }));
        ws.on('error', reject);
      });
    const byChannel = (frames: Buffer[], ch: number) =>
      Buffer.concat(frames.filter((f) => f[0] === ch).map((f) => f.subarray(1))).toString();

    const v5 = await raw(['v5.channel.k8s.io', 'v4.channel.k8s.io'], ['cat'], 'echoed');
    assert.equal(v5.protocol, 'v5.channel.k8s.io');
    assert.equal(byChannel(v5.frames, 1), 'echoed');
    assert.deepEqual(JSON.parse(byChannel(v5.frames, 3)), { metadata: {}, status: 'Success' });
    assert.equal(v5.frames.at(-1)?.[0], 3, 'the status is the last frame');

    const v4 = await raw(['v4.channel.k8s.io'], ['sh', '-c', 'echo v4 >&2; exit 5']);
    assert.equal(v4.protocol, 'v4.channel.k8s.io');
    assert.equal(byChannel(v4.frames, 2), 'v4\n');
    assert.deepEqual(JSON.parse(byChannel(v4.frames, 3)), {
      metadata: {},
      status: 'Failure',
      message: 'command terminated with non-zero exit code: exit status 5',
      reason: 'NonZeroExitCode',
      details: { causes: [{ reason: 'ExitCode', message: '5' }] },
    });
  });

  void test('kubectl exec: "hi" and exit code 3', async () => {
    const r = await kubectl(server, [
      'exec',
      `${RELEASE}-scheduler-0`,
      '-c',
      'scheduler',
      '--',
      'sh',
      '-c',
      'echo hi; exit 3',
    ]);
    assert.equal(r.code, 3, r.stderr);
    assert.equal(r.stdout, 'hi\n');
    assert.match(r.stderr, /command terminated with exit code 3/);
  });

  void test('kubectl exec -i: stdin through, env from the ConfigMap', async () => {
    const child = spawn(kubectlBin, [
      '--kubeconfig',
      server.kubeconfigPath,
      '-n',
      NS,
      'exec',
      '-i',
      `${RELEASE}-scheduler-0`,
      '--',
      'sh',
      '-c',
      'cat; echo "$AIRFLOW__CORE__XCOM_BACKEND"',
    ]);
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stdin.end('from-stdin\n');
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    assert.equal(code, 0);
    assert.equal(out, `from-stdin\n${correct['AIRFLOW__CORE__XCOM_BACKEND']}\n`);
  });

  void test('kubectl get pods -l component=scheduler -o json lists the pod', async () => {
    const r = await kubectl(server, ['get', 'pods', '-l', 'component=scheduler', '-o', 'json']);
    assert.equal(r.code, 0, r.stderr);
    const list = JSON.parse(r.stdout) as { kind: string; items: { metadata: { name: string } }[] };
    assert.equal(list.kind, 'List');
    assert.deepEqual(
      list.items.map((p) => p.metadata.name),
      [`${RELEASE}-scheduler-0`],
    );
    const missing = await kubectl(server, ['get', 'pod', 'ghost']);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /pods "ghost" not found/);
  });

  void describe('the resolve_config probe through KubeExecPort', () => {
    const probes = () => new ExecAirflowProbes(port, { python: () => [venvPython()] });

    void test('the ConfigMap with the 4 XCom vars resolves XComObjectStorageBackend', SLOW, async () => {
      server.setConfigMap({ namespace: NS, name: `${RELEASE}-airflow-env`, data: correct });
      // A pod's env is fixed when it is created: only a new pod sees the ConfigMap's data.
      server.recreatePod(NS, `${RELEASE}-scheduler-0`);
      const got = await probes().resolveConfig({ component: scheduler });
      assert.equal(got.error, null);
      assert.equal(got.xcomClass, 'XComObjectStorageBackend');
      assert.equal(got.path, XCOM_PATH);
      assert.equal(got.threshold, 100_000);
      assert.equal(got.compression, 'gzip');
    });

    void test('a dotted AIRFLOW__COMMON.IO__ name in the ConfigMap is an error naming it', SLOW, async () => {
      const dotted = Object.fromEntries(
        Object.entries(correct).map(([k, v]) => [
          k.replace('AIRFLOW__COMMON_IO__', 'AIRFLOW__COMMON.IO__'),
          v,
        ]),
      );
      assert.ok(airflowEnvVarName('common.io', 'xcom_objectstorage_path') in correct);
      server.setConfigMap({ namespace: NS, name: `${RELEASE}-airflow-env`, data: dotted });
      server.recreatePod(NS, `${RELEASE}-scheduler-0`);
      const got = await probes().resolveConfig({ component: scheduler });
      assert.ok(got.error, 'error is set');
      assert.ok(got.error.includes('AIRFLOW__COMMON.IO__XCOM_OBJECTSTORAGE_PATH'), got.error);
    });
  });
});
