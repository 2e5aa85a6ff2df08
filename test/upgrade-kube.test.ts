/**
 * The upgrade (kind AirflowUpgrade) on a KUBERNETES target, through the real workflow on the
 * Temporal dev server, with the shipped adapters over the real @kubernetes/client-node against
 * the Kubernetes API test server, a real git repo holding the official chart's Helm values, and a
 * real PostgreSQL metadata DB migrated by Airflow 3.2.2.
 *
 * The test server maps a container's image to a local venv (apache/airflow:3.2.2 ->
 * .venvs/airflow-3.2.2, apache/airflow:3.3.2 -> the default .venv), so the GitOps merge of
 * `airflowVersion` / `defaultAirflowTag` really changes which Airflow runs in the pods that the
 * workloads make after it, and the chart's migration Job (which the CD half, support/gitops-sync.ts,
 * replaces when the image changes, as Argo CD / Flux do with migrateDatabaseJob.useHelmHooks false)
 * really runs the new release's `airflow db migrate` against the DB.
 *
 * Scripted here, and only here: Airflow's health endpoint (its version read from the live pod
 * template's image) and the REST API's DAG runs (the validation DAG "succeeds"). No Airflow
 * scheduler or api-server runs in the test cluster (pods are records whose exec runs local
 * processes), as in the other kube tests (support/airflow-in-test-cluster.ts); VALIDATE and the
 * re-runs are tested against a running Airflow on the local target (upgrade-local.test.ts).
 *
 * 1. PREFLIGHT on values with migrateDatabaseJob.useHelmHooks true and images.airflow.tag pinned:
 *    red check migrateDatabaseJob naming both, STOPPED, nothing changed
 * 2. the break-migration drill: the chart's 3.3.2 Job fails mid-way; ROLLED_BACK with the DB
 *    restored, the merge reverted, every pod back on 3.2.2
 * 3. the upgrade: DONE, every pod's in-pod Airflow 3.3.2, the schema at 3.3.2's head
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import type pg from 'pg';
import type { UpgradeDagRunsPort } from '../activities/adapters.js';
import { REPLICAS_BEFORE_DRAIN, releaseOfImage } from '../adapters/kube/airflow-workloads.js';
import type { UpgradePlan } from '../domain/upgrade/plan.js';
import type { UpgradeInput, UpgradeResult } from '../domain/upgrade/run.js';
import { airflowVenvFor } from '../local/venv.js';
import { adaptersFromEnv, type WorkerAdapters } from '../worker/adapters-from-env.js';
import { healthyAirflowHealth, healthyDeploymentDb } from './support/airflow-in-test-cluster.js';
import { startCutoverEnv, type CutoverEnv } from './support/cutover-env.js';
import { chartReleaseSync, startGitOpsSync, type GitOpsSync } from './support/gitops-sync.js';
import { git, seedValuesRepo } from './support/gitops-repo.js';
import {
  startKubeApiServer,
  type JsonObject,
  type KubeApiServer,
  type WorkloadKind,
} from './support/kube-api-server.js';
import type { TestDatabase } from './support/postgres.js';
import * as e2e from './support/upgrade-e2e.js';

const run = promisify(execFile);
const SLOW = { timeout: 1_200_000 };
const FROM = '3.2.2';
const TO = '3.3.2';
const NS = 'airflow';
const RELEASE = 'airflow';
const JOB = `${RELEASE}-run-airflow-migrations`;
const VALUES_FILE = 'helm/airflow/values-prod.yaml';
const WORKLOADS: { component: string; kind: WorkloadKind; name: string }[] = [
  { component: 'scheduler', kind: 'Deployment', name: 'airflow-scheduler' },
  { component: 'triggerer', kind: 'StatefulSet', name: 'airflow-triggerer' },
];

const values = (useHelmHooks: boolean, pinnedTag?: string) =>
  [
    '# Helm values of the production Airflow (official chart), synced by Argo CD.',
    `airflowVersion: "${FROM}"`,
    'defaultAirflowRepository: apache/airflow',
    `defaultAirflowTag: "${FROM}"`,
    'executor: LocalExecutor',
    '',
    'migrateDatabaseJob:',
    '  enabled: true',
    '  # Argo CD applies the Job as a plain resource (the chart docs: "must set" with a CD tool).',
    `  useHelmHooks: ${String(useHelmHooks)}`,
    '  applyCustomEnv: false',
    '',
    ...(pinnedTag
      ? ['images:', '  airflow:', '    repository: apache/airflow', `    tag: "${pinnedTag}"`, '']
      : []),
    'scheduler:',
    '  replicas: 1',
    '',
  ].join('\n');

/** The REST API side: no api-server runs in the test cluster; a double that records what it was asked. */
function scriptedDagRuns(calls: string[]): UpgradeDagRunsPort {
  return {
    runValidationDag: ({ dagId, runId }) => {
      calls.push(`validate ${dagId}`);
      return Promise.resolve({
        dagId,
        runId,
        state: 'success',
        taskStates: {},
        xcomErrors: 0,
        xcoms: [],
        objectCount: 0,
      });
    },
    runsSince: () => Promise.resolve([]),
    runsSinceWithConf: () => Promise.resolve([]),
    clearAndWait: ({ runs }) => Promise.resolve(runs.map((r) => ({ ...r, finalState: 'success' }))),
    readsData: () => Promise.resolve({ readsData: false, detail: 'scripted' }),
    unpause: () => Promise.resolve(false),
    retrigger: () => Promise.resolve('success'),
  };
}

