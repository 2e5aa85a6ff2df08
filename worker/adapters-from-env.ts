/**
 * The real adapters this worker can build, as factories per plan: one worker
 * serves many targets, and which database, env file or cluster to talk to is in
 * the plan. Secrets stay here: a plan only names the env var holding a DB URL,
 * and a local target's credentials live in its env file.
 *
 * What it builds:
 * - metadb: `direct` -> PostgresMetadataDb from the plan's urlEnv (one pool per
 *   env var name); `in-pod` -> InPodMetadataDb through the component's exec.
 * - probes: local targets -> ExecAirflowProbes over LocalExecPort, each
 *   component running with the target's env file (+ PATH, HOME); kubernetes
 *   targets -> ExecAirflowProbes over KubeExecPort (pod exec).
 * - change: env-file (local), gitops (a managed clone per repo), configmap
 *   (kubernetes). Their diffs show only the stage's own keys: evidence never
 *   holds a neighbouring secret.
 * - rollout: kubernetes -> KubeRollout (restart, rollout status, env read in
 *   the live pods); local -> LocalRollout through the target's supervisor.
 * - airflowApi: the plan's airflow.api with credentials from the env vars it
 *   names.
 *
 * What a step needs and this worker cannot build for a plan (a plan naming no airflow.api, an
 * unset credentials variable) fails with a non-retryable AdapterMissing that names it.
 */
import { readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Adapters } from '../activities/index.js';
import * as k8s from '@kubernetes/client-node';
import type { ChangePort, MetadataDbPort, RolloutPort, UpgradeDagRunsPort } from '../activities/adapters.js';
import { adapterMissing, PermanentFault } from '../activities/engine/errors.js';
import { AirflowRestApi } from '../adapters/airflow-api.js';
import { AirflowHealthApi } from '../adapters/airflow-health.js';
import { KubeInspector } from '../adapters/kube/inspect.js';
import type {
  AirflowHealthPort,
  ClusterInspectorPort,
  DeploymentDbPort,
  ProcessInspectorPort,
} from '../activities/deployment-health-ports.js';
import type { InspectedPlan } from '../domain/engine/plan.js';
import { S3ObjectStore, type S3ObjectStoreOptions } from '../adapters/s3-object-store.js';
import type { ObjectReferencesPort, ObjectStorePort } from '../activities/object-store-ports.js';
import { ExecAirflowProbes } from '../adapters/airflow-probes.js';
import { LocalRollout, supervisorForcedEnv, supervisorStateFile } from '../adapters/local-rollout.js';
import { EnvFileChange, EnvFileError, parseEnvFile } from '../adapters/env-file-change.js';
import { GitOpsChange } from '../adapters/gitops-change.js';
import { LocalExecPort } from '../adapters/exec/local.js';
import { SshKeygen } from '../adapters/ssh-keygen.js';
import { ConfigMapChange } from '../adapters/kube/configmap-change.js';
import { KubeExecPort, loadKubeConfig } from '../adapters/kube/exec.js';
import { KubeRollout } from '../adapters/kube/rollout.js';
import { InPodMetadataDb } from '../adapters/in-pod-metadata-db.js';
import { metadataDbFromEnv, type PostgresMetadataDb } from '../adapters/metadata-db.js';
import type { Component } from '../domain/plan.js';
import type { AnyPlan } from '../domain/runbooks.js';
import type { ExecPort } from '../adapters/exec/port.js';
import { PostgresStateStoreDb } from '../adapters/state-store-db.js';
import { ExecStateStoreHeal } from '../adapters/state-store-heal.js';
import { StateStoreProbes } from '../adapters/state-store-probes.js';
import {
  AirflowVersionNotInstalled,
  airflowVenvFor,
  componentVenv,
  pathWithVenvFirst,
  venvDir,
} from '../local/venv.js';
import { AirflowReleases } from '../adapters/airflow-releases.js';
import { PgBackup } from '../adapters/pg-backup.js';
import { UpgradeDatabase } from '../adapters/upgrade-database.js';
import { UpgradeInventoryProbe } from '../adapters/upgrade-inventory.js';
import type {
  ComponentPowerPort,
  HelmValuesPort,
  MigrationJobPort,
  UpgradeInventoryPort,
} from '../activities/upgrade-ports.js';
import { KubeAirflowWorkloads } from '../adapters/kube/airflow-workloads.js';
import type { UpgradePlan } from '../domain/upgrade/plan.js';

