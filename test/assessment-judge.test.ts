/**
 * The assessment's rules on hand-made snapshots (pure: no server). Each case is a deployment an
 * operator meets: healthy, a dead scheduler, a dead HA peer hidden by the health endpoint, a crash
 * loop out of memory; and the comparison the change runbooks' gate uses.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { healthSection } from '../client/report-shared.js';
import { healthRow, judge, worsened, type JudgeOptions } from '../domain/assessment/judge.js';
import type {
  AirflowSnapshot,
  ClusterSnapshot,
  PodSnapshot,
  ProcessSnapshot,
} from '../domain/assessment/snapshot.js';

const NOW = '2026-12-04T10:00:00.000Z';
const T = { startedAt: NOW, finishedAt: NOW };
const OPTS: JudgeOptions = {
  components: ['scheduler', 'api-server', 'dag-processor', 'triggerer'],
  namespace: null,
  airflowVersion: '3.3',
  heartbeatTimeoutSeconds: 60,
  maxRestarts: 5,
  now: NOW,
  apiConfigured: true,
};

const local = (running: string[]): ProcessSnapshot => ({
  ...T,
  source: 'local',
  supervisor: 'http://127.0.0.1:9',
  components: OPTS.components.map((name, i) => ({
    name,
    running: running.includes(name),
    pid: running.includes(name) ? 100 + i : null,
    startedAt: running.includes(name) ? NOW : null,
  })),
  error: null,
  notes: [],
});

function airflow(
  health: Record<string, string | null> = {},
  beat = '2026-12-04T09:59:58.000Z',
  jobs: AirflowSnapshot['db'] extends infer D ? (D extends { jobs: infer J } ? J : never) : never = [],
): AirflowSnapshot {
  const entry = (k: string) => ({
    status: k in health ? (health[k] ?? null) : 'healthy',
    latestHeartbeat: beat,
  });
  return {
    ...T,
    api: {
      url: 'http://127.0.0.1:8080',
      health: {
        metadatabase: { status: 'healthy', latestHeartbeat: null },
        scheduler: entry('scheduler'),
        triggerer: entry('triggerer'),
        dag_processor: entry('dag_processor'),
      },
      version: '3.3.2',
      importErrors: [],
      dagWarnings: [],
      error: null,
      notes: [],
    },
    db: {
      visibility: { serializedDags: 4, activeDags: 4, dagFiles: 3, pausedDags: 1 },
      jobs,
      revision: 'r1',
    },
    dbError: null,
  };
}

test('a healthy deployment is OPERATIONAL with no finding and no recommendation', () => {
  const a = judge(local(OPTS.components), airflow(), OPTS);
  assert.equal(a.verdict, 'OPERATIONAL');
  assert.deepEqual(a.findings, []);
  assert.deepEqual(a.counts, { critical: 0, warnings: 0, recommendations: 0 });
  assert.ok(
    a.components.every((c) => c.state === 'running'),
    JSON.stringify(a.components),
  );
});

test('a scheduler whose process runs but whose heartbeat is stale: DOWN, the age named', () => {
  const a = judge(
    local(OPTS.components),
    airflow({ scheduler: 'unhealthy' }, '2026-12-04T09:55:00.000Z'),
    OPTS,
  );
  assert.equal(a.verdict, 'DOWN');
  const f = a.findings.find((x) => x.id === 'heartbeat-stale:scheduler');
  assert.ok(f);
  assert.equal(f.severity, 'critical');
  assert.match(f.title, /last heartbeat is 5 min old/);
  assert.match(f.evidence[0] ?? '', /scheduler\.status = unhealthy, latest heartbeat 2026-12-04T09:55:00/);
  assert.equal(a.components.find((c) => c.component === 'scheduler')?.state, 'failed');
});

test('a killed local scheduler: not running, DOWN; a missing triggerer job is only a warning', () => {
  const a = judge(local(['api-server', 'dag-processor', 'triggerer']), airflow({ triggerer: null }), OPTS);
  assert.equal(a.verdict, 'DOWN');
  assert.equal(a.findings.find((f) => f.id === 'component-missing:scheduler')?.severity, 'critical');
  assert.equal(a.findings.find((f) => f.id === 'heartbeat-stale:triggerer')?.severity, 'warning');
});

function pod(name: string, component: string, extra: Partial<PodSnapshot> = {}): PodSnapshot {
  return {
    name,
    component,
    phase: 'Running',
    status: 'Running',
    node: 'n1',
    ready: true,
    createdAt: NOW,
    initContainers: [],
    containers: [
      {
        name: component,
        ready: true,
        restarts: 0,
        state: 'running',
        reason: null,
        message: null,
        lastTermination: null,
      },
    ],
    claims: [],
    ...extra,
  };
}

const cluster = (pods: PodSnapshot[]): ClusterSnapshot => ({
  ...T,
  source: 'kubernetes',
  namespace: 'airflow',
  namespaceExists: true,
  pods,
  events: [],
  claims: [],
  nodes: [{ name: 'n1', ready: true }],
  values: null,
  error: null,
  notes: [],
});

test('an HA scheduler peer that stopped heartbeating is found, though the health endpoint says healthy', () => {
  const pods = [
    pod('airflow-scheduler-0', 'scheduler'),
    pod('airflow-scheduler-1', 'scheduler'),
    pod('airflow-api-server-1', 'api-server'),
    pod('airflow-dag-processor-1', 'dag-processor'),
    pod('airflow-triggerer-0', 'triggerer'),
  ];
  const jobs = [
    { jobType: 'SchedulerJob', hostname: 'airflow-scheduler-0', state: 'running', heartbeatAgeSeconds: 2 },
    { jobType: 'SchedulerJob', hostname: 'airflow-scheduler-1', state: 'running', heartbeatAgeSeconds: 900 },
    // A pod replaced by a rollout left its job behind: history, not a dead peer.
    {
      jobType: 'SchedulerJob',
      hostname: 'airflow-scheduler-7c9f',
      state: 'running',
      heartbeatAgeSeconds: 4000,
    },
  ];
  const a = judge(cluster(pods), airflow({}, undefined, jobs), { ...OPTS, namespace: 'airflow' });
  assert.equal(a.verdict, 'DEGRADED');
  const f = a.findings.find((x) => x.id === 'dead-peer:scheduler');
  assert.ok(f, JSON.stringify(a.findings.map((x) => x.id)));
  assert.equal(f.severity, 'warning');
  assert.match(f.rootCause, /airflow-scheduler-1 died/);
  assert.doesNotMatch(f.rootCause, /7c9f/);
});

test('a crash loop out of memory: the container, its restarts and the memory limit to raise', () => {
  const crashing = pod('airflow-triggerer-0', 'triggerer', {
    ready: false,
    status: 'CrashLoopBackOff',
    containers: [
      {
        name: 'triggerer',
        ready: false,
        restarts: 12,
        state: 'waiting',
        reason: 'CrashLoopBackOff',
        message: 'back-off 5m0s',
        lastTermination: 'OOMKilled',
      },
    ],
  });
  const pods = [pod('s-0', 'scheduler'), pod('a-0', 'api-server'), pod('d-0', 'dag-processor'), crashing];
  const a = judge(cluster(pods), airflow(), { ...OPTS, namespace: 'airflow' });
  const f = a.findings.find((x) => x.id === 'container-failing:airflow-triggerer-0/triggerer');
  assert.ok(f);
  assert.equal(f.severity, 'critical', 'no triggerer replica serves');
  assert.match(f.rootCause, /OOMKilled/);
  assert.match(f.resolution, /triggerer\.resources\.limits\.memory/);
  assert.equal(a.verdict, 'DEGRADED', 'the scheduler still schedules');
});

test('worsened: what is new or more severe after a change', () => {
  const before = judge(local(OPTS.components), airflow({ triggerer: 'unhealthy' }), OPTS);
  const after = judge(
    local(['api-server', 'dag-processor', 'triggerer']),
    airflow({ triggerer: 'unhealthy' }),
    OPTS,
  );
  assert.deepEqual(
    worsened(before, after).map((f) => f.id),
    ['component-missing:scheduler'],
  );
  assert.deepEqual(worsened(after, after), []);
});

test('the dossier section of the health gate: the three readings, each row, the findings before', () => {
  const before = judge(local(OPTS.components), airflow({ triggerer: 'unhealthy' }), OPTS);
  const after = judge(
    local(['api-server', 'dag-processor', 'triggerer']),
    airflow({ triggerer: 'unhealthy' }),
    OPTS,
  );
  const stamp = { startedAt: NOW, finishedAt: NOW };
  const lines: string[] = [];
  healthSection(
    {
      health: {
        before: { ...before, ...stamp, row: { ...healthRow(before), durationMs: 5 } },
        afterChange: { ...after, ...stamp, row: { ...healthRow(after, before), durationMs: 5 } },
        afterRollback: { ...before, ...stamp, row: { ...healthRow(before, before), durationMs: 5 } },
      },
    },
    (...l) => lines.push(...l),
  );
  const md = lines.join('\n');
  assert.match(
    md,
    /\| before the change \(PREFLIGHT\) \| DEGRADED \| deployment healthy \| amber \| DEGRADED: 0 critical, 1 warning: The triggerer's last heartbeat/,
  );
  assert.match(
    md,
    /\| after the change rolled out \| DOWN \| left healthy \| red \| got worse since before the change \(DEGRADED -> DOWN\): scheduler is not running \|/,
  );
  assert.match(md, /\| after the kill-switch \| DEGRADED \| left healthy \| green \| nothing got worse/);
  assert.match(md, /- \*\*warning\*\* \(triggerer\): The triggerer's last heartbeat/);
});
