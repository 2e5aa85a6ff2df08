/**
 * A Kubernetes API test server over real HTTP: just enough of kube-apiserver for the
 * Kubernetes exec adapter and for kubectl as a second client. Pods are records; a
 * container's exec runs the command as a LOCAL child process (no shell) with the env the
 * pod spec gives that container (ConfigMaps in envFrom, then env), streamed over the
 * exec WebSocket protocol (v5.channel.k8s.io, else v4): binary frames whose first byte
 * is the channel (0 stdin, 1 stdout, 2 stderr, 3 status, 255 close-stdin in v5).
 *
 * Served: GET /version, /api, /api/v1, /apis; namespaces (list, get); pods (list with
 * labelSelector, get); configmaps (list, get); exec (WebSocket upgrade on GET or POST). Errors are Status bodies.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { constants, tmpdir } from 'node:os';
import path from 'node:path';
import { WebSocketServer, type WebSocket } from 'ws';

export interface EnvVar {
  name: string;
  value: string;
}

export interface TestContainer {
  name: string;
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
}

export interface TestConfigMap {
  namespace: string;
  name: string;
  data: Record<string, string>;
}

export interface KubeApiServerOptions {
  pods?: TestPod[];
  configMaps?: TestConfigMap[];
  /** Bearer token the server accepts (default 'test-token'). */
  token?: string;
  /** Fixed port (default: a free one). */
  port?: number;
  /** Where to write the kubeconfig (default: a temp dir removed on close). */
  kubeconfigPath?: string;
}

export interface KubeApiServer {
  url: string;
  kubeconfigPath: string;
  /** The kubeconfig's context name. */
  context: string;
  token: string;
  close(): Promise<void>;
  /** Removes the pod: its running execs are killed and their sockets closed without a status. */
  deletePod(namespace: string, name: string): void;
  addPod(pod: TestPod): void;
  setConfigMap(cm: TestConfigMap): void;
  /** Execs started so far (for tests). */
  execCount(): number;
  /** Exec'd processes that have not exited yet. */
  activeExecs(): number;
}

interface Exec {
  pod: string;
  ns: string;
  child: ChildProcessWithoutNullStreams | null;
  ws: WebSocket;
}

const SHORT_NAMES: Record<string, string[]> = { pods: ['po'], configmaps: ['cm'], namespaces: ['ns'] };

const CHANNEL = { stdin: 0, stdout: 1, stderr: 2, status: 3, resize: 4, close: 255 } as const;

function status(code: number, reason: string, message: string): Record<string, unknown> {
  return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code };
}

function parseSelector(sel: string | null): [string, string, boolean][] | null {
  if (!sel) return [];
  const out: [string, string, boolean][] = [];
  for (const part of sel.split(',')) {
    const p = part.trim();
    if (!p) continue;
    const m = /^([^!=]+?)\s*(==|=|!=)\s*(.*)$/.exec(p);
    if (!m || !m[1] || !m[2]) return null;
    out.push([m[1].trim(), (m[3] ?? '').trim(), m[2] !== '!=']);
  }
  return out;
}

function matches(labels: Record<string, string>, sel: [string, string, boolean][]): boolean {
  return sel.every(([k, v, eq]) => (labels[k] === v) === eq);
}

