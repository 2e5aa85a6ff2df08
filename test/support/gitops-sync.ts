/**
 * The CD half of GitOps for tests: what Argo CD or Flux does after "merge the branch, CI
 * deploys". It polls a branch of a real git repo, reads the Helm values at a dotted location
 * (e.g. extraConfigMaps.airflow-env.data, or `.` for the whole file) and, when they differ from
 * what it last synced, hands them to `apply` (a ConfigMap write on the Kubernetes API test
 * server). Components still need a restart to see it, as with the official chart's envFrom
 * ConfigMaps.
 *
 * chartReleaseSync is the `apply` of the official chart's release values for the upgrade: the
 * image (`defaultAirflowRepository:defaultAirflowTag`) set on the workloads' templates (a rollout),
 * and the migration Job `<release>-run-airflow-migrations` replaced when its image changed, as Argo
 * CD / Flux apply it when migrateDatabaseJob.useHelmHooks is false (a Job's template is immutable:
 * a new image means a new Job). With hooks on, the CD makes no Job, as they do not run Helm hooks
 * the way `helm upgrade` does.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { parse } from 'yaml';
import type { JsonObject, KubeApiServer, WorkloadKind } from './kube-api-server.js';

const run = promisify(execFile);

export interface GitOpsSyncOptions {
  /** A repo path (bare or not) git can read the branch from. */
  repo: string;
  branch: string;
  valuesFile: string;
  location: string;
  /** `data`: the scalars at `location` as strings; `values`: the whole parsed values file. */
  apply(data: Record<string, string>, values: unknown): void | Promise<void>;
  intervalMs?: number;
}

export interface GitOpsSync {
  /** Syncs that changed something so far. */
  syncs(): number;
  stop(): Promise<void>;
}

function at(doc: unknown, location: string): Record<string, string> {
  let node: unknown = doc;
  for (const part of location === '.' ? [] : location.split('.')) {
    if (node === null || typeof node !== 'object') return {};
    node = (node as Record<string, unknown>)[part];
  }
  if (node === null || typeof node !== 'object') return {};
  return Object.fromEntries(Object.entries(node as Record<string, unknown>).map(([k, v]) => [k, String(v)]));
}

export function startGitOpsSync(opts: GitOpsSyncOptions): GitOpsSync {
  let last: string | null = null;
  let count = 0;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let inFlight: Promise<void> = Promise.resolve();

  const tick = async () => {
    const { stdout } = await run('git', ['-C', opts.repo, 'show', `${opts.branch}:${opts.valuesFile}`], {
      env: { ...process.env, GIT_CONFIG_GLOBAL: '/dev/null' },
    });
    const values: unknown = parse(stdout);
    const data = at(values, opts.location);
    const key = JSON.stringify(opts.location === '.' ? values : data);
    if (key === last) return;
    await opts.apply(data, values);
    if (last !== null) count++;
    last = key;
  };
  const loop = () => {
    if (stopped) return;
    inFlight = tick()
      .catch(() => undefined) // a half-written repo is read again next time
      .finally(() => {
        if (!stopped) timer = setTimeout(loop, opts.intervalMs ?? 300);
      });
  };
  loop();
  return {
    syncs: () => count,
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await inFlight;
    },
  };
}

export interface ChartReleaseSyncOptions {
  kube: KubeApiServer;
  namespace: string;
  /** The Helm release: the Job is `<release>-run-airflow-migrations`. */
  release: string;
  workloads: { kind: WorkloadKind; name: string }[];
  /** The env of the Job's container (the chart's standard Airflow env: the DB connection...). */
  jobEnv: Record<string, string>;
  workingDir?: string;
}

const child = (o: unknown, k: string): Record<string, unknown> => {
  const v = o !== null && typeof o === 'object' ? (o as Record<string, unknown>)[k] : undefined;
  return v !== null && typeof v === 'object' ? (v as Record<string, unknown>) : {};
};

/** The official chart's release values applied to the test cluster (see the header). */
export function chartReleaseSync(o: ChartReleaseSyncOptions): GitOpsSyncOptions['apply'] {
  return (_data, values) => {
    const root = values !== null && typeof values === 'object' ? (values as Record<string, unknown>) : {};
    const repo = String(root['defaultAirflowRepository'] ?? 'apache/airflow');
    const tag = String(root['defaultAirflowTag'] ?? root['airflowVersion'] ?? '');
    const image = `${repo}:${tag}`;
    for (const w of o.workloads) {
      const live = o.kube.getWorkload(w.kind, o.namespace, w.name);
      const containers = child(child(child(live, 'spec'), 'template'), 'spec')['containers'];
      const now = Array.isArray(containers)
        ? (containers[0] as JsonObject | undefined)?.['image']
        : undefined;
      if (now !== image) o.kube.setWorkloadImage(w.kind, o.namespace, w.name, image);
    }
    const job = child(root, 'migrateDatabaseJob');
    if (job['enabled'] === false || job['useHelmHooks'] !== false) return;
    const name = `${o.release}-run-airflow-migrations`;
    const existing = o.kube.getJob(o.namespace, name);
    const running = child(child(child(existing, 'spec'), 'template'), 'spec')['containers'];
    if (Array.isArray(running) && (running[0] as JsonObject | undefined)?.['image'] === image) return;
    if (existing) o.kube.deleteJob(o.namespace, name);
    const labels = { tier: 'airflow', component: 'run-airflow-migrations', release: o.release };
    o.kube.createJob({
      apiVersion: 'batch/v1',
      kind: 'Job',
      metadata: { name, namespace: o.namespace, labels },
      spec: {
        template: {
          metadata: { labels },
          spec: {
            restartPolicy: 'OnFailure',
            containers: [
              {
                name: 'run-airflow-migrations',
                image,
                command: ['airflow', 'db', 'migrate'],
                env: Object.entries(o.jobEnv).map(([n, value]) => ({ name: n, value })),
                ...(o.workingDir ? { workingDir: o.workingDir } : {}),
              },
            ],
          },
        },
      },
    });
  };
}
