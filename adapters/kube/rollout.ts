/**
 * RolloutPort for a `kubernetes` target: restart the components' Deployments / StatefulSets and
 * wait until every live pod carries the wanted env.
 *
 * Per component, within one shared deadline:
 * 1. Wait until the workload's pod template (its env, and the ConfigMaps of its envFrom /
 *    configMapKeyRef) resolves to the wanted values. With GitOps this is the wait for CD to sync
 *    the merge; with a ConfigMap patch it holds at once.
 * 2. If the workload's rollout is complete and its Ready pods already carry the env (a retry
 *    after this worker died, or a chart that rolls pods on config change), nothing restarts.
 * 3. Else `kubectl rollout restart`: a strategic-merge patch of the template's
 *    `kubectl.kubernetes.io/restartedAt` annotation (once per call).
 * 4. Wait like `kubectl rollout status` (observedGeneration, updated / ready / available
 *    replicas, old replicas gone; a Deployment's ProgressDeadlineExceeded ends the wait at once),
 *    then read the env of each Ready pod from inside it: a pod's env is fixed when its container
 *    starts, so the pod, not the ConfigMap, is the truth.
 *
 * A component that does not get there is reported not ready with the reason; the workflow's gate
 * decides. Only faults retrying cannot fix (missing workload, refused by RBAC) throw.
 */
import * as k8s from '@kubernetes/client-node';
import type { Heartbeat, RolloutPort } from '../../activities/adapters.js';
import { PermanentFault } from '../../activities/engine/errors.js';
import type { Component } from '../../domain/plan.js';
import { componentSelector, type KubeExecPort } from './exec.js';
import { kubeErrorText, kubeStatusCode } from './errors.js';
import { envMismatches as mismatches } from '../../domain/env-mismatch.js';
import { DEFAULT_REACH_RETRY, triesText, whileReachable, type ReachRetry } from '../controller-reach.js';

export const RESTARTED_AT = 'kubectl.kubernetes.io/restartedAt';

export type WorkloadKind = 'Deployment' | 'StatefulSet';
export interface WorkloadRef {
  kind: WorkloadKind;
  name: string;
}

/**
 * The workload that owns a component's pods: the plan's, else the official Helm chart's names
 * (`<release>-<component>`; worker and triggerer are StatefulSets there).
 */
export function workloadOf(component: Component, release: string): WorkloadRef {
  if (component.workload) return component.workload;
  const kind: WorkloadKind =
    component.name === 'worker' || component.name === 'triggerer' ? 'StatefulSet' : 'Deployment';
  return { kind, name: `${release}-${component.name}` };
}

/** Reads the named env vars inside the pod; prints JSON (null = unset). Values never leave as logs. */
const READ_ENV = 'import json,os,sys; print(json.dumps({k: os.environ.get(k) for k in sys.argv[1:]}))';

export interface KubeRolloutOptions {
  kubeConfig: k8s.KubeConfig;
  namespace: string;
  release: string;
  exec: KubeExecPort;
  /** How python is invoked in the pods (the official image: `python`). */
  python: string[];
  /** Poll interval (default 1 s). */
  pollMs?: number;
  /** How an API server that refuses connections is tried again before the step fails (default 3 tries over 30 s). */
  reachRetry?: ReachRetry;
}

type Env = Record<string, string | null>;
type Workload = k8s.V1Deployment | k8s.V1StatefulSet;

interface RolloutState {
  done: boolean;
  failed: boolean;
  detail: string;
}

