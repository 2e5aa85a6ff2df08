/**
 * The read-only look at a Kubernetes target the deployment health checks take: the namespace's
 * pods (each mapped to the plan component whose selector matches it), its events, its claims, the
 * nodes, and the chart values that decide volume sharing. Verbs: get namespaces; list pods,
 * events, persistentvolumeclaims (namespaced) and nodes (cluster-wide; a namespaced Role that may
 * not list them is a note, not a failure).
 */
import { readFileSync } from 'node:fs';
import * as k8s from '@kubernetes/client-node';
import { parse as parseYaml } from 'yaml';
import type { ClusterInspectorPort } from '../../activities/deployment-health-ports.js';
import type {
  ChartValues,
  ClaimSnapshot,
  ContainerSnapshot,
  EventSnapshot,
  PodSnapshot,
} from '../../domain/assessment/snapshot.js';
import type { Component } from '../../domain/engine/plan.js';
import { kubeErrorText, kubeStatusCode } from './errors.js';
import { componentSelector } from './exec.js';

/** Events older than this say nothing about the deployment now. */
const EVENT_WINDOW_MS = 60 * 60 * 1000;

export class KubeInspector implements ClusterInspectorPort {
  private readonly core: k8s.CoreV1Api;

  constructor(kubeConfig: k8s.KubeConfig) {
    this.core = kubeConfig.makeApiClient(k8s.CoreV1Api);
  }

