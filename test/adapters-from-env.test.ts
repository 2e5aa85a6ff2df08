/**
 * worker/adapters-from-env.ts: which adapters a worker builds per plan, what it
 * reports missing per target kind, and the exact environment a local component's
 * processes get (checked through a real exec of a stand-in python that reports it).
 */
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ApplicationFailure } from '@temporalio/common';
import { ADAPTER_NAMES, resolveAdapter, type Adapters } from '../activities/adapters.js';
import { PermanentFault } from '../activities/engine/errors.js';
import { AirflowRestApi } from '../adapters/airflow-api.js';
import { ExecAirflowProbes } from '../adapters/airflow-probes.js';
import { InPodMetadataDb } from '../adapters/in-pod-metadata-db.js';
import { PostgresMetadataDb } from '../adapters/metadata-db.js';
import { planSchema, type Plan, type PlanInput } from '../domain/plan.js';
import { ConfigMapChange } from '../adapters/kube/configmap-change.js';
import { KubeRollout } from '../adapters/kube/rollout.js';
import { LocalRollout } from '../adapters/local-rollout.js';
import { GitOpsChange } from '../adapters/gitops-change.js';
import { adaptersFromEnv } from '../worker/adapters-from-env.js';
import { testPlan } from './support/plans.js';
import { venvDir } from './support/moto.js';

function localPlan(patch: (raw: PlanInput) => void = () => {}): Plan {
  const raw = {
    apiVersion: 'cutover/v1',
    kind: 'XComBackendCutover',
    name: 'local-plan',
    target: {
      kind: 'local',
      name: 'demo',
      envFile: 'conf/airflow.env',
      components: [{ name: 'scheduler' }, { name: 'api-server' }],
    },
    airflow: { version: '3.3', metadataDb: { access: 'direct', urlEnv: 'CUTOVER_T_METADB_URL' } },
    change: { mode: 'env-file' },
    spec: {
      xcom: {
        path: 's3://aws_default@bucket/xcom',
        threshold: { strategy: 'fixed', bytes: 1_600_000 },
        maxOffloadRows: 10,
      },
      validation: { dagId: 'x' },
    },
    approval: { approvers: ['alice'] },
  } as PlanInput;
  patch(raw);
  return planSchema.parse(raw);
}

function isAdapterMissing(pattern: RegExp) {
  return (err: unknown) => {
    assert.ok(err instanceof ApplicationFailure, String(err));
    assert.equal(err.type, 'AdapterMissing');
    assert.equal(err.nonRetryable, true);
    assert.match(err.message, pattern);
    return true;
  };
}

