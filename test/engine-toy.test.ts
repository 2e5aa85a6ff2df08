/**
 * The engine on a runbook it has never heard of (test/fixtures/toy-runbook):
 * evidence gates, the approval gate, the undo stack unwound newest first
 * (including a change whose reply was lost), heal steps, NEEDS_OPERATOR and
 * retryCompensation, and the CutoverRunbook search attribute, on the real
 * Temporal dev server with journaled activities.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { after, before, test } from 'node:test';
import { ApplicationFailure } from '@temporalio/common';
import { bundleWorkflowCode, DefaultLogger, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { notifyActivities } from '../activities/engine/notify.js';
import type { PlanEnvelope } from '../domain/engine/plan.js';
import type { RunInput, RunResult, RunStatus } from '../domain/engine/run.js';
import { createCutoverWorker } from '../worker/create-worker.js';
import { approveUpdate, retryCompensationUpdate, statusQuery } from '../workflows/engine/messages.js';
import { RUNBOOK } from '../workflows/engine/search-attributes.js';
import type { ToyActivities, ToyEvidence, ToyPlan } from './fixtures/toy-runbook/index.js';
import { startCutoverEnv, type CutoverEnv } from './support/cutover-env.js';
import { referencePlanInput } from './support/plans.js';

const TOY_PATH = fileURLToPath(new URL('./fixtures/toy-runbook/index.js', import.meta.url));
const T = { startedAt: '2026-06-06T10:00:00.000Z', finishedAt: '2026-06-06T10:00:01.000Z' };

let env: CutoverEnv;
let bundle: WorkflowBundleWithSourceMap;

before(async () => {
  env = await startCutoverEnv();
  bundle = await bundleWorkflowCode({ workflowsPath: TOY_PATH, logger: new DefaultLogger('WARN') });
});
after(async () => env?.close());

function toyPlan(spec: ToyPlan['spec']): ToyPlan {
  const { spec: _xcom, kind: _kind, ...envelope } = referencePlanInput();
  const base = envelope as unknown as PlanEnvelope;
  return {
    ...base,
    kind: 'ToyRunbook',
    name: 'toy',
    approval: { approvers: ['bob'], allowSelfApproval: false, timeout: '1h' },
    rollout: { timeout: '10m' },
    spec,
  };
}

interface Options {
  measured?: number;
  /** toy.apply n changes, then its reply is lost (the worker "dies" after the side effect). */
  lostReplyAt?: number;
  /** toy.heal fails this many times before it works. */
  healFailures?: number;
}

async function runToy(plan: ToyPlan, o: Options, drive: (h: RunHandle) => Promise<void>) {
  const journal: string[] = [];
  let healFailures = o.healFailures ?? 0;
  const activities: ToyActivities = {
    async 'toy.measure'() {
      journal.push('measure');
      const value = o.measured ?? 1;
      return { ...T, value, passed: value < 10 };
    },
    async 'toy.apply'({ n }) {
      journal.push(`apply ${n}`);
      if (n === o.lostReplyAt)
        throw ApplicationFailure.create({ message: `reply of apply ${n} lost`, nonRetryable: true });
      return { ...T, n };
    },
    async 'toy.prove'({ n, failAt }) {
      journal.push(`prove ${n}`);
      return { ...T, passed: n !== failAt };
    },
    async 'toy.undo'({ n }) {
      journal.push(`undo ${n}`);
      return { ...T, n };
    },
    async 'toy.heal'() {
      journal.push('heal');
      if (healFailures > 0) {
        healFailures -= 1;
        throw ApplicationFailure.create({ message: 'heal target unreachable', nonRetryable: true });
      }
      return { ...T, healed: true };
    },
  };
  const taskQueue = `toy-${randomUUID()}`;
  // Every worker carries the engine's own activities (notify) beside the runbook's.
  const worker = await createCutoverWorker({
    connection: env.connection,
    taskQueue,
    activities: { ...notifyActivities(), ...activities },
    workflowBundle: bundle,
  });
  const input: RunInput<ToyPlan> = { plan, planDigest: 'sha256:toy', startedBy: 'alice' };
  const handle = await env.client.workflow.start('toyRunbook', {
    taskQueue,
    workflowId: `toy-${randomUUID()}`,
    args: [input],
  });
  const result = await worker.runUntil(async () => {
    await drive({ handle, status: () => handle.query(statusQuery) as Promise<RunStatus<ToyEvidence>> });
    return (await handle.result()) as RunResult<ToyEvidence>;
  });
  const description = await handle.describe();
  return { result, journal, runbook: description.typedSearchAttributes.get(RUNBOOK) };
}

