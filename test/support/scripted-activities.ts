/**
 * Scripted activity doubles for workflow DECISION tests: every step answers
 * green by default, a test overrides the steps it wants to fail, and a journal
 * records every call so a test can assert which side effects happened and
 * which never did. Shipped activities never use these.
 */
import { Context } from '@temporalio/activity';
import type { CutoverActivities } from '../../activities/index.js';
import { createActivities } from '../../activities/index.js';
import { SshKeygen } from '../../adapters/ssh-keygen.js';
import type { AssessmentActivities } from '../../activities/assessment/index.js';
import type { StateStoreActivities } from '../../activities/statestore/index.js';
import type { UpgradeActivities } from '../../activities/upgrade/index.js';
import { XCOM_OBJECT_STORAGE_BACKEND } from '../../domain/airflow-env.js';
import { sizeBandsFrom, type GateVerdict } from '../../domain/evidence.js';
import { lifecycleDiff, mergeLifecycle, ownedRule } from '../../domain/lifecycle.js';

/** The XCom flip's activities and the shared ones (the state-store and upgrade runbooks have their own scripts). */
type Activities = Omit<
  CutoverActivities,
  keyof StateStoreActivities | keyof AssessmentActivities | keyof UpgradeActivities
>;
export type ActivityName = keyof Activities;
type InputOf<K extends ActivityName> = Parameters<Activities[K]>[0];
type OutputOf<K extends ActivityName> = Awaited<ReturnType<Activities[K]>>;

export type Script = { [K in ActivityName]?: (input: InputOf<K>, attempt: number) => Promise<OutputOf<K>> };

export interface JournalEntry {
  name: ActivityName;
  attempt: number;
  /** For applies and reverts: the stage label; for validation: the run id. */
  detail?: string;
}

export const SIDE_EFFECTS: ActivityName[] = [
  'applyChange',
  'revertChange',
  'validateRun',
  'rerunAffectedRuns',
  'applyLifecycle',
  'revertLifecycle',
];

const T0 = '2026-06-06T10:00:00.000Z';
const T1 = '2026-06-06T10:00:01.000Z';
const timed = { startedAt: T0, finishedAt: T1 };
export const GREEN: GateVerdict = { passed: true, reasons: [] };
export const red = (...reasons: string[]): GateVerdict => ({ passed: false, reasons });

// The real signature checks, over the real ssh-keygen: signed approvals are never scripted.
const real = createActivities({ signatures: new SshKeygen() });

