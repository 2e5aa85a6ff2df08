/**
 * From what was read to what it means: findings (each citing the evidence it came from), a status per
 * component, recommendations and the verdict. Pure, so the same snapshot always reads the same way and
 * the change runbooks' health gate uses exactly these rules.
 */
import { formatDuration } from '../figures.js';
import type { CheckRow, Timed } from '../engine/evidence.js';
import type {
  AirflowSnapshot,
  ClaimSnapshot,
  ClusterSnapshot,
  ContainerSnapshot,
  PodSnapshot,
  ProcessSnapshot,
  TargetSnapshot,
} from './snapshot.js';

export type Severity = 'critical' | 'warning';
export type Verdict = 'OPERATIONAL' | 'DEGRADED' | 'DOWN';
export type ComponentState = 'running' | 'partial' | 'failed' | 'unknown';

export interface Finding {
  /** Stable across runs for the same problem (rule + subject): the schedule compares these. */
  id: string;
  severity: Severity;
  /** The component it concerns, or the area (cluster, DAG visibility, metadata database). */
  component: string;
  title: string;
  /** What was read that shows it, one line each (pod, event, query result, endpoint). */
  evidence: string[];
  rootCause: string;
  impact: string;
  resolution: string;
  /** Nothing can run while this holds (the scheduler or the metadata DB is down). */
  down?: boolean;
}

export interface ComponentRow {
  component: string;
  state: ComponentState;
  details: string;
}

export interface Recommendation {
  /** 1 immediate, 2 short term, 3 long term (the seed's grouping). */
  priority: 1 | 2 | 3;
  title: string;
  steps: string[];
  /** The findings that call for it. */
  because: string[];
}

export interface Assessment {
  verdict: Verdict;
  components: ComponentRow[];
  findings: Finding[];
  recommendations: Recommendation[];
  counts: { critical: number; warnings: number; recommendations: number };
}

/** An assessment and its gate row ("deployment healthy", or "left healthy" against a baseline). */
export type JudgedHealth = Assessment & Timed & { row: CheckRow };

export interface JudgeOptions {
  /** The plan's components, by name. */
  components: string[];
  /** The release's namespace (kubernetes) for the commands in resolutions. */
  namespace: string | null;
  /** The version the plan says runs (e.g. "3.3"). */
  airflowVersion: string;
  heartbeatTimeoutSeconds: number;
  maxRestarts: number;
  /** When the snapshot was taken (ISO), for heartbeat ages. */
  now: string;
  /** Whether the plan names airflow.api (without it Airflow's own health is not read). */
  apiConfigured: boolean;
}

/** The health endpoint's job names for the plan's component names. */
const HEALTH_KEY: Record<string, string> = {
  scheduler: 'scheduler',
  triggerer: 'triggerer',
  'dag-processor': 'dag_processor',
};
const JOB_COMPONENT: Record<string, string> = {
  SchedulerJob: 'scheduler',
  TriggererJob: 'triggerer',
  DagProcessorJob: 'dag-processor',
};
const MIGRATION_WAIT = 'wait-for-airflow-migrations';

export function judge(target: TargetSnapshot, airflow: AirflowSnapshot, opts: JudgeOptions): Assessment {
  const findings: Finding[] = [];
  const rows = new Map<string, ComponentRow>();
  for (const c of opts.components) rows.set(c, { component: c, state: 'unknown', details: 'not inspected' });

  if (target.source === 'kubernetes') judgeCluster(target, opts, findings, rows);
  else judgeProcesses(target, findings, rows);
  const hosts = target.source === 'kubernetes' ? target.pods.map((p) => p.name) : null;
  judgeAirflow(airflow, opts, hosts, findings, rows);

  const components = [...rows.values()];
  components.push(databaseRow(airflow), visibilityRow(airflow));
  const sorted = sortFindings(findings);
  const recommendations = recommend(sorted, opts);
  const critical = sorted.filter((f) => f.severity === 'critical').length;
  const warnings = sorted.length - critical;
  const verdict: Verdict = sorted.some((f) => f.down)
    ? 'DOWN'
    : sorted.length > 0
      ? 'DEGRADED'
      : 'OPERATIONAL';
  return {
    verdict,
    components,
    findings: sorted,
    recommendations,
    counts: { critical, warnings, recommendations: recommendations.length },
  };
}

/** What got worse from `before` to `after`: findings that are new or more severe, by id. */
export function worsened(before: Assessment, after: Assessment): Finding[] {
  const was = new Map(before.findings.map((f) => [f.id, f.severity]));
  return after.findings.filter((f) => {
    const prior = was.get(f.id);
    return prior === undefined || (prior === 'warning' && f.severity === 'critical');
  });
}

/** The health rows a changing runbook's gates read: stable ids so a dossier and a test can find them. */
export const DEPLOYMENT_HEALTHY_CHECK = 'deployment-healthy';
export const LEFT_HEALTHY_CHECK = 'left-healthy';

/**
 * The gate row for an assessment: before a change "deployment healthy" (red on a critical finding,
 * amber on a warning); after it, against the assessment before, "left healthy" (red when a critical
 * finding is new or got worse, amber for a new warning), naming what got worse.
 */
