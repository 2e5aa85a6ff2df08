/**
 * The retention rule as a step of the XCom flip (workflow decisions, scripted activities on the
 * real Temporal dev server): rendered before the go and shown to the approver, put after VERIFY by
 * default or before the flip when the plan says so, and undone by the kill-switch like any change.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { approveUpdate } from '../workflows/engine/messages.js';
import {
  inputFor,
  startCutover,
  startCutoverEnv,
  waitForPhase,
  type CutoverEnv,
} from './support/cutover-env.js';
import { testPlan } from './support/plans.js';
import { greenScript, red, scriptedActivities, type JournalEntry } from './support/scripted-activities.js';

let env: CutoverEnv;
before(async () => {
  env = await startCutoverEnv();
});
after(async () => {
  await env?.close();
});

const failVerify = {
  verifyConfig: async (input: Parameters<typeof greenScript.verifyConfig>[0], attempt: number) => ({
    ...(await greenScript.verifyConfig(input, attempt)),
    gate: red('scheduler: AirflowConfigException'),
  }),
};
const failValidate = {
  validateRun: async (input: Parameters<typeof greenScript.validateRun>[0], attempt: number) => ({
    ...(await greenScript.validateRun(input, attempt)),
    state: 'failed',
    gate: red('validation run failed'),
  }),
};

/** The side effects on production and the bucket, in the order they happened. */
const CHANGES = new Set(['applyChange', 'applyLifecycle', 'revertLifecycle', 'revertChange']);

async function runToEnd(plan: ReturnType<typeof testPlan>, script: Parameters<typeof scriptedActivities>[0]) {
  const journal: JournalEntry[] = [];
  const run = await startCutover(env, inputFor(plan), scriptedActivities(script, journal));
  const waiting = await waitForPhase(run.handle, 'AWAIT_GO');
  await run.handle.executeUpdate(approveUpdate, {
    args: [{ operator: 'dococeven', reason: 'go', digest: waiting.planDigest }],
  });
  const result = await run.result;
  return { result, waiting, journal, changes: journal.filter((j) => CHANGES.has(j.name)).map((j) => j.name) };
}

const afterVerify = testPlan((p) => {
  delete p.spec.xcom.ramp;
  p.spec.lifecycle = { days: 7 };
});
const beforeFlip = testPlan((p) => {
  delete p.spec.xcom.ramp;
  p.spec.lifecycle = { days: 7, when: 'before-flip' };
});

test(
  'DONE: the approver reads the lifecycle diff; the rule goes out after VERIFY, before VALIDATE',
  { timeout: 120_000 },
  async () => {
    const { result, waiting, journal, changes } = await runToEnd(afterVerify, {});
    const review = waiting.pendingApproval?.review ?? [];
    assert.ok(
      review.some((l) =>
        /^lifecycle: rule cutover:.*:xcom\/ expires xcom\/ after 7 days, put after VERIFY/.test(l),
      ),
      review.join('\n'),
    );
    assert.ok(
      review.some((l) => /^ {2}\+ .*"Days": 7/.test(l)),
      'the diff is in the request',
    );
    assert.ok(review.some((l) => /^objects under cutover-xcom\/xcom\/: 3/.test(l)));
    assert.equal(result.outcome, 'DONE');
    assert.deepEqual(changes, ['applyChange', 'applyLifecycle']);
    const names = journal.map((j) => j.name);
    assert.ok(names.indexOf('verifyConfig') < names.indexOf('applyLifecycle'));
    assert.ok(names.indexOf('applyLifecycle') < names.indexOf('validateRun'));
    assert.ok(
      names.indexOf('reportObjects') === names.indexOf('calibrate') + 1,
      'the orphan report follows the calibration',
    );
    assert.match(result.status.evidence.lifecycleApplied?.detail ?? '', /put/);
  },
);

test(
  'VALIDATE red after the rule went out: the kill-switch takes the rule back first, then the config',
  { timeout: 120_000 },
  async () => {
    const { result, changes } = await runToEnd(afterVerify, failValidate);
    assert.equal(result.outcome, 'ROLLED_BACK');
    assert.deepEqual(changes, ['applyChange', 'applyLifecycle', 'revertLifecycle', 'revertChange']);
    assert.equal(result.status.evidence.lifecycleReverted?.outcome, 'deleted');
  },
);

test(
  'VERIFY red with the default: the rule is never put, so there is nothing of it to undo',
  { timeout: 120_000 },
  async () => {
    const { result, changes } = await runToEnd(afterVerify, failVerify);
    assert.equal(result.outcome, 'ROLLED_BACK');
    assert.deepEqual(changes, ['applyChange', 'revertChange']);
  },
);

test(
  'before-flip: the rule goes out before the config; a red VERIFY undoes both, newest first',
  { timeout: 120_000 },
  async () => {
    const { result, changes } = await runToEnd(beforeFlip, failVerify);
    assert.equal(result.outcome, 'ROLLED_BACK');
    assert.deepEqual(changes, ['applyLifecycle', 'applyChange', 'revertChange', 'revertLifecycle']);
  },
);

test('a plan without spec.lifecycle renders and puts no rule', { timeout: 120_000 }, async () => {
  const plan = testPlan((p) => {
    delete p.spec.xcom.ramp;
    delete p.spec.lifecycle;
  });
  const { result, journal, waiting } = await runToEnd(plan, {});
  assert.equal(result.outcome, 'DONE');
  assert.ok(!journal.some((j) => /Lifecycle/.test(j.name)));
  assert.ok(!(waiting.pendingApproval?.review ?? []).some((l) => l.startsWith('lifecycle')));
});