void describe('adaptersFromEnv', () => {
  let dir: string;
  let cwd: string;
  let envFile: string;
  let airflowHome: string;
  let fakePython: string;

  before(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'cutover-afe-'));
    cwd = path.join(dir, 'worker-cwd');
    airflowHome = path.join(dir, 'airflow-home');
    mkdirSync(path.join(cwd, 'conf'), { recursive: true });
    mkdirSync(airflowHome);
    envFile = path.join(cwd, 'conf', 'airflow.env');
    // A stand-in for the component's python: answers the probe protocol with what it was given.
    fakePython = path.join(dir, 'report-env');
    writeFileSync(
      fakePython,
      [
        '#!/usr/bin/env python3',
        'import json, os, sys',
        'request = json.loads(sys.stdin.read())',
        'result = {"env": dict(os.environ), "cwd": os.getcwd(), "exe": sys.executable, "argv": sys.argv[:1],',
        '          "probe": request["name"]}',
        'print("@@cutover-probe-result@@ " + json.dumps({"ok": True, "result": result}))',
        '',
      ].join('\n'),
    );
    chmodSync(fakePython, 0o755);
  });

  after(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  void test('every adapter an activity can ask for is built from the env, and the banner names what it can do', () => {
    // ADAPTER_NAMES has one entry per key of Adapters (the compiler checks that), and requireAdapter
    // is how every activity gets its adapter: a key adaptersFromEnv leaves out would fail those
    // steps with AdapterMissing on every real worker.
    const { adapters, available } = adaptersFromEnv({});
    const keys = Object.keys(ADAPTER_NAMES) as (keyof Adapters)[];
    assert.ok(keys.length > 0);
    const absent = keys.filter((k) => adapters[k] === undefined);
    assert.deepEqual(absent, [], 'adapters the worker does not build');
    const extra = Object.keys(adapters).filter((k) => !(k in ADAPTER_NAMES));
    assert.deepEqual(extra, [], 'adapters no activity can ask for by name');
    assert.ok(available.some((a) => /metadata-DB direct/.test(a)));
    assert.ok(available.some((a) => /kubernetes targets \(pod exec/.test(a)));
    assert.ok(available.some((a) => /change configmap and rollout/.test(a)));
  });

  void test('a kubernetes target: probes and in-pod calibration exec into pods, gitops, configmap and rollout are built', () => {
    const kubeconfig = path.join(cwd, 'kubeconfig');
    writeFileSync(
      kubeconfig,
      [
        'apiVersion: v1',
        'kind: Config',
        'clusters: [{ name: c, cluster: { server: "http://127.0.0.1:1" } }]',
        'users: [{ name: u, user: { token: t } }]',
        'contexts: [{ name: scaleway-prod, context: { cluster: c, user: u } }]',
        'current-context: scaleway-prod',
        '',
      ].join('\n'),
    );
    const { adapters } = adaptersFromEnv({ CUTOVER_KUBECONFIG: kubeconfig });
    const plan = testPlan(); // the reference dossier: kubernetes, in-pod, gitops
    assert.ok(resolveAdapter(adapters.probes, plan) instanceof ExecAirflowProbes);
    assert.equal(resolveAdapter(adapters.metadb, plan)?.source, 'in-pod');
    assert.ok(resolveAdapter(adapters.change, plan) instanceof GitOpsChange);
    const direct = testPlan((raw) => {
      raw.change = { mode: 'configmap', configMap: 'airflow-env' };
    });
    assert.ok(resolveAdapter(adapters.change, direct) instanceof ConfigMapChange);
    assert.equal(
      resolveAdapter(adapters.change, direct)?.describeDestination(),
      'ConfigMap cvntrade/airflow-env',
    );
    assert.ok(resolveAdapter(adapters.rollout, plan) instanceof KubeRollout);
    assert.equal(
      resolveAdapter(adapters.rollout, plan),
      resolveAdapter(adapters.rollout, direct),
      'one per target',
    );
    assert.ok(resolveAdapter(adapters.rollout, localPlan()) instanceof LocalRollout);
    // No airflow.api in the plan: the REST API step says what the plan lacks.
    assert.throws(() => resolveAdapter(adapters.airflowApi, plan), isAdapterMissing(/names no airflow\.api/));
    const withApi = testPlan((raw) => {
      raw.airflow.api = {
        url: 'http://127.0.0.1:1',
        usernameEnv: 'CUTOVER_T_AF_USER',
        passwordEnv: 'CUTOVER_T_AF_PASSWORD',
      };
    });
    assert.throws(
      () => resolveAdapter(adapters.airflowApi, withApi),
      (err: unknown) =>
        err instanceof PermanentFault &&
        /CUTOVER_T_AF_USER and CUTOVER_T_AF_PASSWORD are not set on the worker/.test(err.message),
    );
    const withCreds = adaptersFromEnv({
      CUTOVER_KUBECONFIG: kubeconfig,
      CUTOVER_T_AF_USER: 'admin',
      CUTOVER_T_AF_PASSWORD: 'secret-pw',
    });
    assert.ok(resolveAdapter(withCreds.adapters.airflowApi, withApi) instanceof AirflowRestApi);
    // A context the kubeconfig lacks is permanent, and says which.
    const elsewhere = testPlan((raw) => {
      if (raw.target.kind === 'kubernetes') raw.target.context = 'nowhere';
    });
    assert.throws(
      () => resolveAdapter(adapters.probes, elsewhere),
      (err: unknown) => err instanceof PermanentFault && /context nowhere/.test(err.message),
    );
  });
  void test('direct access: one pool per env var name; an unset variable is a PermanentFault naming it', async () => {
    const env: NodeJS.ProcessEnv = {};
    const wa = adaptersFromEnv(env);
    const plan = localPlan();
    assert.throws(
      () => resolveAdapter(wa.adapters.metadb, plan),
      (err: unknown) =>
        err instanceof PermanentFault && /CUTOVER_T_METADB_URL is not set on the worker/.test(err.message),
    );
    env.CUTOVER_T_METADB_URL = 'postgresql://u:secret-pw@127.0.0.1:1/airflow';
    const a = resolveAdapter(wa.adapters.metadb, plan);
    const b = resolveAdapter(
      wa.adapters.metadb,
      localPlan((raw) => (raw.name = 'other-plan')),
    );
    assert.ok(a instanceof PostgresMetadataDb);
    assert.equal(a, b, 'the same env var name shares one pool');
    assert.equal(a.source, 'metadata-db');
    await wa.close();
  });

  void test('in-pod access on a local target: InPodMetadataDb through the named component', async () => {
    const wa = adaptersFromEnv({}, { cwd });
    const plan = localPlan((raw) => {
      raw.airflow.metadataDb = { access: 'in-pod', component: 'api-server' };
    });
    const db = resolveAdapter(wa.adapters.metadb, plan);
    assert.ok(db instanceof InPodMetadataDb);
    assert.equal(db.source, 'in-pod');
    assert.equal(db.component.name, 'api-server');
    assert.equal(resolveAdapter(wa.adapters.metadb, plan), db, 'cached per env file and component');
    await wa.close();
  });

  void test('a local target: env-file change and probes on the env file, resolved against the worker cwd', async () => {
    writeFileSync(
      envFile,
      [
        '# local Airflow',
        `AIRFLOW_HOME=${airflowHome}`,
        'export AIRFLOW__CORE__LOAD_EXAMPLES=False',
        'AIRFLOW_CONN_AWS_DEFAULT={"conn_type": "aws"}',
        `CUTOVER_PYTHON=${fakePython}`,
        'QUOTED="a b"',
        '',
      ].join('\n'),
    );
    const workerEnv = { HOME: '/home/worker', PATH: '/usr/bin:/bin', NOT_FOR_COMPONENTS: 'x' };
    const wa = adaptersFromEnv(workerEnv, { cwd });
    const plan = localPlan();

    const change = resolveAdapter(wa.adapters.change, plan);
    assert.ok(change);
    assert.equal(change.describeDestination(), `env file ${envFile}`);

    const probes = resolveAdapter(wa.adapters.probes, plan);
    assert.ok(probes instanceof ExecAirflowProbes);
    const run = async () =>
      (await probes.run('resolve_config', { name: 'scheduler' }, {}, {})) as {
        env: Record<string, string>;
        cwd: string;
        exe: string;
        argv: string[];
        probe: string;
      };
    const first = await run();
    const env = Object.fromEntries(Object.entries(first.env).filter(([k]) => k !== 'LC_CTYPE'));
    const bin = path.join(venvDir(), 'bin');
    assert.deepEqual(env, {
      AIRFLOW_HOME: airflowHome,
      AIRFLOW__CORE__LOAD_EXAMPLES: 'False',
      AIRFLOW_CONN_AWS_DEFAULT: '{"conn_type": "aws"}',
      CUTOVER_PYTHON: fakePython,
      QUOTED: 'a b',
      PATH: `${bin}:/usr/bin:/bin`,
      HOME: '/home/worker',
    });
    assert.equal(first.cwd, airflowHome, 'components run in AIRFLOW_HOME');
    assert.equal(first.argv[0], fakePython, 'CUTOVER_PYTHON from the env file is the python');
    assert.equal(path.dirname(first.exe), bin, 'python3 is found on PATH in the venv first');
    assert.equal(first.probe, 'resolve_config.py');

    // The file is read at every exec: what the components run with after an edit.
    writeFileSync(
      envFile,
      `AIRFLOW_HOME=${airflowHome}\nCUTOVER_PYTHON=${fakePython}\nHOME=/home/airflow\nNEW=1\n`,
    );
    const second = await run();
    assert.equal(second.env.NEW, '1');
    assert.equal(second.env.HOME, '/home/airflow', "the env file's HOME wins");
    assert.equal(second.env.AIRFLOW__CORE__LOAD_EXAMPLES, undefined);

    // No env file: a permanent failure naming it, not a retry loop.
    rmSync(envFile);
    await assert.rejects(run(), (err: unknown) => {
      assert.ok(err instanceof PermanentFault, String(err));
      assert.match(err.message, /cannot read the local target's env file .*conf\/airflow\.env: ENOENT/);
      return true;
    });
    await wa.close();
  });
});
