/**
 * The state-store runbook's decisions with scripted activities on the real Temporal dev server: the
 * draft-key drill deploys AIRFLOW__STATE_STORE__BACKEND, VERIFY fails, and the kill-switch reverts,
 * waits for the old config, rewrites the rows, then re-runs; an object the heal cannot read leaves
 * the run in NEEDS_OPERATOR naming the row and the object, production reverted but not healed.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, test } from 'node:test';
import { notifyActivities } from '../activities/engine/notify.js';
import { objectStorageActivities } from '../activities/object-storage.js';
import type { StateStoreActivities } from '../activities/statestore/index.js';
import type { SharedActivities } from '../activities/index.js';
import type { ChangeStage } from '../domain/evidence.js';
import { planDigest } from '../domain/plan-file.js';
import { STATE_STORE_WORKFLOW_TYPE } from '../domain/statestore/kind.js';
import { stateStorePlanSchema, type StateStorePlan } from '../domain/statestore/plan.js';
import type { StateStoreInput, StateStoreResult, StateStoreStatus } from '../domain/statestore/run.js';
import { createCutoverWorker } from '../worker/create-worker.js';
import { acknowledgeUpdate, approveUpdate, statusQuery } from '../workflows/engine/messages.js';
import { startCutoverEnv, workflowBundle, type CutoverEnv } from './support/cutover-env.js';
import { greenScript } from './support/scripted-activities.js';

const T = { startedAt: '2026-06-06T10:00:00.000Z', finishedAt: '2026-06-06T10:00:01.000Z' };
const GREEN = { passed: true, reasons: [] };
const red = (...reasons: string[]) => ({ passed: false, reasons });

let env: CutoverEnv;
before(async () => {
  env = await startCutoverEnv();
});
after(async () => env?.close());

const plan: StateStorePlan = stateStorePlanSchema.parse({
  apiVersion: 'cutover/v1',
  kind: 'StateStoreBackendCutover',
  name: 'state-flip',
  target: { kind: 'local', name: 'scripted', envFile: 'airflow.env', components: [{ name: 'scheduler' }] },
  airflow: { version: '3.3', metadataDb: { access: 'direct', urlEnv: 'CUTOVER_METADB_URL' } },
  change: { mode: 'env-file' },
  spec: {
    stateStore: {
      path: 's3://aws_default@bucket/state',
      threshold: { strategy: 'fixed', bytes: 0 },
      maxOffloadRows: 100,
    },
    validation: {},
  },
  approval: { approvers: ['bob'] },
});

type Scripted = Pick<
  SharedActivities,
  | 'notify'
  | 'previewChange'
  | 'applyChange'
  | 'waitForRollout'
  | 'revertChange'
  | 'findAffectedRuns'
  | 'rerunAffectedRuns'
  | 'reportObjects'
  | 'inspectTarget'
  | 'inspectAirflow'
  | 'judgeDeployment'
> &
  StateStoreActivities;

function script(journal: string[], o: { verifyRed?: boolean; unreadable?: boolean }): Scripted {
  const stage = (env: Record<string, string>): ChangeStage => ({ label: 'target', thresholdBytes: 0, env });
  return {
    ...notifyActivities(),
    // The real step on a worker without S3 or DB adapters: it says why it compared nothing.
    reportObjects: objectStorageActivities({}).reportObjects,
    // A healthy deployment for the health gate (its own decisions are tested in workflow-health.test.ts).
    inspectTarget: (input) => greenScript.inspectTarget(input, 1),
    inspectAirflow: (input) => greenScript.inspectAirflow(input, 1),
    judgeDeployment: (input) => greenScript.judgeDeployment(input, 1),
    'stateStore.calibrate': async () => {
      journal.push('calibrate');
      const sizes = { p50: 10, p95: 10, p99: 10, p999: 10, max: 10 };
      const store = {
        rowCount: 3,
        sizeBytes: sizes,
        wrapped: { rows: 0, inlineRefs: 0, objectRefs: 0 },
        topProducers: [],
      };
      return {
        ...T,
        task: store,
        asset: store,
        proposal: { thresholdBytes: 0, strategy: 'fixed', rationale: 'fixed' },
        projectedOffloadRows: 6,
        maxOffloadRows: 100,
        gate: GREEN,
      };
    },
    'stateStore.preflight': async () => {
      journal.push('preflight');
      return {
        ...T,
        checks: [{ name: 'config resolution in scheduler', status: 'green', detail: 'ok', durationMs: 1 }],
        gate: GREEN,
      };
    },
    'stateStore.renderChange': async () => {
      journal.push('render');
      return {
        ...T,
        stages: [
          stage({
            AIRFLOW__WORKERS__STATE_STORE_BACKEND: 'x',
            AIRFLOW__COMMON_IO__STATE_STORE_OBJECTSTORAGE_PATH: 'p',
          }),
        ],
        lint: { passed: true, findings: [] },
      };
    },
    previewChange: async () => ({ ...T, destination: 'airflow.env', diff: '+x' }),
    'stateStore.rehearse': async () => {
      journal.push('rehearse');
      const checks = {
        offloaded: true,
        markerInDb: true,
        roundTripIntact: true,
        breakConfirmed: true,
        healConfirmed: true,
        cleaned: true,
      };
      return {
        ...T,
        component: 'scheduler',
        valueBytes: { small: 20, large: 65_556 },
        objectPaths: [],
        checks,
        timingsMs: {},
        gate: GREEN,
      };
    },
    applyChange: async ({ stage: s }) => {
      journal.push(`apply ${Object.keys(s.env).sort().join(',')}`);
      return { ...T, stage: s.label, mode: 'env-file', changed: true, ref: 'r', revertHandle: 'h' };
    },
    waitForRollout: async ({ expectEnv }) => {
      journal.push(`rollout ${Object.keys(expectEnv).length}`);
      return { ...T, components: [{ name: 'scheduler', ready: true, detail: 'ok' }], gate: GREEN };
    },
    'stateStore.verifyConfig': async () => {
      journal.push('verify');
      const bad = o.verifyRed ? "[workers] state_store_backend resolves to ''" : null;
      return {
        ...T,
        components: [
          {
            component: 'scheduler',
            workerBackend: '',
            serverBackend: null,
            path: null,
            threshold: null,
            compression: null,
            error: bad,
          },
        ],
        gate: bad ? red(`scheduler: ${bad}`) : GREEN,
      };
    },
    'stateStore.validateRun': async ({ runId }) => {
      journal.push('validate');
      return {
        ...T,
        dagId: 'state_store_backend_validation',
        runId,
        state: 'success',
        taskStates: {},
        objectCount: 2,
        gate: GREEN,
      };
    },
    revertChange: async ({ stage: s }) => {
      journal.push('revert');
      return {
        ...T,
        stage: s.label,
        ref: 'r',
        changed: true,
        restoredEnv: { AIRFLOW__WORKERS__STATE_STORE_BACKEND: null },
      };
    },
    'stateStore.healRows': async ({ since }) => {
      journal.push('heal');
      const unreadable = o.unreadable
        ? [
            {
              store: 'task',
              key: 'large',
              path: 's3://aws_default@bucket/state/d/r/t/-1/large',
              reason: 'object-missing',
              where: 'd/r/t[-1]',
            },
          ]
        : [];
      return {
        ...T,
        since,
        rewritten: 4,
        inlineRefs: 3,
        objectRefs: 1,
        unreadable,
        markerRowsRemaining: unreadable.length,
        durationMs: 5,
        gate: unreadable.length
          ? red(
              'task state d/r/t[-1] key large: object-missing (s3://aws_default@bucket/state/d/r/t/-1/large)',
            )
          : GREEN,
      };
    },
    findAffectedRuns: async ({ since }) => {
      journal.push('find');
      return { ...T, since, runs: [{ dagId: 'd', runId: 'r', state: 'success' }] };
    },
    rerunAffectedRuns: async ({ runs }) => {
      journal.push('rerun');
      return { ...T, runs: runs.map((r) => ({ ...r, finalState: 'success' })) };
    },
  };
}

async function run(
  input: StateStoreInput,
  o: Parameters<typeof script>[1],
  drive: (
    s: () => Promise<StateStoreStatus>,
    h: Awaited<ReturnType<CutoverEnv['client']['workflow']['start']>>,
  ) => Promise<void>,
) {
  const journal: string[] = [];
  const taskQueue = `state-${randomUUID()}`;
  const worker = await createCutoverWorker({
    connection: env.connection,
    taskQueue,
    activities: script(journal, o),
    workflowBundle: await workflowBundle(),
  });
  const handle = await env.client.workflow.start(STATE_STORE_WORKFLOW_TYPE, {
    taskQueue,
    workflowId: `state-${randomUUID()}`,
    args: [input],
  });
  const status = () => handle.query(statusQuery) as Promise<StateStoreStatus>;
  const result = await worker.runUntil(async () => {
    await drive(status, handle);
    return (await handle.result()) as StateStoreResult;
  });
  return { result, journal };
}

async function until(status: () => Promise<StateStoreStatus>, pred: (s: StateStoreStatus) => boolean) {
  for (;;) {
    const s = await status().catch(() => null);
    if (s && pred(s)) return s;
    await new Promise((r) => setTimeout(r, 50));
  }
}

const input = (extra: Partial<StateStoreInput> = {}): StateStoreInput => ({
  plan,
  planDigest: planDigest(plan),
  startedBy: 'alice',
  ...extra,
});
const approve = async (
  status: () => Promise<StateStoreStatus>,
  h: Awaited<ReturnType<CutoverEnv['client']['workflow']['start']>>,
) => {
  await until(status, (s) => s.pendingApproval !== null);
  await h.executeUpdate(approveUpdate, {
    args: [{ operator: 'bob', reason: 'reviewed', digest: planDigest(plan) }],
  });
};

test(
  'the draft-key drill: the draft key is deployed, VERIFY fails, revert -> old config -> rows rewritten -> re-run',
  { timeout: 60_000 },
  async () => {
    const { result, journal } = await run(
      input({ inject: 'draft-backend-key' }),
      { verifyRed: true },
      async (status, h) => {
        const waiting = await until(status, (s) => s.pendingApproval !== null);
        assert.match(waiting.pendingApproval?.review.join('\n') ?? '', /FAULT INJECTION draft-backend-key/);
        await approve(status, h);
      },
    );
    assert.equal(result.outcome, 'ROLLED_BACK', result.reason);
    assert.equal(result.status.runbook, 'StateStoreBackendCutover');
    assert.deepEqual(journal, [
      'calibrate',
      'preflight',
      'render',
      'rehearse',
      'apply AIRFLOW__COMMON_IO__STATE_STORE_OBJECTSTORAGE_PATH,AIRFLOW__STATE_STORE__BACKEND',
      'rollout 2',
      'verify',
      'revert',
      'rollout 1',
      'heal',
      'find',
      'rerun',
    ]);
    assert.match(
      result.reason,
      /^VERIFY failed .*; change reverted, 4 state row\(s\) rewritten to plain values, 1 affected DAG run\(s\) re-run$/,
    );
  },
);

test(
  'an object the heal cannot read: NEEDS_OPERATOR names the row and the object; reverted, not healed',
  { timeout: 60_000 },
  async () => {
    const plain = plan;
    assert.ok(plain);
    const { result, journal } = await run(
      input(),
      { unreadable: true, verifyRed: true },
      async (status, h) => {
        await approve(status, h);
        const stuck = await until(status, (s) => s.phase === 'NEEDS_OPERATOR');
        assert.equal(stuck.compensation?.failed?.step, 'healRows');
        assert.match(
          stuck.details,
          /d\/r\/t\[-1\] key large: object-missing \(s3:\/\/aws_default@bucket\/state\/d\/r\/t\/-1\/large\)/,
        );
        assert.match(stuck.details, /Production is reverted but not healed/);
        assert.equal(
          stuck.evidence.heal?.unreadable[0]?.path,
          's3://aws_default@bucket/state/d/r/t/-1/large',
        );
        await h.executeUpdate(acknowledgeUpdate, {
          args: [{ operator: 'bob', reason: 'restoring the object from backup by hand' }],
        });
      },
    );
    assert.equal(result.outcome, 'OPERATOR_TOOK_OVER', result.reason);
    assert.equal(result.productionChanged, false, 'the config was reverted before the heal stopped');
    assert.deepEqual(result.status.compensation?.remaining, [
      'healRows',
      'findAffectedRuns',
      'rerunAffectedRuns',
      'leftHealthy',
    ]);
    assert.deepEqual(journal.slice(-3), ['revert', 'rollout 1', 'heal']);
  },
);
