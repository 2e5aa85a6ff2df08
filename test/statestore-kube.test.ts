/**
 * The state-store runbook (kind StateStoreBackendCutover, workflow type stateStoreBackendCutover)
 * end to end on a KUBERNETES target, through the real workflow on the Temporal dev server:
 * CALIBRATE over task/asset state rows written by Airflow's own code into a PostgreSQL metadata DB
 * migrated by Airflow (direct access, the URL in the env var the plan names), PREFLIGHT and REHEARSE
 * inside the scheduler pod through pod exec (the test API server runs pods as local processes of the
 * venv's Airflow 3.3, moto as S3), the approval, APPLY as a ConfigMap merge patch, the rollout of the
 * scheduler Deployment, VERIFY in the new pod, and, for the draft-backend-key drill, the kill-switch:
 * revert, rollout back and the data-aware heal of state rows written while the flip was live.
 *
 * Every adapter is the one adaptersFromEnv builds, except the Airflow REST API: a scripted double
 * (no api-server runs "in" the test cluster), as in test/kube-cutover.test.ts. No sleeps: waits poll
 * a condition.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import { heartbeat } from '@temporalio/activity';
import type { WorkflowHandle } from '@temporalio/client';
import pg from 'pg';
import { createActivities, type CutoverActivities } from '../activities/index.js';
import type { AirflowApiPort } from '../activities/adapters.js';
import { planDigest } from '../domain/plan-file.js';
import { STATE_STORE_OBJECT_STORAGE_BACKEND } from '../domain/state-store.js';
import { STATE_STORE_WORKFLOW_TYPE } from '../domain/statestore/kind.js';
import {
  stateStorePlanSchema,
  type StateStorePlan,
  type StateStorePlanInput,
} from '../domain/statestore/plan.js';
import type { StateStoreInput, StateStoreResult, StateStoreStatus } from '../domain/statestore/run.js';
import { adaptersFromEnv, type WorkerAdapters } from '../worker/adapters-from-env.js';
import { createCutoverWorker } from '../worker/create-worker.js';
import { approveUpdate, statusQuery } from '../workflows/engine/messages.js';
import { createAirflowTestDatabase, type AirflowTestDatabase } from './support/airflow-db.js';
import { airflowBaseEnv } from './support/airflow.js';
import { startCutoverEnv, workflowBundle, type CutoverEnv } from './support/cutover-env.js';
import { startKubeApiServer, type KubeApiServer } from './support/kube-api-server.js';
import { startMoto, TEST_REGION, venvDir, type MotoServer } from './support/moto.js';
import { seedStateRows, stateStoreEnv, type SeededRow } from './support/state-store.js';
import { airflowInTestCluster } from './support/airflow-in-test-cluster.js';

const SLOW = { timeout: 300_000 };
const NS = 'cvntrade';
const BUCKET = 'cutover-state-kube-e2e';
const CM = 'airflow-env';
const DEPLOYMENT = 'airflow-scheduler';
/** The env var on the worker holding the metadata DB URL: the plan names it, never the URL. */
const DB_URL_ENV = 'CUTOVER_TEST_STATE_STORE_DB_URL';
const ORIGINAL = { AIRFLOW__CORE__LOAD_EXAMPLES: 'False', AIRFLOW__CORE__PARALLELISM: '32' };
const FLIP_KEYS = [
  'AIRFLOW__WORKERS__STATE_STORE_BACKEND',
  'AIRFLOW__COMMON_IO__STATE_STORE_OBJECTSTORAGE_PATH',
  'AIRFLOW__COMMON_IO__STATE_STORE_OBJECTSTORAGE_THRESHOLD',
  'AIRFLOW__COMMON_IO__STATE_STORE_OBJECTSTORAGE_COMPRESSION',
];
const DRAFT_KEY = 'AIRFLOW__STATE_STORE__BACKEND';
const STATE_PATH = `s3://aws_default@${BUCKET}/state`;