  async inspect(args: { namespace: string; release: string; components: Component[]; helmValues?: string }) {
    const { namespace } = args;
    const empty = {
      source: 'kubernetes' as const,
      namespace,
      pods: [],
      events: [],
      claims: [],
      nodes: null,
      values: null,
      notes: [] as string[],
    };
    try {
      await this.core.readNamespace({ name: namespace });
    } catch (err) {
      if (kubeStatusCode(err) === 404) return { ...empty, namespaceExists: false, error: null };
      // 403 on namespaces is common for namespaced accounts: go on and let the lists answer.
      if (kubeStatusCode(err) !== 403)
        return {
          ...empty,
          namespaceExists: null,
          error: `GET namespace ${namespace}: ${kubeErrorText(err)}`,
        };
      empty.notes.push(
        `get namespace ${namespace} was refused (403): its existence is judged from the pod list`,
      );
    }
    let podList: k8s.V1PodList;
    try {
      podList = await this.core.listNamespacedPod({ namespace });
    } catch (err) {
      return { ...empty, namespaceExists: null, error: `list pods in ${namespace}: ${kubeErrorText(err)}` };
    }
    const notes = [...empty.notes];
    const [events, claims, nodes] = await Promise.all([
      this.core.listNamespacedEvent({ namespace }).then(
        (l) => l.items,
        (err: unknown) => {
          notes.push(`list events in ${namespace}: ${kubeErrorText(err)}`);
          return [] as k8s.CoreV1Event[];
        },
      ),
      this.core.listNamespacedPersistentVolumeClaim({ namespace }).then(
        (l) => l.items,
        (err: unknown) => {
          notes.push(`list persistentvolumeclaims in ${namespace}: ${kubeErrorText(err)}`);
          return [] as k8s.V1PersistentVolumeClaim[];
        },
      ),
      this.core.listNode().then(
        (l) => l.items,
        (err: unknown) => {
          notes.push(`list nodes: ${kubeErrorText(err)} (placement is judged from pod node names)`);
          return null;
        },
      ),
    ]);
    const selectors = args.components.map((c) => ({
      name: c.name,
      selector: componentSelector(c, args.release),
    }));
    const now = Date.now();
    return {
      source: 'kubernetes' as const,
      namespace,
      namespaceExists: true,
      pods: podList.items.map((p) => podSnapshot(p, selectors)).sort(byName),
      events: events
        .filter((e) => now - eventTime(e) <= EVENT_WINDOW_MS)
        .map(eventSnapshot)
        .sort((a, b) => (a.lastSeen ?? '').localeCompare(b.lastSeen ?? '')),
      claims: claims.map(claimSnapshot).sort(byName),
      nodes:
        nodes?.map((n) => ({
          name: n.metadata?.name ?? '?',
          ready: (n.status?.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True'),
        })) ?? null,
      values: args.helmValues ? readChartValues(args.helmValues, notes) : null,
      error: null,
      notes,
    };
  }
}

function byName<T extends { name: string }>(a: T, b: T): number {
  return a.name.localeCompare(b.name);
}

function podSnapshot(
  p: k8s.V1Pod,
  selectors: { name: string; selector: Record<string, string> }[],
): PodSnapshot {
  const labels = p.metadata?.labels ?? {};
  const component =
    selectors.find((s) => Object.entries(s.selector).every(([k, v]) => labels[k] === v))?.name ?? null;
  const initContainers = (p.spec?.initContainers ?? []).map((c) =>
    containerSnapshot(c.name, p.status?.initContainerStatuses ?? []),
  );
  const containers = (p.spec?.containers ?? []).map((c) =>
    containerSnapshot(c.name, p.status?.containerStatuses ?? []),
  );
  const ready = (p.status?.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True');
  return {
    name: p.metadata?.name ?? '?',
    component,
    phase: p.status?.phase ?? 'Unknown',
    status: kubectlStatus(p, initContainers, containers),
    node: p.spec?.nodeName ?? null,
    ready,
    createdAt: toIso(p.metadata?.creationTimestamp) ?? '',
    initContainers,
    containers,
    claims: (p.spec?.volumes ?? [])
      .map((v) => v.persistentVolumeClaim?.claimName)
      .filter((c): c is string => typeof c === 'string'),
  };
}

function containerSnapshot(name: string, statuses: k8s.V1ContainerStatus[]): ContainerSnapshot {
  const s = statuses.find((x) => x.name === name);
  const st = s?.state;
  const state: ContainerSnapshot['state'] = st?.running
    ? 'running'
    : st?.waiting
      ? 'waiting'
      : st?.terminated
        ? 'terminated'
        : 'unknown';
  return {
    name,
    ready: s?.ready ?? false,
    restarts: s?.restartCount ?? 0,
    state,
    reason: st?.waiting?.reason ?? st?.terminated?.reason ?? null,
    message: st?.waiting?.message ?? st?.terminated?.message ?? null,
    lastTermination: s?.lastState?.terminated?.reason ?? null,
  };
}

/** The STATUS column of `kubectl get pods` (its printer's rules, the common cases). */
function kubectlStatus(p: k8s.V1Pod, init: ContainerSnapshot[], containers: ContainerSnapshot[]): string {
  if (p.metadata?.deletionTimestamp) return 'Terminating';
  const done = init.filter((c) => c.state === 'terminated' && c.reason === 'Completed').length;
  const pendingInit = init.find((c) => !(c.state === 'terminated' && c.reason === 'Completed'));
  if (pendingInit) {
    if (pendingInit.state === 'terminated') return `Init:${pendingInit.reason ?? 'Error'}`;
    if (pendingInit.state === 'waiting' && pendingInit.reason && pendingInit.reason !== 'PodInitializing')
      return `Init:${pendingInit.reason}`;
    return `Init:${done}/${init.length}`;
  }
  const stuck = containers.find(
    (c) => c.state === 'waiting' || (c.state === 'terminated' && c.reason !== 'Completed'),
  );
  if (stuck?.reason) return stuck.reason;
  return p.status?.reason ?? p.status?.phase ?? 'Unknown';
}

function eventTime(e: k8s.CoreV1Event): number {
  const t = e.lastTimestamp ?? e.eventTime ?? e.firstTimestamp ?? e.metadata?.creationTimestamp;
  const iso = toIso(t);
  return iso ? Date.parse(iso) : 0;
}

function eventSnapshot(e: k8s.CoreV1Event): EventSnapshot {
  return {
    type: e.type ?? 'Normal',
    reason: e.reason ?? '',
    message: (e.message ?? '').trim(),
    object: { kind: e.involvedObject.kind ?? '', name: e.involvedObject.name ?? '' },
    count: e.count ?? e.series?.count ?? 1,
    lastSeen: toIso(e.lastTimestamp ?? e.eventTime ?? e.firstTimestamp) ?? null,
  };
}

function claimSnapshot(c: k8s.V1PersistentVolumeClaim): ClaimSnapshot {
  return {
    name: c.metadata?.name ?? '?',
    accessModes: c.status?.accessModes ?? c.spec?.accessModes ?? [],
    phase: c.status?.phase ?? 'Pending',
    volume: c.spec?.volumeName ?? null,
    storageClass: c.spec?.storageClassName ?? null,
  };
}

function toIso(t: Date | string | undefined | null): string | undefined {
  if (t === undefined || t === null) return undefined;
  return t instanceof Date ? t.toISOString() : t;
}

/** The official chart's dags.persistence and dags.gitSync, from the values file the plan names. */
function readChartValues(file: string, notes: string[]): ChartValues | null {
  let doc: unknown;
  try {
    doc = parseYaml(readFileSync(file, 'utf8'));
  } catch (err) {
    notes.push(`Helm values ${file}: ${err instanceof Error ? err.message : String(err)}`);
    return null;
  }
  const dags = (doc as { dags?: Record<string, unknown> } | null)?.dags ?? {};
  const persistence = dags['persistence'] as Record<string, unknown> | undefined;
  const gitSync = dags['gitSync'] as Record<string, unknown> | undefined;
  return {
    file,
    dagsPersistence: persistence
      ? {
          enabled: persistence['enabled'] === true,
          accessMode: typeof persistence['accessMode'] === 'string' ? persistence['accessMode'] : null,
          existingClaim:
            typeof persistence['existingClaim'] === 'string' ? persistence['existingClaim'] : null,
        }
      : null,
    gitSyncEnabled: gitSync?.['enabled'] === true,
  };
}