export function healthRow(
  a: Assessment,
  baseline?: Assessment,
  /** A dry run reports a sick deployment (amber) and goes on gathering evidence; a real run stops. */
  dryRun = false,
): Omit<CheckRow, 'durationMs'> {
  const list = (fs: Finding[]) => fs.map((f) => f.title).join('; ');
  if (!baseline) {
    const critical = a.findings.filter((f) => f.severity === 'critical');
    const warnings = a.findings.filter((f) => f.severity === 'warning');
    return {
      id: DEPLOYMENT_HEALTHY_CHECK,
      name: 'deployment healthy',
      status: critical.length > 0 ? (dryRun ? 'amber' : 'red') : warnings.length > 0 ? 'amber' : 'green',
      detail:
        critical.length > 0
          ? `${verdictLine(a)}: ${list(critical)}${dryRun ? ' (a real run stops here)' : ''}`
          : warnings.length > 0
            ? `${verdictLine(a)}: ${list(warnings)}`
            : `${a.verdict}: no finding`,
    };
  }
  const worse = worsened(baseline, a);
  const critical = worse.filter((f) => f.severity === 'critical');
  return {
    id: LEFT_HEALTHY_CHECK,
    name: 'left healthy',
    status: critical.length > 0 ? 'red' : worse.length > 0 ? 'amber' : 'green',
    detail:
      worse.length > 0
        ? `got worse since before the change (${baseline.verdict} -> ${a.verdict}): ${list(worse)}`
        : `nothing got worse (${baseline.verdict} before, ${a.verdict} now)`,
  };
}

/** One line for a gate row or a notification: the verdict and the counts. */
export function verdictLine(a: Assessment): string {
  const { critical, warnings } = a.counts;
  return `${a.verdict}: ${critical} critical, ${warnings} warning${warnings === 1 ? '' : 's'}`;
}

// ---- Kubernetes ---------------------------------------------------------------------------------

function judgeCluster(
  cluster: ClusterSnapshot,
  opts: JudgeOptions,
  findings: Finding[],
  rows: Map<string, ComponentRow>,
): void {
  const ns = cluster.namespace;
  if (cluster.error !== null) {
    findings.push({
      id: 'kubernetes-unreadable',
      severity: 'critical',
      component: 'cluster',
      title: 'The Kubernetes API could not be read',
      evidence: [cluster.error],
      rootCause: 'The worker cannot reach or authenticate to the API server named by its kubeconfig.',
      impact: 'No pod, event or volume of the deployment could be inspected.',
      resolution:
        'Check the kubeconfig and context the worker uses (CUTOVER_KUBECONFIG / KUBECONFIG) and that its account may get/list pods, events, persistentvolumeclaims and nodes (deploy/kubernetes/rbac.yaml).',
    });
    return;
  }
  if (cluster.namespaceExists === false) {
    findings.push({
      id: `namespace-missing:${ns}`,
      severity: 'critical',
      component: 'cluster',
      title: `Namespace ${ns} does not exist`,
      evidence: [`GET /api/v1/namespaces/${ns}: NotFound`],
      rootCause:
        'The plan names a namespace the cluster does not have (a typo, another context, or the release is not installed).',
      impact: 'There is no deployment to assess there.',
      resolution: `Check target.namespace and target.context in the plan; \`kubectl get ns\` lists the namespaces.`,
      down: true,
    });
    return;
  }

  const byComponent = new Map<string, PodSnapshot[]>();
  for (const p of cluster.pods) {
    if (p.component === null) continue;
    byComponent.set(p.component, [...(byComponent.get(p.component) ?? []), p]);
  }
  const attachProblems = multiAttach(cluster, findings);

  for (const name of opts.components) {
    const pods = byComponent.get(name) ?? [];
    const ready = pods.filter((p) => p.ready);
    const state: ComponentState =
      pods.length === 0
        ? 'failed'
        : ready.length === pods.length
          ? 'running'
          : ready.length > 0
            ? 'partial'
            : 'failed';
    rows.set(name, {
      component: name,
      state,
      details:
        pods.length === 0
          ? 'no pod'
          : `${ready.length}/${pods.length} pod${pods.length === 1 ? '' : 's'} ready${
              pods.length > ready.length
                ? `; ${pods
                    .filter((p) => !p.ready)
                    .map((p) => `${p.name} ${p.status}`)
                    .join(', ')}`
                : ''
            }`,
    });
    if (pods.length === 0) {
      findings.push({
        id: `component-missing:${name}`,
        severity: 'critical',
        component: name,
        title: `No ${name} pod in namespace ${ns}`,
        evidence: [`GET /api/v1/namespaces/${ns}/pods with the component's selector: no pod`],
        rootCause: `The ${name} workload is scaled to zero, not deployed by the chart, or the plan's selector does not match its labels.`,
        impact: impactOf(name),
        resolution: `\`kubectl -n ${ns} get deploy,sts\` shows whether it exists; check the component's selector in the plan.`,
        down: name === 'scheduler',
      });
      continue;
    }
    for (const pod of pods)
      podFindings(pod, name, ready.length === 0, cluster, attachProblems, opts, findings);
  }

  for (const n of cluster.nodes ?? []) {
    if (n.ready) continue;
    const onIt = cluster.pods.filter((p) => p.node === n.name).map((p) => p.name);
    findings.push({
      id: `node-not-ready:${n.name}`,
      severity: 'warning',
      component: 'cluster',
      title: `Node ${n.name} is not Ready`,
      evidence: [
        `node ${n.name}: condition Ready != True`,
        ...(onIt.length ? [`pods on it: ${onIt.join(', ')}`] : []),
      ],
      rootCause: 'The kubelet on the node stopped reporting (node down, network, disk or memory pressure).',
      impact: onIt.length
        ? `Pods on it may be unreachable: ${onIt.join(', ')}.`
        : 'No pod of the release runs there.',
      resolution: `\`kubectl describe node ${n.name}\` shows its conditions.`,
    });
  }
  chartFindings(cluster, findings);
}