/** The REST API side is not part of this test: a scripted double that records what it was asked. */
function scriptedAirflowApi(calls: string[]): AirflowApiPort {
  return {
    runValidationDag: ({ dagId, runId }) => {
      calls.push(`validate ${dagId}`);
      return Promise.resolve({
        dagId,
        runId,
        state: 'success',
        taskStates: { write_state: 'success', read_state: 'success' },
        xcomErrors: 0,
        xcoms: [],
        objectCount: 0,
      });
    },
    runsSince: ({ since }) => {
      calls.push(`runsSince ${since}`);
      return Promise.resolve([]);
    },
    clearAndWait: ({ runs }) => {
      calls.push(`clearAndWait ${runs.length}`);
      return Promise.resolve(runs.map((r) => ({ ...r, finalState: 'success' })));
    },
    readsData: () => Promise.resolve({ readsData: true, detail: 'scripted' }),
  };
}

/** Polls `probe` until it returns a value (the interval of a condition poll, not a fixed wait). */
async function waitFor<T>(
  what: string,
  probe: () => T | undefined | Promise<T | undefined>,
  timeoutMs = 60_000,
) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

interface RunningFlip {
  handle: WorkflowHandle;
  result: Promise<StateStoreResult>;
}

void describe('state-store flip on a Kubernetes target, end to end', () => {
  let env: CutoverEnv;
  let db: AirflowTestDatabase;
  let moto: MotoServer;
  let kube: KubeApiServer;
  let dir: string;
  let home: string;
  let wa: WorkerAdapters;
  let admin: pg.Client;
  const apiCalls: string[] = [];

  before(async () => {
    [env, db, moto] = await Promise.all([
      startCutoverEnv(),
      createAirflowTestDatabase('cutover_ss_kube'),
      startMoto({ bucket: BUCKET }),
    ]);
    dir = mkdtempSync(path.join(tmpdir(), 'cutover-ss-kube-'));
    home = path.join(dir, 'airflow-home');
    mkdirSync(home);
    admin = new pg.Client({ connectionString: db.url });
    await admin.connect();

    // Production's state before the flip: plain rows, written through Airflow's own code (no backend).
    const seeded = await seedStateRows(
      stateStoreEnv({ sqlalchemyUrl: db.sqlalchemyUrl, airflowHome: home, s3Endpoint: moto.endpoint }),
      {
        task: [
          { dag_id: 'etl', run_id: 'r1', task_id: 'load', key: 'job_id', value: 'job-42' },
          { dag_id: 'etl', run_id: 'r1', task_id: 'load', key: 'cursor', value: { offset: 12 } },
          { dag_id: 'etl', run_id: 'r2', task_id: 'load', key: 'cursor', value: { offset: 99 } },
          {
            dag_id: 'etl',
            run_id: 'r2',
            task_id: 'fan',
            map_index: 2,
            key: 'manifest',
            value: { files: 'f'.repeat(2400) },
          },
        ],
        asset: [
          { name: 'orders', key: 'watermark', value: '2026-05-01' },
          { name: 'orders', key: 'snapshot', value: { ids: [1, 2, 3] } },
        ],
      },
    );
    assert.deepEqual(seeded.counts, { task: 4, asset: 2, inline: 0, object: 0, plain: 6 });

    const base = airflowBaseEnv({ airflowHome: home, s3Endpoint: moto.endpoint });
    // Everything but the flip's keys is in the pod template; the ConfigMap is what changes.
    const podEnv: Record<string, string> = {
      ...base,
      AIRFLOW__DATABASE__SQL_ALCHEMY_CONN: db.sqlalchemyUrl,
      // The venv has no asyncpg: Airflow would derive a postgresql+asyncpg URL and fail at import.
      AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC: '',
      PATH: `${path.join(venvDir(), 'bin')}:/usr/local/bin:/usr/bin:/bin`,
      HOME: dir,
    };
    kube = await startKubeApiServer({
      configMaps: [{ namespace: NS, name: CM, data: { ...ORIGINAL } }],
      deployments: [
        {
          namespace: NS,
          name: DEPLOYMENT,
          replicas: 1,
          progressDeadlineSeconds: 30,
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

    wa = adaptersFromEnv({
      ...process.env,
      CUTOVER_KUBECONFIG: kube.kubeconfigPath,
      CUTOVER_POD_PYTHON: 'python',
      [DB_URL_ENV]: db.url,
      // The worker's S3 (the orphan report, the lifecycle rule) is moto's.
      AWS_ENDPOINT_URL_S3: moto.endpoint,
      AWS_REGION: TEST_REGION,
      AWS_ACCESS_KEY_ID: moto.credentials.accessKeyId,
      AWS_SECRET_ACCESS_KEY: moto.credentials.secretAccessKey,
    });
  }, SLOW);

  after(async () => {
    await admin?.end();
    await wa?.close();
    await kube?.close();
    await env?.close();
    await moto?.stop();
    await db?.drop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const plan = (): StateStorePlan => {
    const raw: StateStorePlanInput = {
      apiVersion: 'cutover/v1',
      kind: 'StateStoreBackendCutover',
      name: `ss-kube-${randomUUID().slice(0, 8)}`,
      target: {
        kind: 'kubernetes',
        context: kube.context,
        namespace: NS,
        release: 'airflow',
        components: [
          { name: 'scheduler', container: 'scheduler', workload: { kind: 'Deployment', name: DEPLOYMENT } },
        ],
      },
      airflow: { version: '3.3', metadataDb: { access: 'direct', urlEnv: DB_URL_ENV } },
      change: { mode: 'configmap', configMap: CM },
      approval: { approvers: ['dococeven'], timeout: '1h' },
      rollout: { timeout: '60s' },
      spec: {
        stateStore: {
          path: STATE_PATH,
          threshold: { strategy: 'above-quantile', quantile: 'max', roundTo: 1000 },
          compression: '',
          maxOffloadRows: 0,
        },
        validation: { dagId: 'state_store_backend_validation', timeout: '5m' },
      },
    };
    return stateStorePlanSchema.parse(raw);
  };

  const inputFor = (p: StateStorePlan, extra: Partial<StateStoreInput> = {}): StateStoreInput => ({
    plan: p,
    planDigest: planDigest(p),
    startedBy: 'alice',
    ...extra,
  });

  const configMapData = () => (kube.getConfigMap(NS, CM)?.['data'] ?? {}) as Record<string, string>;
  const configMapAnnotations = () => {
    const meta = kube.getConfigMap(NS, CM)?.['metadata'];
    const annotations =
      meta && typeof meta === 'object' && !Array.isArray(meta) ? meta['annotations'] : undefined;
    return (annotations ?? {}) as Record<string, string>;
  };
  const livePodEnv = (): Record<string, string> => {
    const pods = kube.workloadPods('Deployment', NS, DEPLOYMENT);
    assert.equal(pods.length, 1, JSON.stringify(pods.map((p) => p.name)));
    return pods[0]?.env['scheduler'] ?? {};
  };

  const status = async (handle: WorkflowHandle): Promise<StateStoreStatus | undefined> => {
    try {
      return (await handle.query(statusQuery)) as StateStoreStatus;
    } catch {
      return undefined; // the first workflow task may not have run yet
    }
  };

  /** The state-store workflow on a fresh task queue, served by an in-process worker with `activities`. */
  async function startFlip(input: StateStoreInput, activities: CutoverActivities): Promise<RunningFlip> {
    const taskQueue = `test-${randomUUID()}`;
    const worker = await createCutoverWorker({
      connection: env.connection,
      taskQueue,
      activities,
      workflowBundle: await workflowBundle(),
    });
    const handle = await env.client.workflow.start(STATE_STORE_WORKFLOW_TYPE, {
      taskQueue,
      workflowId: `statestore-test-${randomUUID()}`,
      args: [input],
    });
    const result = worker.runUntil(handle.result() as Promise<StateStoreResult>);
    return { handle, result };
  }

  /** Runs the flip, approves it at AWAIT_GO once the evidence is in, and returns its result. */
  async function runApproved(
    input: StateStoreInput,
    activities: CutoverActivities,
  ): Promise<StateStoreResult> {
    const run = await startFlip(input, activities);
    try {
      const waiting = await waitFor(
        'AWAIT_GO',
        async () => {
          const s = await status(run.handle);
          if (s?.outcome) throw new Error(`the run ended ${s.outcome} before AWAIT_GO: ${s.details}`);
          return s?.phase === 'AWAIT_GO' ? s : undefined;
        },
        180_000,
      );
      assert.ok(waiting.pendingApproval, 'the approval request is pending');
      assert.ok(
        waiting.evidence.preflight?.checks.every((c) => c.status !== 'red'),
        JSON.stringify(waiting.evidence.preflight?.checks),
      );
      await run.handle.executeUpdate(approveUpdate, {
        args: [{ operator: 'dococeven', reason: 'evidence reviewed', digest: input.planDigest }],
      });
      return await run.result;
    } catch (err) {
      // Do not leave the worker polling a run the test gave up on.
      await run.handle.terminate('test failed').catch(() => undefined);
      await run.result.catch(() => undefined);
      throw err;
    }
  }

  const rowsByKey = async (table: 'task_state_store' | 'asset_state_store', keys: string[]) =>
    new Map(
      (
        await admin.query<{ key: string; value: string }>(
          `SELECT key, value FROM ${table} WHERE key = ANY($1)`,
          [keys],
        )
      ).rows.map((r) => [r.key, r.value]),
    );

  const stateObjects = async () =>
    ((await moto.s3.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: 'state/' }))).Contents ?? []).map(
      (o) => o.Key ?? '',
    );

  test(
    'configmap mode: calibrate, preflight and rehearse in the pod, APPLY patches the ConfigMap, the scheduler rolls, VERIFY resolves the backend in the new pod: DONE',
    SLOW,
    async (t) => {
      const p = plan();
      const podsBefore = kube.workloadPods('Deployment', NS, DEPLOYMENT).map((x) => x.name);
      const rolloutsBefore = kube.rollouts('Deployment', NS, DEPLOYMENT);
      apiCalls.length = 0;

      const activities = createActivities({
        ...wa.adapters,
        ...airflowInTestCluster(),
        airflowApi: scriptedAirflowApi(apiCalls),
      });
      const result = await runApproved(inputFor(p), activities);
      t.diagnostic(`${result.outcome}: ${result.reason}`);
      assert.equal(result.outcome, 'DONE', result.reason);
      assert.equal(result.productionChanged, true);
      assert.equal(result.status.runbook, 'StateStoreBackendCutover');
      const ev = result.status.evidence;

      // CALIBRATE: the seeded rows, measured in the DB over the direct connection.
      const c = ev.calibration;
      assert.ok(c, 'calibrated');
      assert.equal(c.task.rowCount, 4);
      assert.equal(c.asset.rowCount, 2);
      assert.equal(c.task.wrapped.rows + c.asset.wrapped.rows, 0);
      const manifestBytes = JSON.stringify({ files: 'f'.repeat(2400) }).length + 1; // json.dumps adds a space
      assert.equal(c.task.sizeBytes.max, manifestBytes);
      assert.equal(c.proposal.thresholdBytes, 3000, c.proposal.rationale);
      assert.equal(c.projectedOffloadRows, 0);
      assert.equal(c.gate.passed, true);

      // PREFLIGHT: the config resolved inside the pod through exec, with the rendered env added.
      const resolution = ev.preflight?.checks.find((x) => x.name === 'config resolution in scheduler');
      assert.equal(resolution?.status, 'green', JSON.stringify(resolution));
      assert.match(resolution?.detail ?? '', /StateStoreObjectStorageBackend/);
      assert.match(resolution?.detail ?? '', /apache-airflow 3\.3/);
      assert.equal(ev.preflight?.gate.passed, true, JSON.stringify(ev.preflight?.gate));

      // RENDER: the four settings; the diff only shows the stage's keys.
      assert.deepEqual(Object.keys(ev.change?.stages[0]?.env ?? {}).sort(), [...FLIP_KEYS].sort());
      assert.equal(ev.preview?.destination, `ConfigMap ${NS}/${CM}`);
      assert.match(
        ev.preview?.diff ?? '',
        /\+AIRFLOW__WORKERS__STATE_STORE_BACKEND: "airflow\.providers\.common\.io\.state_store\.backend\.StateStoreObjectStorageBackend"/,
      );
      assert.doesNotMatch(ev.preview?.diff ?? '', /PARALLELISM/);

      // REHEARSE in the pod: marker in the DB, object round trip, break, heal, cleaned up.
      const r = ev.rehearsal;
      assert.equal(r?.component, 'scheduler');
      assert.equal(r?.gate.passed, true, JSON.stringify(r));
      assert.deepEqual(r?.checks, {
        offloaded: true,
        markerInDb: true,
        roundTripIntact: true,
        breakConfirmed: true,
        healConfirmed: true,
        cleaned: true,
      });

      // APPLY: a ConfigMap merge patch; the rollout restarted the Deployment and every pod is new.
      assert.equal(ev.applies[0]?.mode, 'configmap');
      assert.equal(ev.applies[0]?.changed, true);
      assert.equal(ev.rollouts[0]?.gate.passed, true, JSON.stringify(ev.rollouts[0]));
      assert.match(
        ev.rollouts[0]?.components[0]?.detail ?? '',
        new RegExp(`after restarting Deployment ${NS}/${DEPLOYMENT}`),
      );
      assert.equal(kube.rollouts('Deployment', NS, DEPLOYMENT), rolloutsBefore + 1);
      const podsAfter = kube.workloadPods('Deployment', NS, DEPLOYMENT).map((x) => x.name);
      assert.equal(podsAfter.filter((x) => podsBefore.includes(x)).length, 0, 'every pod was replaced');
      const patches = kube
        .requests()
        .filter((q) => q.method === 'PATCH' && q.path.endsWith(`/namespaces/${NS}/configmaps/${CM}`));
      assert.ok(patches.length >= 1, 'the ConfigMap was patched');
      assert.ok(
        patches.every((q) => q.contentType?.startsWith('application/merge-patch+json')),
        JSON.stringify(patches),
      );

      // VERIFY: the new pod resolves the object-storage worker backend with the plan's options.
      const v = ev.verifications[0];
      assert.equal(v?.gate.passed, true, JSON.stringify(v));
      assert.equal(v?.components[0]?.workerBackend, STATE_STORE_OBJECT_STORAGE_BACKEND);
      assert.equal(v?.components[0]?.path, STATE_PATH);
      assert.equal(v?.components[0]?.threshold, 3000);
      assert.equal(v?.components[0]?.compression, '');
      assert.equal(v?.components[0]?.error, null);

      // VALIDATE (scripted REST API) -> DONE; no compensation ran.
      assert.equal(ev.validations[0]?.gate.passed, true);
      assert.deepEqual(apiCalls, ['validate state_store_backend_validation']);
      assert.equal(result.status.compensation, null);

      // The ConfigMap holds the four keys next to what was there; the live pod carries them.
      assert.deepEqual(configMapData(), {
        ...ORIGINAL,
        AIRFLOW__WORKERS__STATE_STORE_BACKEND: STATE_STORE_OBJECT_STORAGE_BACKEND,
        AIRFLOW__COMMON_IO__STATE_STORE_OBJECTSTORAGE_PATH: STATE_PATH,
        AIRFLOW__COMMON_IO__STATE_STORE_OBJECTSTORAGE_THRESHOLD: '3000',
        AIRFLOW__COMMON_IO__STATE_STORE_OBJECTSTORAGE_COMPRESSION: '',
      });
      const live = livePodEnv();
      for (const k of FLIP_KEYS) assert.ok(k in live, `${k} in the live pod`);

      // Preflight and rehearsal left neither rows nor objects behind.
      const [{ n } = { n: '-1' }] = (
        await admin.query<{ n: string }>(
          'SELECT (SELECT count(*) FROM task_state_store) + (SELECT count(*) FROM asset_state_store) AS n',
        )
      ).rows;
      assert.equal(Number(n), 6);
      assert.deepEqual(await stateObjects(), []);

      // Put the cluster back for the next scenario, as an operator would: old data, pod recreated.
      kube.setConfigMap({ namespace: NS, name: CM, data: { ...ORIGINAL } });
      const [pod] = kube.workloadPods('Deployment', NS, DEPLOYMENT);
      if (pod) kube.recreatePod(NS, pod.name);
      await waitFor('the scheduler pod back on the original config', () => {
        const pods = kube.workloadPods('Deployment', NS, DEPLOYMENT);
        const ok =
          pods.length === 1 &&
          pods.every(
            (x) => x.ready && !Object.keys(x.env['scheduler'] ?? {}).some((k) => k.includes('STATE_STORE')),
          );
        return ok ? true : undefined;
      });
    },
  );

  test(
    'drill draft-backend-key: VERIFY names the variable, the ConfigMap is reverted exactly, rolled back, rows written under the flip are healed: ROLLED_BACK',
    SLOW,
    async (t) => {
      const p = plan();
      const dataBefore = JSON.stringify(configMapData());
      assert.equal(dataBefore, JSON.stringify(ORIGINAL));
      const annotationsBefore = configMapAnnotations();
      apiCalls.length = 0;

      // While the flip is live (right after its rollout, before VERIFY), tasks write state. In this drill
      // the cluster carries the draft key, under which Airflow's workers do not wrap; the rows stand in
      // for a task pod (the KubernetesExecutor's pod template) that got the plan's settings: written by
      // the real backend code with the deployed path and threshold, one small (inline ref) and two large
      // (object refs in S3), task and asset state.
      const real = createActivities({
        ...wa.adapters,
        ...airflowInTestCluster(),
        airflowApi: scriptedAirflowApi(apiCalls),
      });
      let seeded: SeededRow[] | undefined;
      let rolloutCalls = 0;
      const activities: CutoverActivities = {
        ...real,
        async waitForRollout(args) {
          const out = await real.waitForRollout(args);
          rolloutCalls += 1;
          if (rolloutCalls === 1 && out.gate.passed) {
            const deployed = args.expectEnv;
            assert.ok(deployed[DRAFT_KEY], `the drill deploys ${DRAFT_KEY}: ${JSON.stringify(deployed)}`);
            const beat = setInterval(() => heartbeat(), 2_000);
            try {
              const written = await seedStateRows(
                stateStoreEnv({
                  sqlalchemyUrl: db.sqlalchemyUrl,
                  airflowHome: home,
                  s3Endpoint: moto.endpoint,
                  backend: {
                    path: String(deployed['AIRFLOW__COMMON_IO__STATE_STORE_OBJECTSTORAGE_PATH']),
                    threshold: Number(deployed['AIRFLOW__COMMON_IO__STATE_STORE_OBJECTSTORAGE_THRESHOLD']),
                    compression: '',
                  },
                }),
                {
                  task: [
                    { dag_id: 'etl', run_id: 'r3', task_id: 'load', key: 'drill_job', value: 'job-77' },
                    {
                      dag_id: 'etl',
                      run_id: 'r3',
                      task_id: 'load',
                      key: 'drill_big',
                      value: { rows: 'y'.repeat(5000) },
                    },
                  ],
                  asset: [{ name: 'orders', key: 'drill_snapshot', value: { ids: 'i'.repeat(4000) } }],
                },
              );
              seeded = written.rows ?? [];
            } finally {
              clearInterval(beat);
            }
          }
          return out;
        },
      };

      const result = await runApproved(inputFor(p, { inject: 'draft-backend-key' }), activities);
      t.diagnostic(`${result.outcome}: ${result.reason}`);
      assert.equal(result.outcome, 'ROLLED_BACK', result.reason);
      assert.equal(result.productionChanged, false);
      assert.match(result.reason, /VERIFY failed/);
      assert.match(result.reason, /AIRFLOW__STATE_STORE__BACKEND/);
      const ev = result.status.evidence;

      // What went out: the draft key in place of [workers] state_store_backend.
      assert.equal(ev.applies[0]?.changed, true);
      assert.equal(ev.rollouts[0]?.gate.passed, true, JSON.stringify(ev.rollouts[0]));
      // VERIFY in the new pod: the worker backend is empty, the draft variable named with the fix.
      const v = ev.verifications[0];
      assert.equal(v?.gate.passed, false);
      assert.equal(v?.components[0]?.workerBackend, '');
      const reasons = v?.gate.reasons.join('\n') ?? '';
      assert.match(reasons, /AIRFLOW__STATE_STORE__BACKEND: .*use AIRFLOW__WORKERS__STATE_STORE_BACKEND/);
      assert.match(reasons, /\[workers\] state_store_backend resolves to ''/);
      assert.equal(ev.validations.length, 0, 'VALIDATE never ran');
      assert.ok(!apiCalls.some((x) => x.startsWith('validate')), JSON.stringify(apiCalls));

      // The kill-switch: revert, rollout back, heal the rows, find and re-run the affected runs.
      const comp = result.status.compensation;
      assert.deepEqual(comp?.completed, [
        'revert target',
        'waitForRollout',
        'healRows',
        'findAffectedRuns',
        'rerunAffectedRuns',
        'leftHealthy',
      ]);
      assert.equal(comp?.trigger.phase, 'VERIFY');
      assert.equal(ev.reverts[0]?.changed, true);
      assert.equal(ev.revertRollout?.gate.passed, true, JSON.stringify(ev.revertRollout));
      assert.ok(
        apiCalls.some((x) => x.startsWith('runsSince')),
        'affected runs were looked up',
      );

      // The heal, in the reverted pod: every row written since APPLY is plain again, no marker left.
      const rows = seeded ?? [];
      assert.equal(rows.length, 3, 'the rows were written while the flip was live');
      assert.deepEqual(
        rows.map((x) => x.refKind),
        ['inline', 'object', 'object'],
      );
      const heal = ev.heal;
      assert.equal(heal?.gate.passed, true, JSON.stringify(heal));
      assert.equal(heal?.rewritten, 3);
      assert.equal(heal?.inlineRefs, 1);
      assert.equal(heal?.objectRefs, 2);
      assert.equal(heal?.markerRowsRemaining, 0);
      assert.deepEqual(heal?.unreadable, []);
      assert.equal(heal?.since, ev.applies[0]?.startedAt);
      const task = await rowsByKey('task_state_store', ['drill_job', 'drill_big']);
      const asset = await rowsByKey('asset_state_store', ['drill_snapshot']);
      for (const row of rows) {
        assert.ok(row.stored.startsWith('{"__airflow_state_ref__": '), `written wrapped: ${row.stored}`);
        const now = (row.store === 'task' ? task : asset).get(row.key);
        assert.equal(now, row.plain, `${row.store} ${row.key} holds its plain value`);
      }
      // The rows from before the flip are untouched.
      const before = await rowsByKey('task_state_store', ['job_id']);
      assert.equal(before.get('job_id'), '"job-42"');

      // The ConfigMap is byte for byte what it was, its annotations too; the pod runs without the keys.
      assert.equal(JSON.stringify(configMapData()), dataBefore);
      assert.deepEqual(configMapAnnotations(), annotationsBefore, 'the revert dropped its journal');
      const live = livePodEnv();
      assert.deepEqual(
        Object.keys(live).filter((k) => k.includes('STATE_STORE')),
        [],
        JSON.stringify(Object.keys(live)),
      );
    },
  );
});
