/**
 * A Kubernetes API test server over real HTTP(S): enough of kube-apiserver and of the
 * Deployment and StatefulSet controllers for the cutover's Kubernetes adapters, driven by the
 * real @kubernetes/client-node, and for kubectl as a second client.
 *
 * Pods are records; a container's exec runs the command as a LOCAL child process (no shell)
 * with the env the container got WHEN ITS POD WAS CREATED (image defaults, then the envFrom
 * ConfigMaps, then env), as in a real cluster: patching a ConfigMap changes no running pod,
 * only the pods created after it. Exec speaks the WebSocket protocol (v5.channel.k8s.io, else
 * v4): binary frames whose first byte is the channel (0 stdin, 1 stdout, 2 stderr, 3 status,
 * 255 close-stdin in v5).
 *
 * Served (errors are Status bodies with the apiserver's reasons and message shapes):
 * - GET /version /healthz /readyz /livez; discovery: /api, /api/v1, /apis, /apis/apps, /apis/apps/v1.
 * - namespaces: list, get (every namespace that holds an object, and `default`).
 * - pods: list (labelSelector, fieldSelector metadata.name/namespace, watch), get, delete;
 *   pods/exec (WebSocket upgrade on GET or POST).
 * - configmaps: list, watch, get, create (POST), update (PUT), patch, delete.
 * - apps/v1 deployments and statefulsets: list, watch, get, update, patch; their /status
 *   subresource: get, update, patch. replicasets: list, get (read-only, derived from the
 *   Deployments' templates and pods: enough for kubectl rollout history/undo). No /scale.
 * - batch/v1 jobs (minimal, for the Helm chart's migration Job): list, watch, get, create, delete.
 *   A Job runs its first container's command (+ args) ONCE as a local process with that
 *   container's env (image defaults, then env) and ends with status.succeeded or status.failed
 *   and a Complete or Failed condition; no pods are made for it.
 *
 * Images: a container's `image` is `local/process` unless given. An Airflow image
 * (`apache/airflow:<tag>`, any repository whose last part is `airflow`) names the Airflow release
 * in its tag (`3.2.2`, `slim-3.2.2-python3.12`), and its processes run from that release's venv
 * here (local/venv.ts airflowVenvFor: the default `.venv` or `.venvs/airflow-<version>`): the
 * venv's bin first on PATH and VIRTUAL_ENV, as the image's own PATH would. A rollout of a new
 * image therefore really changes which Airflow runs in the new pods.
 * - PATCH bodies: application/merge-patch+json (RFC 7386), application/strategic-merge-patch+json
 *   (merge keys for containers, env, volumes, ports, conditions; $patch and $setElementOrder
 *   directives), application/json-patch+json (RFC 6902); anything else 415. A patched or PUT
 *   object carrying a stale metadata.resourceVersion is refused with 409 Conflict.
 * - `?dryRun=All` on writes; GET with `Accept: ...;as=Table` returns a Table (kubectl get).
 * - Watches: the events since `resourceVersion`, or synthetic ADDED events then (with
 *   sendInitialEvents=true) the `k8s.io/initial-events-end` bookmark that client-go's
 *   watch-list waits for.
 *
 * The controllers run on timers in this process. A template change (metadata.generation bump)
 * starts a rollout: Deployments surge new pods (maxSurge 25% rounded up, maxUnavailable 25%
 * rounded down), which become Ready after `podReadyDelayMs`, then delete old pods; their
 * Progressing condition becomes ProgressDeadlineExceeded when no progress is made for
 * `progressDeadlineSeconds`. StatefulSets replace pods from the highest ordinal down, one at a
 * time, each once the others are Ready. `failNewPods` makes new pods never Ready.
 *
 * TLS (`tls: true`) needs the `openssl` CLI (a self-signed certificate for 127.0.0.1 and
 * localhost is made at start) and then REQUIRES the bearer token, as kubectl sends it only
 * over https.
 */