/** The kubectl-style reason a container is not running, or null. */
function stuckReason(c: ContainerSnapshot): string | null {
  if (c.state === 'waiting') return c.reason ?? 'Waiting';
  if (c.state === 'terminated' && c.reason !== 'Completed') return c.reason ?? 'Terminated';
  return null;
}

function podFindings(
  pod: PodSnapshot,
  component: string,
  noneReady: boolean,
  cluster: ClusterSnapshot,
  attachProblems: Map<string, string>,
  opts: JudgeOptions,
  findings: Finding[],
): void {
  const ns = cluster.namespace;
  const severity: Severity = noneReady ? 'critical' : 'warning';
  const events = cluster.events
    .filter((e) => e.object.kind === 'Pod' && e.object.name === pod.name && e.type === 'Warning')
    .map((e) => `event ${e.reason}${e.count > 1 ? ` (x${e.count})` : ''}: ${e.message}`);
  const placed = pod.node ? ` on node ${pod.node}` : ' (not scheduled to a node)';
  const base = [`pod ${pod.name}: ${pod.status}${placed}, created ${pod.createdAt}`];
  const volume = attachProblems.get(pod.name);
  const describe = `\`kubectl -n ${ns} describe pod ${pod.name}\``;

  const init = pod.initContainers.find((c) => c.state !== 'terminated' || c.reason !== 'Completed');
  if (!pod.ready && init) {
    const migrations = init.name === MIGRATION_WAIT;
    findings.push({
      id: `pod-init-stuck:${pod.name}`,
      severity,
      component,
      title: `${pod.name} is stuck in ${pod.status}`,
      evidence: [
        ...base,
        `init container ${init.name}: ${init.state}${init.reason ? ` (${init.reason})` : ''}`,
        ...events,
      ],
      rootCause: volume
        ? `Its volume cannot attach: ${volume}.`
        : migrations
          ? 'The init container waits for the metadata DB schema to reach this version (`airflow db check-migrations`): the migration job has not run or failed.'
          : `The init container ${init.name} has not completed.`,
      impact: impactOf(component, !noneReady),
      resolution: volume
        ? 'Resolve the volume conflict (see the PVC finding); the pod starts once its volume attaches.'
        : migrations
          ? `Run or fix the migration job (\`kubectl -n ${ns} get jobs\`, its logs), or \`airflow db migrate\` against the metadata DB.`
          : `${describe} and the init container's logs.`,
      down: component === 'scheduler' && noneReady,
    });
    return;
  }

  for (const c of pod.containers) {
    const reason = stuckReason(c);
    if (reason !== null && !pod.ready) {
      const oom = c.lastTermination === 'OOMKilled' || c.reason === 'OOMKilled';
      const pull = /ImagePull|ErrImage|InvalidImageName/.test(reason);
      findings.push({
        id: `container-failing:${pod.name}/${c.name}`,
        severity,
        component,
        title: `${pod.name}: container ${c.name} is ${reason}`,
        evidence: [
          ...base,
          `container ${c.name}: ${c.state} (${reason}), ${c.restarts} restart${c.restarts === 1 ? '' : 's'}${c.lastTermination ? `, last ended ${c.lastTermination}` : ''}`,
          ...(c.message ? [`message: ${c.message}`] : []),
          ...events,
        ],
        rootCause: oom
          ? 'The container exceeds its memory limit and is killed (OOMKilled).'
          : pull
            ? 'The image cannot be pulled (wrong tag, registry unreachable or credentials missing).'
            : reason === 'CrashLoopBackOff'
              ? 'The process exits soon after it starts; Kubernetes backs off between restarts.'
              : `The container is ${reason}.`,
        impact: impactOf(component, !noneReady),
        resolution: oom
          ? `Raise the ${component}'s memory limit in the chart values (${component}.resources.limits.memory).`
          : pull
            ? `${describe} names the image and the pull error; check the image tag and imagePullSecrets.`
            : `\`kubectl -n ${ns} logs ${pod.name} -c ${c.name} --previous\` shows why it exits.`,
        down: component === 'scheduler' && noneReady,
      });
      return;
    }
  }

  if (!pod.ready) {
    const scheduling = events.some((e) => e.includes('FailedScheduling'));
    findings.push({
      id: `pod-not-ready:${pod.name}`,
      severity,
      component,
      title: `${pod.name} is not Ready (${pod.status})`,
      evidence: [...base, ...events],
      rootCause: volume
        ? `Its volume cannot attach: ${volume}.`
        : scheduling
          ? 'No node can take it (see the FailedScheduling event: resources, taints, affinity or an unbound claim).'
          : 'Its readiness probe fails or its containers are still starting.',
      impact: impactOf(component, !noneReady),
      resolution: `${describe} shows its conditions and events.`,
      down: component === 'scheduler' && noneReady,
    });
    return;
  }

  for (const c of pod.containers) {
    if (c.restarts > opts.maxRestarts || c.lastTermination === 'OOMKilled') {
      findings.push({
        id: `container-restarts:${pod.name}/${c.name}`,
        severity: 'warning',
        component,
        title: `${pod.name}: container ${c.name} restarted ${c.restarts} time${c.restarts === 1 ? '' : 's'}${c.lastTermination ? ` (last ${c.lastTermination})` : ''}`,
        evidence: [
          ...base,
          `container ${c.name}: restartCount ${c.restarts}, last termination ${c.lastTermination ?? 'unknown'}`,
        ],
        rootCause:
          c.lastTermination === 'OOMKilled'
            ? 'It was killed for exceeding its memory limit.'
            : 'It keeps exiting and being restarted.',
        impact: 'It is up now, but work in flight is lost at each restart.',
        resolution:
          c.lastTermination === 'OOMKilled'
            ? `Raise ${component}.resources.limits.memory in the chart values.`
            : `\`kubectl -n ${ns} logs ${pod.name} -c ${c.name} --previous\` shows the last exit.`,
      });
    }
  }
}