void describe('Airflow upgrade 3.2.2 -> 3.3.2 on a Kubernetes target (GitOps + the chart migration Job)', () => {
  let env: CutoverEnv;
  let db: TestDatabase;
  let kube: KubeApiServer;
  let dir: string;
  let origin: string;
  let hooksOrigin: string;
  let backups: string;
  let wa: WorkerAdapters;
  let worker: e2e.InProcessWorker;
  let sync: GitOpsSync;
  const apiCalls: string[] = [];
  const taskQueue = `upgrade-kube-${randomUUID()}`;

  const sql = <T extends pg.QueryResultRow>(text: string) => e2e.query<T>(db.url, text);
  const revision = () => e2e.alembicRevision(db.url);
  const templateImage = (w: (typeof WORKLOADS)[number]): string => {
    const o = kube.getWorkload(w.kind, NS, w.name);
    const spec = (o?.['spec'] as JsonObject | undefined)?.['template'] as JsonObject | undefined;
    const containers = (spec?.['spec'] as JsonObject | undefined)?.['containers'];
    return String(Array.isArray(containers) ? (containers[0] as JsonObject)['image'] : '');
  };
  /** Each live pod's Airflow, as the image gave it: the venv its processes run from. */
  const podVenvs = () =>
    WORKLOADS.flatMap((w) =>
      kube.workloadPods(w.kind, NS, w.name).map((p) => Object.values(p.env)[0]?.['VIRTUAL_ENV'] ?? '?'),
    );
  const replicas = (w: (typeof WORKLOADS)[number]) => {
    const o = kube.getWorkload(w.kind, NS, w.name);
    const md = o?.['metadata'] as JsonObject | undefined;
    return {
      replicas: (o?.['spec'] as JsonObject | undefined)?.['replicas'],
      kept: (md?.['annotations'] as JsonObject | undefined)?.[REPLICAS_BEFORE_DRAIN] ?? null,
    };
  };
  const waitFor = async (what: string, ok: () => boolean | Promise<boolean>, timeoutMs = 180_000) => {
    const deadline = Date.now() + timeoutMs;
    while (!(await ok())) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 250));
    }
  };

  /** The migration Job's end ('succeeded' / 'failed'), or null while it runs or is absent. */
  const jobEnded = (): 'succeeded' | 'failed' | null => {
    const st = kube.getJob(NS, JOB)?.['status'] as JsonObject | undefined;
    return st?.['succeeded'] === 1 ? 'succeeded' : st?.['failed'] === 1 ? 'failed' : null;
  };

  before(async () => {
    env = await startCutoverEnv();
    db = await e2e.migratedTestDatabase('cutover_upgrade_kube', FROM);
    dir = mkdtempSync(path.join(tmpdir(), 'cutover-upgrade-kube-'));
    const home = path.join(dir, 'airflow-home');
    backups = path.join(dir, 'backups');
    mkdirSync(home);
    mkdirSync(backups);
    // The chart's standard Airflow env; PATH comes from the image (the venv of its release).
    const airflowEnv: Record<string, string> = {
      HOME: home,
      LANG: 'C.UTF-8',
      AIRFLOW_HOME: home,
      AIRFLOW__CORE__LOAD_EXAMPLES: 'False',
      AIRFLOW__DATABASE__SQL_ALCHEMY_CONN: db.sqlalchemyUrl,
      // No async driver in the venvs: Airflow would derive an asyncpg URL from the sync one.
      AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC: '',
      PYTHONUNBUFFERED: '1',
    };
    const workload = (w: (typeof WORKLOADS)[number]) => ({
      namespace: NS,
      name: w.name,
      replicas: 1,
      template: {
        metadata: { labels: { tier: 'airflow', component: w.component, release: RELEASE } },
        spec: {
          containers: [
            {
              name: w.component,
              image: `apache/airflow:${FROM}`,
              env: Object.entries(airflowEnv).map(([name, value]) => ({ name, value })),
              workingDir: home,
            },
          ],
        },
      },
    });
    kube = await startKubeApiServer({
      deployments: WORKLOADS.filter((w) => w.kind === 'Deployment').map(workload),
      statefulSets: WORKLOADS.filter((w) => w.kind === 'StatefulSet').map(workload),
      podReadyDelayMs: 150,
    });
    origin = seedValuesRepo(dir, VALUES_FILE, values(false));
    mkdirSync(path.join(dir, 'hooks'));
    hooksOrigin = seedValuesRepo(path.join(dir, 'hooks'), VALUES_FILE, values(true, FROM));
    sync = startGitOpsSync({
      repo: origin,
      branch: 'main',
      valuesFile: VALUES_FILE,
      location: '.',
      apply: chartReleaseSync({
        kube,
        namespace: NS,
        release: RELEASE,
        workloads: WORKLOADS,
        jobEnv: airflowEnv,
        workingDir: home,
      }),
    });
    // The first sync made the 3.2.2 Job (a no-op migrate on a DB at 3.2.2's head), as at install.
    await waitFor('the install-time migration Job', () => jobEnded() !== null);
    assert.equal(jobEnded(), 'succeeded', kube.jobOutput(NS, JOB));

    wa = adaptersFromEnv({
      ...e2e.airflowWorkerEnv(db.url, 'unused-scripted'),
      CUTOVER_KUBECONFIG: kube.kubeconfigPath,
      CUTOVER_GITOPS_DIR: path.join(dir, 'gitops-work'),
      CUTOVER_POD_PYTHON: 'python',
    });
    // Airflow's health as the release the pods' template runs would report it (see the header).
    const scheduler = WORKLOADS[0] as (typeof WORKLOADS)[number];
    const liveRelease = () => releaseOfImage(templateImage(scheduler)) ?? FROM;
    worker = await e2e.startInProcessWorker({
      env,
      taskQueue,
      adapters: {
        ...wa.adapters,
        airflowHealth: { read: () => healthyAirflowHealth(liveRelease()).read() },
        deploymentDb: healthyDeploymentDb(),
        upgradeDagRuns: scriptedDagRuns(apiCalls),
      },
    });
  }, SLOW);

  after(async () => {
    await worker?.stop();
    await wa?.close();
    await sync?.stop();
    await kube?.close();
    await env?.close();
    await db?.drop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  function planFor(repo: string): UpgradePlan {
    return e2e.upgradePlan({
      prefix: 'upgrade-kube',
      target: {
        kind: 'kubernetes',
        context: kube.context,
        namespace: NS,
        release: RELEASE,
        components: WORKLOADS.map((w) => ({
          name: w.component,
          container: w.component,
          workload: { kind: w.kind, name: w.name },
        })),
      },
      change: { mode: 'gitops', repo, baseBranch: 'main', valuesFile: VALUES_FILE, location: '.' },
      from: FROM,
      to: TO,
      apiUrl: 'http://airflow-api-server.test-cluster:8080',
      backups,
      validation: { timeout: '5m', scheduleGrace: '1m' },
      rolloutTimeout: '5m',
    });
  }

  const upgrade = (plan: UpgradePlan, inject?: UpgradeInput['inject']): Promise<UpgradeResult> =>
    e2e.runUpgrade({ env, taskQueue, name: 'upgrade-kube' }, plan, inject);

  test(
    'PREFLIGHT: values with migrateDatabaseJob.useHelmHooks true and a pinned images.airflow.tag are red, each named; STOPPED, nothing changed',
    SLOW,
    async () => {
      const head = git(hooksOrigin, 'rev-parse', 'main');
      const result = await upgrade(planFor(hooksOrigin));
      assert.equal(result.outcome, 'STOPPED', result.reason);
      const check = result.status.evidence.preflight?.checks.find((c) => c.name === 'migrateDatabaseJob');
      assert.equal(check?.status, 'red', JSON.stringify(result.status.evidence.preflight?.checks));
      assert.match(check?.detail ?? '', /^migrateDatabaseJob\.useHelmHooks is true: Argo CD and Flux/);
      // The pinned image tag is named too: the merge of defaultAirflowTag would change no image.
      assert.match(check?.detail ?? '', /images\.airflow\.tag pins 3\.2\.2/);
      // The other checks read the pods for real: every one runs 3.2.2 from its image.
      const running = result.status.evidence.preflight?.checks.find((c) => c.name === 'running release');
      assert.equal(running?.status, 'green', running?.detail);
      assert.equal(git(hooksOrigin, 'rev-parse', 'main'), head, 'nothing merged');
      for (const w of WORKLOADS) assert.deepEqual(replicas(w), { replicas: 1, kept: null });
    },
  );

  test(
    'break-migration: the chart Job fails on 3.3.2; the DB restored, the merge reverted, every pod back on 3.2.2: ROLLED_BACK',
    SLOW,
    async () => {
      const head = await revision();
      const valuesBefore = git(origin, 'show', `main:${VALUES_FILE}`);
      const mainBefore = git(origin, 'rev-parse', 'main');
      const result = await upgrade(planFor(origin), 'break-migration');
      assert.equal(result.outcome, 'ROLLED_BACK', result.reason);
      assert.match(result.reason, /^MIGRATE failed/);
      assert.match(
        result.reason,
        new RegExp(`${JOB} \\(apache/airflow:${TO.replace(/\./g, '\\.')}\\) failed`),
      );
      const ev = result.status.evidence;
      assert.equal(ev.started, null, 'nothing started on 3.3.2');
      assert.equal(ev.applies[0]?.changed, true, 'the merge went in');
      assert.equal(ev.reverts[0]?.changed, true, 'and was reverted');
      assert.equal(ev.restore?.method, 'restore');
      assert.equal(ev.restore?.checksumsMatch, true);
      assert.equal(await revision(), head, 'the schema is 3.2.2’s again');
      const drift = await sql("SELECT 1 FROM pg_indexes WHERE indexname = 'ti_dag_version_id'");
      assert.equal(drift.length, 0, 'the drill’s index went with the restore');
      // The values file is byte for byte what it was; the merge and its revert are on main.
      assert.equal(git(origin, 'show', `main:${VALUES_FILE}`), valuesBefore);
      assert.match(git(origin, 'log', '--format=%s', `${mainBefore}..main`), /Revert/);
      // The cluster followed: the old image, pods from it, the replicas as before the drain.
      for (const w of WORKLOADS) {
        assert.equal(templateImage(w), `apache/airflow:${FROM}`);
        assert.deepEqual(replicas(w), { replicas: 1, kept: null });
      }
      assert.deepEqual(
        podVenvs(),
        WORKLOADS.map(() => airflowVenvFor(FROM)),
      );
      assert.equal(ev.rolledBackVersions?.gate.passed, true, JSON.stringify(ev.rolledBackVersions));
      assert.deepEqual(
        ev.rolledBackVersions?.components.map((c) => c.airflowVersion),
        WORKLOADS.map(() => FROM),
      );
      // The CD made the old image's Job again; on the restored DB its migrate changes nothing.
      await waitFor('the 3.2.2 Job after the revert', () => jobEnded() !== null);
      assert.equal(jobEnded(), 'succeeded', kube.jobOutput(NS, JOB));
      assert.equal(await revision(), head);
    },
  );

  test(
    'the upgrade: DONE, every pod runs 3.3.2 from its image, the schema at 3.3.2’s head',
    SLOW,
    async () => {
      apiCalls.length = 0;
      const result = await upgrade(planFor(origin));
      assert.equal(result.outcome, 'DONE', result.reason);
      const ev = result.status.evidence;
      assert.deepEqual(
        ev.versions?.components.map((c) => `${c.component}=${c.airflowVersion ?? c.error ?? '?'}`),
        WORKLOADS.map((w) => `${w.component}=${TO}`),
      );
      assert.equal(ev.versions?.migrationsCurrent, true);
      assert.match(
        ev.migration?.outputTail ?? '',
        new RegExp(`${JOB} \\(apache/airflow:${TO.replace(/\./g, '\\.')}\\) complete`),
      );
      // Checked apart from the run: the Job, the pods' images and venvs, the schema by 3.3.2's own CLI.
      const job = kube.getJob(NS, JOB);
      assert.equal((job?.['status'] as JsonObject | undefined)?.['succeeded'], 1, kube.jobOutput(NS, JOB));
      for (const w of WORKLOADS) {
        assert.equal(templateImage(w), `apache/airflow:${TO}`);
        assert.deepEqual(replicas(w), { replicas: 1, kept: null });
      }
      assert.deepEqual(
        podVenvs(),
        WORKLOADS.map(() => airflowVenvFor(TO)),
      );
      await run(path.join(airflowVenvFor(TO), 'bin', 'airflow'), ['db', 'check-migrations', '-t', '10'], {
        env: {
          ...process.env,
          AIRFLOW__DATABASE__SQL_ALCHEMY_CONN: db.sqlalchemyUrl,
          AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC: '',
          AIRFLOW_HOME: dir,
        },
      });
      assert.match(
        git(origin, 'show', `main:${VALUES_FILE}`),
        new RegExp(`^defaultAirflowTag: "${TO}"$`, 'm'),
      );
      assert.match(git(origin, 'show', `main:${VALUES_FILE}`), new RegExp(`^airflowVersion: "${TO}"$`, 'm'));
      assert.deepEqual(apiCalls, ['validate upgrade_validation']);
      assert.match(result.reason, /downtime \d+\.\d s, migration \d+\.\d s \(rehearsed \d+\.\d s\)/);
    },
  );
});