type LocalTarget = Extract<InspectedPlan['target'], { kind: 'local' }>;
type KubernetesTarget = Extract<InspectedPlan['target'], { kind: 'kubernetes' }>;

export interface AdaptersFromEnvOptions {
  /** Relative env files (plan.target.envFile) resolve against this; default process.cwd(). */
  cwd?: string;
}

export interface WorkerAdapters {
  adapters: Adapters;
  /** What it can do, one line each (for the worker's banner). */
  available: string[];
  /** Ends the metadata DB pools. */
  close(): Promise<void>;
}

/** The variables of a local target's env file; a file that cannot be read is a PermanentFault naming it. */
export function readEnvFileVars(file: string): Record<string, string> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new PermanentFault(
      `cannot read the local target's env file ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`,
    );
  }
  try {
    return Object.fromEntries(parseEnvFile(text, file));
  } catch (err) {
    if (err instanceof EnvFileError) throw new PermanentFault(`the local target's ${err.message}`);
    throw err;
  }
}

/**
 * The venv a local target's components run from: the one its env file's AIRFLOW_VERSION names (the
 * supervisor runs them from it), else the default venv. Not installed here is a PermanentFault.
 */
function localVenv(fileVars: Record<string, string>, workerEnv: NodeJS.ProcessEnv): string {
  try {
    return componentVenv(fileVars, workerEnv);
  } catch (err) {
    if (err instanceof AirflowVersionNotInstalled)
      throw new PermanentFault(`the local target's AIRFLOW_VERSION: ${err.message}`);
    throw err;
  }
}

/**
 * The complete env of a local component's processes: the env file's variables, then PATH with the
 * bin of the component's venv first (the venv its AIRFLOW_VERSION names), and HOME (the file's,
 * else the worker's).
 */
export function localComponentEnv(
  fileVars: Record<string, string>,
  workerEnv: NodeJS.ProcessEnv,
): Record<string, string> {
  return {
    ...fileVars,
    PATH: pathWithVenvFirst(
      localVenv(fileVars, workerEnv),
      fileVars.PATH ?? workerEnv.PATH ?? '/usr/local/bin:/usr/bin:/bin',
      workerEnv,
    ),
    HOME: fileVars.HOME ?? workerEnv.HOME ?? os.homedir(),
  };
}

/** The python a local component runs: CUTOVER_PYTHON from the env file, else its venv's. */
export function localPython(fileVars: Record<string, string>, workerEnv: NodeJS.ProcessEnv): string {
  const fromFile = fileVars.CUTOVER_PYTHON?.trim();
  return fromFile ? fromFile : path.join(localVenv(fileVars, workerEnv), 'bin', 'python');
}