/**
 * ReadWriteOnce claims used from more than one node: from pod placement and from the attach
 * controller's Multi-Attach events. Returns, per blocked pod, the sentence its own finding cites.
 */
function multiAttach(cluster: ClusterSnapshot, findings: Finding[]): Map<string, string> {
  const blocked = new Map<string, string>();
  const rwo = cluster.claims.filter(
    (c) => c.accessModes.includes('ReadWriteOnce') && !c.accessModes.includes('ReadWriteMany'),
  );
  for (const claim of rwo) {
    const users = cluster.pods.filter((p) => p.claims.includes(claim.name));
    const nodes = [...new Set(users.map((p) => p.node).filter((n): n is string => n !== null))].sort();
    const events = cluster.events.filter(
      (e) =>
        e.reason === 'FailedAttachVolume' &&
        /Multi-Attach/i.test(e.message) &&
        (claim.volume === null || e.message.includes(claim.volume) || e.message.includes(claim.name)) &&
        users.some((p) => p.name === e.object.name),
    );
    if (nodes.length < 2 && events.length === 0) continue;
    const holders = new Set<string>();
    for (const e of events) {
      const m = /already used by pod\(s\) ([^\n]+?)(?: and | on |$)/i.exec(e.message);
      for (const h of (m?.[1] ?? '').split(/,\s*/)) if (h.trim()) holders.add(h.trim());
    }
    const holding = holders.size > 0 ? [...holders] : users.filter((p) => p.ready).map((p) => p.name);
    const blockedPods = [
      ...new Set([...events.map((e) => e.object.name), ...users.filter((p) => !p.ready).map((p) => p.name)]),
    ].filter((b) => !holding.includes(b));
    for (const b of blockedPods)
      blocked.set(
        b,
        `ReadWriteOnce claim ${claim.name}${claim.volume ? ` (volume ${claim.volume})` : ''} is attached to another node, used by ${holding.join(', ') || 'another pod'}`,
      );
    findings.push({
      id: `rwo-multi-attach:${claim.name}`,
      severity: 'critical',
      component: 'storage',
      title: `PVC Multi-Attach conflict: ReadWriteOnce claim ${claim.name} is needed on ${nodes.length} nodes`,
      evidence: [
        claimLine(claim),
        ...users.map(
          (p) =>
            `pod ${p.name} (${p.component ?? 'not a plan component'}) on node ${p.node ?? '(none)'}: ${p.status}`,
        ),
        ...events.map(
          (e) =>
            `event FailedAttachVolume on pod ${e.object.name}${e.count > 1 ? ` (x${e.count})` : ''}: ${e.message}`,
        ),
      ],
      rootCause: `A ReadWriteOnce volume attaches to one node at a time, but pods on ${nodes.join(', ') || 'several nodes'} mount ${claim.name}; ${holding.length ? `${holding.join(', ')} hold${holding.length === 1 ? 's' : ''} it, so ` : ''}${blockedPods.length ? `${blockedPods.join(', ')} cannot start` : 'the others cannot attach it'}.`,
      impact: `Pods that need the volume stay in Init or ContainerCreating: ${
        blockedPods.join(', ') ||
        users
          .filter((p) => !p.ready)
          .map((p) => p.name)
          .join(', ') ||
        'any new replica'
      }.`,
      resolution:
        'Use a ReadWriteMany storage class for the claim, or stop sharing it: disable dags.persistence and deploy DAGs with git-sync (dags.gitSync.enabled) or in the image.',
    });
  }
  return blocked;
}

function claimLine(c: ClaimSnapshot): string {
  return `pvc ${c.name}: ${c.phase}, access modes ${c.accessModes.join(', ') || '(none)'}${c.volume ? `, volume ${c.volume}` : ''}${c.storageClass ? `, storage class ${c.storageClass}` : ''}`;
}