function isPodReady(pod: k8s.V1Pod): boolean {
  return (
    pod.metadata?.deletionTimestamp === undefined &&
    pod.status?.phase === 'Running' &&
    (pod.status.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True')
  );
}

export function deploymentState(d: k8s.V1Deployment): RolloutState {
  const name = d.metadata?.name ?? '?';
  const st = d.status ?? {};
  if ((d.metadata?.generation ?? 0) > (st.observedGeneration ?? 0))
    return {
      done: false,
      failed: false,
      detail: `waiting for deployment "${name}" spec update to be observed`,
    };
  const progressing = (st.conditions ?? []).find((c) => c.type === 'Progressing');
  if (progressing?.reason === 'ProgressDeadlineExceeded')
    return {
      done: false,
      failed: true,
      detail: `deployment "${name}" exceeded its progress deadline: ${progressing.message ?? 'no message'}`,
    };
  const want = d.spec?.replicas ?? 1;
  const updated = st.updatedReplicas ?? 0;
  if (updated < want)
    return {
      done: false,
      failed: false,
      detail: `deployment "${name}": ${updated} of ${want} new replicas updated`,
    };
  if ((st.replicas ?? 0) > updated)
    return {
      done: false,
      failed: false,
      detail: `deployment "${name}": ${(st.replicas ?? 0) - updated} old replicas pending termination`,
    };
  if ((st.availableReplicas ?? 0) < updated)
    return {
      done: false,
      failed: false,
      detail: `deployment "${name}": ${st.availableReplicas ?? 0} of ${updated} updated replicas available`,
    };
  return { done: true, failed: false, detail: `deployment "${name}" successfully rolled out` };
}

export function statefulSetState(s: k8s.V1StatefulSet): RolloutState {
  const name = s.metadata?.name ?? '?';
  const st = s.status ?? { replicas: 0 };
  if ((s.metadata?.generation ?? 0) > (st.observedGeneration ?? 0))
    return {
      done: false,
      failed: false,
      detail: `waiting for statefulset "${name}" spec update to be observed`,
    };
  const want = s.spec?.replicas ?? 1;
  if ((st.readyReplicas ?? 0) < want)
    return {
      done: false,
      failed: false,
      detail: `statefulset "${name}": ${st.readyReplicas ?? 0} of ${want} pods ready`,
    };
  if ((s.spec?.updateStrategy?.type ?? 'RollingUpdate') === 'RollingUpdate') {
    if ((st.updatedReplicas ?? 0) < want || (st.updateRevision && st.updateRevision !== st.currentRevision))
      return {
        done: false,
        failed: false,
        detail: `statefulset "${name}": ${st.updatedReplicas ?? 0} of ${want} pods at revision ${st.updateRevision ?? '?'}`,
      };
  }
  return { done: true, failed: false, detail: `statefulset "${name}" rolling update complete` };
}

export class KubeRollout implements RolloutPort {
  private readonly core: k8s.CoreV1Api;
  private readonly apps: k8s.AppsV1Api;
  private readonly pollMs: number;

  constructor(private readonly options: KubeRolloutOptions) {
    this.core = options.kubeConfig.makeApiClient(k8s.CoreV1Api);
    this.apps = options.kubeConfig.makeApiClient(k8s.AppsV1Api);
    this.pollMs = options.pollMs ?? 1000;
  }

  async restartAndWait(args: {
    components: Component[];
    expectEnv: Env;
    timeoutMs: number;
    heartbeat: Heartbeat;
  }): Promise<{ name: string; ready: boolean; detail: string }[]> {
    const deadline = Date.now() + args.timeoutMs;
    const retry = this.options.reachRetry ?? DEFAULT_REACH_RETRY;
    const names = args.components.map((c) => c.name).join(', ');
    const server = this.options.kubeConfig.getCurrentCluster()?.server ?? '(the kubeconfig names none)';
    // A connection error starts the component's wait again (each step of it is idempotent); after
    // the bounded retry the step fails once for all components, not once per component.
    return whileReachable(
      () =>
        Promise.all(
          args.components.map((c) => this.one(c, args.expectEnv, deadline, args.timeoutMs, args.heartbeat)),
        ),
      retry,
      (since, code, tries) =>
        `Kubernetes API server unreachable at ${server} (${code}, ${triesText(tries, retry)}): ` +
        `the rollout of ${names} can be neither driven nor watched since ${since}; ` +
        'their pods may still run, on whichever config they started with',
      (code, tried) =>
        args.heartbeat({
          waiting: `Kubernetes API server unreachable (${code}), try ${tried}/${retry.tries}`,
        }),
    );
  }

  private async one(
    component: Component,
    want: Env,
    deadline: number,
    timeoutMs: number,
    heartbeat: Heartbeat,
  ): Promise<{ name: string; ready: boolean; detail: string }> {
    const ref = workloadOf(component, this.options.release);
    const label = `${ref.kind} ${this.options.namespace}/${ref.name}`;
    const result = (ready: boolean, detail: string) => ({ name: component.name, ready, detail });
    let last = '';
    const timedOut = () => result(false, `not there after ${Math.round(timeoutMs / 1000)} s: ${last}`);

    // 1. The config source must resolve to the wanted env before a restart can pick it up.
    for (;;) {
      const wl = await this.read(ref);
      const template = await this.templateEnv(wl, component, Object.keys(want));
      const known = Object.fromEntries(Object.entries(want).filter(([k]) => k in template));
      const problems = mismatches(template, known);
      if (problems.length === 0) break;
      last = `the pod template of ${label} does not resolve to the wanted env yet (${problems.join('; ')}); GitOps sync pending?`;
      if (Date.now() >= deadline) return timedOut();
      heartbeat({ component: component.name, waiting: last });
      await sleep(this.pollMs);
    }

    let restarted = false;
    for (;;) {
      const wl = await this.read(ref);
      const state =
        ref.kind === 'Deployment' ? deploymentState(wl) : statefulSetState(wl as k8s.V1StatefulSet);
      if (state.failed) {
        // Stuck before our restart (an earlier change, or the very config we are reverting): a new
        // template revision is how it gets unstuck. Stuck after it: that is the verdict.
        if (restarted) return result(false, state.detail);
        last = state.detail;
        await this.restart(ref);
        restarted = true;
        continue;
      }
      if (state.done) {
        const pods = await this.podsCarry(component, want);
        if (pods.ok)
          return result(
            true,
            `${pods.detail}${restarted ? ` after restarting ${label}` : ' (no restart needed)'}`,
          );
        last = pods.detail;
        if (!restarted) {
          // 3. kubectl rollout restart: new pods read the env afresh.
          await this.restart(ref);
          restarted = true;
          continue;
        }
      } else {
        last = state.detail;
      }
      if (Date.now() >= deadline) return timedOut();
      heartbeat({ component: component.name, waiting: last });
      await sleep(this.pollMs);
    }
  }

  private async read(ref: WorkloadRef): Promise<Workload> {
    const { namespace } = this.options;
    try {
      return ref.kind === 'Deployment'
        ? await this.apps.readNamespacedDeployment({ name: ref.name, namespace })
        : await this.apps.readNamespacedStatefulSet({ name: ref.name, namespace });
    } catch (err) {
      throw this.fault(`reading ${ref.kind} ${namespace}/${ref.name}`, err);
    }
  }

  private async restart(ref: WorkloadRef): Promise<void> {
    const { namespace } = this.options;
    const body = {
      spec: { template: { metadata: { annotations: { [RESTARTED_AT]: new Date().toISOString() } } } },
    };
    const opts = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.StrategicMergePatch);
    try {
      if (ref.kind === 'Deployment')
        await this.apps.patchNamespacedDeployment({ name: ref.name, namespace, body }, opts);
      else await this.apps.patchNamespacedStatefulSet({ name: ref.name, namespace, body }, opts);
    } catch (err) {
      throw this.fault(`restarting ${ref.kind} ${namespace}/${ref.name}`, err);
    }
  }

  /**
   * What the pod template resolves the keys to: envFrom ConfigMaps, then env (which wins). Keys
   * set from a Secret or a field reference are left out: only the pods can tell their value.
   */
  private async templateEnv(
    wl: Workload,
    component: Component,
    keys: string[],
  ): Promise<Record<string, string | null>> {
    const containers = wl.spec?.template.spec?.containers ?? [];
    const wanted = component.container ?? component.name;
    const container =
      containers.find((c) => c.name === wanted) ?? (containers.length === 1 ? containers[0] : undefined);
    if (!container)
      throw new PermanentFault(
        `${wl.kind ?? 'workload'} ${wl.metadata?.name ?? '?'} has no container ${wanted} (containers: ${containers.map((c) => c.name).join(', ') || 'none'})`,
      );
    const env = new Map<string, string | null>(keys.map((k) => [k, null]));
    const cms = new Map<string, Record<string, string> | null>();
    const cmData = async (name: string) => {
      if (!cms.has(name)) cms.set(name, await this.configMapData(name));
      return cms.get(name) ?? null;
    };
    for (const from of container.envFrom ?? []) {
      if (!from.configMapRef?.name) continue;
      const data = (await cmData(from.configMapRef.name)) ?? {};
      for (const [k, v] of Object.entries(data)) {
        const name = `${from.prefix ?? ''}${k}`;
        if (env.has(name)) env.set(name, v);
      }
    }
    for (const e of container.env ?? []) {
      if (!env.has(e.name)) continue;
      if (e.value !== undefined) env.set(e.name, e.value);
      else if (e.valueFrom?.configMapKeyRef) {
        const ref = e.valueFrom.configMapKeyRef;
        env.set(e.name, (await cmData(ref.name ?? ''))?.[ref.key] ?? null);
      } else env.delete(e.name);
    }
    return Object.fromEntries(env);
  }

  private async configMapData(name: string): Promise<Record<string, string> | null> {
    try {
      const cm = await this.core.readNamespacedConfigMap({ name, namespace: this.options.namespace });
      return cm.data ?? {};
    } catch (err) {
      // An optional envFrom ConfigMap may be absent: the pods then start without it.
      if (kubeStatusCode(err) === 404) return null;
      throw this.fault(`reading ConfigMap ${this.options.namespace}/${name}`, err);
    }
  }

  /** Every Ready pod of the component carries the env, read from inside the pod. */
  private async podsCarry(component: Component, want: Env): Promise<{ ok: boolean; detail: string }> {
    const selector = componentSelector(component, this.options.release);
    const labelSelector = Object.entries(selector)
      .map(([k, v]) => `${k}=${v}`)
      .join(',');
    let pods: k8s.V1Pod[];
    try {
      pods = (await this.core.listNamespacedPod({ namespace: this.options.namespace, labelSelector })).items;
    } catch (err) {
      throw this.fault(`listing pods ${labelSelector}`, err);
    }
    const live = pods.filter((p) => p.metadata?.deletionTimestamp === undefined);
    const ready = live.filter(isPodReady);
    if (ready.length === 0) return { ok: false, detail: `no Ready pod matches ${labelSelector}` };
    if (ready.length < live.length)
      return {
        ok: false,
        detail: `${live.length - ready.length} of ${live.length} pods matching ${labelSelector} not Ready`,
      };
    const keys = Object.keys(want);
    const container = component.container ?? component.name;
    for (const pod of ready) {
      const name = pod.metadata?.name ?? '?';
      const res = await this.options.exec.execIn({
        component,
        pod: name,
        container,
        command: [...this.options.python, '-c', READ_ENV, ...keys],
        timeoutMs: 60_000,
      });
      if (res.exitCode !== 0)
        return {
          ok: false,
          detail: `reading the env in pod ${name} exited ${res.exitCode}: ${res.stderr.trim().slice(-300)}`,
        };
      let env: Record<string, string | null>;
      try {
        env = JSON.parse(res.stdout.trim().split('\n').pop() ?? '') as Record<string, string | null>;
      } catch {
        return { ok: false, detail: `pod ${name} printed no env JSON` };
      }
      const problems = mismatches(env, want);
      if (problems.length > 0) return { ok: false, detail: `pod ${name}: ${problems.join('; ')}` };
    }
    return { ok: true, detail: `${ready.length} Ready pod(s) carry the env` };
  }

  private fault(what: string, err: unknown): Error {
    const code = kubeStatusCode(err);
    if (code === 404) return new PermanentFault(`${what}: not found: ${kubeErrorText(err)}`);
    if (code === 401 || code === 403)
      return new PermanentFault(`${what} was refused (${code}): ${kubeErrorText(err)}`);
    return new Error(`${what}: ${kubeErrorText(err)}`, { cause: err });
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