interface RunHandle {
  handle: Awaited<ReturnType<CutoverEnv['client']['workflow']['start']>>;
  status(): Promise<RunStatus<ToyEvidence>>;
}

async function until(
  h: RunHandle,
  pred: (s: RunStatus<ToyEvidence>) => boolean,
): Promise<RunStatus<ToyEvidence>> {
  for (;;) {
    try {
      const s = await h.status();
      if (pred(s)) return s;
    } catch {
      // the first workflow task may not have run yet
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

const approve = async (h: RunHandle) => {
  await until(h, (s) => s.pendingApproval !== null);
  await h.handle.executeUpdate(approveUpdate, {
    args: [{ operator: 'bob', reason: 'toy evidence reviewed', digest: 'sha256:toy' }],
  });
};

test(
  'a runbook unknown to the engine runs to DONE, and the run is tagged with its kind',
  { timeout: 60_000 },
  async () => {
    const { result, journal, runbook } = await runToy(toyPlan({ changes: 2 }), {}, approve);
    assert.equal(result.outcome, 'DONE', result.reason);
    assert.equal(result.productionChanged, true);
    assert.equal(result.status.runbook, 'ToyRunbook');
    assert.equal(result.status.decision?.operator, 'bob');
    assert.deepEqual(journal, ['measure', 'apply 1', 'apply 2', 'prove 1', 'prove 2']);
    assert.equal(runbook, 'ToyRunbook');
  },
);

test('a red evidence gate stops before any change', { timeout: 60_000 }, async () => {
  const { result, journal } = await runToy(toyPlan({ changes: 2 }), { measured: 42 }, async () => {});
  assert.equal(result.outcome, 'STOPPED');
  assert.match(result.reason, /MEASURE gate red, nothing changed: value 42 too high/);
  assert.deepEqual(journal, ['measure']);
});

test(
  'a red proof unwinds the undo stack newest first, then heals -> ROLLED_BACK',
  { timeout: 60_000 },
  async () => {
    const { result, journal } = await runToy(toyPlan({ changes: 3, failProofAt: 2 }), {}, approve);
    assert.equal(result.outcome, 'ROLLED_BACK', result.reason);
    assert.equal(result.productionChanged, false);
    assert.deepEqual(journal, [
      'measure',
      'apply 1',
      'apply 2',
      'apply 3',
      'prove 1',
      'prove 2',
      'undo 3',
      'undo 2',
      'undo 1',
      'heal',
    ]);
    assert.deepEqual(result.status.compensation?.completed, ['undo 3', 'undo 2', 'undo 1', 'heal']);
    assert.equal(result.status.compensation?.trigger.phase, 'PROVE');
    assert.match(result.reason, /^PROVE failed \(thing 2 is wrong\); 3 things undone and healed$/);
  },
);

test(
  'a change whose reply was lost is still undone: its undo was pushed before it was made',
  { timeout: 60_000 },
  async () => {
    const { result, journal } = await runToy(toyPlan({ changes: 3 }), { lostReplyAt: 2 }, approve);
    assert.equal(result.outcome, 'ROLLED_BACK', result.reason);
    assert.deepEqual(journal, ['measure', 'apply 1', 'apply 2', 'undo 2', 'undo 1', 'heal']);
  },
);

test(
  'a failing heal waits in NEEDS_OPERATOR, says production is undone but not healed, and resumes on retry',
  { timeout: 60_000 },
  async () => {
    const { result, journal } = await runToy(
      toyPlan({ changes: 1, failProofAt: 1 }),
      { healFailures: 1 },
      async (h) => {
        await approve(h);
        const stuck = await until(h, (s) => s.phase === 'NEEDS_OPERATOR');
        assert.equal(stuck.compensation?.failed?.step, 'heal');
        assert.deepEqual(stuck.compensation?.undoRemaining, []);
        assert.match(stuck.details, /Production is reverted but not healed/);
        await h.handle.executeUpdate(retryCompensationUpdate, {
          args: [{ operator: 'bob', reason: 'target back' }],
        });
      },
    );
    assert.equal(result.outcome, 'ROLLED_BACK', result.reason);
    assert.deepEqual(journal, ['measure', 'apply 1', 'prove 1', 'undo 1', 'heal', 'heal']);
    assert.deepEqual(result.status.compensation?.operatorActions, [
      { action: 'retryCompensation', operator: 'bob', reason: 'target back' },
    ]);
  },
);