function chartFindings(cluster: ClusterSnapshot, findings: Finding[]): void {
  const v = cluster.values;
  const p = v?.dagsPersistence;
  if (!v || !p?.enabled) return;
  const mode = p.accessMode ?? 'ReadWriteOnce';
  const claimName = p.existingClaim;
  const consumers = cluster.pods.filter((pod) =>
    pod.claims.some((c) => (claimName ? c === claimName : /dags/.test(c))),
  );
  if (!/^(ReadWriteOnce|RWO)$/.test(mode) || consumers.length < 2) return;
  findings.push({
    id: 'chart-dags-persistence-rwo',
    severity: 'warning',
    component: 'configuration',
    title: 'dags.persistence is a ReadWriteOnce volume shared by several pods',
    evidence: [
      `${v.file}: dags.persistence.enabled: true, accessMode: ${p.accessMode ?? '(chart default ReadWriteOnce)'}${claimName ? `, existingClaim: ${claimName}` : ''}`,
      `${v.file}: dags.gitSync.enabled: ${v.gitSyncEnabled}`,
      `pods mounting it: ${consumers.map((c) => `${c.name} (node ${c.node ?? 'none'})`).join(', ')}`,
    ],
    rootCause:
      'The chart mounts the DAG claim into every component that reads DAGs; ReadWriteOnce lets only one node attach it.',
    impact: 'Any component scheduled to a second node cannot start.',
    resolution:
      'Set dags.persistence.accessMode: ReadWriteMany with a storage class that supports it, or dags.persistence.enabled: false with dags.gitSync.enabled: true.',
  });
}

// ---- local processes ----------------------------------------------------------------------------

function judgeProcesses(target: ProcessSnapshot, findings: Finding[], rows: Map<string, ComponentRow>): void {
  if (target.error !== null) {
    findings.push({
      id: 'supervisor-unreachable',
      severity: 'critical',
      component: 'supervisor',
      title: 'The local supervisor could not be read',
      evidence: [target.error],
      rootCause: 'The supervisor that runs the components is not running, or not at the recorded URL.',
      impact: 'Which components run could not be checked.',
      resolution: 'Start it (`npm run airflow-local`) or set target.supervisor in the plan.',
    });
    return;
  }
  for (const row of rows.values()) {
    const c = target.components.find((x) => x.name === row.component);
    if (c?.running) {
      rows.set(row.component, {
        ...row,
        state: 'running',
        details: `pid ${c.pid ?? '?'}, started ${c.startedAt ?? '?'}`,
      });
      continue;
    }
    rows.set(row.component, { ...row, state: 'failed', details: 'not running' });
    findings.push({
      id: `component-missing:${row.component}`,
      severity: 'critical',
      component: row.component,
      title: `${row.component} is not running`,
      evidence: [`supervisor ${target.supervisor ?? ''} GET /components: no ${row.component} process`],
      rootCause: `The ${row.component} process exited or was never started.`,
      impact: impactOf(row.component),
      resolution: `Its log under the supervisor's log directory says why; \`POST /restart {"components":["${row.component}"]}\` on the supervisor starts it again.`,
      down: row.component === 'scheduler',
    });
  }
}

// ---- Airflow ------------------------------------------------------------------------------------