import { execFile, spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { constants, tmpdir } from 'node:os';
import path from 'node:path';
import { WebSocketServer, type WebSocket } from 'ws';
import { AirflowVersionNotInstalled, airflowVenvFor, pathWithVenvFirst } from '../../local/venv.js';

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type JsonObject = { [key: string]: Json };
type Labels = Record<string, string>;

export interface EnvVar {
  name: string;
  value: string;
}

export interface TestContainer {
  name: string;
  /** Default `local/process`; an Airflow image's tag picks the venv its processes run from. */
  image?: string;
  env?: EnvVar[];
  envFrom?: { configMapRef: { name: string } }[];
  /** Informational (the image's entrypoint); exec runs whatever the client asks. */
  command?: string[];
  /** Working directory of exec'd processes (default: this process's cwd). */
  workingDir?: string;
}

export interface TestPod {
  namespace: string;
  name: string;
  labels?: Record<string, string>;
  containers: TestContainer[];
  /** Default true: phase Running, condition Ready True. */
  ready?: boolean;
  /** Default 'local'. */
  nodeName?: string;
  /** spec.volumes as the API serves them (e.g. a persistentVolumeClaim), informational. */
  volumes?: JsonObject[];
  /** spec.initContainers; their state comes from `status.initContainerStatuses`. */
  initContainers?: TestContainer[];
  /**
   * Fields laid over the generated status (phase, initContainerStatuses, containerStatuses...):
   * a stuck or crashing pod as a scenario describes it.
   */
  status?: JsonObject;
}

export interface TestConfigMap {
  namespace: string;
  name: string;
  data: Record<string, string>;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

export interface TestWorkload {
  namespace: string;
  name: string;
  /** The workload object's own labels. */
  labels?: Record<string, string>;
  /** Default 1. */
  replicas?: number;
  /** Default: the template's labels. */
  selector?: { matchLabels: Record<string, string> };
  template: {
    metadata?: { labels?: Record<string, string>; annotations?: Record<string, string> };
    spec: { containers: TestContainer[] };
  };
  /** Deployments only (StatefulSets have no progress deadline). Default 600. */
  progressDeadlineSeconds?: number;
  /** Pods created by a rollout of this workload never become Ready (see `failNewPods`). */
  failNewPods?: boolean;
}

export type WorkloadKind = 'Deployment' | 'StatefulSet';

/** Read-only objects served as given (list, get, watch): what the assessment inspects. */
export type StaticPlural = 'persistentvolumeclaims' | 'persistentvolumes' | 'nodes' | 'events';

export interface KubeApiServerOptions {
  pods?: TestPod[];
  /** Objects as the API serves them, by plural; namespaced ones carry metadata.namespace. */
  objects?: Partial<Record<StaticPlural, JsonObject[]>>;
  configMaps?: TestConfigMap[];
  /** Their pods are created at start, Ready, with the rollout complete. */
  deployments?: TestWorkload[];
  statefulSets?: TestWorkload[];
  /** Bearer token the server accepts (default 'test-token'). */
  token?: string;
  /** Fixed port (default: a free one). */
  port?: number;
  /** Where to write the kubeconfig (default: a temp dir removed on close). */
  kubeconfigPath?: string;
  /** HTTPS and WSS with a self-signed certificate (made with the openssl CLI); the token is then required. */
  tls?: boolean;
  /** How long a pod created by a rollout takes to become Ready (default 200). */
  podReadyDelayMs?: number;
  /** How long the controllers take to notice a spec change (default 30): observedGeneration lags that long. */
  controllerDelayMs?: number;
}

/** A pod as the tests see it. */
export interface PodInfo {
  namespace: string;
  name: string;
  uid: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  ready: boolean;
  /** The workload whose controller created it, or null for a pod added with addPod. */
  owner: { kind: WorkloadKind; name: string } | null;
  /** pod-template-hash (Deployment) or controller-revision-hash (StatefulSet); null for a bare pod. */
  revision: string | null;
  /** Each container's environment, fixed when the pod was created. */
  env: Record<string, Record<string, string>>;
  creationTimestamp: string;
}

/** One API request as received (for asserting what a client sent). */
export interface RecordedRequest {
  method: string;
  path: string;
  query: string;
  contentType: string | null;
  userAgent: string | null;
}

export interface KubeApiServer {
  /** http://127.0.0.1:PORT, or https:// with `tls`. */
  url: string;
  kubeconfigPath: string;
  /** The kubeconfig's context name. */
  context: string;
  token: string;
  /** The self-signed certificate (PEM) the kubeconfig trusts, with `tls`; else null. */
  caPem: string | null;
  /** Ends watches and execs (their processes killed), clears every timer, stops listening. */
  close(): Promise<void>;
  /** Removes the pod: its running execs are killed and their sockets closed without a status. A workload's controller then replaces it. */
  deletePod(namespace: string, name: string): void;
  /** A bare pod; its containers' env is resolved from the ConfigMaps as they are now. */
  addPod(pod: TestPod): void;
  /** Deletes the pod and creates it again (a bare pod under the same name; a workload's by its controller): the new one sees the ConfigMaps as they are now. */
  recreatePod(namespace: string, name: string): void;
  /** Creates or replaces a read-only object (a PVC, PV, node or event); watchers are told. */
  setObject(plural: StaticPlural, object: JsonObject): void;
  /** Creates the ConfigMap or replaces its data (a write: resourceVersion bumped, watchers told). Running pods keep their env. */
  setConfigMap(cm: TestConfigMap): void;
  /** The ConfigMap as the API serves it, or null. */
  getConfigMap(namespace: string, name: string): JsonObject | null;
  /** The Deployment or StatefulSet as the API serves it (metadata, spec, status), or null. */
  getWorkload(kind: WorkloadKind, namespace: string, name: string): JsonObject | null;
  /** Pods, by namespace and an equality label selector, sorted by name. */
  listPods(namespace?: string, selector?: Record<string, string>): PodInfo[];
  /** Pods created by the workload's controller that exist now. */
  workloadPods(kind: WorkloadKind, namespace: string, name: string): PodInfo[];
  /**
   * From now on, pods created for this workload never become Ready (`fail` false: they, and
   * those already stuck, become Ready after podReadyDelayMs). Throws if there is no such workload.
   */
  failNewPods(kind: WorkloadKind, namespace: string, name: string, fail?: boolean): void;
  /** Rollouts started by a template change since start (0 until the first one). */
  rollouts(kind: WorkloadKind, namespace: string, name: string): number;
  /** Resolves with the workload once its rollout is complete as kubectl rollout status judges it; rejects after timeoutMs (default 30 s) or a progress deadline. */
  waitForRollout(
    kind: WorkloadKind,
    namespace: string,
    name: string,
    timeoutMs?: number,
  ): Promise<JsonObject>;
  /** Sets the image of every container of the workload's pod template (a template change: a rollout). */
  setWorkloadImage(kind: WorkloadKind, namespace: string, name: string, image: string): void;
  /** Creates a batch/v1 Job (its process starts at once); a Job of that name must not exist. */
  createJob(job: JsonObject): JsonObject;
  /** Deletes the Job (its process killed when still running); false when there was none. */
  deleteJob(namespace: string, name: string): boolean;
  /** The Job as the API serves it, or null. */
  getJob(namespace: string, name: string): JsonObject | null;
  /** What the Job's process wrote (stdout then stderr), for a test's failure message. */
  jobOutput(namespace: string, name: string): string;
  /** Every API request received so far (exec upgrades included). */
  requests(): RecordedRequest[];
  /** Execs started so far (for tests). */
  execCount(): number;
  /** Exec'd processes that have not exited yet. */
  activeExecs(): number;
  /** Bytes of exec stdout and stderr handed to the clients' sockets so far (to wait on output, not on a delay). */
  execOutputBytes(): number;
}

interface Exec {
  pod: string;
  ns: string;
  uid: string;
  child: ChildProcessWithoutNullStreams | null;
  ws: WebSocket;
}

interface PodRecord {
  namespace: string;
  name: string;
  uid: string;
  labels: Labels;
  annotations: Labels;
  containers: TestContainer[];
  ready: boolean;
  created: string;
  resourceVersion: string;
  env: Map<string, Record<string, string>>;
  owner: Workload | null;
  ownerRef: JsonObject | null;
  revision: string | null;
  /** A bare pod's spec, to recreate it. */
  bare: TestPod | null;
  /** A scenario's node, volumes, init containers and status (bare pods only). */
  scenario: Pick<TestPod, 'nodeName' | 'volumes' | 'initContainers' | 'status'>;
  readyTimer: NodeJS.Timeout | null;
}

interface Workload {
  kind: WorkloadKind;
  plural: 'deployments' | 'statefulsets';
  namespace: string;
  name: string;
  obj: JsonObject;
  failNewPods: boolean;
  rollouts: number;
  /** Hash of the template the controller works toward (Deployment: its new ReplicaSet). */
  hash: string | null;
  /** StatefulSet: the revision every pod had when the last rollout completed. */
  currentRevision: string | null;
  /** Deployment: its ReplicaSets by pod-template-hash, with their deployment.kubernetes.io/revision. */
  replicaSets: Map<string, { revision: number; template: JsonObject; created: string }>;
  maxRevision: number;
  /** When progress was last made (ms), for the progress deadline. */
  progressAt: number;
  progressSig: string;
  reconcileTimer: NodeJS.Timeout | null;
  deadlineTimer: NodeJS.Timeout | null;
}

interface Watcher {
  plural: string;
  ns: string | null;
  match: (o: JsonObject) => boolean;
  res: http.ServerResponse;
  timer: NodeJS.Timeout | null;
}

interface WatchEvent {
  rv: number;
  plural: string;
  type: 'ADDED' | 'MODIFIED' | 'DELETED';
  object: JsonObject;
}

class ApiError extends Error {
  constructor(
    readonly code: number,
    readonly reason: string,
    message: string,
    readonly details?: JsonObject,
  ) {
    super(message);
  }
}

interface ResourceInfo {
  plural: string;
  group: string;
  kind: string;
  apiVersion: string;
}

const RESOURCES: Record<string, ResourceInfo> = {
  pods: { plural: 'pods', group: '', kind: 'Pod', apiVersion: 'v1' },
  configmaps: { plural: 'configmaps', group: '', kind: 'ConfigMap', apiVersion: 'v1' },
  deployments: { plural: 'deployments', group: 'apps', kind: 'Deployment', apiVersion: 'apps/v1' },
  statefulsets: { plural: 'statefulsets', group: 'apps', kind: 'StatefulSet', apiVersion: 'apps/v1' },
  replicasets: { plural: 'replicasets', group: 'apps', kind: 'ReplicaSet', apiVersion: 'apps/v1' },
  jobs: { plural: 'jobs', group: 'batch', kind: 'Job', apiVersion: 'batch/v1' },
  persistentvolumeclaims: {
    plural: 'persistentvolumeclaims',
    group: '',
    kind: 'PersistentVolumeClaim',
    apiVersion: 'v1',
  },
  persistentvolumes: { plural: 'persistentvolumes', group: '', kind: 'PersistentVolume', apiVersion: 'v1' },
  nodes: { plural: 'nodes', group: '', kind: 'Node', apiVersion: 'v1' },
  events: { plural: 'events', group: '', kind: 'Event', apiVersion: 'v1' },
};

const STATIC_PLURALS: readonly string[] = ['persistentvolumeclaims', 'persistentvolumes', 'nodes', 'events'];
const CLUSTER_SCOPED: readonly string[] = ['persistentvolumes', 'nodes'];

const SHORT_NAMES: Record<string, string[]> = {
  pods: ['po'],
  configmaps: ['cm'],
  namespaces: ['ns'],
  deployments: ['deploy'],
  statefulsets: ['sts'],
  replicasets: ['rs'],
  persistentvolumeclaims: ['pvc'],
  persistentvolumes: ['pv'],
  nodes: ['no'],
  events: ['ev'],
};

const CHANNEL = { stdin: 0, stdout: 1, stderr: 2, status: 3, resize: 4, close: 255 } as const;

const PATCH_TYPES = [
  'application/json-patch+json',
  'application/merge-patch+json',
  'application/strategic-merge-patch+json',
];

/** The alphabet Kubernetes' rand.SafeEncodeString uses for generated names and hashes (no vowels, no look-alikes). */
const SAFE = 'bcdfghjklmnpqrstvwxz2456789';

function status(code: number, reason: string, message: string, details?: JsonObject): JsonObject {
  return {
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Failure',
    message,
    reason,
    ...(details ? { details } : {}),
    code,
  };
}

const qualified = (r: ResourceInfo) => (r.group ? `${r.plural}.${r.group}` : r.plural);
const gk = (r: ResourceInfo, name: string): JsonObject => ({
  name,
  ...(r.group ? { group: r.group } : {}),
  kind: r.plural,
});
const notFound = (r: ResourceInfo, name: string) =>
  new ApiError(404, 'NotFound', `${qualified(r)} "${name}" not found`, gk(r, name));
const conflict = (r: ResourceInfo, name: string) =>
  new ApiError(
    409,
    'Conflict',
    `Operation cannot be fulfilled on ${qualified(r)} "${name}": the object has been modified; please apply your changes to the latest version and try again`,
    gk(r, name),
  );
const invalid = (r: ResourceInfo, name: string, field: string, detail: string) =>
  new ApiError(
    422,
    'Invalid',
    `${r.kind}${r.group ? `.${r.group}` : ''} "${name}" is invalid: ${field}: ${detail}`,
    { ...gk(r, name), kind: r.kind, causes: [{ reason: 'FieldValueInvalid', message: detail, field }] },
  );
const badRequest = (message: string) => new ApiError(400, 'BadRequest', message);
const methodNotAllowed = () =>
  new ApiError(405, 'MethodNotAllowed', 'the server does not allow this method on the requested resource');

const isObject = (x: Json | undefined): x is JsonObject =>
  typeof x === 'object' && x !== null && !Array.isArray(x);
const clone = <T extends Json>(x: T): T => structuredClone(x);
const str = (x: Json | undefined): string | undefined => (typeof x === 'string' ? x : undefined);
const int = (x: Json | undefined): number | undefined =>
  typeof x === 'number' && Number.isInteger(x) ? x : undefined;
const obj = (x: Json | undefined): JsonObject => (isObject(x) ? x : {});
const asLabels = (x: Json | undefined): Labels => {
  const out: Labels = {};
  for (const [k, v] of Object.entries(obj(x))) if (typeof v === 'string') out[k] = v;
  return out;
};
/** A child object, created in place if missing: for building nested status. */
const child = (o: JsonObject, k: string): JsonObject => {
  const c = o[k];
  if (isObject(c)) return c;
  const made: JsonObject = {};
  o[k] = made;
  return made;
};

/** JSON with sorted keys: equality and hashing independent of key order. */
function canonical(x: Json): string {
  if (Array.isArray(x)) return `[${x.map(canonical).join(',')}]`;
  if (isObject(x))
    return `{${Object.keys(x)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical(x[k] ?? null)}`)
      .join(',')}}`;
  return JSON.stringify(x);
}
const same = (a: Json | undefined, b: Json | undefined) => canonical(a ?? null) === canonical(b ?? null);

function safeEncode(bytes: Buffer, n: number): string {
  let out = '';
  for (let i = 0; i < n; i++) out += SAFE[(bytes[i] ?? 0) % SAFE.length];
  return out;
}
const templateHash = (template: Json) =>
  safeEncode(createHash('sha256').update(canonical(template)).digest(), 10);
/** A stable UUID-shaped id (the ReplicaSet of a template keeps its uid across reconciles). */
const uuidFrom = (seed: string) =>
  createHash('sha256')
    .update(seed)
    .digest('hex')
    .replace(/^(.{8})(.{4})(.{4})(.{4})(.{12}).*$/, '$1-$2-$3-$4-$5');
const randomSuffix = () => safeEncode(randomBytes(5), 5);
const timestamp = (ms = Date.now()) => new Date(ms).toISOString().replace(/\.\d+Z$/, 'Z');

/** Kubernetes' duration.HumanDuration, as kubectl's AGE column shows it. */
function humanAge(since: string | undefined): string {
  const s = Math.max(0, Math.floor((Date.now() - Date.parse(since ?? '')) / 1000));
  if (!Number.isFinite(s)) return '<unknown>';
  if (s < 120) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 10) return s % 60 === 0 ? `${m}m` : `${m}m${s % 60}s`;
  if (m < 180) return `${m}m`;
  const h = Math.floor(m / 60);
  if (h < 8) return m % 60 === 0 ? `${h}h` : `${h}h${m % 60}m`;
  if (h < 48) return `${h}h`;
  return `${Math.floor(h / 24)}d`;
}

// ---- selectors ----------------------------------------------------------------------------------

type Requirement = { key: string; op: 'eq' | 'ne' | 'exists' | 'absent'; value: string };

function parseLabelSelector(sel: string | null): Requirement[] | null {
  if (!sel) return [];
  const out: Requirement[] = [];
  for (const part of sel.split(',')) {
    const p = part.trim();
    if (!p) continue;
    const m = /^([^!=\s]+)\s*(==|=|!=)\s*(.*)$/.exec(p);
    if (m && m[1] && m[2]) {
      out.push({ key: m[1], op: m[2] === '!=' ? 'ne' : 'eq', value: (m[3] ?? '').trim() });
      continue;
    }
    const e = /^(!?)([A-Za-z0-9._/-]+)$/.exec(p);
    if (!e || !e[2]) return null;
    out.push({ key: e[2], op: e[1] ? 'absent' : 'exists', value: '' });
  }
  return out;
}

function labelsMatch(labels: Labels, reqs: Requirement[]): boolean {
  return reqs.every((r) => {
    const v = labels[r.key];
    if (r.op === 'eq') return v === r.value;
    if (r.op === 'ne') return v !== r.value;
    if (r.op === 'exists') return v !== undefined;
    return v === undefined;
  });
}

/** metadata.name / metadata.namespace, the fields every resource supports; else 400. */
/**
 * The field labels the apiserver supports that clients here use: every kind's metadata.name and
 * metadata.namespace, pods' spec.nodeName and status.phase, and events' involvedObject.*, reason,
 * type (kubectl describe lists a pod's events by involvedObject.name, namespace and uid).
 */
const FIELD_LABELS =
  /^(metadata\.(name|namespace)|spec\.nodeName|status\.phase|involvedObject\.(kind|name|namespace|uid|apiVersion|resourceVersion|fieldPath)|reason|type)$/;

function parseFieldSelector(sel: string | null): (o: JsonObject) => boolean {
  const reqs = parseLabelSelector(sel);
  if (reqs === null) throw badRequest(`invalid field selector: ${sel ?? ''}`);
  for (const r of reqs)
    if (!FIELD_LABELS.test(r.key) || r.op === 'exists' || r.op === 'absent')
      throw badRequest(`field label not supported: ${r.key}`);
  const at = (o: JsonObject, key: string): string => {
    let v: Json | undefined = o;
    for (const part of key.split('.')) v = isObject(v) ? v[part] : undefined;
    return typeof v === 'string' ? v : '';
  };
  return (o) => labelsMatch(Object.fromEntries(reqs.map((r) => [r.key, at(o, r.key)])), reqs);
}

// ---- patches ------------------------------------------------------------------------------------

/** RFC 7386 JSON merge patch: objects merge, null deletes, anything else replaces. */
export function mergePatch(target: Json | undefined, patch: Json): Json {
  if (!isObject(patch)) return patch;
  const out: JsonObject = isObject(target) ? { ...target } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) Reflect.deleteProperty(out, k);
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}

/** The patchMergeKey of the lists a strategic merge patch merges item by item (the rest are replaced). */
const MERGE_KEYS: Record<string, string> = {
  containers: 'name',
  initContainers: 'name',
  ephemeralContainers: 'name',
  env: 'name',
  volumes: 'name',
  volumeMounts: 'mountPath',
  ports: 'containerPort',
  imagePullSecrets: 'name',
  conditions: 'type',
  ownerReferences: 'uid',
};

/** Strategic merge patch, as the apiserver applies it to built-in types (the parts that matter here). */
export function strategicMergePatch(target: Json | undefined, patch: Json): Json | undefined {
  if (!isObject(patch)) return patch;
  if (patch['$patch'] === 'delete') return undefined;
  if (patch['$patch'] === 'replace') {
    const { $patch: _, ...rest } = patch;
    return rest;
  }
  const out: JsonObject = isObject(target) ? { ...target } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (k === '$patch' || k === '$retainKeys' || k.startsWith('$setElementOrder/')) continue;
    if (k.startsWith('$deleteFromPrimitiveList/')) {
      const field = k.slice('$deleteFromPrimitiveList/'.length);
      const cur = out[field];
      if (Array.isArray(cur) && Array.isArray(v)) out[field] = cur.filter((x) => !v.some((d) => same(d, x)));
      continue;
    }
    const key = MERGE_KEYS[k];
    const cur = out[k];
    if (v === null) Reflect.deleteProperty(out, k);
    else if (Array.isArray(v) && key) out[k] = mergeList(Array.isArray(cur) ? cur : [], v, key);
    else if (isObject(v)) {
      const merged = strategicMergePatch(cur, v);
      if (merged === undefined) Reflect.deleteProperty(out, k);
      else out[k] = merged;
    } else out[k] = v;
  }
  return out;
}

function mergeList(base: Json[], patch: Json[], key: string): Json[] {
  const out = [...base];
  for (const item of patch) {
    if (!isObject(item)) {
      out.push(item);
      continue;
    }
    const id = item[key];
    const at = out.findIndex((x) => isObject(x) && same(x[key], id));
    if (item['$patch'] === 'delete') {
      if (at >= 0) out.splice(at, 1);
      continue;
    }
    if (at >= 0) out[at] = strategicMergePatch(out[at], item) ?? null;
    else out.push(strategicMergePatch({}, item) ?? null);
  }
  return out;
}

class PatchError extends Error {}

function pointer(p: string): string[] {
  if (p === '') return [];
  if (!p.startsWith('/')) throw new PatchError(`invalid JSON pointer "${p}"`);
  return p
    .slice(1)
    .split('/')
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
}

/** RFC 6902 JSON patch (add, remove, replace, move, copy, test) on a copy of doc. */
export function jsonPatch(doc: Json, ops: Json): Json {
  if (!Array.isArray(ops)) throw new PatchError('a JSON patch must be an array of operations');
  let root: Json = clone(doc);
  const get = (tokens: string[]): Json | undefined => {
    let cur: Json | undefined = root;
    for (const t of tokens) {
      if (Array.isArray(cur)) cur = cur[Number(t)];
      else if (isObject(cur)) cur = cur[t];
      else return undefined;
    }
    return cur;
  };
  const parentOf = (tokens: string[], path: string): [Json[] | JsonObject, string] => {
    const parent = get(tokens.slice(0, -1));
    const last = tokens[tokens.length - 1];
    if (last === undefined || !(Array.isArray(parent) || isObject(parent)))
      throw new PatchError(`doc is missing path: "${path}"`);
    return [parent, last];
  };
  const remove = (path: string): Json => {
    const tokens = pointer(path);
    const [parent, last] = parentOf(tokens, path);
    if (Array.isArray(parent)) {
      const i = Number(last);
      if (!Number.isInteger(i) || i < 0 || i >= parent.length)
        throw new PatchError(`unable to remove nonexistent key: ${last}: missing value`);
      return parent.splice(i, 1)[0] ?? null;
    }
    if (!(last in parent)) throw new PatchError(`unable to remove nonexistent key: ${last}: missing value`);
    const v = parent[last] ?? null;
    Reflect.deleteProperty(parent, last);
    return v;
  };
  const add = (path: string, value: Json, replace: boolean) => {
    const tokens = pointer(path);
    if (tokens.length === 0) {
      root = value;
      return;
    }
    const [parent, last] = parentOf(tokens, path);
    if (Array.isArray(parent)) {
      const i = last === '-' ? parent.length : Number(last);
      if (!Number.isInteger(i) || i < 0 || i > parent.length || (replace && i >= parent.length))
        throw new PatchError(`index out of bounds in "${path}"`);
      if (replace) parent[i] = value;
      else parent.splice(i, 0, value);
      return;
    }
    if (replace && !(last in parent))
      throw new PatchError(`replace operation does not apply: doc is missing key: ${path}: missing value`);
    parent[last] = value;
  };
  for (const op of ops) {
    if (!isObject(op)) throw new PatchError('a JSON patch operation must be an object');
    const kind = str(op['op']);
    const path = str(op['path']);
    if (path === undefined) throw new PatchError(`operation ${kind ?? '?'} is missing "path"`);
    const value = op['value'];
    switch (kind) {
      case 'add':
        if (value === undefined) throw new PatchError('add operation is missing "value"');
        add(path, clone(value), false);
        break;
      case 'replace':
        if (value === undefined) throw new PatchError('replace operation is missing "value"');
        add(path, clone(value), true);
        break;
      case 'remove':
        remove(path);
        break;
      case 'move': {
        const from = str(op['from']);
        if (from === undefined) throw new PatchError('move operation is missing "from"');
        add(path, remove(from), false);
        break;
      }
      case 'copy': {
        const from = str(op['from']);
        const v = from === undefined ? undefined : get(pointer(from));
        if (v === undefined)
          throw new PatchError(`copy operation does not apply: doc is missing from path: ${from ?? ''}`);
        add(path, clone(v), false);
        break;
      }
      case 'test': {
        const v = get(pointer(path));
        if (v === undefined || !same(v, value ?? null))
          throw new PatchError(`testing value ${path} failed: test failed`);
        break;
      }
      default:
        throw new PatchError(`Unexpected kind: ${kind ?? 'undefined'}`);
    }
  }
  return root;
}

// ---- workload JSON ------------------------------------------------------------------------------

const DEFAULT_IMAGE = 'local/process';

/**
 * The venv an image's processes run from: an Airflow image's tag names its release (3.2.2,
 * slim-3.2.2-python3.12); null for any other image, or a release not installed here (its
 * processes then find no Airflow, as a pod of an image that does not exist never runs one).
 */
export function imageVenv(image: string | undefined): string | null {
  const m = /^(?:.*\/)?([^/:@]+):([^/:@]+)$/.exec(image ?? '');
  if (m?.[1] !== 'airflow') return null;
  const release = /(\d+\.\d+\.\d+)/.exec(m[2] ?? '')?.[1];
  if (!release) return null;
  try {
    return airflowVenvFor(release);
  } catch (err) {
    if (err instanceof AirflowVersionNotInstalled) return null;
    throw err;
  }
}

/** The env an image gives its processes before the pod's own: PATH (its venv's bin first) and VIRTUAL_ENV. */
function imageEnv(image: string | undefined): Record<string, string> {
  const base = process.env['PATH'] ?? '/usr/local/bin:/usr/bin:/bin';
  const venv = imageVenv(image);
  return venv ? { PATH: pathWithVenvFirst(venv, base), VIRTUAL_ENV: venv } : { PATH: base };
}

function containerJson(c: TestContainer): JsonObject {
  return {
    name: c.name,
    image: c.image ?? DEFAULT_IMAGE,
    ...(c.command ? { command: c.command } : {}),
    ...(c.workingDir ? { workingDir: c.workingDir } : {}),
    env: (c.env ?? []).map((e) => ({ name: e.name, value: e.value })),
    envFrom: (c.envFrom ?? []).map((e) => ({ configMapRef: { name: e.configMapRef.name } })),
    imagePullPolicy: 'IfNotPresent',
  };
}

function containersFromJson(x: Json | undefined): TestContainer[] {
  const out: TestContainer[] = [];
  for (const c of Array.isArray(x) ? x : []) {
    if (!isObject(c)) continue;
    const name = str(c['name']);
    if (name === undefined) continue;
    const env: EnvVar[] = [];
    for (const e of Array.isArray(c['env']) ? c['env'] : []) {
      const n = isObject(e) ? str(e['name']) : undefined;
      if (n !== undefined && isObject(e)) env.push({ name: n, value: str(e['value']) ?? '' });
    }
    const envFrom: { configMapRef: { name: string } }[] = [];
    for (const e of Array.isArray(c['envFrom']) ? c['envFrom'] : []) {
      const n = isObject(e) ? str(obj(e['configMapRef'])['name']) : undefined;
      if (n !== undefined) envFrom.push({ configMapRef: { name: n } });
    }
    const command = Array.isArray(c['command'])
      ? c['command'].filter((s) => typeof s === 'string')
      : undefined;
    const workingDir = str(c['workingDir']);
    const image = str(c['image']);
    out.push({
      name,
      env,
      envFrom,
      ...(image ? { image } : {}),
      ...(command ? { command } : {}),
      ...(workingDir ? { workingDir } : {}),
    });
  }
  return out;
}

/**
 * The apiserver's defaulting and Go's omitempty, applied to a pod template on every write: the
 * template hash (pod-template-hash, controller-revision-hash) is computed over the stored form,
 * so a template sent back by a Go client (kubectl rollout undo) hashes the same.
 */
function normalizeTemplate(template: Json | undefined): void {
  if (!isObject(template)) return;
  const md = template['metadata'];
  if (isObject(md) && md['creationTimestamp'] === null) Reflect.deleteProperty(md, 'creationTimestamp');
  const spec = template['spec'];
  if (!isObject(spec)) return;
  for (const c of Array.isArray(spec['containers']) ? spec['containers'] : []) {
    if (!isObject(c)) continue;
    for (const k of ['env', 'envFrom', 'command', 'args', 'ports', 'volumeMounts']) {
      const v = c[k];
      if (Array.isArray(v) && v.length === 0) Reflect.deleteProperty(c, k);
    }
    for (const e of Array.isArray(c['env']) ? c['env'] : [])
      if (isObject(e) && e['value'] === '') Reflect.deleteProperty(e, 'value');
    c['resources'] ??= {};
    c['terminationMessagePath'] ??= '/dev/termination-log';
    c['terminationMessagePolicy'] ??= 'File';
    c['imagePullPolicy'] ??= 'IfNotPresent';
  }
  spec['restartPolicy'] ??= 'Always';
  spec['terminationGracePeriodSeconds'] ??= 30;
  spec['dnsPolicy'] ??= 'ClusterFirst';
  spec['securityContext'] ??= {};
  spec['schedulerName'] ??= 'default-scheduler';
}

/** The readiness rule `kubectl rollout status` applies (k8s.io/kubectl/pkg/polymorphichelpers/rollout_status.go). */
export function rolloutState(w: JsonObject): { done: boolean; message: string; error: string | null } {
  const md = obj(w['metadata']);
  const spec = obj(w['spec']);
  const st = obj(w['status']);
  const name = str(md['name']) ?? '';
  const generation = int(md['generation']) ?? 0;
  const observed = int(st['observedGeneration']) ?? 0;
  const replicas = int(spec['replicas']) ?? 1;
  const n = (k: string) => int(st[k]) ?? 0;
  if (w['kind'] === 'Deployment') {
    if (generation > observed)
      return { done: false, message: 'Waiting for deployment spec update to be observed...', error: null };
    const progressing = (Array.isArray(st['conditions']) ? st['conditions'] : []).find(
      (c) => isObject(c) && c['type'] === 'Progressing',
    );
    if (isObject(progressing) && progressing['reason'] === 'ProgressDeadlineExceeded')
      return { done: false, message: '', error: `deployment "${name}" exceeded its progress deadline` };
    if (n('updatedReplicas') < replicas)
      return {
        done: false,
        message: `Waiting for deployment "${name}" rollout to finish: ${n('updatedReplicas')} out of ${replicas} new replicas have been updated...`,
        error: null,
      };
    if (n('replicas') > n('updatedReplicas'))
      return {
        done: false,
        message: `Waiting for deployment "${name}" rollout to finish: ${n('replicas') - n('updatedReplicas')} old replicas are pending termination...`,
        error: null,
      };
    if (n('availableReplicas') < n('updatedReplicas'))
      return {
        done: false,
        message: `Waiting for deployment "${name}" rollout to finish: ${n('availableReplicas')} of ${n('updatedReplicas')} updated replicas are available...`,
        error: null,
      };
    return { done: true, message: `deployment "${name}" successfully rolled out`, error: null };
  }
  if (observed === 0 || generation > observed)
    return { done: false, message: 'Waiting for statefulset spec update to be observed...', error: null };
  if (n('readyReplicas') < replicas)
    return {
      done: false,
      message: `Waiting for ${replicas - n('readyReplicas')} pods to be ready...`,
      error: null,
    };
  if (n('updatedReplicas') < replicas)
    return {
      done: false,
      message: `Waiting for partitioned roll out to finish: ${n('updatedReplicas')} out of ${replicas} new pods have been updated...`,
      error: null,
    };
  return {
    done: true,
    message: `partitioned roll out complete: ${n('updatedReplicas')} new pods have been updated...`,
    error: null,
  };
}

// ---- the server ---------------------------------------------------------------------------------

export async function startKubeApiServer(opts: KubeApiServerOptions = {}): Promise<KubeApiServer> {
  const token = opts.token ?? 'test-token';
  const podReadyDelayMs = opts.podReadyDelayMs ?? 200;
  const controllerDelayMs = opts.controllerDelayMs ?? 30;
  const pods = new Map<string, PodRecord>();
  const configMaps = new Map<string, JsonObject>();
  /** Read-only objects by plural, keyed `<namespace>/<name>` ('' namespace when cluster-scoped). */
  const statics = new Map<string, Map<string, JsonObject>>(STATIC_PLURALS.map((pl) => [pl, new Map()]));
  const workloads = new Map<string, Workload>();
  const execs = new Set<Exec>();
  /** batch/v1 Jobs by `<namespace>/<name>`, each with its one local process. */
  const jobs = new Map<
    string,
    { obj: JsonObject; child: ChildProcessWithoutNullStreams | null; out: string }
  >();
  /** Exec'd processes not yet exited (whatever became of their sockets). */
  const live = new Set<ChildProcessWithoutNullStreams>();
  const watchers = new Set<Watcher>();
  const history: WatchEvent[] = [];
  const recorded: RecordedRequest[] = [];
  let rv = 1;
  /** Watches from a resourceVersion older than this get 410 Expired. */
  let historyFrom = rv;
  let execTotal = 0;
  let execOutput = 0;
  let closed = false;
  const key = (ns: string, name: string) => `${ns}/${name}`;
  const wkey = (kind: WorkloadKind, ns: string, name: string) => `${kind}/${ns}/${name}`;
  const dir = mkdtempSync(path.join(tmpdir(), 'cutover-kube-'));

  const emit = (plural: string, type: WatchEvent['type'], object: JsonObject) => {
    const ev: WatchEvent = { rv, plural, type, object: clone(object) };
    history.push(ev);
    if (history.length > 20_000) historyFrom = (history.splice(0, 10_000).at(-1)?.rv ?? historyFrom) + 1;
    for (const w of watchers) {
      if (w.plural !== plural) continue;
      const md = obj(object['metadata']);
      if (w.ns !== null && md['namespace'] !== w.ns) continue;
      if (!w.match(object)) continue;
      w.res.write(`${JSON.stringify({ type, object: ev.object })}\n`);
    }
  };

  // ---- pods ----

  /** Each container's env as the kubelet would build it now: image defaults, envFrom ConfigMaps, env (which wins). */
  const snapshotEnv = (namespace: string, podName: string, containers: TestContainer[]) => {
    const out = new Map<string, Record<string, string>>();
    for (const c of containers) {
      const env: Record<string, string> = { ...imageEnv(c.image), HOSTNAME: podName };
      for (const from of c.envFrom ?? []) {
        const cm = configMaps.get(key(namespace, from.configMapRef.name));
        if (cm) Object.assign(env, asLabels(cm['data']));
      }
      for (const e of c.env ?? []) env[e.name] = e.value;
      out.set(c.name, env);
    }
    return out;
  };

  /** A scenario pod's init containers have all completed (a pod without any is initialized). */
  const initialized = (p: PodRecord): boolean => {
    const raw = p.scenario.status?.['initContainerStatuses'];
    const list = Array.isArray(raw) ? raw.filter(isObject) : [];
    return list.every((c) => obj(obj(c['state'])['terminated'])['reason'] === 'Completed');
  };

  const podJson = (p: PodRecord): JsonObject => {
    const ready = p.ready;
    return {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: {
        name: p.name,
        namespace: p.namespace,
        labels: { ...p.labels },
        ...(Object.keys(p.annotations).length ? { annotations: { ...p.annotations } } : {}),
        uid: p.uid,
        resourceVersion: p.resourceVersion,
        creationTimestamp: p.created,
        ...(p.ownerRef ? { ownerReferences: [clone(p.ownerRef)] } : {}),
      },
      spec: {
        ...(p.scenario.initContainers
          ? { initContainers: p.scenario.initContainers.map(containerJson) }
          : {}),
        containers: p.containers.map(containerJson),
        ...(p.scenario.volumes ? { volumes: p.scenario.volumes.map(clone) } : {}),
        restartPolicy: 'Always',
        nodeName: p.scenario.nodeName ?? 'local',
        ...(p.owner?.kind === 'StatefulSet' ? { hostname: p.name, subdomain: p.owner.name } : {}),
      },
      status: {
        phase: 'Running',
        hostIP: '127.0.0.1',
        podIP: '127.0.0.1',
        podIPs: [{ ip: '127.0.0.1' }],
        startTime: p.created,
        qosClass: 'BestEffort',
        conditions: [
          {
            type: 'PodReadyToStartContainers',
            status: 'True',
            lastProbeTime: null,
            lastTransitionTime: p.created,
          },
          {
            type: 'Initialized',
            status: initialized(p) ? 'True' : 'False',
            lastProbeTime: null,
            lastTransitionTime: p.created,
          },
          {
            type: 'Ready',
            status: ready ? 'True' : 'False',
            lastProbeTime: null,
            lastTransitionTime: p.created,
          },
          {
            type: 'ContainersReady',
            status: ready ? 'True' : 'False',
            lastProbeTime: null,
            lastTransitionTime: p.created,
          },
          { type: 'PodScheduled', status: 'True', lastProbeTime: null, lastTransitionTime: p.created },
        ],
        containerStatuses: p.containers.map((c) => ({
          name: c.name,
          ready,
          started: true,
          restartCount: 0,
          image: c.image ?? DEFAULT_IMAGE,
          imageID: '',
          containerID: `local://${p.uid}/${c.name}`,
          state: { running: { startedAt: p.created } },
        })),
        ...(p.scenario.status ? (clone(p.scenario.status) as JsonObject) : {}),
      },
    };
  };

  const podInfo = (p: PodRecord): PodInfo => ({
    namespace: p.namespace,
    name: p.name,
    uid: p.uid,
    labels: { ...p.labels },
    annotations: { ...p.annotations },
    ready: p.ready,
    owner: p.owner ? { kind: p.owner.kind, name: p.owner.name } : null,
    revision: p.revision,
    env: Object.fromEntries([...p.env].map(([c, e]) => [c, { ...e }])),
    creationTimestamp: p.created,
  });

  const killExecsOf = (namespace: string, name: string, uid: string | null) => {
    for (const e of [...execs]) {
      if (e.ns !== namespace || e.pod !== name || (uid !== null && e.uid !== uid)) continue;
      execs.delete(e);
      if (e.child) killGroup(e.child);
      e.ws.terminate();
    }
  };

  const putPod = (p: PodRecord) => {
    const k = key(p.namespace, p.name);
    const existed = pods.get(k);
    if (existed?.readyTimer) clearTimeout(existed.readyTimer);
    pods.set(k, p);
    rv++;
    p.resourceVersion = String(rv);
    emit('pods', existed ? 'MODIFIED' : 'ADDED', podJson(p));
  };

  const removePod = (namespace: string, name: string): PodRecord | null => {
    const k = key(namespace, name);
    const p = pods.get(k);
    if (!p) return null;
    pods.delete(k);
    if (p.readyTimer) clearTimeout(p.readyTimer);
    p.readyTimer = null;
    killExecsOf(namespace, name, p.uid);
    rv++;
    p.resourceVersion = String(rv);
    emit('pods', 'DELETED', podJson(p));
    if (p.owner) scheduleReconcile(p.owner, 0);
    return p;
  };

  const addPod = (t: TestPod) => {
    const p: PodRecord = {
      namespace: t.namespace,
      name: t.name,
      uid: randomUUID(),
      labels: { ...(t.labels ?? {}) },
      annotations: {},
      containers: t.containers,
      ready: t.ready ?? true,
      created: timestamp(),
      resourceVersion: '',
      env: snapshotEnv(t.namespace, t.name, t.containers),
      owner: null,
      ownerRef: null,
      revision: null,
      bare: t,
      scenario: {
        ...(t.nodeName ? { nodeName: t.nodeName } : {}),
        ...(t.volumes ? { volumes: t.volumes } : {}),
        ...(t.initContainers ? { initContainers: t.initContainers } : {}),
        ...(t.status ? { status: t.status } : {}),
      },
      readyTimer: null,
    };
    putPod(p);
  };

  const setPodReady = (p: PodRecord) => {
    p.readyTimer = null;
    if (p.ready || pods.get(key(p.namespace, p.name)) !== p) return;
    p.ready = true;
    rv++;
    p.resourceVersion = String(rv);
    emit('pods', 'MODIFIED', podJson(p));
    if (p.owner) scheduleReconcile(p.owner, 0);
  };

  const armReadiness = (p: PodRecord) => {
    if (p.ready || p.readyTimer || closed || p.owner?.failNewPods) return;
    p.readyTimer = setTimeout(() => setPodReady(p), podReadyDelayMs);
  };

  /** A pod for the workload from its current template; Ready at once (start-up) or after podReadyDelayMs. */
  const createWorkloadPod = (
    w: Workload,
    name: string,
    revision: string,
    ownerRef: JsonObject,
    readyNow: boolean,
  ) => {
    const template = obj(obj(w.obj['spec'])['template']);
    const tmd = obj(template['metadata']);
    const containers = containersFromJson(obj(template['spec'])['containers']);
    const labels = asLabels(tmd['labels']);
    if (w.kind === 'Deployment') labels['pod-template-hash'] = revision;
    else {
      labels['controller-revision-hash'] = revision;
      labels['statefulset.kubernetes.io/pod-name'] = name;
      labels['apps.kubernetes.io/pod-index'] = name.slice(w.name.length + 1);
    }
    const p: PodRecord = {
      namespace: w.namespace,
      name,
      uid: randomUUID(),
      labels,
      annotations: asLabels(tmd['annotations']),
      containers,
      ready: readyNow,
      created: timestamp(),
      resourceVersion: '',
      env: snapshotEnv(w.namespace, name, containers),
      owner: w,
      ownerRef,
      revision,
      bare: null,
      scenario: {},
      readyTimer: null,
    };
    putPod(p);
    armReadiness(p);
    return p;
  };

  const podsOf = (w: Workload) => [...pods.values()].filter((p) => p.owner === w);

  // ---- config maps ----

  const CM = RESOURCES['configmaps'] as ResourceInfo;

  const validateConfigMap = (name: string, cm: JsonObject) => {
    for (const field of ['data', 'binaryData']) {
      const d = cm[field];
      if (d === undefined || d === null) continue;
      if (!isObject(d))
        throw badRequest(
          `json: cannot unmarshal into Go struct field ConfigMap.${field} of type map[string]string`,
        );
      for (const [k, v] of Object.entries(d)) {
        if (typeof v !== 'string')
          throw badRequest(
            `json: cannot unmarshal ${v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v} into Go struct field ConfigMap.${field} of type string`,
          );
        if (!/^[-._a-zA-Z0-9]+$/.test(k))
          throw invalid(
            CM,
            name,
            `${field}[${k}]`,
            `Invalid value: "${k}": a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')`,
          );
      }
    }
  };

  const createConfigMap = (namespace: string, body: JsonObject, dryRun: boolean): JsonObject => {
    const md = obj(body['metadata']);
    const name = str(md['name']);
    if (!name) throw invalid(CM, '', 'metadata.name', 'Required value: name or generateName is required');
    if (md['namespace'] !== undefined && md['namespace'] !== namespace)
      throw badRequest(
        'the namespace of the provided object does not match the namespace sent on the request',
      );
    if (configMaps.has(key(namespace, name)))
      throw new ApiError(409, 'AlreadyExists', `configmaps "${name}" already exists`, gk(CM, name));
    validateConfigMap(name, body);
    const cm: JsonObject = {
      ...clone(body),
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: {
        ...clone(md),
        name,
        namespace,
        uid: randomUUID(),
        resourceVersion: String(rv + 1),
        creationTimestamp: timestamp(),
      },
    };
    if (dryRun) return cm;
    rv++;
    configMaps.set(key(namespace, name), cm);
    emit('configmaps', 'ADDED', cm);
    return cm;
  };

  const setObject = (plural: StaticPlural, given: JsonObject) => {
    let o = given;
    const md = obj(o['metadata']);
    const name = str(md['name']);
    if (!name) throw new Error(`a ${plural} object needs metadata.name`);
    const ns = CLUSTER_SCOPED.includes(plural) ? '' : (str(md['namespace']) ?? 'default');
    const store = statics.get(plural);
    if (!store) throw new Error(`not a read-only kind: ${plural}`);
    // An event about a pod carries the pod's uid, as the kubelet writes it (kubectl describe matches it).
    const involved = obj(o['involvedObject']);
    if (plural === 'events' && involved['kind'] === 'Pod' && !involved['uid']) {
      const pod = pods.get(key(str(involved['namespace']) ?? ns, str(involved['name']) ?? ''));
      if (pod) o = { ...o, involvedObject: { ...involved, uid: pod.uid } };
    }
    const r = RESOURCES[plural];
    const existed = store.get(key(ns, name));
    rv++;
    const stored: JsonObject = {
      apiVersion: r?.apiVersion ?? 'v1',
      kind: r?.kind ?? plural,
      ...clone(o),
      metadata: {
        ...md,
        ...(ns ? { namespace: ns } : {}),
        uid: str(obj(existed?.['metadata'])['uid']) ?? randomUUID(),
        resourceVersion: String(rv),
        creationTimestamp: str(md['creationTimestamp']) ?? timestamp(),
      },
    };
    store.set(key(ns, name), stored);
    emit(plural, existed ? 'MODIFIED' : 'ADDED', stored);
  };

  const setConfigMap = (t: TestConfigMap) => {
    const current = configMaps.get(key(t.namespace, t.name));
    const meta: JsonObject = {
      name: t.name,
      namespace: t.namespace,
      ...(t.labels ? { labels: { ...t.labels } } : {}),
      ...(t.annotations ? { annotations: { ...t.annotations } } : {}),
    };
    if (!current) {
      createConfigMap(t.namespace, { metadata: meta, data: { ...t.data } }, false);
      return;
    }
    const next = clone(current);
    next['data'] = { ...t.data };
    const md = child(next, 'metadata');
    if (t.labels) md['labels'] = { ...t.labels };
    if (t.annotations) md['annotations'] = { ...t.annotations };
    commit(CM, t.namespace, t.name, current, next, null, false);
  };

  // ---- workloads ----

  const workloadJson = (kind: WorkloadKind, t: TestWorkload): JsonObject => {
    const tlabels = t.template.metadata?.labels ?? t.selector?.matchLabels ?? { app: t.name };
    const template: JsonObject = {
      metadata: {
        labels: { ...tlabels },
        ...(t.template.metadata?.annotations ? { annotations: { ...t.template.metadata.annotations } } : {}),
      },
      spec: { containers: t.template.spec.containers.map(containerJson), restartPolicy: 'Always' },
    };
    normalizeTemplate(template);
    const common: JsonObject = {
      replicas: t.replicas ?? 1,
      selector: { matchLabels: { ...(t.selector?.matchLabels ?? tlabels) } },
      template,
      revisionHistoryLimit: 10,
    };
    return {
      apiVersion: 'apps/v1',
      kind,
      metadata: {
        name: t.name,
        namespace: t.namespace,
        uid: randomUUID(),
        resourceVersion: '',
        generation: 1,
        creationTimestamp: timestamp(),
        ...(t.labels ? { labels: { ...t.labels } } : {}),
      },
      spec:
        kind === 'Deployment'
          ? {
              ...common,
              strategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: '25%', maxSurge: '25%' } },
              progressDeadlineSeconds: t.progressDeadlineSeconds ?? 600,
            }
          : {
              ...common,
              serviceName: t.name,
              podManagementPolicy: 'OrderedReady',
              updateStrategy: { type: 'RollingUpdate', rollingUpdate: { partition: 0 } },
            },
      status: {},
    };
  };

  const validateWorkload = (r: ResourceInfo, name: string, next: JsonObject, current: JsonObject | null) => {
    const spec = obj(next['spec']);
    const replicas = spec['replicas'];
    if (replicas !== undefined && (int(replicas) === undefined || (int(replicas) ?? 0) < 0))
      throw invalid(
        r,
        name,
        'spec.replicas',
        `Invalid value: ${JSON.stringify(replicas)}: must be greater than or equal to 0`,
      );
    const template = obj(spec['template']);
    const raw = obj(template['spec'])['containers'];
    const containers = containersFromJson(raw);
    if (!Array.isArray(raw) || containers.length === 0 || containers.length !== raw.length)
      throw invalid(r, name, 'spec.template.spec.containers', 'Required value');
    if (new Set(containers.map((c) => c.name)).size !== containers.length)
      throw invalid(r, name, 'spec.template.spec.containers[1].name', 'Duplicate value');
    const selector = asLabels(obj(spec['selector'])['matchLabels']);
    const tlabels = asLabels(obj(template['metadata'])['labels']);
    if (Object.keys(selector).length === 0) throw invalid(r, name, 'spec.selector', 'Required value');
    if (!Object.entries(selector).every(([k, v]) => tlabels[k] === v))
      throw invalid(
        r,
        name,
        'spec.template.metadata.labels',
        `Invalid value: ${JSON.stringify(tlabels)}: \`selector\` does not match template \`labels\``,
      );
    if (current && !same(obj(current['spec'])['selector'], spec['selector']))
      throw invalid(
        r,
        name,
        'spec.selector',
        `Invalid value: ${canonical(spec['selector'] ?? null)}: field is immutable`,
      );
    const pds = spec['progressDeadlineSeconds'];
    if (r.kind === 'Deployment' && pds !== undefined && (int(pds) ?? 0) <= 0)
      throw invalid(
        r,
        name,
        'spec.progressDeadlineSeconds',
        `Invalid value: ${JSON.stringify(pds)}: must be greater than 0`,
      );
  };

  const findWorkload = (kind: WorkloadKind, namespace: string, name: string): Workload => {
    const w = workloads.get(wkey(kind, namespace, name));
    if (!w) throw new Error(`no ${kind} ${namespace}/${name} on this test server`);
    return w;
  };

  const scheduleReconcile = (w: Workload, delayMs: number) => {
    if (closed || w.reconcileTimer) return;
    w.reconcileTimer = setTimeout(() => {
      w.reconcileTimer = null;
      if (workloads.get(wkey(w.kind, w.namespace, w.name)) === w) reconcile(w);
    }, delayMs);
  };

  /** A status write by a controller: bumps resourceVersion and tells watchers, unless nothing changed. */
  const writeStatus = (w: Workload, st: JsonObject) => {
    if (same(st, w.obj['status'])) return;
    w.obj['status'] = st;
    rv++;
    child(w.obj, 'metadata')['resourceVersion'] = String(rv);
    emit(w.plural, 'MODIFIED', w.obj);
  };

  const setCondition = (
    conds: JsonObject[],
    type: string,
    st: 'True' | 'False',
    reason: string,
    message: string,
    now: string,
  ) => {
    const at = conds.findIndex((c) => c['type'] === type);
    const old = at >= 0 ? conds[at] : undefined;
    if (old && old['status'] === st && old['reason'] === reason && old['message'] === message) return;
    const c: JsonObject = {
      type,
      status: st,
      lastUpdateTime: now,
      lastTransitionTime: old && old['status'] === st ? (old['lastTransitionTime'] ?? now) : now,
      reason,
      message,
    };
    if (at >= 0) conds[at] = c;
    else conds.push(c);
  };

  const reconcile = (w: Workload) => {
    if (w.kind === 'Deployment') reconcileDeployment(w);
    else reconcileStatefulSet(w);
  };

  const reconcileDeployment = (w: Workload) => {
    const md = child(w.obj, 'metadata');
    const spec = obj(w.obj['spec']);
    const replicas = int(spec['replicas']) ?? 1;
    const deadlineMs = (int(spec['progressDeadlineSeconds']) ?? 600) * 1000;
    const hash = templateHash(spec['template'] ?? null);
    const rsName = `${w.name}-${hash}`;
    const nowMs = Date.now();
    const now = timestamp(nowMs);
    const st = clone(obj(w.obj['status']));
    const conds = (Array.isArray(st['conditions']) ? st['conditions'] : []).filter(isObject);
    st['observedGeneration'] = int(md['generation']) ?? 1;
    const starting = w.hash === null;
    if (w.hash !== hash) {
      const reused = w.replicaSets.get(hash);
      w.replicaSets.set(hash, {
        revision: ++w.maxRevision,
        template: clone(obj(spec['template'])),
        created: reused?.created ?? now,
      });
      // The revision annotation is metadata: no generation bump, but a write all the same.
      child(md, 'annotations')['deployment.kubernetes.io/revision'] = String(w.maxRevision);
      if (!starting) w.rollouts++;
      w.hash = hash;
      w.progressAt = nowMs;
      w.progressSig = '';
      setCondition(
        conds,
        'Progressing',
        'True',
        reused ? 'FoundNewReplicaSet' : 'NewReplicaSetCreated',
        reused ? `Found new replica set "${rsName}"` : `Created new replica set "${rsName}"`,
        now,
      );
    }
    const ownerRef: JsonObject = {
      apiVersion: 'apps/v1',
      kind: 'ReplicaSet',
      name: rsName,
      uid: uuidFrom(`${str(md['uid']) ?? ''}/${hash}`),
      controller: true,
      blockOwnerDeletion: true,
    };
    // The rolling update, as the deployment controller's reconcileNewReplicaSet / reconcileOldReplicaSets do it.
    const maxSurge = Math.ceil(replicas * 0.25);
    let maxUnavailable = Math.floor(replicas * 0.25);
    if (maxSurge === 0 && maxUnavailable === 0) maxUnavailable = 1;
    const minAvailable = replicas - maxUnavailable;
    for (let guard = 0; guard < 4 * (replicas + 2); guard++) {
      const all = podsOf(w);
      const fresh = all.filter((p) => p.revision === hash);
      const old = all.filter((p) => p.revision !== hash);
      let changed = false;
      if (fresh.length > replicas) {
        const extra = [...fresh]
          .sort((a, b) => Number(a.ready) - Number(b.ready))
          .slice(0, fresh.length - replicas);
        for (const p of extra) removePod(p.namespace, p.name);
        changed = true;
      } else if (fresh.length < replicas) {
        const room = Math.min(replicas - fresh.length, replicas + maxSurge - all.length);
        for (let i = 0; i < room; i++)
          createWorkloadPod(w, `${rsName}-${randomSuffix()}`, hash, ownerRef, starting);
        changed = room > 0;
      }
      const now2 = podsOf(w);
      const available = now2.filter((p) => p.ready).length;
      const freshUnavailable = now2.filter((p) => p.revision === hash && !p.ready).length;
      const oldNow = now2.filter((p) => p.revision !== hash);
      // Unhealthy old pods go first, as far as the availability budget allows; then healthy ones.
      let budget = now2.length - minAvailable - freshUnavailable;
      for (const p of oldNow.filter((x) => !x.ready)) {
        if (budget <= 0) break;
        removePod(p.namespace, p.name);
        budget--;
        changed = true;
      }
      let scaleDown = available - minAvailable;
      for (const p of oldNow.filter((x) => x.ready)) {
        if (scaleDown <= 0) break;
        removePod(p.namespace, p.name);
        scaleDown--;
        changed = true;
      }
      if (!changed && old.length === oldNow.length) break;
    }
    const all = podsOf(w);
    const updated = all.filter((p) => p.revision === hash).length;
    const ready = all.filter((p) => p.ready).length;
    const setN = (k: string, n: number) => {
      if (n > 0) st[k] = n;
      else Reflect.deleteProperty(st, k);
    };
    setN('replicas', all.length);
    setN('updatedReplicas', updated);
    setN('readyReplicas', ready);
    setN('availableReplicas', ready);
    setN('unavailableReplicas', Math.max(0, Math.max(all.length, replicas) - ready));
    if (ready >= minAvailable)
      setCondition(
        conds,
        'Available',
        'True',
        'MinimumReplicasAvailable',
        'Deployment has minimum availability.',
        now,
      );
    else
      setCondition(
        conds,
        'Available',
        'False',
        'MinimumReplicasUnavailable',
        'Deployment does not have minimum availability.',
        now,
      );
    const complete = updated === replicas && all.length === replicas && ready === replicas;
    const sig = `${updated}/${all.filter((p) => p.revision === hash && p.ready).length}/${all.length - updated}`;
    const progressed = sig !== w.progressSig;
    w.progressSig = sig;
    const progressing = conds.find((c) => c['type'] === 'Progressing');
    if (w.deadlineTimer) clearTimeout(w.deadlineTimer);
    w.deadlineTimer = null;
    if (complete)
      setCondition(
        conds,
        'Progressing',
        'True',
        'NewReplicaSetAvailable',
        `ReplicaSet "${rsName}" has successfully progressed.`,
        now,
      );
    else if (progressed) {
      w.progressAt = nowMs;
      setCondition(
        conds,
        'Progressing',
        'True',
        'ReplicaSetUpdated',
        `ReplicaSet "${rsName}" is progressing.`,
        now,
      );
      // lastUpdateTime moves on every bit of progress even when the message is the same.
      const c = conds.find((x) => x['type'] === 'Progressing');
      if (c) c['lastUpdateTime'] = now;
    } else if (progressing?.['reason'] !== 'ProgressDeadlineExceeded') {
      if (nowMs - w.progressAt >= deadlineMs)
        setCondition(
          conds,
          'Progressing',
          'False',
          'ProgressDeadlineExceeded',
          `ReplicaSet "${rsName}" has timed out progressing.`,
          now,
        );
    }
    const pc = conds.find((x) => x['type'] === 'Progressing');
    if (!complete && pc?.['reason'] !== 'ProgressDeadlineExceeded' && !closed) {
      const wait = Math.max(0, w.progressAt + deadlineMs - Date.now()) + 10;
      w.deadlineTimer = setTimeout(() => {
        w.deadlineTimer = null;
        scheduleReconcile(w, 0);
      }, wait);
    }
    // Progressing first, as the controller orders them.
    conds.sort((a, b) => (a['type'] === 'Progressing' ? 0 : 1) - (b['type'] === 'Progressing' ? 0 : 1));
    st['conditions'] = conds;
    writeStatus(w, st);
  };

  const reconcileStatefulSet = (w: Workload) => {
    const md = obj(w.obj['metadata']);
    const spec = obj(w.obj['spec']);
    const replicas = int(spec['replicas']) ?? 1;
    const hash = templateHash(spec['template'] ?? null);
    const updateRevision = `${w.name}-${hash}`;
    const starting = w.hash === null;
    if (w.hash !== hash) {
      if (!starting) w.rollouts++;
      w.hash = hash;
    }
    if (w.currentRevision === null) w.currentRevision = updateRevision;
    const ownerRef: JsonObject = {
      apiVersion: 'apps/v1',
      kind: 'StatefulSet',
      name: w.name,
      uid: str(md['uid']) ?? '',
      controller: true,
      blockOwnerDeletion: true,
    };
    const byOrdinal = () => {
      const m = new Map<number, PodRecord>();
      for (const p of podsOf(w)) m.set(Number(p.name.slice(w.name.length + 1)), p);
      return m;
    };
    // OrderedReady: one change at a time, each only while every other pod is Ready.
    let m = byOrdinal();
    for (let i = 0; i < replicas; i++) {
      if (m.has(i)) continue;
      const earlierReady = [...Array(i).keys()].every((j) => m.get(j)?.ready === true);
      if (starting || earlierReady) {
        createWorkloadPod(w, `${w.name}-${i}`, updateRevision, ownerRef, starting);
        m = byOrdinal();
        if (!starting) break;
      } else break;
    }
    m = byOrdinal();
    const allReady = [...m.values()].every((p) => p.ready);
    const extra = [...m.keys()].filter((i) => i >= replicas).sort((a, b) => b - a);
    if (extra.length > 0 && allReady) {
      const p = m.get(extra[0] ?? -1);
      if (p) removePod(p.namespace, p.name);
    } else if (extra.length === 0 && allReady && m.size === replicas) {
      const stale = [...m.entries()]
        .filter(([, p]) => p.revision !== updateRevision)
        .sort((a, b) => b[0] - a[0]);
      const victim = stale[0]?.[1];
      if (victim) {
        removePod(victim.namespace, victim.name);
        createWorkloadPod(w, victim.name, updateRevision, ownerRef, false);
      }
    }
    const all = podsOf(w);
    const ready = all.filter((p) => p.ready).length;
    const updated = all.filter((p) => p.revision === updateRevision).length;
    if (updated === replicas && ready === replicas && all.length === replicas)
      w.currentRevision = updateRevision;
    const current = all.filter((p) => p.revision === w.currentRevision).length;
    const st: JsonObject = { observedGeneration: int(md['generation']) ?? 1, replicas: all.length };
    if (ready > 0) st['readyReplicas'] = ready;
    if (current > 0) st['currentReplicas'] = current;
    if (updated > 0) st['updatedReplicas'] = updated;
    st['currentRevision'] = w.currentRevision;
    st['updateRevision'] = updateRevision;
    st['collisionCount'] = 0;
    if (ready > 0) st['availableReplicas'] = ready;
    writeStatus(w, st);
  };

  /** A Deployment's ReplicaSet as the API would serve it, derived from the pods that carry its hash (read-only). */
  const replicaSetJson = (
    w: Workload,
    hash: string,
    rs: { revision: number; template: JsonObject; created: string },
  ): JsonObject => {
    const md = obj(w.obj['metadata']);
    const spec = obj(w.obj['spec']);
    const mine = podsOf(w).filter((p) => p.revision === hash);
    const ready = mine.filter((p) => p.ready).length;
    const template = clone(rs.template);
    const tmd = child(template, 'metadata');
    tmd['labels'] = { ...asLabels(tmd['labels']), 'pod-template-hash': hash };
    const replicas = int(spec['replicas']) ?? 1;
    return {
      apiVersion: 'apps/v1',
      kind: 'ReplicaSet',
      metadata: {
        name: `${w.name}-${hash}`,
        namespace: w.namespace,
        uid: uuidFrom(`${str(md['uid']) ?? ''}/${hash}`),
        resourceVersion: String(rv),
        generation: 1,
        creationTimestamp: rs.created,
        labels: { ...asLabels(tmd['labels']) },
        annotations: {
          'deployment.kubernetes.io/desired-replicas': String(replicas),
          'deployment.kubernetes.io/max-replicas': String(replicas + Math.ceil(replicas * 0.25)),
          'deployment.kubernetes.io/revision': String(rs.revision),
        },
        ownerReferences: [
          {
            apiVersion: 'apps/v1',
            kind: 'Deployment',
            name: w.name,
            uid: str(md['uid']) ?? '',
            controller: true,
            blockOwnerDeletion: true,
          },
        ],
      },
      spec: {
        replicas: mine.length,
        selector: {
          matchLabels: { ...asLabels(obj(spec['selector'])['matchLabels']), 'pod-template-hash': hash },
        },
        template,
      },
      status: {
        replicas: mine.length,
        ...(mine.length ? { fullyLabeledReplicas: mine.length } : {}),
        ...(ready ? { readyReplicas: ready, availableReplicas: ready } : {}),
        observedGeneration: 1,
      },
    };
  };

  const addWorkload = (kind: WorkloadKind, t: TestWorkload) => {
    const plural = kind === 'Deployment' ? 'deployments' : 'statefulsets';
    const r = RESOURCES[plural] as ResourceInfo;
    const o = workloadJson(kind, t);
    validateWorkload(r, t.name, o, null);
    rv++;
    child(o, 'metadata')['resourceVersion'] = String(rv);
    const w: Workload = {
      kind,
      plural,
      namespace: t.namespace,
      name: t.name,
      obj: o,
      failNewPods: t.failNewPods ?? false,
      rollouts: 0,
      hash: null,
      currentRevision: null,
      replicaSets: new Map(),
      maxRevision: 0,
      progressAt: Date.now(),
      progressSig: '',
      reconcileTimer: null,
      deadlineTimer: null,
    };
    workloads.set(wkey(kind, t.namespace, t.name), w);
    emit(plural, 'ADDED', o);
    reconcile(w);
  };

  // ---- jobs ----

  const JOB = RESOURCES['jobs'] as ResourceInfo;

  const putJob = (o: JsonObject, type: WatchEvent['type']) => {
    rv++;
    child(o, 'metadata')['resourceVersion'] = String(rv);
    emit('jobs', type, o);
  };

  /** The Job's one run has ended: succeeded or failed, as the Job controller reports it. */
  const finishJob = (k: string, ok: boolean, why: string) => {
    const j = jobs.get(k);
    if (!j) return;
    j.child = null;
    const now = timestamp();
    const st = clone(obj(j.obj['status']));
    Reflect.deleteProperty(st, 'active');
    const cond = (type: string, reason: string, message: string): JsonObject => ({
      type,
      status: 'True',
      lastProbeTime: now,
      lastTransitionTime: now,
      reason,
      message,
    });
    if (ok) {
      st['succeeded'] = 1;
      st['completionTime'] = now;
      st['conditions'] = [
        cond('SuccessCriteriaMet', 'CompletionsReached', 'Reached expected number of succeeded pods'),
        cond('Complete', 'CompletionsReached', 'Reached expected number of succeeded pods'),
      ];
    } else {
      st['failed'] = 1;
      st['conditions'] = [
        cond('FailureTarget', 'BackoffLimitExceeded', `Job has reached the specified backoff limit (${why})`),
        cond('Failed', 'BackoffLimitExceeded', 'Job has reached the specified backoff limit'),
      ];
    }
    st['ready'] = 0;
    st['terminating'] = 0;
    j.obj['status'] = st;
    putJob(j.obj, 'MODIFIED');
  };

  const createJob = (ns: string, body: JsonObject, dryRun: boolean): JsonObject => {
    const md = obj(body['metadata']);
    const name = str(md['name']);
    if (!name) throw invalid(JOB, '', 'metadata.name', 'Required value: name or generateName is required');
    if (jobs.has(key(ns, name)))
      throw new ApiError(409, 'AlreadyExists', `jobs.batch "${name}" already exists`, gk(JOB, name));
    const spec = clone(obj(body['spec']));
    const template = obj(spec['template']);
    const containers = containersFromJson(obj(template['spec'])['containers']);
    const raw = obj(template['spec'])['containers'];
    const first = Array.isArray(raw) ? obj(raw[0]) : {};
    const args = Array.isArray(first['args']) ? first['args'].filter((a) => typeof a === 'string') : [];
    const c = containers[0];
    const command = [...(c?.command ?? []), ...args];
    if (!c || command.length === 0)
      throw invalid(
        JOB,
        name,
        'spec.template.spec.containers[0].command',
        'Required value: this test server runs the command',
      );
    spec['backoffLimit'] ??= 6;
    spec['completions'] ??= 1;
    spec['parallelism'] ??= 1;
    const now = timestamp();
    const o: JsonObject = {
      apiVersion: 'batch/v1',
      kind: 'Job',
      metadata: {
        ...clone(md),
        name,
        namespace: ns,
        uid: randomUUID(),
        resourceVersion: '',
        generation: 1,
        creationTimestamp: now,
      },
      spec,
      status: { startTime: now, active: 1, ready: 0, terminating: 0 },
    };
    if (dryRun) return o;
    const k = key(ns, name);
    const env: Record<string, string> = { ...imageEnv(c.image), HOSTNAME: `${name}-${randomSuffix()}` };
    for (const e of c.env ?? []) env[e.name] = e.value;
    const rec: { obj: JsonObject; child: ChildProcessWithoutNullStreams | null; out: string } = {
      obj: o,
      child: null,
      out: '',
    };
    jobs.set(k, rec);
    putJob(o, 'ADDED');
    const [program, ...rest] = command;
    let proc: ChildProcessWithoutNullStreams;
    try {
      proc = spawn(program ?? '', rest, { env, cwd: c.workingDir, detached: true });
    } catch (err) {
      setImmediate(() => finishJob(k, false, String(err)));
      return clone(o);
    }
    rec.child = proc;
    const keep = (d: Buffer) => {
      // The tail is enough to say why a migration failed.
      rec.out = (rec.out + d.toString('utf8')).slice(-20_000);
    };
    proc.stdout.on('data', keep);
    proc.stderr.on('data', keep);
    proc.stdin.end();
    let spawnError: string | null = null;
    proc.on('error', (e) => {
      spawnError = e.message;
    });
    proc.on('close', (code, signal) => {
      if (jobs.get(k) !== rec) return; // deleted
      finishJob(
        k,
        code === 0 && !spawnError,
        spawnError ?? (signal ? `signal ${signal}` : `exit code ${code ?? '?'}`),
      );
    });
    return clone(o);
  };

  const deleteJob = (ns: string, name: string): JsonObject | null => {
    const k = key(ns, name);
    const j = jobs.get(k);
    if (!j) return null;
    jobs.delete(k);
    if (j.child) killGroup(j.child);
    putJob(j.obj, 'DELETED');
    return j.obj;
  };

  // ---- generic writes ----

  const storedObject = (r: ResourceInfo, ns: string, name: string): JsonObject => {
    const o = statics.has(r.plural)
      ? statics.get(r.plural)?.get(key(ns, name))
      : r.plural === 'configmaps'
        ? configMaps.get(key(ns, name))
        : r.plural === 'replicasets'
          ? itemsOf('replicasets').find(
              (x) => obj(x['metadata'])['namespace'] === ns && obj(x['metadata'])['name'] === name,
            )
          : workloads.get(wkey(r.kind as WorkloadKind, ns, name))?.obj;
    if (!o) throw notFound(r, name);
    return o;
  };

  /**
   * The write path shared by PUT and PATCH: preconditions (name, resourceVersion), the
   * subresource split (status vs the rest), validation, no-op detection, generation, storage.
   */
  const commit = (
    r: ResourceInfo,
    ns: string,
    name: string,
    current: JsonObject,
    candidate: JsonObject,
    sub: 'status' | null,
    dryRun: boolean,
  ): JsonObject => {
    if (!isObject(candidate)) throw badRequest('the body of the request must be an object');
    const cmd = obj(current['metadata']);
    const nmd = obj(candidate['metadata']);
    if (nmd['name'] !== undefined && nmd['name'] !== name)
      throw badRequest(
        `the name of the object (${String(nmd['name'])}) does not match the name on the URL (${name})`,
      );
    if (nmd['namespace'] !== undefined && nmd['namespace'] !== ns)
      throw badRequest(
        'the namespace of the provided object does not match the namespace sent on the request',
      );
    const wantRv = nmd['resourceVersion'];
    if (typeof wantRv === 'string' && wantRv !== '' && wantRv !== cmd['resourceVersion'])
      throw conflict(r, name);
    let next: JsonObject;
    if (r.plural === 'configmaps') {
      next = { ...candidate, apiVersion: 'v1', kind: 'ConfigMap' };
    } else if (sub === 'status') {
      next = { ...clone(current), status: clone(obj(candidate['status'])) };
    } else {
      next = { ...candidate, apiVersion: 'apps/v1', kind: r.kind, status: clone(obj(current['status'])) };
    }
    // What the server owns in metadata stays the server's.
    next['metadata'] = {
      ...(sub === 'status' ? clone(cmd) : clone(nmd)),
      name,
      namespace: ns,
      uid: cmd['uid'] ?? null,
      creationTimestamp: cmd['creationTimestamp'] ?? null,
      resourceVersion: cmd['resourceVersion'] ?? null,
      ...(cmd['generation'] !== undefined ? { generation: cmd['generation'] } : {}),
    };
    if (r.plural === 'configmaps') validateConfigMap(name, next);
    else {
      normalizeTemplate(obj(next['spec'])['template']);
      validateWorkload(r, name, next, current);
    }
    if (same(next, current)) return current;
    const specChanged = r.plural !== 'configmaps' && !same(next['spec'], current['spec']);
    if (specChanged) child(next, 'metadata')['generation'] = (int(cmd['generation']) ?? 1) + 1;
    if (dryRun) return next;
    rv++;
    child(next, 'metadata')['resourceVersion'] = String(rv);
    if (r.plural === 'configmaps') configMaps.set(key(ns, name), next);
    else {
      const w = workloads.get(wkey(r.kind as WorkloadKind, ns, name));
      if (w) {
        w.obj = next;
        if (specChanged) scheduleReconcile(w, controllerDelayMs);
      }
    }
    emit(r.plural, 'MODIFIED', next);
    return next;
  };

  const applyPatch = (
    contentType: string,
    current: JsonObject,
    body: Json,
    sub: 'status' | null,
  ): JsonObject => {
    let out: Json | undefined;
    try {
      if (contentType === 'application/json-patch+json') out = jsonPatch(current, body);
      else if (contentType === 'application/merge-patch+json') out = mergePatch(current, body);
      else out = strategicMergePatch(current, body);
    } catch (err) {
      if (err instanceof PatchError) throw new ApiError(422, 'Invalid', err.message);
      throw err;
    }
    if (!isObject(out)) throw badRequest('the patched object must be a JSON object');
    if (sub === 'status' && !isObject(out['status'])) out['status'] = {};
    return out;
  };

  // ---- HTTP ----

  // Plain http lets an absent token through (anonymous auth: kubectl sends no bearer token to an
  // http server); https requires it, as a real apiserver with anonymous auth off does.
  const authorized = (req: http.IncomingMessage) =>
    req.headers.authorization === `Bearer ${token}` || (!opts.tls && req.headers.authorization === undefined);

  const send = (res: http.ServerResponse, code: number, body: unknown) => {
    const text = JSON.stringify(body);
    res.writeHead(code, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
    res.end(text);
  };

  const listJson = (r: ResourceInfo | null, kind: string, items: JsonObject[]): JsonObject => ({
    apiVersion: r?.apiVersion ?? 'v1',
    kind,
    metadata: { resourceVersion: String(rv) },
    items,
  });

  const discoveryResource = (name: string, kind: string, namespaced: boolean, verbs: string[]) => ({
    name,
    singularName: name.includes('/') ? '' : kind.toLowerCase(),
    ...(SHORT_NAMES[name] ? { shortNames: SHORT_NAMES[name] } : {}),
    namespaced,
    kind,
    verbs,
    ...(['pods', 'deployments', 'statefulsets'].includes(name) ? { categories: ['all'] } : {}),
  });

  const APPS_GROUP = {
    name: 'apps',
    versions: [{ groupVersion: 'apps/v1', version: 'v1' }],
    preferredVersion: { groupVersion: 'apps/v1', version: 'v1' },
  };

  const BATCH_GROUP = {
    name: 'batch',
    versions: [{ groupVersion: 'batch/v1', version: 'v1' }],
    preferredVersion: { groupVersion: 'batch/v1', version: 'v1' },
  };

  const namespaces = () =>
    new Set([
      'default',
      ...[...jobs.values()].map((j) => str(obj(j.obj['metadata'])['namespace']) ?? 'default'),
      ...[...pods.values()].map((x) => x.namespace),
      ...[...configMaps.values()].map((x) => str(obj(x['metadata'])['namespace']) ?? 'default'),
      ...[...workloads.values()].map((x) => x.namespace),
      ...[...(statics.get('persistentvolumeclaims')?.values() ?? [])].map(
        (x) => str(obj(x['metadata'])['namespace']) ?? 'default',
      ),
    ]);

  const itemsOf = (plural: string): JsonObject[] => {
    const stat = statics.get(plural);
    if (stat) return [...stat.values()];
    if (plural === 'pods') return [...pods.values()].map(podJson);
    if (plural === 'configmaps') return [...configMaps.values()];
    if (plural === 'jobs') return [...jobs.values()].map((j) => j.obj);
    if (plural === 'replicasets')
      return [...workloads.values()].flatMap((w) =>
        [...w.replicaSets].map(([hash, rs]) => replicaSetJson(w, hash, rs)),
      );
    return [...workloads.values()].filter((w) => w.plural === plural).map((w) => w.obj);
  };

  const sortByName = (a: JsonObject, b: JsonObject) => {
    const ka = `${String(obj(a['metadata'])['namespace'])}/${String(obj(a['metadata'])['name'])}`;
    const kb = `${String(obj(b['metadata'])['namespace'])}/${String(obj(b['metadata'])['name'])}`;
    return ka < kb ? -1 : ka > kb ? 1 : 0;
  };

  /** The columns kubectl get shows, as the apiserver's table convertors render them. */
  const table = (plural: string, items: JsonObject[]): JsonObject => {
    const col = (name: string, type = 'string', format = '') => ({
      name,
      type,
      format,
      description: '',
      priority: 0,
    });
    const age = (o: JsonObject) => humanAge(str(obj(o['metadata'])['creationTimestamp']));
    const name = (o: JsonObject) => str(obj(o['metadata'])['name']) ?? '';
    const n = (o: JsonObject, k: string) => int(obj(o['status'])[k]) ?? 0;
    let columns: JsonObject[];
    let cells: (o: JsonObject) => Json[];
    if (plural === 'pods') {
      columns = [
        col('Name', 'string', 'name'),
        col('Ready'),
        col('Status'),
        col('Restarts', 'string'),
        col('Age'),
      ];
      cells = (o) => {
        const raw = obj(o['status'])['containerStatuses'];
        const cs = (Array.isArray(raw) ? raw : []).filter(isObject);
        const r = cs.filter((c) => c['ready'] === true).length;
        const restarts = cs.reduce((n, c) => n + (int(c['restartCount']) ?? 0), 0);
        return [name(o), `${r}/${cs.length}`, podStatusColumn(o), String(restarts), age(o)];
      };
    } else if (plural === 'events') {
      columns = [col('Last Seen'), col('Type'), col('Reason'), col('Object'), col('Message')];
      cells = (o) => {
        const io = obj(o['involvedObject']);
        return [
          humanAge(str(o['lastTimestamp']) ?? str(obj(o['metadata'])['creationTimestamp'])),
          str(o['type']) ?? '',
          str(o['reason']) ?? '',
          `${(str(io['kind']) ?? '').toLowerCase()}/${str(io['name']) ?? ''}`,
          str(o['message']) ?? '',
        ];
      };
    } else if (plural === 'persistentvolumeclaims') {
      columns = [
        col('Name', 'string', 'name'),
        col('Status'),
        col('Volume'),
        col('Access Modes'),
        col('StorageClass'),
        col('Age'),
      ];
      const short: Record<string, string> = {
        ReadWriteOnce: 'RWO',
        ReadWriteMany: 'RWX',
        ReadOnlyMany: 'ROX',
      };
      cells = (o) => {
        const modes = obj(o['status'])['accessModes'] ?? obj(o['spec'])['accessModes'];
        return [
          name(o),
          str(obj(o['status'])['phase']) ?? 'Pending',
          str(obj(o['spec'])['volumeName']) ?? '',
          (Array.isArray(modes) ? modes : []).map((m) => short[String(m)] ?? String(m)).join(','),
          str(obj(o['spec'])['storageClassName']) ?? '',
          age(o),
        ];
      };
    } else if (plural === 'nodes') {
      columns = [col('Name', 'string', 'name'), col('Status'), col('Age')];
      cells = (o) => {
        const conds = obj(o['status'])['conditions'];
        const ready = (Array.isArray(conds) ? conds : [])
          .filter(isObject)
          .some((c) => c['type'] === 'Ready' && c['status'] === 'True');
        return [name(o), ready ? 'Ready' : 'NotReady', age(o)];
      };
    } else if (plural === 'persistentvolumes') {
      columns = [col('Name', 'string', 'name'), col('Status'), col('Claim'), col('Age')];
      cells = (o) => {
        const ref = obj(obj(o['spec'])['claimRef']);
        return [
          name(o),
          str(obj(o['status'])['phase']) ?? '',
          ref['name'] ? `${str(ref['namespace']) ?? ''}/${str(ref['name']) ?? ''}` : '',
          age(o),
        ];
      };
    } else if (plural === 'configmaps') {
      columns = [col('Name', 'string', 'name'), col('Data', 'integer'), col('Age')];
      cells = (o) => [
        name(o),
        Object.keys(obj(o['data'])).length + Object.keys(obj(o['binaryData'])).length,
        age(o),
      ];
    } else if (plural === 'replicasets') {
      columns = [
        col('Name', 'string', 'name'),
        col('Desired', 'integer'),
        col('Current', 'integer'),
        col('Ready', 'integer'),
        col('Age'),
      ];
      cells = (o) => [
        name(o),
        int(obj(o['spec'])['replicas']) ?? 0,
        n(o, 'replicas'),
        n(o, 'readyReplicas'),
        age(o),
      ];
    } else if (plural === 'deployments') {
      columns = [
        col('Name', 'string', 'name'),
        col('Ready'),
        col('Up-to-date', 'integer'),
        col('Available', 'integer'),
        col('Age'),
      ];
      cells = (o) => [
        name(o),
        `${n(o, 'readyReplicas')}/${int(obj(o['spec'])['replicas']) ?? 1}`,
        n(o, 'updatedReplicas'),
        n(o, 'availableReplicas'),
        age(o),
      ];
    } else {
      columns = [col('Name', 'string', 'name'), col('Ready'), col('Age')];
      cells = (o) => [name(o), `${n(o, 'readyReplicas')}/${int(obj(o['spec'])['replicas']) ?? 1}`, age(o)];
    }
    return {
      kind: 'Table',
      apiVersion: 'meta.k8s.io/v1',
      metadata: { resourceVersion: String(rv) },
      columnDefinitions: columns,
      rows: items.map((o) => ({
        cells: cells(o),
        object: {
          kind: 'PartialObjectMetadata',
          apiVersion: 'meta.k8s.io/v1',
          metadata: clone(obj(o['metadata'])),
        },
      })),
    };
  };

  const wantsTable = (req: http.IncomingMessage) => /as=Table/.test(req.headers.accept ?? '');

  const startWatch = (
    res: http.ServerResponse,
    url: URL,
    r: ResourceInfo,
    ns: string | null,
    match: (o: JsonObject) => boolean,
  ) => {
    res.writeHead(200, { 'Content-Type': 'application/json', 'Cache-Control': 'no-cache, private' });
    res.flushHeaders();
    const write = (type: string, object: JsonObject) => res.write(`${JSON.stringify({ type, object })}\n`);
    const inScope = (o: JsonObject) => (ns === null || obj(o['metadata'])['namespace'] === ns) && match(o);
    const from = url.searchParams.get('resourceVersion') ?? '';
    const initial = url.searchParams.get('sendInitialEvents') === 'true';
    if (initial || from === '' || from === '0') {
      for (const o of itemsOf(r.plural).filter(inScope).sort(sortByName)) write('ADDED', clone(o));
      if (initial)
        write('BOOKMARK', {
          kind: r.kind,
          apiVersion: r.apiVersion,
          metadata: { resourceVersion: String(rv), annotations: { 'k8s.io/initial-events-end': 'true' } },
        });
    } else {
      const n = Number(from);
      if (!Number.isInteger(n) || n < historyFrom - 1) {
        write('ERROR', status(410, 'Expired', `too old resource version: ${from} (${rv})`));
        res.end();
        return;
      }
      for (const ev of history)
        if (ev.rv > n && ev.plural === r.plural && inScope(ev.object)) write(ev.type, ev.object);
    }
    const w: Watcher = { plural: r.plural, ns, match, res, timer: null };
    const timeout = Number(url.searchParams.get('timeoutSeconds') ?? '');
    if (Number.isFinite(timeout) && timeout > 0) w.timer = setTimeout(() => res.end(), timeout * 1000);
    watchers.add(w);
    res.on('close', () => {
      watchers.delete(w);
      if (w.timer) clearTimeout(w.timer);
    });
  };

  const readBody = (req: http.IncomingMessage): Promise<Buffer> =>
    new Promise((resolve, reject) => {
      const chunks: Buffer[] = [];
      let size = 0;
      req.on('data', (c: Buffer) => {
        size += c.length;
        if (size > 16 * 1024 * 1024)
          reject(new ApiError(413, 'RequestEntityTooLarge', 'request entity too large'));
        else chunks.push(c);
      });
      req.on('end', () => resolve(Buffer.concat(chunks)));
      req.on('error', reject);
    });

  const parseJson = (buf: Buffer): Json => {
    try {
      return JSON.parse(buf.toString('utf8')) as Json;
    } catch (err) {
      throw badRequest(`error decoding JSON: ${err instanceof Error ? err.message : String(err)}`);
    }
  };

  const mediaType = (req: http.IncomingMessage) =>
    (req.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase() ?? '';

  const handle = async (req: http.IncomingMessage, res: http.ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const p = url.pathname.replace(/\/+$/, '') || '/';
    const method = req.method ?? 'GET';
    recorded.push({
      method,
      path: p,
      query: url.search,
      contentType: req.headers['content-type'] ?? null,
      userAgent: req.headers['user-agent'] ?? null,
    });
    if (p === '/version' || p === '/healthz' || p === '/readyz' || p === '/livez') {
      if (p !== '/version') return void res.end('ok');
      return send(res, 200, {
        major: '1',
        minor: '37',
        gitVersion: 'v1.37.0-cutover-test',
        platform: `${process.platform}/${process.arch}`,
      });
    }
    if (!authorized(req)) return send(res, 401, status(401, 'Unauthorized', 'Unauthorized'));
    if (method === 'GET') {
      if (p === '/api')
        return send(res, 200, { kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [] });
      if (p === '/apis')
        return send(res, 200, { kind: 'APIGroupList', apiVersion: 'v1', groups: [APPS_GROUP, BATCH_GROUP] });
      if (p === '/apis/apps') return send(res, 200, { kind: 'APIGroup', apiVersion: 'v1', ...APPS_GROUP });
      if (p === '/apis/batch') return send(res, 200, { kind: 'APIGroup', apiVersion: 'v1', ...BATCH_GROUP });
      if (p === '/apis/batch/v1')
        return send(res, 200, {
          kind: 'APIResourceList',
          apiVersion: 'v1',
          groupVersion: 'batch/v1',
          resources: [discoveryResource('jobs', 'Job', true, ['create', 'delete', 'get', 'list', 'watch'])],
        });
      if (p === '/api/v1')
        return send(res, 200, {
          kind: 'APIResourceList',
          groupVersion: 'v1',
          resources: [
            discoveryResource('configmaps', 'ConfigMap', true, [
              'create',
              'delete',
              'get',
              'list',
              'patch',
              'update',
              'watch',
            ]),
            discoveryResource('events', 'Event', true, ['get', 'list', 'watch']),
            discoveryResource('namespaces', 'Namespace', false, ['get', 'list']),
            discoveryResource('nodes', 'Node', false, ['get', 'list', 'watch']),
            discoveryResource('persistentvolumeclaims', 'PersistentVolumeClaim', true, [
              'get',
              'list',
              'watch',
            ]),
            discoveryResource('persistentvolumes', 'PersistentVolume', false, ['get', 'list', 'watch']),
            discoveryResource('pods', 'Pod', true, ['delete', 'get', 'list', 'watch']),
            discoveryResource('pods/exec', 'PodExecOptions', true, ['create', 'get']),
          ],
        });
      if (p === '/apis/apps/v1')
        return send(res, 200, {
          kind: 'APIResourceList',
          apiVersion: 'v1',
          groupVersion: 'apps/v1',
          resources: [
            discoveryResource('deployments', 'Deployment', true, ['get', 'list', 'patch', 'update', 'watch']),
            discoveryResource('deployments/status', 'Deployment', true, ['get', 'patch', 'update']),
            discoveryResource('statefulsets', 'StatefulSet', true, [
              'get',
              'list',
              'patch',
              'update',
              'watch',
            ]),
            discoveryResource('statefulsets/status', 'StatefulSet', true, ['get', 'patch', 'update']),
            discoveryResource('replicasets', 'ReplicaSet', true, ['get', 'list']),
          ],
        });
    }
    const cluster = /^\/api\/v1\/(nodes|persistentvolumes)(?:\/([^/]+))?$/.exec(p);
    if (cluster?.[1]) {
      if (method !== 'GET') throw methodNotAllowed();
      const r = RESOURCES[cluster[1]];
      if (!r) throw methodNotAllowed();
      const store = statics.get(r.plural) ?? new Map<string, JsonObject>();
      if (cluster[2] !== undefined) {
        const o = store.get(key('', decodeURIComponent(cluster[2])));
        if (!o) throw notFound(r, decodeURIComponent(cluster[2]));
        return send(res, 200, wantsTable(req) ? table(r.plural, [o]) : o);
      }
      const sel = parseLabelSelector(url.searchParams.get('labelSelector'));
      if (sel === null)
        throw badRequest(`unable to parse requirement: ${url.searchParams.get('labelSelector') ?? ''}`);
      const match = (o: JsonObject) => labelsMatch(asLabels(obj(o['metadata'])['labels']), sel);
      const w = url.searchParams.get('watch');
      if (w === 'true' || w === '1') return startWatch(res, url, r, null, match);
      const items = [...store.values()].filter(match).sort(sortByName).map(clone);
      if (wantsTable(req)) return send(res, 200, table(r.plural, items));
      return send(res, 200, listJson(r, `${r.kind}List`, items));
    }
    const nsMatch = /^\/api\/v1\/namespaces(?:\/([^/]+))?$/.exec(p);
    if (nsMatch) {
      if (method !== 'GET') throw methodNotAllowed();
      const all = namespaces();
      const nsJson = (n: string) => ({
        apiVersion: 'v1',
        kind: 'Namespace',
        metadata: { name: n },
        status: { phase: 'Active' },
      });
      if (!nsMatch[1]) return send(res, 200, listJson(null, 'NamespaceList', [...all].sort().map(nsJson)));
      if (!all.has(nsMatch[1]))
        return send(res, 404, status(404, 'NotFound', `namespaces "${nsMatch[1]}" not found`));
      return send(res, 200, nsJson(nsMatch[1]));
    }
    const m =
      /^\/api\/v1(?:\/namespaces\/([^/]+))?\/(pods|configmaps|persistentvolumeclaims|events)(?:\/([^/]+)(?:\/([^/]+))?)?$/.exec(
        p,
      ) ??
      /^\/apis\/apps\/v1(?:\/namespaces\/([^/]+))?\/(deployments|statefulsets|replicasets)(?:\/([^/]+)(?:\/([^/]+))?)?$/.exec(
        p,
      ) ??
      /^\/apis\/batch\/v1(?:\/namespaces\/([^/]+))?\/(jobs)(?:\/([^/]+)(?:\/([^/]+))?)?$/.exec(p);
    const r = m?.[2] ? RESOURCES[m[2]] : undefined;
    if (!m || !r || (m[3] !== undefined && m[1] === undefined))
      return send(res, 404, status(404, 'NotFound', 'the server could not find the requested resource'));
    const ns = m[1] ? decodeURIComponent(m[1]) : null;
    const name = m[3] ? decodeURIComponent(m[3]) : null;
    const sub = m[4] ?? null;
    const dryRun = url.searchParams.getAll('dryRun').includes('All');

    if (name === null) {
      if (method === 'POST' && r.plural === 'jobs' && ns !== null) {
        const body = parseJson(await readBody(req));
        if (!isObject(body)) throw badRequest('the body of the request must be a Job object');
        return send(res, 201, createJob(ns, body, dryRun));
      }
      if (method === 'POST' && r.plural === 'configmaps' && ns !== null) {
        const ct = mediaType(req);
        if (ct !== 'application/json' && ct !== '')
          throw new ApiError(
            415,
            'UnsupportedMediaType',
            `the body of the request was in an unknown format - accepted media types include: application/json`,
          );
        const body = parseJson(await readBody(req));
        if (!isObject(body)) throw badRequest('the body of the request must be a ConfigMap object');
        return send(res, 201, createConfigMap(ns, body, dryRun));
      }
      if (method !== 'GET') throw methodNotAllowed();
      const sel = parseLabelSelector(url.searchParams.get('labelSelector'));
      if (sel === null)
        throw badRequest(`unable to parse requirement: ${url.searchParams.get('labelSelector') ?? ''}`);
      const fieldMatch = parseFieldSelector(url.searchParams.get('fieldSelector'));
      const match = (o: JsonObject) =>
        labelsMatch(asLabels(obj(o['metadata'])['labels']), sel) && fieldMatch(o);
      const w = url.searchParams.get('watch');
      if (w === 'true' || w === '1') {
        if (r.plural === 'replicasets') throw methodNotAllowed();
        return startWatch(res, url, r, ns, match);
      }
      const items = itemsOf(r.plural)
        .filter((o) => (ns === null || obj(o['metadata'])['namespace'] === ns) && match(o))
        .sort(sortByName)
        .map((o) => clone(o));
      if (wantsTable(req)) return send(res, 200, table(r.plural, items));
      return send(res, 200, listJson(r, `${r.kind}List`, items));
    }
    if (ns === null) throw notFound(r, name);

    if (r.plural === 'jobs') {
      const j = jobs.get(key(ns, name));
      if (!j || sub !== null) throw notFound(r, name);
      if (method === 'GET') return send(res, 200, clone(j.obj));
      if (method === 'DELETE') {
        if (!dryRun) deleteJob(ns, name);
        return send(res, 200, {
          kind: 'Status',
          apiVersion: 'v1',
          metadata: {},
          status: 'Success',
          details: { ...gk(r, name), uid: obj(j.obj['metadata'])['uid'] ?? null },
        });
      }
      throw methodNotAllowed();
    }
    if (r.plural === 'pods') {
      if (sub === 'exec') throw badRequest('Upgrade request required');
      if (sub !== null)
        return send(res, 404, status(404, 'NotFound', 'the server could not find the requested resource'));
      const pod = pods.get(key(ns, name));
      if (!pod) throw notFound(r, name);
      if (method === 'GET')
        return send(res, 200, wantsTable(req) ? table('pods', [podJson(pod)]) : podJson(pod));
      if (method === 'DELETE') {
        if (dryRun) return send(res, 200, podJson(pod));
        const gone = removePod(ns, name);
        return send(res, 200, gone ? podJson(gone) : {});
      }
      throw methodNotAllowed();
    }
    if (sub !== null && (sub !== 'status' || r.plural === 'configmaps'))
      return send(res, 404, status(404, 'NotFound', 'the server could not find the requested resource'));
    const subres = sub === 'status' ? 'status' : null;
    const current = storedObject(r, ns, name);
    if (statics.has(r.plural) && method !== 'GET') throw methodNotAllowed();
    if (r.plural === 'replicasets' && (method !== 'GET' || subres !== null)) throw methodNotAllowed();
    if (method === 'GET') return send(res, 200, wantsTable(req) ? table(r.plural, [current]) : current);
    if (method === 'DELETE' && r.plural === 'configmaps' && subres === null) {
      if (!dryRun) {
        configMaps.delete(key(ns, name));
        rv++;
        emit('configmaps', 'DELETED', current);
      }
      return send(res, 200, {
        kind: 'Status',
        apiVersion: 'v1',
        metadata: {},
        status: 'Success',
        details: { ...gk(r, name), uid: obj(current['metadata'])['uid'] ?? null },
      });
    }
    if (method === 'PUT') {
      const ct = mediaType(req);
      if (ct !== 'application/json' && ct !== '')
        throw new ApiError(
          415,
          'UnsupportedMediaType',
          `the body of the request was in an unknown format - accepted media types include: application/json`,
        );
      const body = parseJson(await readBody(req));
      if (!isObject(body)) throw badRequest(`the body of the request must be a ${r.kind} object`);
      return send(res, 200, commit(r, ns, name, current, body, subres, dryRun));
    }
    if (method === 'PATCH') {
      const ct = mediaType(req);
      if (!PATCH_TYPES.includes(ct))
        throw new ApiError(
          415,
          'UnsupportedMediaType',
          `the body of the request was in an unknown format - accepted media types include: ${PATCH_TYPES.join(', ')}`,
        );
      const body = parseJson(await readBody(req));
      return send(
        res,
        200,
        commit(r, ns, name, current, applyPatch(ct, clone(current), body, subres), subres, dryRun),
      );
    }
    throw methodNotAllowed();
  };

  const onRequest = (req: http.IncomingMessage, res: http.ServerResponse) => {
    handle(req, res).catch((err: unknown) => {
      if (res.headersSent) return void res.end();
      if (err instanceof ApiError)
        return send(res, err.code, status(err.code, err.reason, err.message, err.details));
      send(res, 500, status(500, 'InternalError', String(err)));
    });
  };

  let tlsFiles: { key: string; cert: string } | null = null;
  if (opts.tls) {
    const keyFile = path.join(dir, 'tls.key');
    const certFile = path.join(dir, 'tls.crt');
    await new Promise<void>((resolve, reject) => {
      execFile(
        'openssl',
        [
          'req',
          '-x509',
          '-newkey',
          'ec',
          '-pkeyopt',
          'ec_paramgen_curve:prime256v1',
          '-nodes',
          '-keyout',
          keyFile,
          '-out',
          certFile,
          '-days',
          '7',
          '-subj',
          '/CN=cutover-kube-api-test',
          '-addext',
          'subjectAltName=IP:127.0.0.1,DNS:localhost',
        ],
        (err, _stdout, stderr) => {
          if (err)
            reject(
              new Error(
                `tls: true needs the openssl CLI to make a self-signed certificate (apt-get install openssl): ${err.message} ${stderr}`,
              ),
            );
          else resolve();
        },
      );
    });
    tlsFiles = { key: readFileSync(keyFile, 'utf8'), cert: readFileSync(certFile, 'utf8') };
  }

  const server: http.Server = tlsFiles
    ? https.createServer({ key: tlsFiles.key, cert: tlsFiles.cert }, onRequest)
    : http.createServer(onRequest);

  const wss = new WebSocketServer({
    noServer: true,
    perMessageDeflate: false,
    handleProtocols: (protocols) => {
      if (protocols.has('v5.channel.k8s.io')) return 'v5.channel.k8s.io';
      if (protocols.has('v4.channel.k8s.io')) return 'v4.channel.k8s.io';
      return false;
    },
  });

  const reject = (socket: Duplex, code: number, body: Record<string, unknown>) => {
    const text = JSON.stringify(body);
    socket.end(
      `HTTP/1.1 ${code} ${http.STATUS_CODES[code] ?? ''}\r\nContent-Type: application/json\r\n` +
        `Content-Length: ${Buffer.byteLength(text)}\r\nConnection: close\r\n\r\n${text}`,
    );
  };

  server.on('upgrade', (req: http.IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', () => undefined);
    const url = new URL(req.url ?? '/', 'http://localhost');
    recorded.push({
      method: req.method ?? 'GET',
      path: url.pathname,
      query: url.search,
      contentType: req.headers['content-type'] ?? null,
      userAgent: req.headers['user-agent'] ?? null,
    });
    const m = /^\/api\/v1\/namespaces\/([^/]+)\/pods\/([^/]+)\/exec$/.exec(url.pathname);
    if (!m || !m[1] || !m[2])
      return reject(socket, 404, status(404, 'NotFound', 'the server could not find the requested resource'));
    if (!authorized(req)) return reject(socket, 401, status(401, 'Unauthorized', 'Unauthorized'));
    const [, ns, podName] = m;
    const pod = pods.get(key(ns, podName));
    if (!pod) return reject(socket, 404, status(404, 'NotFound', `pods "${podName}" not found`));
    const command = url.searchParams.getAll('command');
    if (command.length === 0)
      return reject(socket, 400, status(400, 'BadRequest', 'you must specify at least 1 command'));
    let containerName = url.searchParams.get('container');
    if (!containerName) {
      if (pod.containers.length !== 1)
        return reject(
          socket,
          400,
          status(
            400,
            'BadRequest',
            `a container name must be specified for pod ${podName}, choose one of: [${pod.containers.map((c) => c.name).join(' ')}]`,
          ),
        );
      containerName = pod.containers[0]?.name ?? '';
    }
    const container = pod.containers.find((c) => c.name === containerName);
    if (!container)
      return reject(
        socket,
        400,
        status(400, 'BadRequest', `container ${containerName} is not valid for pod ${podName}`),
      );
    const wantStdin = url.searchParams.get('stdin') === 'true' || url.searchParams.get('stdin') === '1';
    wss.handleUpgrade(req, socket, head, (ws) => {
      runExec(ws, pod, container, command, wantStdin);
    });
  });

  const runExec = (
    ws: WebSocket,
    pod: PodRecord,
    container: TestContainer,
    command: string[],
    wantStdin: boolean,
  ) => {
    execTotal++;
    const exec: Exec = { pod: pod.name, ns: pod.namespace, uid: pod.uid, child: null, ws };
    execs.add(exec);
    const v5 = ws.protocol === 'v5.channel.k8s.io';
    const frame = (channel: number, data: Buffer | string) => {
      const body = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
      const output = channel === CHANNEL.stdout || channel === CHANNEL.stderr;
      if (ws.readyState === ws.OPEN)
        ws.send(Buffer.concat([Buffer.from([channel]), body]), { binary: true }, (err) => {
          if (!err && output) execOutput += body.length;
        });
    };
    const finish = (st: Record<string, unknown>) => {
      execs.delete(exec);
      frame(CHANNEL.status, JSON.stringify(st));
      if (ws.readyState === ws.OPEN) ws.close(1000);
    };
    const [program, ...args] = command;
    let child: ChildProcessWithoutNullStreams;
    try {
      child = spawn(program ?? '', args, {
        env: pod.env.get(container.name) ?? {},
        cwd: container.workingDir,
        detached: true,
      });
    } catch (err) {
      finish({ metadata: {}, status: 'Failure', message: String(err), reason: 'InternalError', code: 500 });
      return;
    }
    exec.child = child;
    live.add(child);
    let spawnError: NodeJS.ErrnoException | null = null;
    child.on('error', (e: NodeJS.ErrnoException) => {
      spawnError = e;
    });
    child.stdout.on('data', (d: Buffer) => frame(CHANNEL.stdout, d));
    child.stderr.on('data', (d: Buffer) => frame(CHANNEL.stderr, d));
    child.stdin.on('error', () => undefined);
    if (!wantStdin) child.stdin.end();
    child.on('close', (code, signal) => {
      exec.child = null;
      live.delete(child);
      if (!execs.has(exec)) return; // deleted pod / gone client: no status
      if (spawnError) {
        const e: NodeJS.ErrnoException = spawnError;
        const why =
          e.code === 'ENOENT'
            ? `exec: "${program ?? ''}": executable file not found in $PATH`
            : `exec: "${program ?? ''}": ${e.message}`;
        return finish({
          metadata: {},
          status: 'Failure',
          message: `OCI runtime exec failed: exec failed: unable to start container process: ${why}: unknown`,
          reason: 'InternalError',
          code: 500,
        });
      }
      const exitCode = code ?? (signal ? 128 + signalNumber(signal) : 1);
      if (exitCode === 0) return finish({ metadata: {}, status: 'Success' });
      finish({
        metadata: {},
        status: 'Failure',
        message: `command terminated with non-zero exit code: exit status ${exitCode}`,
        reason: 'NonZeroExitCode',
        details: { causes: [{ reason: 'ExitCode', message: String(exitCode) }] },
      });
    });

    ws.on('message', (data: Buffer, isBinary: boolean) => {
      const buf = isBinary ? data : Buffer.from(data.toString(), 'utf8');
      if (buf.length === 0) return;
      const channel = buf[0];
      if (channel === CHANNEL.stdin) {
        if (buf.length > 1 && wantStdin && child.stdin.writable) child.stdin.write(buf.subarray(1));
      } else if (channel === CHANNEL.close && v5) {
        if (buf[1] === CHANNEL.stdin) child.stdin.end();
      }
      // resize (4) and anything else: ignored (no TTY here).
    });
    ws.on('close', () => {
      // The client went away: kube-apiserver tears the session down, the process goes with it.
      execs.delete(exec);
      killGroup(child);
    });
    ws.on('error', () => undefined);
  };

  // ConfigMaps first: pods resolve their env from them when they are created.
  for (const cm of opts.configMaps ?? []) setConfigMap(cm);
  for (const p of opts.pods ?? []) addPod(p);
  for (const [plural, list] of Object.entries(opts.objects ?? {}))
    for (const o of list ?? []) setObject(plural as StaticPlural, o);
  for (const d of opts.deployments ?? []) addWorkload('Deployment', d);
  for (const s of opts.statefulSets ?? []) addWorkload('StatefulSet', s);

  await new Promise<void>((resolve, reject2) => {
    server.once('error', reject2);
    server.listen(opts.port ?? 0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const url = `${tlsFiles ? 'https' : 'http'}://127.0.0.1:${port}`;
  const kubeconfigPath = opts.kubeconfigPath ?? path.join(dir, 'kubeconfig');
  const context = 'cutover-test';
  writeFileSync(
    kubeconfigPath,
    [
      'apiVersion: v1',
      'kind: Config',
      'clusters:',
      `- name: ${context}`,
      '  cluster:',
      `    server: ${url}`,
      tlsFiles
        ? `    certificate-authority-data: ${Buffer.from(tlsFiles.cert).toString('base64')}`
        : '    insecure-skip-tls-verify: true', // plain http: the client refuses it otherwise
      'users:',
      `- name: ${context}`,
      '  user:',
      `    token: ${token}`,
      'contexts:',
      `- name: ${context}`,
      '  context:',
      `    cluster: ${context}`,
      `    user: ${context}`,
      '    namespace: default',
      `current-context: ${context}`,
      '',
    ].join('\n'),
  );

  const workloadOf = (kind: WorkloadKind, namespace: string, name: string) =>
    findWorkload(kind, namespace, name);

  return {
    url,
    kubeconfigPath,
    context,
    token,
    caPem: tlsFiles?.cert ?? null,
    execCount: () => execTotal,
    activeExecs: () => live.size,
    execOutputBytes: () => execOutput,
    addPod,
    setObject,
    setConfigMap,
    deletePod(namespace, name) {
      removePod(namespace, name);
    },
    recreatePod(namespace, name) {
      const gone = removePod(namespace, name);
      if (!gone) throw new Error(`no pod ${namespace}/${name} on this test server`);
      if (gone.bare) addPod(gone.bare);
    },
    getConfigMap: (namespace, name) => {
      const cm = configMaps.get(key(namespace, name));
      return cm ? clone(cm) : null;
    },
    getWorkload: (kind, namespace, name) => {
      const w = workloads.get(wkey(kind, namespace, name));
      return w ? clone(w.obj) : null;
    },
    listPods: (namespace, selector) =>
      [...pods.values()]
        .filter(
          (p) =>
            (namespace === undefined || p.namespace === namespace) &&
            Object.entries(selector ?? {}).every(([k, v]) => p.labels[k] === v),
        )
        .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
        .map(podInfo),
    workloadPods: (kind, namespace, name) => {
      const w = workloadOf(kind, namespace, name);
      return podsOf(w)
        .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
        .map(podInfo);
    },
    failNewPods(kind, namespace, name, fail = true) {
      const w = workloadOf(kind, namespace, name);
      w.failNewPods = fail;
      if (!fail) for (const p of podsOf(w)) armReadiness(p);
    },
    rollouts: (kind, namespace, name) => workloadOf(kind, namespace, name).rollouts,
    async waitForRollout(kind, namespace, name, timeoutMs = 30_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const w = workloadOf(kind, namespace, name);
        const s = rolloutState(w.obj);
        if (s.error) throw new Error(s.error);
        if (s.done) return clone(w.obj);
        if (Date.now() > deadline)
          throw new Error(
            `${kind} ${namespace}/${name}: rollout not complete after ${timeoutMs} ms: ${s.message}`,
          );
        await new Promise((r) => setTimeout(r, 20));
      }
    },
    setWorkloadImage(kind, namespace, name, image) {
      const w = workloadOf(kind, namespace, name);
      const next = clone(w.obj);
      const spec = obj(obj(obj(next['spec'])['template'])['spec']);
      for (const c of Array.isArray(spec['containers']) ? spec['containers'] : [])
        if (isObject(c)) c['image'] = image;
      commit(RESOURCES[w.plural] as ResourceInfo, namespace, name, w.obj, next, null, false);
    },
    createJob(job) {
      const ns = str(obj(job['metadata'])['namespace']) ?? 'default';
      return createJob(ns, job, false);
    },
    deleteJob: (namespace, name) => deleteJob(namespace, name) !== null,
    getJob: (namespace, name) => {
      const j = jobs.get(key(namespace, name));
      return j ? clone(j.obj) : null;
    },
    jobOutput: (namespace, name) => jobs.get(key(namespace, name))?.out ?? '',
    requests: () => recorded.map((x) => ({ ...x })),
    async close() {
      closed = true;
      for (const w of workloads.values()) {
        if (w.reconcileTimer) clearTimeout(w.reconcileTimer);
        if (w.deadlineTimer) clearTimeout(w.deadlineTimer);
        w.reconcileTimer = null;
        w.deadlineTimer = null;
      }
      for (const p of pods.values()) {
        if (p.readyTimer) clearTimeout(p.readyTimer);
        p.readyTimer = null;
      }
      for (const w of watchers) {
        if (w.timer) clearTimeout(w.timer);
        w.res.end();
      }
      watchers.clear();
      for (const e of [...execs]) {
        execs.delete(e);
        if (e.child) killGroup(e.child);
        e.ws.terminate();
      }
      for (const j of jobs.values()) if (j.child) killGroup(j.child);
      jobs.clear();
      for (const c of wss.clients) c.terminate();
      wss.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** kubectl's STATUS for a pod: an unfinished init container, a waiting container's reason, else the phase. */
function podStatusColumn(o: JsonObject): string {
  const st = obj(o['status']);
  const list = (k: string) => (Array.isArray(st[k]) ? (st[k] as Json[]).filter(isObject) : []);
  const init = list('initContainerStatuses');
  const done = init.filter((c) => obj(obj(c['state'])['terminated'])['reason'] === 'Completed').length;
  if (done < init.length) {
    const waiting = str(obj(obj(init[done]?.['state'])['waiting'])['reason']);
    return waiting && waiting !== 'PodInitializing' ? `Init:${waiting}` : `Init:${done}/${init.length}`;
  }
  for (const c of list('containerStatuses')) {
    const reason = str(obj(obj(c['state'])['waiting'])['reason']);
    if (reason) return reason;
  }
  return str(st['phase']) ?? 'Running';
}

function killGroup(child: ChildProcessWithoutNullStreams): void {
  if (child.pid === undefined || child.exitCode !== null) return;
  try {
    process.kill(-child.pid, 'SIGKILL');
  } catch {
    try {
      child.kill('SIGKILL');
    } catch {
      // already gone
    }
  }
}

function signalNumber(signal: NodeJS.Signals): number {
  return constants.signals[signal] ?? 0;
}
