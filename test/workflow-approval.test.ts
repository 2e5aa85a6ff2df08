/**
 * The approval gate: who may say go, on what, and when. Refused signals are
 * recorded and change nothing; refused updates are rejected by the validator.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { approveSignal, approveUpdate, rejectSignal, rejectUpdate } from '../workflows/engine/messages.js';
import {
  inputFor,
  refusedUpdate,
  startCutover,
  startCutoverEnv,
  waitForPhase,
  waitForStatus,
  type CutoverEnv,
} from './support/cutover-env.js';
import { testPlan } from './support/plans.js';
import { calls, scriptedActivities, SIDE_EFFECTS, type JournalEntry } from './support/scripted-activities.js';

let env: CutoverEnv;
before(async () => {
  // The time-skipping server: the approval timeout is skipped, not waited out.
  env = await startCutoverEnv({ timeSkipping: true });
});
after(async () => {
  await env?.close();
});

const plan = testPlan((p) => {
  delete p.spec.xcom.ramp;
});
const digest = inputFor(plan).planDigest;

test(
  'refused approvals change nothing; a valid one after them goes through',
  { timeout: 90_000 },
  async () => {
    const journal: JournalEntry[] = [];
    const run = await startCutover(env, inputFor(plan), scriptedActivities({}, journal));
    const { handle } = run;
    await waitForPhase(handle, 'AWAIT_GO');

    const approve = (operator: string, d = digest) =>
      handle.executeUpdate(approveUpdate, { args: [{ operator, reason: 'looks good', digest: d }] });

    assert.match(
      await refusedUpdate(approve('mallory')),
      /mallory is not one of the plan's approvers \(dococeven, platform-oncall\)/,
    );
    assert.match(
      await refusedUpdate(approve('dococeven', 'sha256:0000000000000000')),
      /does not match the plan under review/,
    );
    assert.match(
      await refusedUpdate(
        handle.executeUpdate(approveUpdate, { args: [{ operator: 'dococeven', reason: ' ', digest }] }),
      ),
      /a reason is required/,
    );

    // Signals take the same rules; refusals are recorded, visible in status.
    await handle.signal(approveSignal, { operator: 'mallory', reason: 'yolo', digest });
    await handle.signal(approveSignal, { operator: 'platform-oncall', reason: 'ok', digest: 'sha256:stale' });
    const status = await waitForStatus(handle, (s) => s.refusals.length === 2);
    assert.equal(status.phase, 'AWAIT_GO', 'still waiting: no refused message moved the gate');
    assert.deepEqual(
      status.refusals.map((r) => [r.message, r.operator, r.via]),
      [
        ['approve', 'mallory', 'signal'],
        ['approve', 'platform-oncall', 'signal'],
      ],
    );
    assert.equal(calls(journal, 'applyChange').length, 0);

    // A good approval via signal (as `temporal workflow signal` would send it).
    await handle.signal(approveSignal, { operator: 'platform-oncall', reason: 'reviewed evidence', digest });
    const result = await run.result;
    assert.equal(result.outcome, 'DONE');
    assert.equal(result.status.decision?.via, 'signal');
    assert.equal(result.status.decision?.operator, 'platform-oncall');
  },
);

test('self-approval is refused unless the plan allows it', { timeout: 90_000 }, async () => {
  const selfPlan = testPlan((p) => {
    delete p.spec.xcom.ramp;
    p.approval.approvers = ['alice', 'bob'];
  });
  const input = inputFor(selfPlan, { startedBy: 'alice' });
  const run = await startCutover(env, input, scriptedActivities());
  await waitForPhase(run.handle, 'AWAIT_GO');
  assert.match(
    await refusedUpdate(
      run.handle.executeUpdate(approveUpdate, {
        args: [{ operator: 'alice', reason: 'me', digest: input.planDigest }],
      }),
    ),
    /alice started this run and the plan does not allow self-approval/,
  );
  await run.handle.executeUpdate(approveUpdate, {
    args: [{ operator: 'bob', reason: 'four eyes', digest: input.planDigest }],
  });
  assert.equal((await run.result).outcome, 'DONE');

  const allowed = testPlan((p) => {
    delete p.spec.xcom.ramp;
    p.approval.approvers = ['alice'];
    p.approval.allowSelfApproval = true;
  });
  const input2 = inputFor(allowed, { startedBy: 'alice' });
  const run2 = await startCutover(env, input2, scriptedActivities());
  await waitForPhase(run2.handle, 'AWAIT_GO');
  await run2.handle.executeUpdate(approveUpdate, {
    args: [{ operator: 'alice', reason: 'solo on-call', digest: input2.planDigest }],
  });
  assert.equal((await run2.result).outcome, 'DONE');
});

test('double approval: the second one is refused, the run applies once', { timeout: 90_000 }, async () => {
  const journal: JournalEntry[] = [];
  // Hold APPLY so the run is still open when the second approval arrives.
  let release!: () => void;
  const held = new Promise<void>((r) => (release = r));
  const green = scriptedActivities();
  const run = await startCutover(
    env,
    inputFor(plan),
    scriptedActivities(
      {
        applyChange: async (input) => {
          await held;
          return green.applyChange(input);
        },
      },
      journal,
    ),
  );
  await waitForPhase(run.handle, 'AWAIT_GO');
  await run.handle.executeUpdate(approveUpdate, { args: [{ operator: 'dococeven', reason: 'go', digest }] });
  assert.match(
    await refusedUpdate(
      run.handle.executeUpdate(approveUpdate, {
        args: [{ operator: 'platform-oncall', reason: 'go too', digest }],
      }),
    ),
    /the approval gate is closed: already approved by dococeven/,
  );
  await run.handle.signal(rejectSignal, { operator: 'platform-oncall', reason: 'changed my mind', digest });
  await waitForStatus(run.handle, (s) => s.refusals.some((r) => r.message === 'reject'));
  release();
  const result = await run.result;
  assert.equal(result.outcome, 'DONE');
  assert.equal(calls(journal, 'applyChange').length, 1);
  assert.equal(result.status.decision?.operator, 'dococeven');
});

test('reject ends REJECTED with nothing changed', { timeout: 90_000 }, async () => {
  const journal: JournalEntry[] = [];
  const run = await startCutover(env, inputFor(plan), scriptedActivities({}, journal));
  await waitForPhase(run.handle, 'AWAIT_GO');
  const ack = await run.handle.executeUpdate(rejectUpdate, {
    args: [{ operator: 'platform-oncall', reason: 'freeze week', digest }],
  });
  assert.match(ack, /rejected by platform-oncall/);
  const result = await run.result;
  assert.equal(result.outcome, 'REJECTED');
  assert.equal(result.productionChanged, false);
  assert.match(result.reason, /rejected by platform-oncall: freeze week; nothing changed/);
  assert.deepEqual(
    journal.filter((j) => SIDE_EFFECTS.includes(j.name)),
    [],
  );
});

test(
  'approval timeout ends TIMED_OUT with nothing changed; a late approval is refused',
  { timeout: 90_000 },
  async () => {
    const shortPlan = testPlan((p) => {
      delete p.spec.xcom.ramp;
      // A day: the run can only time out within the test's 90 s because the server skips it.
      p.approval.timeout = '24h';
    });
    const journal: JournalEntry[] = [];
    const input = inputFor(shortPlan);
    const run = await startCutover(env, input, scriptedActivities({}, journal));
    const waiting = await waitForPhase(run.handle, 'AWAIT_GO');
    assert.equal(waiting.pendingApproval?.timeoutMs, 86_400_000);
    // Nobody approves: skipping to the end fires the approval timeout.
    const result = await run.untilEnd();
    assert.equal(result.outcome, 'TIMED_OUT');
    assert.equal(result.productionChanged, false);
    assert.deepEqual(
      journal.filter((j) => SIDE_EFFECTS.includes(j.name)),
      [],
    );
    // The run is closed: Temporal itself refuses the late go.
    await assert.rejects(
      run.handle.executeUpdate(approveUpdate, {
        args: [{ operator: 'dococeven', reason: 'late', digest: input.planDigest }],
      }),
    );
  },
);

test('approving before the evidence is complete is refused', { timeout: 90_000 }, async () => {
  let release!: () => void;
  const held = new Promise<void>((r) => (release = r));
  const green = scriptedActivities();
  const run = await startCutover(
    env,
    inputFor(plan),
    scriptedActivities({
      rehearse: async (input) => {
        await held;
        return green.rehearse(input);
      },
    }),
  );
  await waitForPhase(run.handle, 'REHEARSE');
  assert.match(
    await refusedUpdate(
      run.handle.executeUpdate(approveUpdate, { args: [{ operator: 'dococeven', reason: 'early', digest }] }),
    ),
    /not open \(phase REHEARSE\)/,
  );
  release();
  await waitForPhase(run.handle, 'AWAIT_GO');
  await run.handle.executeUpdate(approveUpdate, { args: [{ operator: 'dococeven', reason: 'now', digest }] });
  assert.equal((await run.result).outcome, 'DONE');
});