function judgeAirflow(
  airflow: AirflowSnapshot,
  opts: JudgeOptions,
  /** The pods that exist now (kubernetes), to tell a dead peer from a pod already replaced; null for local. */
  pods: string[] | null,
  findings: Finding[],
  rows: Map<string, ComponentRow>,
): void {
  const api = airflow.api;
  const threshold = opts.heartbeatTimeoutSeconds;
  if (!opts.apiConfigured)
    findings.push({
      id: 'api-not-configured',
      severity: 'warning',
      component: 'api-server',
      title: "Airflow's health endpoint was not read: the plan names no airflow.api",
      evidence: ['plan: airflow.api is absent'],
      rootCause:
        'Without the API URL the scheduler, triggerer and dag-processor heartbeats as Airflow judges them are unknown.',
      impact: 'A component that runs but does not work (a hung scheduler) goes unnoticed.',
      resolution: 'Add airflow.api { url, usernameEnv, passwordEnv } to the plan.',
    });
  if (api && api.error !== null) {
    findings.push({
      id: 'api-unreachable',
      severity: 'critical',
      component: 'api-server',
      title: "Airflow's API server does not answer its health endpoint",
      evidence: [`${api.url}: ${api.error}`],
      rootCause: 'The api-server is down, not reachable from the worker, or airflow.api.url is wrong.',
      impact:
        'The UI and REST API are unavailable; the health of the scheduler and the metadata DB could not be read from Airflow.',
      resolution: `Check the api-server (its pods or process) and that ${api.url} is the address the worker should use.`,
    });
    const row = rows.get('api-server');
    if (row && row.state === 'running')
      rows.set('api-server', {
        ...row,
        state: 'partial',
        details: `${row.details}; health endpoint not answering`,
      });
  }
  const health = api?.health ?? null;
  if (health) {
    const db = health['metadatabase'];
    if (db && db.status !== 'healthy')
      findings.push({
        id: 'metadatabase-unhealthy',
        severity: 'critical',
        component: 'metadata database',
        title: 'Airflow reports its metadata database unhealthy',
        evidence: [`${api?.url} health: metadatabase.status = ${String(db.status)}`],
        rootCause: 'The api-server cannot query the metadata DB (down, unreachable or out of connections).',
        impact: 'Nothing can be scheduled or run.',
        resolution:
          'Check the database server, its connections (max_connections, PgBouncer) and sql_alchemy_conn.',
        down: true,
      });
    for (const [component, key] of Object.entries(HEALTH_KEY)) {
      const h = health[key];
      if (!h) continue;
      const planned = opts.components.includes(component);
      if (h.status === 'healthy') continue;
      // The endpoint says null when no such job ever ran: only a problem where the plan expects the component.
      if (h.status === null && !planned) continue;
      const age = h.latestHeartbeat ? ageSeconds(h.latestHeartbeat, opts.now) : null;
      const isScheduler = component === 'scheduler';
      findings.push({
        id: `heartbeat-stale:${component}`,
        severity: isScheduler ? 'critical' : 'warning',
        component,
        title:
          h.latestHeartbeat === null
            ? `The ${component} never heartbeat: the health endpoint has no ${component} job`
            : `The ${component}'s last heartbeat is ${formatAge(age ?? 0)} old`,
        evidence: [
          `${api?.url} health: ${key}.status = ${String(h.status)}, latest heartbeat ${h.latestHeartbeat ?? 'null'}`,
        ],
        rootCause:
          h.latestHeartbeat === null
            ? `No ${component} has ever run against this metadata DB.`
            : `The ${component} process stopped or hangs: a live one heartbeats every few seconds.`,
        impact: impactOf(component),
        resolution: `Check the ${component}'s process or pods and its log; restart it.`,
        down: isScheduler,
      });
      const row = rows.get(component);
      if (row)
        rows.set(component, {
          ...row,
          state: 'failed',
          details: `${row.details}; health: ${String(h.status)}`,
        });
    }
    if (api?.version && !versionMatches(api.version, opts.airflowVersion))
      findings.push({
        id: 'version-mismatch',
        severity: 'warning',
        component: 'api-server',
        title: `Airflow ${api.version} runs where the plan says ${opts.airflowVersion}`,
        evidence: [`${api.url} version: ${api.version}`, `plan airflow.version: ${opts.airflowVersion}`],
        rootCause: 'The plan is out of date, or the deployment runs another release than intended.',
        impact: 'Checks chosen by version (API paths, table names) may not fit.',
        resolution: 'Set airflow.version to the release that runs, or fix the deployment.',
      });
  }
  for (const note of api?.notes ?? [])
    findings.push({
      id: `api-not-read:${note.split(':')[0] ?? note}`,
      severity: 'warning',
      component: 'api-server',
      title: 'Part of the REST API could not be read',
      evidence: [note],
      rootCause:
        'The credentials in the env vars airflow.api names were refused, or their user may not read these routes.',
      impact: 'Import errors and DAG warnings were not checked.',
      resolution:
        'Set the env vars airflow.api.usernameEnv / passwordEnv on the worker to a user with read access.',
    });
  if (api?.importErrors && api.importErrors.length > 0)
    findings.push({
      id: 'import-errors',
      severity: 'warning',
      component: 'DAG visibility',
      title: `${api.importErrors.length} DAG file${api.importErrors.length === 1 ? '' : 's'} fail${api.importErrors.length === 1 ? 's' : ''} to import`,
      evidence: api.importErrors.slice(0, 10).map((e) => `${e.file}: ${e.error}`),
      rootCause:
        'The dag processor cannot parse these files (syntax, a missing module, an exception at import).',
      impact: 'The DAGs in them are missing or stale in the UI and are not scheduled from the current code.',
      resolution: 'Fix the files; `airflow dags list-import-errors` shows the full trace.',
    });
  if (api?.dagWarnings && api.dagWarnings.length > 0)
    findings.push({
      id: 'dag-warnings',
      severity: 'warning',
      component: 'DAG visibility',
      title: `${api.dagWarnings.length} DAG warning${api.dagWarnings.length === 1 ? '' : 's'}`,
      evidence: api.dagWarnings.slice(0, 10).map((w) => `${w.dagId} (${w.type}): ${w.message}`),
      rootCause:
        'Airflow flagged these DAGs while parsing or scheduling them (missing pools, non-existent dependencies...).',
      impact: 'Their tasks may not run as written.',
      resolution:
        'Read each warning in the UI (Browse > DAG Warnings) and fix the DAG or the missing resource.',
    });

  if (airflow.db === null) {
    if (airflow.dbError !== null)
      findings.push({
        id: 'metadb-unreadable',
        severity: health?.['metadatabase']?.status === 'healthy' ? 'warning' : 'critical',
        component: 'metadata database',
        title: 'The metadata database could not be read by cutover',
        evidence: [airflow.dbError],
        rootCause:
          "The worker cannot connect with the URL in the env var the plan names, or the schema is not Airflow's.",
        impact: 'DAG visibility and job heartbeats were not checked.',
        resolution:
          'Check the env var airflow.metadataDb names (direct) or the component it runs in (in-pod).',
      });
    return;
  }
  const { visibility: v, jobs } = airflow.db;
  const counts = `serialized_dag: ${v.serializedDags} DAG${v.serializedDags === 1 ? '' : 's'} (count(DISTINCT dag_id)); dag: ${v.activeDags} active (${v.pausedDags} paused) from ${v.dagFiles} file${v.dagFiles === 1 ? '' : 's'}`;
  if (v.serializedDags === 0)
    findings.push({
      id: 'no-dags-visible',
      severity: 'critical',
      component: 'DAG visibility',
      title: 'No DAGs visible: serialized_dag is empty',
      evidence: [counts],
      rootCause:
        v.activeDags === 0
          ? 'The dag processor has found no DAG file: the DAG folder (or bundle) it reads is empty or not mounted where it looks.'
          : 'DAG rows exist but none is serialized: the dag processor fails to serialize them (see its log and the import errors).',
      impact: 'Users cannot see or trigger DAGs and the scheduler has nothing to schedule.',
      resolution:
        'Deploy the DAGs where the dag processor reads them (git-sync, the image, or a volume every parsing pod can mount) and check `SELECT count(DISTINCT dag_id) FROM serialized_dag`.',
    });
  else if (v.serializedDags < v.activeDags)
    findings.push({
      id: 'dags-not-serialized',
      severity: 'warning',
      component: 'DAG visibility',
      title: `${v.activeDags - v.serializedDags} active DAG${v.activeDags - v.serializedDags === 1 ? '' : 's'} not serialized`,
      evidence: [counts],
      rootCause: 'The dag processor has seen these DAGs but not (yet) written their serialized form.',
      impact: 'They are not shown in the UI nor scheduled until serialized.',
      resolution: 'Check the dag processor log for serialization errors.',
    });

  // The health endpoint reads only the most recent job per type: a dead HA peer hides behind a live one.
  const byType = new Map<string, typeof jobs>();
  for (const j of jobs) byType.set(j.jobType, [...(byType.get(j.jobType) ?? []), j]);
  for (const [type, list] of byType) {
    const component = JOB_COMPONENT[type] ?? type;
    const alive = list.filter((j) => j.heartbeatAgeSeconds <= threshold);
    // A job left 'running' by a process that was restarted on the same host, or by a pod that no longer
    // exists, is history (Airflow fails it later), not a peer that is down now.
    const dead = list.filter(
      (j) =>
        j.heartbeatAgeSeconds > threshold &&
        !alive.some((a) => a.hostname === j.hostname) &&
        (pods === null || pods.some((p) => j.hostname === p || j.hostname.startsWith(`${p}.`))),
    );
    if (dead.length === 0 || alive.length === 0) continue;
    findings.push({
      id: `dead-peer:${component}`,
      severity: 'warning',
      component,
      title: `${dead.length} of ${list.length} ${component} jobs stopped heartbeating (the health endpoint still says healthy)`,
      evidence: list.map(
        (j) =>
          `job ${j.jobType} on ${j.hostname}: state ${j.state}, last heartbeat ${formatAge(j.heartbeatAgeSeconds)} ago`,
      ),
      rootCause: `The health endpoint reads only the most recent ${type}; ${dead.map((j) => j.hostname).join(', ')} died without ending its job (killed, node lost).`,
      impact: `Capacity is reduced to ${alive.length} ${component}${alive.length === 1 ? '' : 's'}; a second failure stops ${component === 'scheduler' ? 'scheduling' : 'it'}.`,
      resolution: `Check the ${component} on ${dead.map((j) => j.hostname).join(', ')}; its job row ends when a new one starts there.`,
    });
  }
}

