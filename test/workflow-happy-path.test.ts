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
import {
  calls,
  HEALTH_STEPS,
  scriptedActivities,
  SIDE_EFFECTS,
  stepNames,
  type JournalEntry,
} from './support/scripted-activities.js';

let env: CutoverEnv;
before(async () => {
  env = await startCutoverEnv();
});
after(async () => {
  await env?.close();
});

test('happy path: evidence, approval, apply, verify, validate -> DONE', { timeout: 120_000 }, async () => {
  const plan = testPlan((p) => {
    delete p.spec.xcom.ramp;
  });
  const journal: JournalEntry[] = [];
  const run = await startCutover(env, inputFor(plan), scriptedActivities({}, journal));

  const waiting = await waitForPhase(run.handle, 'AWAIT_GO');
  assert.ok(waiting.pendingApproval, 'an approval request is pending');
  assert.deepEqual(waiting.pendingApproval.approvers, ['dococeven', 'platform-oncall']);
  assert.equal(waiting.pendingApproval.planDigest, inputFor(plan).planDigest);
  assert.equal(
    waiting.pendingApproval.deadline,
    '2026-06-07T10:00:01.000Z',
    'deadline = rehearsal end + 24h',
  );
  assert.ok(waiting.pendingApproval.review.some((l) => l.startsWith('calibration: 7 175 XCom rows')));
  assert.ok(
    waiting.pendingApproval.review.some((l) =>
      l.includes('AIRFLOW__COMMON_IO__XCOM_OBJECTSTORAGE_THRESHOLD="1600000"'),
    ),
  );
  assert.equal(calls(journal, 'applyChange').length, 0, 'nothing applied before the go');

  const ack = await run.handle.executeUpdate(approveUpdate, {
    args: [{ operator: 'dococeven', reason: 'evidence reviewed', digest: waiting.planDigest }],
  });
  assert.match(ack, /approved by dococeven/);

  const result = await run.result;
  assert.equal(result.outcome, 'DONE');
  assert.equal(result.productionChanged, true);
  assert.equal(result.status.decision?.operator, 'dococeven');
  assert.equal(result.status.evidence.verifications.length, 1);
  assert.equal(result.status.evidence.validations[0]?.state, 'success');
  assert.deepEqual(
    journal.filter((j) => SIDE_EFFECTS.includes(j.name)).map((j) => j.name),
    ['applyChange', 'applyLifecycle', 'validateRun'],
  );
  assert.deepEqual(stepNames(journal), [
    'calibrate',
    'reportObjects',
    'preflight',
    ...HEALTH_STEPS,
    'renderChange',
    'renderLifecycle',
    'previewChange',
    'rehearse',
    'applyChange',
    'waitForRollout',
    'verifyConfig',
    ...HEALTH_STEPS,
    'applyLifecycle',
    'validateRun',
  ]);

  const described = await run.handle.describe();
  const sa = described.typedSearchAttributes;
  assert.equal(sa.get({ name: 'CutoverOutcome', type: 'KEYWORD' } as never), 'DONE');
});