export async function startKubeApiServer(opts: KubeApiServerOptions = {}): Promise<KubeApiServer> {
  const token = opts.token ?? 'test-token';
  const pods = new Map<string, TestPod>();
  const configMaps = new Map<string, TestConfigMap>();
  const created = new Map<string, string>();
  const execs = new Set<Exec>();
  /** Exec'd processes not yet exited (whatever became of their sockets). */
  const live = new Set<ChildProcessWithoutNullStreams>();
  let rv = 1;
  let execTotal = 0;
  const key = (ns: string, name: string) => `${ns}/${name}`;
  const addPod = (p: TestPod) => {
    pods.set(key(p.namespace, p.name), p);
    created.set(key(p.namespace, p.name), new Date().toISOString().replace(/\.\d+Z$/, 'Z'));
    rv++;
  };
  const setConfigMap = (cm: TestConfigMap) => {
    configMaps.set(key(cm.namespace, cm.name), cm);
    rv++;
  };
  for (const p of opts.pods ?? []) addPod(p);
  for (const cm of opts.configMaps ?? []) setConfigMap(cm);

  const podJson = (p: TestPod) => {
    const ready = p.ready ?? true;
    const ts = created.get(key(p.namespace, p.name));
    return {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: {
        name: p.name,
        namespace: p.namespace,
        labels: p.labels ?? {},
        uid: `uid-${p.namespace}-${p.name}`,
        resourceVersion: String(rv),
        creationTimestamp: ts,
      },
      spec: {
        containers: p.containers.map((c) => ({
          name: c.name,
          image: 'local/process',
          ...(c.command ? { command: c.command } : {}),
          env: c.env ?? [],
          envFrom: c.envFrom ?? [],
        })),
        nodeName: 'local',
      },
      status: {
        phase: 'Running',
        podIP: '127.0.0.1',
        startTime: ts,
        conditions: [
          { type: 'Initialized', status: 'True' },
          { type: 'Ready', status: ready ? 'True' : 'False' },
          { type: 'ContainersReady', status: ready ? 'True' : 'False' },
          { type: 'PodScheduled', status: 'True' },
        ],
        containerStatuses: p.containers.map((c) => ({
          name: c.name,
          ready,
          started: true,
          restartCount: 0,
          image: 'local/process',
          imageID: '',
          state: { running: { startedAt: ts } },
        })),
      },
    };
  };

  const cmJson = (cm: TestConfigMap) => ({
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: cm.name, namespace: cm.namespace, resourceVersion: String(rv) },
    data: cm.data,
  });

  /** The container's environment: image defaults, then envFrom ConfigMaps, then env (which wins). */
  const containerEnv = (p: TestPod, c: TestContainer): Record<string, string> => {
    const env: Record<string, string> = {
      PATH: process.env['PATH'] ?? '/usr/local/bin:/usr/bin:/bin',
      HOSTNAME: p.name,
    };
    for (const from of c.envFrom ?? []) {
      const cm = configMaps.get(key(p.namespace, from.configMapRef.name));
      if (cm) Object.assign(env, cm.data);
    }
    for (const e of c.env ?? []) env[e.name] = e.value;
    return env;
  };

  // A wrong token is refused; none at all is let through (anonymous auth): kubectl sends no
  // bearer token to a plain-http server.
  const authorized = (req: http.IncomingMessage) =>
    req.headers.authorization === undefined || req.headers.authorization === `Bearer ${token}`;

  const send = (res: http.ServerResponse, code: number, body: unknown) => {
    const text = JSON.stringify(body);
    res.writeHead(code, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
    res.end(text);
  };

  const list = (kind: string, items: unknown[]) => ({
    apiVersion: 'v1',
    kind,
    metadata: { resourceVersion: String(rv) },
    items,
  });

  const resource = (name: string, kind: string, namespaced: boolean, verbs: string[]) => ({
    name,
    singularName: name.includes('/') ? '' : kind.toLowerCase(),
    ...(SHORT_NAMES[name] ? { shortNames: SHORT_NAMES[name] } : {}),
    namespaced,
    kind,
    verbs,
  });

  const handle = (req: http.IncomingMessage, res: http.ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const p = url.pathname.replace(/\/+$/, '') || '/';
    if (p === '/version' || p === '/healthz' || p === '/readyz') {
      if (p !== '/version') return void res.end('ok');
      return send(res, 200, {
        major: '1',
        minor: '37',
        gitVersion: 'v1.37.0-cutover-test',
        platform: `${process.platform}/${process.arch}`,
      });
    }
    if (!authorized(req)) return send(res, 401, status(401, 'Unauthorized', 'Unauthorized'));
    if (req.method !== 'GET')
      return send(res, 405, status(405, 'MethodNotAllowed', `the server does not allow this method`));
    if (p === '/api')
      return send(res, 200, { kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [] });
    if (p === '/apis') return send(res, 200, { kind: 'APIGroupList', apiVersion: 'v1', groups: [] });
    if (p === '/api/v1')
      return send(res, 200, {
        kind: 'APIResourceList',
        groupVersion: 'v1',
        resources: [
          resource('pods', 'Pod', true, ['get', 'list']),
          resource('pods/exec', 'PodExecOptions', true, ['create', 'get']),
          resource('configmaps', 'ConfigMap', true, ['get', 'list']),
          resource('namespaces', 'Namespace', false, ['get', 'list']),
        ],
      });
    const nsMatch = /^\/api\/v1\/namespaces(?:\/([^/]+))?$/.exec(p);
    if (nsMatch) {
      const all = new Set(['default', ...[...pods.values(), ...configMaps.values()].map((x) => x.namespace)]);
      const nsJson = (n: string) => ({
        apiVersion: 'v1',
        kind: 'Namespace',
        metadata: { name: n },
        status: { phase: 'Active' },
      });
      if (!nsMatch[1]) return send(res, 200, list('NamespaceList', [...all].sort().map(nsJson)));
      if (!all.has(nsMatch[1]))
        return send(res, 404, status(404, 'NotFound', `namespaces "${nsMatch[1]}" not found`));
      return send(res, 200, nsJson(nsMatch[1]));
    }
    let m = /^\/api\/v1\/namespaces\/([^/]+)\/(pods|configmaps)(?:\/([^/]+))?$/.exec(p);
    if (!m) m = /^\/api\/v1()\/(pods|configmaps)()$/.exec(p);
    if (!m)
      return send(res, 404, status(404, 'NotFound', 'the server could not find the requested resource'));
    const [, ns, kind, name] = m;
    if (kind === 'pods') {
      if (name) {
        const pod = pods.get(key(ns ?? '', name));
        if (!pod) return send(res, 404, status(404, 'NotFound', `pods "${name}" not found`));
        return send(res, 200, podJson(pod));
      }
      const sel = parseSelector(url.searchParams.get('labelSelector'));
      if (!sel) return send(res, 400, status(400, 'BadRequest', 'unable to parse requirement'));
      const items = [...pods.values()]
        .filter((x) => (!ns || x.namespace === ns) && matches(x.labels ?? {}, sel))
        .map(podJson);
      return send(res, 200, list('PodList', items));
    }
    if (name) {
      const cm = configMaps.get(key(ns ?? '', name));
      if (!cm) return send(res, 404, status(404, 'NotFound', `configmaps "${name}" not found`));
      return send(res, 200, cmJson(cm));
    }
    return send(
      res,
      200,
      list('ConfigMapList', [...configMaps.values()].filter((x) => !ns || x.namespace === ns).map(cmJson)),
    );
  };

  const server = http.createServer((req, res) => {
    try {
      handle(req, res);
    } catch (err) {
      send(res, 500, status(500, 'InternalError', String(err)));
    }
  });

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
    pod: TestPod,
    container: TestContainer,
    command: string[],
    wantStdin: boolean,
  ) => {
    execTotal++;
    const exec: Exec = { pod: pod.name, ns: pod.namespace, child: null, ws };
    execs.add(exec);
    const v5 = ws.protocol === 'v5.channel.k8s.io';
    const frame = (channel: number, data: Buffer | string) => {
      const body = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
      if (ws.readyState === ws.OPEN) ws.send(Buffer.concat([Buffer.from([channel]), body]), { binary: true });
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
        env: containerEnv(pod, container),
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

  await new Promise<void>((resolve, reject2) => {
    server.once('error', reject2);
    server.listen(opts.port ?? 0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const url = `http://127.0.0.1:${port}`;
  const dir = mkdtempSync(path.join(tmpdir(), 'cutover-kube-'));
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
      '    insecure-skip-tls-verify: true', // plain http: the client refuses it otherwise
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

  return {
    url,
    kubeconfigPath,
    context,
    token,
    execCount: () => execTotal,
    activeExecs: () => live.size,
    addPod,
    setConfigMap,
    deletePod(namespace, name) {
      pods.delete(key(namespace, name));
      rv++;
      for (const e of [...execs]) {
        if (e.ns !== namespace || e.pod !== name) continue;
        execs.delete(e);
        if (e.child) killGroup(e.child);
        e.ws.terminate();
      }
    },
    async close() {
      for (const e of [...execs]) {
        execs.delete(e);
        if (e.child) killGroup(e.child);
        e.ws.terminate();
      }
      for (const c of wss.clients) c.terminate();
      wss.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      rmSync(dir, { recursive: true, force: true });
    },
  };
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