function databaseRow(airflow: AirflowSnapshot): ComponentRow {
  const status = airflow.api?.health?.['metadatabase']?.status;
  if (status === 'healthy' || (status === undefined && airflow.db !== null))
    return {
      component: 'metadata database',
      state: 'running',
      details: `${airflow.db?.revision ? `revision ${airflow.db.revision}` : 'operational'}${status ? ', healthy per Airflow' : ''}`,
    };
  if (status !== undefined)
    return { component: 'metadata database', state: 'failed', details: `Airflow says ${String(status)}` };
  return { component: 'metadata database', state: 'unknown', details: airflow.dbError ?? 'not read' };
}

function visibilityRow(airflow: AirflowSnapshot): ComponentRow {
  const v = airflow.db?.visibility;
  if (!v) return { component: 'DAG visibility', state: 'unknown', details: 'metadata DB not read' };
  const details = `${v.serializedDags} serialized, ${v.activeDags} active from ${v.dagFiles} file${v.dagFiles === 1 ? '' : 's'}`;
  if (v.serializedDags === 0)
    return { component: 'DAG visibility', state: 'failed', details: `no DAGs: ${details}` };
  if (v.serializedDags < v.activeDags) return { component: 'DAG visibility', state: 'partial', details };
  return { component: 'DAG visibility', state: 'running', details };
}

// ---- recommendations ----------------------------------------------------------------------------