export function adaptersFromEnv(
  env: NodeJS.ProcessEnv,
  options: AdaptersFromEnvOptions = {},
): WorkerAdapters {
  const cwd = options.cwd ?? process.cwd();
  const envFileOf = (target: LocalTarget) => path.resolve(cwd, target.envFile);

  const pools = new Map<string, PostgresMetadataDb>();
  const probesByFile = new Map<string, ExecAirflowProbes>();
  const execByFile = new Map<string, { exec: LocalExecPort; python: () => string[] }>();
  const inPodByKey = new Map<string, InPodMetadataDb>();

  /** One pool per env var name; an unset variable is a PermanentFault naming it (never cached). */
  const direct = (urlEnv: string): PostgresMetadataDb => {
    let db = pools.get(urlEnv);
    if (!db) {
      db = metadataDbFromEnv(urlEnv, env);
      pools.set(urlEnv, db);
    }
    return db;
  };

  /**
   * One exec port per env file: probes of every runbook run the components' python with its env.
   * `asLaunched` adds what the supervisor forces on its components beyond the file (the DAG folder):
   * the upgrade's inventory reads the folder the components really parse. (Other runbooks' probes
   * keep the env file's view until their tests are checked against it.)
   */
  const localExec = (
    target: LocalTarget,
    asLaunched = false,
  ): { exec: LocalExecPort; python: () => string[] } => {
    const file = envFileOf(target);
    const key = `${file}\u0000${asLaunched}`;
    let e = execByFile.get(key);
    if (!e) {
      // The file is read at every exec: after APPLY the components run with what it says then.
      e = {
        exec: new LocalExecPort({
          envFor: () => ({
            ...localComponentEnv(readEnvFileVars(file), env),
            ...(asLaunched ? supervisorForcedEnv(file) : {}),
          }),
          cwdFor: () => readEnvFileVars(file).AIRFLOW_HOME ?? path.dirname(file),
        }),
        python: () => [localPython(readEnvFileVars(file), env)],
      };
      execByFile.set(key, e);
    }
    return e;
  };

  const localProbes = (target: LocalTarget): ExecAirflowProbes => {
    const file = envFileOf(target);
    let probes = probesByFile.get(file);
    if (!probes) {
      const { exec, python } = localExec(target);
      probes = new ExecAirflowProbes(exec, { python });
      probesByFile.set(file, probes);
    }
    return probes;
  };

  interface KubeTarget {
    kc: k8s.KubeConfig;
    exec: KubeExecPort;
    probes: ExecAirflowProbes;
    rollout: KubeRollout;
  }
  const kubeByKey = new Map<string, KubeTarget>();
  // The official image has python on PATH; the pod's own env is what the components run with.
  const podPython = [env.CUTOVER_POD_PYTHON ?? 'python'];
  /** One kubeconfig, exec port, probes and rollout per cluster context, namespace and release. */
  const kube = (target: KubernetesTarget): KubeTarget => {
    const key = `${target.context ?? ''}\u0000${target.namespace}\u0000${target.release}`;
    let k = kubeByKey.get(key);
    if (!k) {
      const kubeconfigPath = env.CUTOVER_KUBECONFIG ?? env.KUBECONFIG;
      let kc: k8s.KubeConfig;
      try {
        kc = loadKubeConfig({
          ...(kubeconfigPath ? { kubeconfigPath } : {}),
          ...(target.context ? { context: target.context } : {}),
        });
      } catch (err) {
        // A kubeconfig that cannot be read, or lacks the plan's context, does not heal by retrying.
        throw new PermanentFault(
          `cannot use the kubeconfig${kubeconfigPath ? ` ${kubeconfigPath}` : ''}${target.context ? ` (context ${target.context})` : ''}: ${err instanceof Error ? err.message : String(err)}`,
        );
      }
      const exec = new KubeExecPort({ kubeConfig: kc, namespace: target.namespace, release: target.release });
      k = {
        kc,
        exec,
        probes: new ExecAirflowProbes(exec, { python: () => podPython }),
        rollout: new KubeRollout({
          kubeConfig: kc,
          namespace: target.namespace,
          release: target.release,
          exec,
          python: podPython,
        }),
      };
      kubeByKey.set(key, k);
    }
    return k;
  };
  const kubeProbes = (target: KubernetesTarget): ExecAirflowProbes => kube(target).probes;

  const probesFor = (plan: AnyPlan): ExecAirflowProbes =>
    plan.target.kind === 'local' ? localProbes(plan.target) : kubeProbes(plan.target);

  /** The exec port and python of a target's components, whatever the runbook. */
  const execFor = (plan: AnyPlan): { exec: ExecPort; python: () => string[] } =>
    plan.target.kind === 'local'
      ? localExec(plan.target)
      : { exec: kube(plan.target).exec, python: () => podPython };

  const stateProbes = new Map<ExecPort, StateStoreProbes>();
  const stateStoreProbes = (plan: AnyPlan): StateStoreProbes => {
    const { exec, python } = execFor(plan);
    let p = stateProbes.get(exec);
    if (!p) {
      p = new StateStoreProbes(exec, { python });
      stateProbes.set(exec, p);
    }
    return p;
  };
  const heals = new Map<ExecPort, ExecStateStoreHeal>();
  const stateStoreHeal = (plan: AnyPlan): ExecStateStoreHeal => {
    const { exec, python } = execFor(plan);
    let h = heals.get(exec);
    if (!h) {
      h = new ExecStateStoreHeal(exec, { python });
      heals.set(exec, h);
    }
    return h;
  };
  const stateDbs = new Map<string, PostgresStateStoreDb>();
  /** The state-store tables are measured over a direct connection (the URL in the env var the plan names). */
  const stateStoreDb = (plan: AnyPlan): PostgresStateStoreDb => {
    const access = plan.airflow.metadataDb;
    if (access.access !== 'direct')
      throw adapterMissing(
        'state-store metadata DB',
        'measure the state-store tables in-pod (not built yet): set airflow.metadataDb.access to direct',
      );
    let db = stateDbs.get(access.urlEnv);
    if (!db) {
      const url = env[access.urlEnv];
      if (!url) throw new PermanentFault(`${access.urlEnv} is not set on the worker`);
      db = new PostgresStateStoreDb(url);
      stateDbs.set(access.urlEnv, db);
    }
    return db;
  };

  const metadb = (plan: AnyPlan): MetadataDbPort => {
    const access = plan.airflow.metadataDb;
    if (access.access === 'direct') return direct(access.urlEnv);
    const target = plan.target;
    const component: Component = target.components.find((c) => c.name === access.component) ?? {
      name: access.component,
    };
    const where =
      target.kind === 'local'
        ? envFileOf(target)
        : `${target.context ?? ''}/${target.namespace}/${target.release}`;
    const key = `${where}\u0000${component.name}`;
    let db = inPodByKey.get(key);
    if (!db) {
      db = new InPodMetadataDb(probesFor(plan), component);
      inPodByKey.set(key, db);
    }
    return db;
  };

  const gitopsWorkDir = path.resolve(env.CUTOVER_GITOPS_DIR ?? path.join('.cutover', 'gitops'));
  const change = (plan: AnyPlan): ChangePort => {
    const target = plan.target;
    if (plan.change.mode === 'env-file' && target.kind === 'local')
      return new EnvFileChange(envFileOf(target));
    // One managed clone per repo under the work dir; credentials are read from the env var the plan names.
    if (plan.change.mode === 'gitops') return new GitOpsChange(plan.change, gitopsWorkDir, { env });
    if (plan.change.mode === 'configmap' && target.kind === 'kubernetes')
      return new ConfigMapChange({
        core: kube(target).kc.makeApiClient(k8s.CoreV1Api),
        namespace: target.namespace,
        configMap: plan.change.configMap,
      });
    throw adapterMissing(
      `change (${plan.change.mode})`,
      `show, apply or revert a ${plan.change.mode} change`,
    );
  };

  /** The REST API user from the env vars the plan names, or which of them the worker lacks. */
  const apiCredentials = (api: {
    usernameEnv: string;
    passwordEnv: string;
  }): { username: string; password: string } | { missing: string } => {
    const username = env[api.usernameEnv];
    const password = env[api.passwordEnv];
    if (username && password) return { username, password };
    const unset = [api.usernameEnv, api.passwordEnv].filter((n) => !env[n]);
    return { missing: `${unset.join(' and ')} ${unset.length > 1 ? 'are' : 'is'} not set on the worker` };
  };

  const apis = new Map<string, AirflowRestApi>();
  /**
   * The plan's airflow.api with credentials from the env vars it names; S3 (for counting offloaded
   * objects) through the AWS SDK's own chain: AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL, the region
   * and credential variables, profiles, instance roles.
   */
  const airflowApi = (plan: AnyPlan): UpgradeDagRunsPort => {
    const api = plan.airflow.api;
    if (!api)
      throw adapterMissing(
        'Airflow REST API',
        'run the validation DAG or re-run DAG runs: the plan names no airflow.api (url, usernameEnv, passwordEnv)',
      );
    const creds = apiCredentials(api);
    if ('missing' in creds) throw new PermanentFault(creds.missing);
    const { username, password } = creds;
    // Offloaded objects are counted under the path the plan's backend writes to.
    const objectPath =
      plan.kind === 'XComBackendCutover'
        ? plan.spec.xcom.path
        : plan.kind === 'StateStoreBackendCutover'
          ? plan.spec.stateStore.path
          : undefined;
    // The version picks /api/v1 or /api/v2: an upgrade talks to both releases, one client each.
    const key = `${api.url}\u0000${username}\u0000${objectPath ?? ''}\u0000${plan.airflow.version}`;
    let a = apis.get(key);
    if (!a) {
      a = new AirflowRestApi({
        baseUrl: api.url,
        apiVersion: plan.airflow.version.startsWith('2.') ? 'v1' : 'v2',
        username,
        password,
        ...(objectPath === undefined ? {} : { xcomPath: objectPath }),
        s3: s3Options(),
      });
      apis.set(key, a);
    }
    return a;
  };

  /** S3 as the AWS SDK finds it from this worker's env: AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL, region, keys. */
  const s3Options = (): S3ObjectStoreOptions => {
    const endpoint = env.AWS_ENDPOINT_URL_S3 ?? env.AWS_ENDPOINT_URL;
    return {
      ...(endpoint ? { endpoint } : {}),
      region: env.AWS_REGION ?? env.AWS_DEFAULT_REGION ?? 'us-east-1',
      // From the env this worker was given (which need not be process.env); else the SDK's chain.
      ...(env.AWS_ACCESS_KEY_ID && env.AWS_SECRET_ACCESS_KEY
        ? {
            credentials: {
              accessKeyId: env.AWS_ACCESS_KEY_ID,
              secretAccessKey: env.AWS_SECRET_ACCESS_KEY,
              ...(env.AWS_SESSION_TOKEN ? { sessionToken: env.AWS_SESSION_TOKEN } : {}),
            },
          }
        : {}),
    };
  };
  let s3Store: S3ObjectStore | undefined;
  const objectStore = (): ObjectStorePort => (s3Store ??= new S3ObjectStore(s3Options()));

  /** References to offloaded objects: read over the direct metadata-DB connection, by the runbook's tables. */
  const objectReferences = (plan: AnyPlan): ObjectReferencesPort => {
    if (plan.airflow.metadataDb.access !== 'direct')
      throw adapterMissing(
        'object references',
        'compare the bucket with the metadata DB in-pod (not built): set airflow.metadataDb.access to direct',
      );
    return plan.kind === 'XComBackendCutover' ? direct(plan.airflow.metadataDb.urlEnv) : stateStoreDb(plan);
  };

  const localSupervisor = (target: LocalTarget): LocalRollout =>
    new LocalRollout({
      ...(target.supervisor ? { supervisorUrl: target.supervisor } : {}),
      stateFile: supervisorStateFile(envFileOf(target)),
      components: target.components.map((c) => c.name),
    });

  const rollout = (plan: AnyPlan): RolloutPort =>
    plan.target.kind === 'kubernetes' ? kube(plan.target).rollout : localSupervisor(plan.target);

  // ---- the deployment health checks (any plan that names a target and its Airflow) ----

  /** One inspector per kubeconfig (kube() builds one per context, namespace and release). */
  const inspectors = new Map<k8s.KubeConfig, KubeInspector>();
  const clusterInspector = (plan: InspectedPlan): ClusterInspectorPort => {
    if (plan.target.kind !== 'kubernetes')
      throw new PermanentFault('a local target has no Kubernetes API to inspect');
    const { kc } = kube(plan.target);
    let i = inspectors.get(kc);
    if (!i) {
      i = new KubeInspector(kc);
      inspectors.set(kc, i);
    }
    return i;
  };
  const processInspector = (plan: InspectedPlan): ProcessInspectorPort => {
    if (plan.target.kind !== 'local') throw new PermanentFault('a kubernetes target has no local supervisor');
    return localSupervisor(plan.target);
  };
  /** Health and version need no credentials; import errors and DAG warnings use the env vars the plan names. */
  const airflowHealth = (plan: InspectedPlan): AirflowHealthPort => {
    const api = plan.airflow.api;
    if (!api)
      throw adapterMissing('Airflow REST API', "read Airflow's health: the plan names no airflow.api");
    const creds = apiCredentials(api);
    return new AirflowHealthApi({
      baseUrl: api.url,
      apiVersion: plan.airflow.version.startsWith('2.') ? 'v1' : 'v2',
      ...('missing' in creds ? { credentials: null, noCredentials: creds.missing } : { credentials: creds }),
    });
  };
  const deploymentDb = (plan: InspectedPlan): DeploymentDbPort => {
    const access = plan.airflow.metadataDb;
    if (access.access !== 'direct')
      throw adapterMissing(
        'deployment health metadata DB',
        'read DAG visibility and heartbeats in-pod (not built): set airflow.metadataDb.access to direct',
      );
    return direct(access.urlEnv);
  };

  // ---- the upgrade (AirflowUpgrade): the metadata DB as a whole, the releases, stop/start, inventory ----

  // The bucket client is made on first use: most upgrades dump to a directory.
  const s3Files = (): S3ObjectStore => (s3Store ??= new S3ObjectStore(s3Options()));
  const pgBackup = new PgBackup({
    objectStore: {
      putFile: (...a) => s3Files().putFile(...a),
      getFile: (...a) => s3Files().getFile(...a),
      headObject: (...a) => s3Files().headObject(...a),
    },
  });
  const upgradeDbs = new Map<string, UpgradeDatabase>();
  const upgradeDatabase = (plan: UpgradePlan): UpgradeDatabase => {
    const access = plan.airflow.metadataDb;
    if (access.access !== 'direct')
      throw adapterMissing(
        'metadata DB backup and restore',
        'back up the metadata DB: set airflow.metadataDb.access to direct',
      );
    const url = env[access.urlEnv];
    if (!url)
      throw new PermanentFault(`${access.urlEnv} is not set on the worker: it holds the metadata DB's URL`);
    let db = upgradeDbs.get(access.urlEnv);
    if (!db) {
      db = new UpgradeDatabase({ backup: pgBackup, dbUrl: url });
      upgradeDbs.set(access.urlEnv, db);
    }
    return db;
  };
  /**
   * One per target and DB: each keeps a CLI per installed release. On a Kubernetes target the
   * worker's own installs of the releases (.venvs/) render the SQL, rehearse and check the schema
   * over the direct connection; the pods run the images. The config lint of a local component's
   * env is a major upgrade's, which the plan refuses on Kubernetes.
   */
  const releasesByTarget = new Map<string, AirflowReleases>();
  const airflowReleases = (plan: UpgradePlan): AirflowReleases => {
    const target = plan.target;
    const db = upgradeDatabase(plan);
    const where =
      target.kind === 'local'
        ? envFileOf(target)
        : `${target.context ?? ''}/${target.namespace}/${target.release}`;
    const key = `${where}\u0000${db.database}`;
    const known = releasesByTarget.get(key);
    if (known) return known;
    const releases = new AirflowReleases({
      venvFor: (version) => {
        try {
          return airflowVenvFor(version, env);
        } catch (err) {
          if (err instanceof AirflowVersionNotInstalled) return null;
          throw err;
        }
      },
      // Airflow's CLI reads SQLAlchemy URLs; the venvs carry psycopg2, SQLAlchemy's default for them.
      dbUrlFor: (name) => db.urlFor(name).replace(/^postgres(ql)?:\/\//, 'postgresql+psycopg2://'),
      componentEnv: () => {
        if (target.kind !== 'local')
          throw new PermanentFault(
            'the config lint reads a local component’s env; a Kubernetes target’s is in its pods',
          );
        return localComponentEnv(readEnvFileVars(envFileOf(target)), env);
      },
      ruffBin: path.join(venvDir(env), 'bin', 'ruff'),
    });
    releasesByTarget.set(key, releases);
    return releases;
  };
  /** A Kubernetes target's workloads and the chart's migration Job, through its kubeconfig. */
  const kubeWorkloads = (plan: UpgradePlan): KubeAirflowWorkloads | null =>
    plan.target.kind === 'kubernetes'
      ? new KubeAirflowWorkloads({
          kubeConfig: kube(plan.target).kc,
          namespace: plan.target.namespace,
          release: plan.target.release,
          components: plan.target.components,
        })
      : null;
  const migrationJob = (plan: UpgradePlan): MigrationJobPort => {
    const k = kubeWorkloads(plan);
    if (!k)
      throw adapterMissing('the Helm chart migration Job', 'wait for a migration Job on a local target');
    return k;
  };
  const helmValues = (plan: UpgradePlan): HelmValuesPort => {
    const settings = plan.change;
    if (settings.mode !== 'gitops')
      throw adapterMissing('Helm values (GitOps repo)', `read Helm values with change mode ${settings.mode}`);
    const g = new GitOpsChange(settings, gitopsWorkDir, { env });
    return {
      describe: () => g.describeDestination(),
      read: (location, keys) => g.readAt(location, keys),
    };
  };
  const componentPower = (plan: UpgradePlan): ComponentPowerPort => {
    const onKube = kubeWorkloads(plan);
    if (onKube) return onKube;
    if (plan.target.kind !== 'local') throw adapterMissing('component stop/start', 'stop the components');
    const supervisor = localSupervisor(plan.target);
    return {
      async stop(args) {
        const done = await supervisor.stop(args);
        const stops = done
          .map((c) => c.stoppedAt)
          .filter((t): t is string => t !== null)
          .sort();
        return { stoppedAt: stops[0] ?? new Date().toISOString() };
      },
      async start(args) {
        const done = await supervisor.start(args);
        return {
          components: done.map((c) => ({ name: c.component, pid: c.pid ?? 0, startedAt: c.startedAt ?? '' })),
          healthyAt: new Date().toISOString(),
        };
      },
    };
  };
  const upgradeInventory = (plan: UpgradePlan): UpgradeInventoryPort => {
    const { exec, python } = plan.target.kind === 'local' ? localExec(plan.target, true) : execFor(plan);
    const probe = new UpgradeInventoryProbe(exec, { python: () => python() });
    return {
      async inventory(name) {
        const component = plan.target.components.find((c) => c.name === name) ?? { name };
        const inv = await probe.inventory(component);
        return {
          component: name,
          airflowVersion: inv.airflowVersion,
          python: inv.python.version,
          providers: inv.providers.map((p) => ({
            name: p.name,
            version: p.version,
            requiresAirflow: p.airflowRequirements.join('\n'),
          })),
          dagsFolder: inv.dagsFolder,
          error: null,
        };
      },
    };
  };

  return {
    adapters: {
      upgradeDb: upgradeDatabase,
      airflowReleases,
      componentPower,
      upgradeInventory,
      upgradeDagRuns: airflowApi,
      migrationJob,
      helmValues,
      metadb,
      probes: probesFor,
      change,
      rollout,
      airflowApi,
      stateStoreDb,
      stateStoreProbes,
      stateStoreHeal,
      objectStore,
      objectReferences,
      clusterInspector,
      processInspector,
      airflowHealth,
      deploymentDb,
      signatures: new SshKeygen(),
    },
    available: [
      'metadata-DB direct (the plan names the env var holding the URL) or in-pod, on any target',
      'Airflow probes on local targets (components run with the target env file, python from the venv)',
      'Airflow probes and in-pod calibration on kubernetes targets (pod exec; kubeconfig from CUTOVER_KUBECONFIG, KUBECONFIG or the default)',
      'change env-file on local targets',
      `change gitops (clones under ${gitopsWorkDir}; CUTOVER_GITOPS_DIR sets it)`,
      'change configmap and rollout (restart + wait, env read in the live pods) on kubernetes targets',
      'rollout on local targets through the supervisor that runs the components (npm run airflow-local)',
      'state store (StateStoreBackendCutover): the tables over the direct metadata-DB connection; resolve, rehearsal and heal probes inside the components on both targets',
      'object storage (S3 via the AWS SDK): the bucket lifecycle rule (s3:GetLifecycleConfiguration, s3:PutLifecycleConfiguration) and the orphan report (s3:ListBucket, direct metadata-DB access)',
      'deployment health checks: pods, events, claims and nodes (kubernetes, read-only), the supervisor (local), the health endpoint, import errors and DAG warnings (REST API), DAG visibility and heartbeats (direct metadata DB)',
      "signed approvals: SSH signatures checked with ssh-keygen -Y verify against the plan's approval.allowedSigners",
      'upgrade (AirflowUpgrade): pg_dump/pg_restore and clones of the direct metadata DB, the Airflow venvs of .venvs/ and their CLI, the inventory probe in every component; local targets: stop/start through the supervisor; kubernetes targets: the workloads scaled to 0 and back, the Helm values read from the GitOps repo, the chart migration Job waited for',
      "Airflow REST API from the plan's airflow.api (credentials from the env vars it names; S3 via AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL and the AWS SDK's credential chain)",
    ],
    async close() {
      const all = [...pools.values()];
      pools.clear();
      const stateAll = [...stateDbs.values()];
      stateDbs.clear();
      await Promise.all(stateAll.map((db) => db.close()));
      for (const a of apis.values()) a.close();
      s3Store?.close();
      s3Store = undefined;
      apis.clear();
      await Promise.all(all.map((db) => db.close()));
    },
  };
}
