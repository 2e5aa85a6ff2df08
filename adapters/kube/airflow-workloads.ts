/**
 * The upgrade's hold on a `kubernetes` target's Airflow, through the Kubernetes API:
 *
 * - ComponentPowerPort: DRAIN scales every component's Deployment / StatefulSet to 0 and waits
 *   until its pods are gone; start scales each back and waits like `kubectl rollout status`. The
 *   replicas a workload had are kept ON the workload (annotation cutover.io/replicas-before-drain),
 *   so a retried or compensating step on another worker scales back to the same number, and a
 *   second stop (the rollback's) never overwrites them with 0.
 * - MigrationJobPort: the official chart's migration Job (`<release>-run-airflow-migrations`),
 *   which Argo CD / Flux apply as a plain resource when migrateDatabaseJob.useHelmHooks is false.
 *   cutover does not create it: the GitOps merge of the new image makes the CD replace it, and
 *   this waits for the Job whose image carries the new release to complete or fail.
 */
import * as k8s from '@kubernetes/client-node';
import type { Heartbeat } from '../../activities/heartbeat.js';
import { PermanentFault } from '../../activities/engine/errors.js';
import type {
  ComponentPowerPort,
  MigrationJobPort,
  MigrationJobRun,
} from '../../activities/upgrade-ports.js';
import type { Component } from '../../domain/plan.js';
import { kubeErrorText, kubeStatusCode } from './errors.js';
import { deploymentState, statefulSetState, workloadOf, type WorkloadRef } from './rollout.js';

export const REPLICAS_BEFORE_DRAIN = 'cutover.io/replicas-before-drain';

export interface KubeAirflowWorkloadsOptions {
  kubeConfig: k8s.KubeConfig;
  namespace: string;
  release: string;
  components: Component[];
  /** Poll interval (default 500 ms). */
  pollMs?: number;
}

type Workload = k8s.V1Deployment | k8s.V1StatefulSet;

/** The release an image's tag names (`3.3.2`, `slim-3.3.2-python3.12`), or null. */
export function releaseOfImage(image: string): string | null {
  const tag = /:([^/:@]+)$/.exec(image)?.[1] ?? '';
  return /(\d+\.\d+\.\d+)/.exec(tag)?.[1] ?? null;
}

export class KubeAirflowWorkloads implements ComponentPowerPort, MigrationJobPort {
  private readonly apps: k8s.AppsV1Api;
  private readonly core: k8s.CoreV1Api;
  private readonly batch: k8s.BatchV1Api;

  constructor(private readonly options: KubeAirflowWorkloadsOptions) {
    this.apps = options.kubeConfig.makeApiClient(k8s.AppsV1Api);
    this.core = options.kubeConfig.makeApiClient(k8s.CoreV1Api);
    this.batch = options.kubeConfig.makeApiClient(k8s.BatchV1Api);
  }

  /** The chart names it after the release: `{{ .Release.Name }}-run-airflow-migrations`. */
  get jobName(): string {
    return `${this.options.release}-run-airflow-migrations`;
  }

  private get pollMs(): number {
    return this.options.pollMs ?? 500;
  }

  private refs(components: string[]): WorkloadRef[] {
    return components.map((name) => {
      const c = this.options.components.find((x) => x.name === name) ?? { name };
      return workloadOf(c, this.options.release);
    });
  }

  private async read(ref: WorkloadRef): Promise<Workload> {
    const { namespace } = this.options;
    try {
      return ref.kind === 'Deployment'
        ? await this.apps.readNamespacedDeployment({ name: ref.name, namespace })
        : await this.apps.readNamespacedStatefulSet({ name: ref.name, namespace });
    } catch (err) {
      const code = kubeStatusCode(err);
      if (code === 404 || code === 403)
        throw new PermanentFault(`${ref.kind} ${namespace}/${ref.name}: ${kubeErrorText(err)}`);
      throw err;
    }
  }