/** Actions, most urgent first: one per kind of problem, naming the findings that call for it. */
function recommend(findings: Finding[], opts: JudgeOptions): Recommendation[] {
  const out: Recommendation[] = [];
  const ns = opts.namespace;
  const kubectl = ns ? `kubectl -n ${ns}` : 'kubectl';
  const ids = (pred: (f: Finding) => boolean) => findings.filter(pred).map((f) => f.id);
  const add = (priority: Recommendation['priority'], title: string, steps: string[], because: string[]) => {
    if (because.length > 0) out.push({ priority, title, steps, because });
  };

  const rwo = ids((f) => f.id.startsWith('rwo-multi-attach:') || f.id === 'chart-dags-persistence-rwo');
  add(
    1,
    'Fix the PVC Multi-Attach conflict',
    [
      'Disable DAG persistence and use git-sync: helm upgrade <release> apache-airflow/airflow --reuse-values --set dags.persistence.enabled=false --set dags.gitSync.enabled=true --set dags.gitSync.repo=<repo>',
      'or keep the volume with a ReadWriteMany storage class: --set dags.persistence.accessMode=ReadWriteMany --set dags.persistence.storageClassName=<rwx class>',
      `then delete the pods stuck on the volume so they are recreated: ${kubectl} delete pod <pod>`,
    ],
    rwo,
  );
  add(
    1,
    'Bring the scheduler back',
    [
      `${kubectl} get pods -l component=scheduler -w (until Running and Ready)`,
      'confirm a fresh heartbeat: GET /api/v2/monitor/health shows scheduler.status healthy',
    ],
    ids((f) => f.component === 'scheduler' && f.severity === 'critical'),
  );
  add(
    1,
    'Restore the metadata database',
    [
      'check the database server and its connection limit',
      'GET /api/v2/monitor/health shows metadatabase healthy',
    ],
    ids((f) => f.id === 'metadatabase-unhealthy'),
  );
  add(
    1,
    'Deploy DAGs where the dag processor reads them',
    [
      'choose one deployment method (git-sync, baked into the image, or a ReadWriteMany volume) and use it for every component that parses DAGs',
      'verify: SELECT count(DISTINCT dag_id) FROM serialized_dag; returns the number of DAGs you ship',
    ],
    ids((f) => f.id === 'no-dags-visible' || f.id === 'dags-not-serialized'),
  );
  add(
    1,
    'Restore the unreachable sources so the assessment is complete',
    ['see each finding: kubeconfig and RBAC, the api-server URL, the metadata DB env var'],
    ids(
      (f) =>
        ['kubernetes-unreadable', 'api-unreachable', 'supervisor-unreachable', 'metadb-unreadable'].includes(
          f.id,
        ) || f.id.startsWith('namespace-missing:'),
    ),
  );
  add(
    2,
    'Bring every component to full strength',
    ['see each finding for its pod and container; restart or fix what is not Ready'],
    ids(
      (f) =>
        f.component !== 'scheduler' &&
        (f.id.startsWith('pod-') ||
          f.id.startsWith('container-failing:') ||
          f.id.startsWith('component-missing:') ||
          f.id.startsWith('heartbeat-stale:')),
    ),
  );
  add(
    2,
    'Investigate restarting containers',
    [
      'kubectl logs <pod> -c <container> --previous',
      'raise memory limits where the last termination was OOMKilled',
    ],
    ids((f) => f.id.startsWith('container-restarts:')),
  );
  add(
    2,
    'Fix DAG import errors and warnings',
    ['airflow dags list-import-errors', 'Browse > DAG Warnings in the UI'],
    ids((f) => f.id === 'import-errors' || f.id === 'dag-warnings'),
  );
  add(
    2,
    'Replace the dead HA peer',
    [
      'restart the component on the named host; alert on per-host heartbeat age, not only on the health endpoint',
    ],
    ids((f) => f.id.startsWith('dead-peer:')),
  );
  add(
    3,
    'Keep the plan true to the deployment',
    ['update airflow.version and airflow.api in the plan', 'give the worker a read-only API user'],
    ids((f) => f.id === 'version-mismatch' || f.id.startsWith('api-not-read:')),
  );
  add(
    3,
    'Check the nodes',
    ['kubectl describe node <node>', 'cordon and drain a node that keeps failing'],
    ids((f) => f.id.startsWith('node-not-ready:')),
  );
  return out;
}

// ---- helpers ------------------------------------------------------------------------------------

function impactOf(component: string, partial = false): string {
  if (partial) return `Reduced ${component} capacity: a replica is not serving.`;
  switch (component) {
    case 'scheduler':
      return 'No DAG runs are scheduled and no task is queued.';
    case 'dag-processor':
      return 'DAG files are not parsed: new or changed DAGs do not appear.';
    case 'triggerer':
      return 'Deferred tasks never resume.';
    case 'api-server':
    case 'webserver':
      return 'The UI and REST API are unavailable.';
    default:
      return `${component} is unavailable.`;
  }
}

/** Critical first; among them what causes others (cluster, storage), then what stops everything. */
function sortFindings(findings: Finding[]): Finding[] {
  const rank = (f: Finding) =>
    (f.severity === 'critical' ? 0 : 10) +
    (['cluster', 'storage'].includes(f.component) ? 0 : f.down ? 1 : 2);
  return [...findings].sort((a, b) => rank(a) - rank(b) || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

function versionMatches(reported: string, planned: string): boolean {
  return reported === planned || reported.startsWith(`${planned}.`);
}

export function ageSeconds(iso: string, now: string): number {
  return Math.max(0, Math.round((Date.parse(now) - Date.parse(iso)) / 1000));
}

export function formatAge(seconds: number): string {
  return formatDuration(seconds * 1000);
}