/** Green defaults shaped like the reference dossier. */
export const greenScript: Required<Script> = {
  calibrate: async ({ plan }) => ({
    ...timed,
    source: 'metadata-db',
    rowCount: 7175,
    sizeBytes: { p50: 15, p95: 73_000, p99: 307_000, p999: 1_520_000, max: 1_990_000 },
    // [band, rows]: band k holds 2^(k-1) <= size < 2^k; 7 175 values in all, as in the reference dossier.
    sizeBands: sizeBandsFrom([
      [4, 3577],
      [5, 1100],
      [6, 520],
      [7, 380],
      [8, 290],
      [9, 200],
      [10, 160],
      [11, 130],
      [12, 100],
      [13, 80],
      [14, 60],
      [15, 40],
      [16, 238],
      [17, 300],
      [18, 120],
      [19, 80],
      [20, 54],
      [21, 11],
    ]),
    rowsAbove: { '48KB': 545, '100KB': 277, '1MB': 11 },
    topProducers: [{ dagId: 'diagnostic__s42', taskId: 'discriminate_cell', rows: 120, maxBytes: 1_990_000 }],
    proposal: { thresholdBytes: 1_600_000, strategy: 'above-p99.9', rationale: 'scripted' },
    projectedOffloadRows: 7,
    maxOffloadRows: plan.spec.xcom.maxOffloadRows,
    ...(plan.spec.xcom.ramp
      ? { ramp: { startBytes: plan.spec.xcom.ramp.startBytes, projectedOffloadRows: 0 } }
      : {}),
    gate: GREEN,
  }),
  preflight: async () => ({
    ...timed,
    checks: [
      { name: 'env var encoding lint', status: 'green', detail: 'ok', durationMs: 1 },
      {
        name: 'provider apache-airflow-providers-common-io',
        status: 'green',
        detail: '1.11.0',
        durationMs: 5,
      },
      { name: 'connection aws_default', status: 'green', detail: 'aws', durationMs: 5 },
      { name: 'functional write/read/delete', status: 'green', detail: 'PASS', durationMs: 40 },
      { name: 'config dry resolution', status: 'green', detail: 'resolves', durationMs: 900 },
    ],
    gate: GREEN,
  }),
  renderChange: (input) => real.renderChange(input),
  previewChange: async () => ({
    ...timed,
    destination: 'values-prod.yaml (scripted)',
    diff: '+AIRFLOW__CORE__XCOM_BACKEND: ...',
  }),
  rehearse: async ({ stage }) => ({
    ...timed,
    valueBytes: stage.thresholdBytes + 65_536,
    objectPath: 's3://aws_default@bucket/xcom/_rehearsal/x',
    offloaded: true,
    breakConfirmed: true,
    roundTripIntact: true,
    healConfirmed: true,
    sentinelCleaned: true,
    timingsMs: { offload: 10 },
    gate: GREEN,
  }),
  applyChange: async ({ stage }) => ({
    ...timed,
    stage: stage.label,
    mode: 'gitops',
    changed: true,
    ref: `merge-${stage.label}`,
    revertHandle: `merge-${stage.label}`,
  }),
  waitForRollout: async ({ plan }) => ({
    ...timed,
    components: plan.target.components.map((c) => ({ name: c.name, ready: true, detail: 'rolled out' })),
    gate: GREEN,
  }),
  verifyConfig: async ({ plan, stage }) => ({
    ...timed,
    components: plan.target.components.map((c) => ({
      component: c.name,
      pod: `${c.name}-0`,
      path: plan.spec.xcom.path,
      threshold: stage.thresholdBytes,
      compression: plan.spec.xcom.compression,
      xcomClass: XCOM_OBJECT_STORAGE_BACKEND.split('.').pop() ?? null,
      error: null,
    })),
    gate: GREEN,
  }),
  validateRun: async ({ plan, runId }) => ({
    ...timed,
    dagId: plan.spec.validation.dagId,
    runId,
    state: 'success',
    taskStates: { push: 'success', pull: 'success' },
    xcomErrors: 0,
    inlineCount: 2,
    offloadedCount: 0,
    largestXComBytes: 1200,
    objectCount: 0,
    gate: GREEN,
  }),
  revertChange: async ({ stage }) => ({
    ...timed,
    stage: stage.label,
    ref: `revert-${stage.label}`,
    changed: true,
    restoredEnv: Object.fromEntries(Object.keys(stage.env).map((k) => [k, null])),
  }),
  findAffectedRuns: async ({ plan, since }) => ({
    ...timed,
    since,
    runs: [{ dagId: plan.spec.validation.dagId, runId: 'scheduled__after-apply', state: 'failed' }],
  }),
  rerunAffectedRuns: async ({ runs }) => ({
    ...timed,
    runs: runs.map((r) => ({ ...r, finalState: 'success' })),
  }),
  confirmHealed: async ({ runs }) => ({
    ...timed,
    runs: runs.map((r) => ({
      dagId: r.dagId,
      runId: r.runId,
      readsData: true,
      detail: 'downstream read the dict',
    })),
    gate: GREEN,
  }),
  reportObjects: async ({ plan }) => ({
    ...timed,
    bucket: 'cutover-xcom',
    keyPrefix: 'xcom/',
    skipped: null,
    listed: { objects: 3, bytes: 3_000_000, oldest: T0 },
    referenced: { objects: 2, bytes: 2_000_000, oldest: T0 },
    orphaned: { objects: 1, bytes: 1_000_000, oldest: T0 },
    dangling: 0,
    retentionDays: plan.spec.lifecycle?.days ?? null,
    referencedOlderThanRetention: plan.spec.lifecycle ? 0 : null,
    referencedByAgeDays: [2],
  }),
  renderLifecycle: async ({ plan }) => {
    const days = plan.spec.lifecycle?.days ?? 7;
    const rule = ownedRule(plan.name, 's3://aws_default@cutover-xcom/xcom', days);
    const after = mergeLifecycle(null, rule);
    return {
      ...timed,
      bucket: 'cutover-xcom',
      keyPrefix: 'xcom/',
      ruleId: rule.ID ?? '',
      days,
      when: plan.spec.lifecycle?.when ?? 'after-verify',
      before: null,
      after,
      changed: true,
      diff: lifecycleDiff(null, after),
      conflicts: [],
      warnings: [],
    };
  },
  applyLifecycle: async ({ render }) => ({ ...timed, changed: true, detail: `rule ${render.ruleId} put` }),
  revertLifecycle: async () => ({ ...timed, outcome: 'deleted', detail: 'configuration deleted again' }),
  // A healthy deployment: every planned component running, Airflow healthy, DAGs visible.
  inspectTarget: async ({ plan }) => ({
    ...timed,
    source: 'local',
    supervisor: 'http://127.0.0.1:1',
    components: plan.target.components.map((c, i) => ({
      name: c.name,
      running: true,
      pid: 1000 + i,
      startedAt: T0,
    })),
    error: null,
    notes: [],
  }),
  inspectAirflow: async ({ plan }) => ({
    ...timed,
    api: plan.airflow.api
      ? {
          url: plan.airflow.api.url,
          health: {
            metadatabase: { status: 'healthy', latestHeartbeat: null },
            scheduler: { status: 'healthy', latestHeartbeat: T1 },
            triggerer: { status: 'healthy', latestHeartbeat: T1 },
            dag_processor: { status: 'healthy', latestHeartbeat: T1 },
          },
          // The release the plan names: the gate's tests are about heartbeats, not versions.
          version: `${plan.airflow.version}.0`,
          importErrors: [],
          dagWarnings: [],
          error: null,
          notes: [],
        }
      : null,
    db: {
      visibility: { serializedDags: 3, activeDags: 3, dagFiles: 3, pausedDags: 0 },
      jobs: [{ jobType: 'SchedulerJob', hostname: 'local', state: 'running', heartbeatAgeSeconds: 1 }],
      revision: 'cutover-test',
    },
    dbError: null,
  }),
  judgeDeployment: (input) => real.judgeDeployment(input),
  // Like a worker without CUTOVER_WEBHOOK_URL; test/notifications.test.ts wires in the real activity.
  notify: async () => 'skipped',
  verifySignature: (input) => real.verifySignature(input),
  verifyStart: (input) => real.verifyStart(input),
};