  private async patch(ref: WorkloadRef, body: object): Promise<void> {
    const { namespace } = this.options;
    const opts = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch);
    if (ref.kind === 'Deployment')
      await this.apps.patchNamespacedDeployment({ name: ref.name, namespace, body }, opts);
    else await this.apps.patchNamespacedStatefulSet({ name: ref.name, namespace, body }, opts);
  }

  private async podsOf(w: Workload): Promise<k8s.V1Pod[]> {
    const labels = w.spec?.selector.matchLabels ?? {};
    const labelSelector = Object.entries(labels)
      .map(([k, v]) => `${k}=${v}`)
      .join(',');
    const list = await this.core.listNamespacedPod({ namespace: this.options.namespace, labelSelector });
    return list.items;
  }

  async stop({
    components,
    heartbeat,
  }: {
    components: string[];
    heartbeat?: Heartbeat;
  }): Promise<{ stoppedAt: string }> {
    const refs = this.refs(components);
    for (const ref of refs) {
      const w = await this.read(ref);
      const replicas = w.spec?.replicas ?? 1;
      const kept = w.metadata?.annotations?.[REPLICAS_BEFORE_DRAIN];
      // Already at 0 with the number kept: a retry, or the rollback's stop after DRAIN.
      if (replicas === 0 && kept !== undefined) continue;
      await this.patch(ref, {
        metadata: { annotations: { [REPLICAS_BEFORE_DRAIN]: String(replicas) } },
        spec: { replicas: 0 },
      });
    }
    for (;;) {
      const left: string[] = [];
      for (const ref of refs) {
        const pods = await this.podsOf(await this.read(ref));
        if (pods.length > 0) left.push(`${ref.kind} ${ref.name}: ${pods.length} pod(s)`);
      }
      heartbeat?.({ phase: 'scale to 0', left });
      if (left.length === 0) return { stoppedAt: new Date().toISOString() };
      await sleep(this.pollMs);
    }
  }

  async start({
    components,
    timeoutMs,
    heartbeat,
  }: {
    components: string[];
    timeoutMs: number;
    heartbeat?: Heartbeat;
  }): Promise<{ components: { name: string; pid: number; startedAt: string }[]; healthyAt: string }> {
    const refs = this.refs(components);
    for (const ref of refs) {
      const w = await this.read(ref);
      const kept = w.metadata?.annotations?.[REPLICAS_BEFORE_DRAIN];
      if (kept === undefined) continue; // never drained (or started already): left as it is
      const replicas = Number.parseInt(kept, 10);
      await this.patch(ref, {
        metadata: { annotations: { [REPLICAS_BEFORE_DRAIN]: null } },
        spec: { replicas: Number.isInteger(replicas) && replicas >= 0 ? replicas : 1 },
      });
    }
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const waiting: string[] = [];
      for (const ref of refs) {
        const w = await this.read(ref);
        const s =
          ref.kind === 'Deployment'
            ? deploymentState(w as k8s.V1Deployment)
            : statefulSetState(w as k8s.V1StatefulSet);
        if (s.failed) throw new PermanentFault(s.detail);
        if (!s.done || (w.status?.readyReplicas ?? 0) < (w.spec?.replicas ?? 1)) waiting.push(s.detail);
      }
      heartbeat?.({ phase: 'scale back', waiting });
      if (waiting.length === 0) break;
      if (Date.now() > deadline)
        throw new PermanentFault(
          `not every component is back within the rollout timeout: ${waiting.join('; ')}`,
        );
      await sleep(this.pollMs);
    }
    const out: { name: string; pid: number; startedAt: string }[] = [];
    for (const [i, ref] of refs.entries()) {
      const pods = await this.podsOf(await this.read(ref));
      const started = pods
        .map((p) => p.metadata?.creationTimestamp)
        .filter((t): t is Date => t instanceof Date)
        .map((t) => t.toISOString())
        .sort();
      out.push({ name: components[i] ?? ref.name, pid: 0, startedAt: started.at(-1) ?? '' });
    }
    return { components: out, healthyAt: new Date().toISOString() };
  }

  async awaitFor({
    release,
    timeoutMs,
    heartbeat,
  }: {
    release: string;
    timeoutMs: number;
    heartbeat?: Heartbeat;
  }): Promise<MigrationJobRun> {
    const { namespace } = this.options;
    const name = this.jobName;
    const deadline = Date.now() + timeoutMs;
    let seen = 'no Job yet';
    for (;;) {
      let job: k8s.V1Job | null = null;
      try {
        job = await this.batch.readNamespacedJob({ name, namespace });
      } catch (err) {
        const code = kubeStatusCode(err);
        if (code === 403) throw new PermanentFault(`Job ${namespace}/${name}: ${kubeErrorText(err)}`);
        if (code !== 404) throw err;
      }
      const image = job?.spec?.template.spec?.containers[0]?.image ?? '';
      if (job && releaseOfImage(image) === release) {
        const conds = job.status?.conditions ?? [];
        const done = conds.find((c) => (c.type === 'Complete' || c.type === 'Failed') && c.status === 'True');
        if (done) {
          const at = (d: Date | undefined) => (d instanceof Date ? d.toISOString() : null);
          return {
            job: name,
            image,
            succeeded: done.type === 'Complete',
            startedAt: at(job.status?.startTime),
            finishedAt: at(job.status?.completionTime) ?? at(done.lastTransitionTime),
            reason: done.type === 'Complete' ? '' : `${done.reason ?? 'Failed'}: ${done.message ?? ''}`,
          };
        }
        seen = `Job ${name} (${image}) running`;
      } else if (job) {
        seen = `Job ${name} still runs ${image || 'no image'}: waiting for the CD to apply the merge`;
      }
      heartbeat?.({ phase: 'migration job', seen });
      if (Date.now() > deadline)
        throw new PermanentFault(
          `the chart's migration Job for Airflow ${release} did not finish within ${Math.round(timeoutMs / 1000)} s (${seen})`,
        );
      await sleep(this.pollMs);
    }
  }
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
