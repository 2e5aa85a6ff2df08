/**
 * A cluster state for the Kubernetes API test server, written as a small YAML fixture: nodes,
 * claims, pods (component, node, readiness, init container and container states, claims) and
 * events. The loader turns it into the objects the real API would serve, so a test lays out a
 * broken cluster (the assessment seed's) and reads it with @kubernetes/client-node and kubectl.
 */
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import type { JsonObject, KubeApiServerOptions, TestPod } from './kube-api-server.js';

interface ScenarioContainer {
  name: string;
  /** running (default), waiting or terminated. */
  state?: 'running' | 'waiting' | 'terminated';
  reason?: string;
  message?: string;
  restarts?: number;
  lastTermination?: string;
}

interface ScenarioPod {
  name: string;
  component: string;
  node?: string;
  ready?: boolean;
  phase?: string;
  init?: ScenarioContainer[];
  containers: (string | ScenarioContainer)[];
  claims?: string[];
}

export interface KubeScenario {
  namespace: string;
  release: string;
  nodes?: (string | { name: string; ready: boolean })[];
  claims?: { name: string; accessModes: string[]; volume?: string; storageClass?: string; phase?: string }[];
  pods?: ScenarioPod[];
  events?: { object: string; type?: string; reason: string; message: string; count?: number }[];
}

function containerStatus(c: ScenarioContainer, ready: boolean): JsonObject {
  const state = c.state ?? 'running';
  const detail: JsonObject = {
    ...(c.reason ? { reason: c.reason } : {}),
    ...(c.message ? { message: c.message } : {}),
    ...(state === 'running' ? { startedAt: new Date().toISOString() } : {}),
    ...(state === 'terminated' ? { exitCode: c.reason === 'Completed' ? 0 : 1 } : {}),
  };
  return {
    name: c.name,
    ready: state === 'running' && ready,
    started: state === 'running',
    restartCount: c.restarts ?? 0,
    image: 'apache/airflow:3.0.2',
    imageID: '',
    state: { [state]: detail },
    ...(c.lastTermination ? { lastState: { terminated: { reason: c.lastTermination, exitCode: 137 } } } : {}),
  };
}

export function scenarioOptions(s: KubeScenario): KubeApiServerOptions {
  const now = new Date().toISOString();
  const pods: TestPod[] = (s.pods ?? []).map((p) => {
    const ready = p.ready ?? true;
    const containers = p.containers.map((c) => (typeof c === 'string' ? { name: c } : c));
    const init = p.init ?? [];
    return {
      namespace: s.namespace,
      name: p.name,
      labels: { tier: 'airflow', component: p.component, release: s.release },
      ready,
      ...(p.node ? { nodeName: p.node } : {}),
      containers: containers.map((c) => ({ name: c.name })),
      ...(init.length ? { initContainers: init.map((c) => ({ name: c.name })) } : {}),
      ...(p.claims?.length
        ? { volumes: p.claims.map((claim) => ({ name: claim, persistentVolumeClaim: { claimName: claim } })) }
        : {}),
      status: {
        phase: p.phase ?? (init.some((c) => c.state !== 'terminated') ? 'Pending' : 'Running'),
        ...(init.length ? { initContainerStatuses: init.map((c) => containerStatus(c, false)) } : {}),
        containerStatuses: containers.map((c) => containerStatus(c, ready)),
      },
    };
  });
  return {
    pods,
    objects: {
      nodes: (s.nodes ?? []).map((n) => {
        const { name, ready } = typeof n === 'string' ? { name: n, ready: true } : n;
        return {
          metadata: { name },
          status: { conditions: [{ type: 'Ready', status: ready ? 'True' : 'False' }] },
        };
      }),
      persistentvolumeclaims: (s.claims ?? []).map((c) => ({
        metadata: { name: c.name, namespace: s.namespace },
        spec: {
          accessModes: c.accessModes,
          ...(c.volume ? { volumeName: c.volume } : {}),
          ...(c.storageClass ? { storageClassName: c.storageClass } : {}),
        },
        status: { phase: c.phase ?? 'Bound', accessModes: c.accessModes },
      })),
      persistentvolumes: (s.claims ?? [])
        .filter((c) => c.volume)
        .map((c) => ({
          metadata: { name: c.volume ?? '' },
          spec: { accessModes: c.accessModes, claimRef: { namespace: s.namespace, name: c.name } },
          status: { phase: 'Bound' },
        })),
      events: (s.events ?? []).map((e, i) => {
        const [kind = 'Pod', name = ''] = e.object.split('/');
        return {
          metadata: { name: `${name}.${i}`, namespace: s.namespace },
          involvedObject: { kind, name, namespace: s.namespace },
          type: e.type ?? 'Warning',
          reason: e.reason,
          message: e.message,
          count: e.count ?? 1,
          firstTimestamp: now,
          lastTimestamp: now,
          source: { component: 'cutover-test' },
        };
      }),
    },
  };
}

export function loadKubeScenario(file: string): { scenario: KubeScenario; options: KubeApiServerOptions } {
  const scenario = parse(readFileSync(file, 'utf8')) as KubeScenario;
  return { scenario, options: scenarioOptions(scenario) };
}