/** The health gate reads the target and Airflow at once: their order in the journal is the worker's. */
const CONCURRENT = new Set<ActivityName>(['inspectAirflow', 'inspectTarget']);

/** The journal's activity names, each concurrent pair in one order (alphabetical) so tests can compare lists. */
export function stepNames(journal: JournalEntry[]): ActivityName[] {
  const out: ActivityName[] = [];
  for (let i = 0; i < journal.length;) {
    let j = i;
    while (j < journal.length && CONCURRENT.has(journal[j]?.name as ActivityName)) j += 1;
    if (j > i) {
      out.push(
        ...journal
          .slice(i, j)
          .map((e) => e.name)
          .sort(),
      );
      i = j;
    } else {
      out.push(journal[i]?.name as ActivityName);
      i += 1;
    }
  }
  return out;
}

/** The health gate's three steps as they appear in `stepNames`. */
export const HEALTH_STEPS: ActivityName[] = ['inspectAirflow', 'inspectTarget', 'judgeDeployment'];

/** Activities that follow `overrides` where given and the green script elsewhere, journaling every call. */
export function scriptedActivities(overrides: Script = {}, journal: JournalEntry[] = []): Activities {
  const out: Record<string, (input: never) => Promise<unknown>> = {};
  for (const name of Object.keys(greenScript) as ActivityName[]) {
    const impl = (overrides[name] ?? greenScript[name]) as (
      input: unknown,
      attempt: number,
    ) => Promise<unknown>;
    out[name] = async (input: never) => {
      const attempt = Context.current().info.attempt;
      const i = input as { stage?: { label: string }; runId?: string };
      // The journal lists runbook steps; notifications are not decisions and have their own tests.
      if (name !== 'notify')
        journal.push({
          name,
          attempt,
          ...(i.stage ? { detail: i.stage.label } : i.runId ? { detail: i.runId } : {}),
        });
      return impl(input, attempt);
    };
  }
  return out as unknown as Activities;
}

export function calls(journal: JournalEntry[], name: ActivityName): JournalEntry[] {
  return journal.filter((j) => j.name === name);
}
