/**
 * The kill-switch when things keep going wrong: compensation that fails waits
 * in NEEDS_OPERATOR; the ramp reverts newest-first; cancellation after APPLY
 * still compensates; a dry run never reaches APPLY.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { ApplicationFailure } from '@temporalio/common';
import { WorkflowUpdateFailedError } from '@temporalio/client';
import {
  acknowledgeUpdate,
  approveUpdate,
  retryCompensationSignal,
  retryCompensationUpdate,
} from '../workflows/engine/messages.js';
import {
  inputFor,
  phaseOrEnd,
  startCutover,
  startCutoverEnv,
  waitForPhase,
  waitForStatus,
  type CutoverEnv,
  type RunningCutover,
} from './support/cutover-env.js';
import { testPlan } from './support/plans.js';
import {
  calls,
  greenScript,
  HEALTH_STEPS,
  red,
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

const plan = testPlan((p) => {
  delete p.spec.xcom.ramp;
});

async function approve(run: RunningCutover, digest: string) {
  await waitForPhase(run.handle, 'AWAIT_GO');
  await run.handle.executeUpdate(approveUpdate, { args: [{ operator: 'dococeven', reason: 'go', digest }] });
}

const failVerify = {
  verifyConfig: async (input: Parameters<typeof greenScript.verifyConfig>[0], attempt: number) => ({
    ...(await greenScript.verifyConfig(input, attempt)),
    gate: red('scheduler: AirflowConfigException'),
  }),
};

test(
  'compensation fails -> NEEDS_OPERATOR says what is left -> retryCompensation -> ROLLED_BACK',
  { timeout: 120_000 },
  async () => {
    const journal: JournalEntry[] = [];
    let revertWorks = false;
    const run = await startCutover(
      env,
      inputFor(plan),
      scriptedActivities(
        {
          ...failVerify,
          revertChange: async (input, attempt) => {
            if (!revertWorks)
              throw ApplicationFailure.nonRetryable('git push rejected: protected branch', 'PermanentFault');
            return greenScript.revertChange(input, attempt);
          },
        },
        journal,
      ),
    );
    await approve(run, inputFor(plan).planDigest);

    const stuck = await waitForPhase(run.handle, 'NEEDS_OPERATOR');
    const comp = stuck.compensation;
    assert.ok(comp);
    assert.equal(comp.failed?.step, 'revert target');
    assert.match(comp.failed?.error ?? '', /protected branch/);
    assert.deepEqual(comp.remaining, [
      'revert target',
      'waitForRollout',
      'findAffectedRuns',
      'rerunAffectedRuns',
      'confirmHealed',
      'leftHealthy',
    ]);
    assert.match(stuck.details, /Production is STILL CHANGED/);
    assert.equal(stuck.outcome, null, 'the run does not end on its own');

    // Only approvers or the starter may act; nothing else is accepted.
    await assert.rejects(
      run.handle.executeUpdate(retryCompensationUpdate, { args: [{ operator: 'mallory', reason: 'x' }] }),
      (err: unknown) =>
        err instanceof WorkflowUpdateFailedError &&
        /mallory is neither an approver/.test(String((err.cause as Error).message)),
    );

    revertWorks = true;
    const ack = await run.handle.executeUpdate(retryCompensationUpdate, {
      args: [{ operator: 'dococeven', reason: 'branch protection lifted' }],
    });
    assert.match(ack, /retrying compensation from step revert target/);
    const result = await run.result;
    assert.equal(result.outcome, 'ROLLED_BACK');
    assert.equal(result.productionChanged, false);
    assert.deepEqual(result.status.compensation?.operatorActions, [
      { action: 'retryCompensation', operator: 'dococeven', reason: 'branch protection lifted' },
    ]);
    assert.equal(calls(journal, 'rerunAffectedRuns').length, 1);
  },
);

test('NEEDS_OPERATOR after the revert -> acknowledge hands over the rest', { timeout: 120_000 }, async () => {
  const journal: JournalEntry[] = [];
  const run = await startCutover(
    env,
    inputFor(plan),
    scriptedActivities(
      {
        ...failVerify,
        rerunAffectedRuns: async () => {
          throw ApplicationFailure.nonRetryable('Airflow API 503 for good', 'PermanentFault');
        },
      },
      journal,
    ),
  );
  await approve(run, inputFor(plan).planDigest);
  const stuck = await waitForPhase(run.handle, 'NEEDS_OPERATOR');
  assert.deepEqual(stuck.compensation?.completed, ['revert target', 'waitForRollout', 'findAffectedRuns']);
  assert.match(stuck.details, /reverted but not healed/);

  // A retry signal that fails again comes back to NEEDS_OPERATOR with the attempt counted.
  await run.handle.signal(retryCompensationSignal, { operator: 'alice', reason: 'try once more' });
  await waitForStatus(
    run.handle,
    (s) => s.phase === 'NEEDS_OPERATOR' && s.compensation?.failed?.attempt === 2,
  );

  await run.handle.executeUpdate(acknowledgeUpdate, {
    args: [{ operator: 'dococeven', reason: 'will clear runs by hand' }],
  });
  const result = await run.result;
  assert.equal(result.outcome, 'OPERATOR_TOOK_OVER');
  assert.equal(result.productionChanged, false, 'the revert itself had completed');
  assert.match(result.reason, /took over the remaining steps: rerunAffectedRuns, confirmHealed/);
  assert.equal(calls(journal, 'revertChange').length, 1, 'the retry resumed after the completed revert');
});

test(
  'ramp: two stages deployed and validated; a failure in the second reverts both, newest first',
  { timeout: 120_000 },
  async () => {
    const rampPlan = testPlan();
    assert.equal(rampPlan.spec.xcom.ramp?.startBytes, 2_000_000);

    const okJournal: JournalEntry[] = [];
    const ok = await startCutover(env, inputFor(rampPlan), scriptedActivities({}, okJournal));
    await approve(ok, inputFor(rampPlan).planDigest);
    const done = await ok.result;
    assert.equal(done.outcome, 'DONE');
    assert.deepEqual(
      calls(okJournal, 'applyChange').map((c) => c.detail),
      ['ramp-start', 'target'],
    );
    assert.deepEqual(
      done.status.evidence.verifications.map((v) => v.components[0]?.threshold),
      [2_000_000, 1_600_000],
    );
    assert.equal(done.status.evidence.validations.length, 2);
    assert.ok(done.status.steps.some((s) => s.phase === 'RAMP'));

    const journal: JournalEntry[] = [];
    const run = await startCutover(
      env,
      inputFor(rampPlan),
      scriptedActivities(
        {
          validateRun: async (input, attempt) => {
            const green = await greenScript.validateRun(input, attempt);
            return input.runId.endsWith('__target')
              ? { ...green, state: 'failed', gate: red('offloaded XCom read as a path') }
              : green;
          },
        },
        journal,
      ),
    );
    await approve(run, inputFor(rampPlan).planDigest);
    const result = await run.result;
    assert.equal(result.outcome, 'ROLLED_BACK');
    assert.deepEqual(
      calls(journal, 'revertChange').map((c) => c.detail),
      ['target', 'ramp-start'],
    );
  },
);

test('cancelling after APPLY still runs the whole kill-switch', { timeout: 120_000 }, async () => {
  const journal: JournalEntry[] = [];
  let release!: () => void;
  const held = new Promise<void>((r) => (release = r));
  const run = await startCutover(
    env,
    inputFor(plan),
    scriptedActivities(
      {
        validateRun: async (input, attempt) => {
          await Promise.race([held, new Promise((r) => setTimeout(r, 5_000))]);
          return greenScript.validateRun(input, attempt);
        },
      },
      journal,
    ),
  );
  await approve(run, inputFor(plan).planDigest);
  await waitForPhase(run.handle, 'VALIDATE');
  await run.handle.cancel();
  release();
  const result = await run.result;
  assert.equal(result.outcome, 'ROLLED_BACK');
  assert.match(result.reason, /cancelled after the change started/);
  assert.equal(calls(journal, 'revertChange').length, 1);
});

test('cancelling before APPLY ends CANCELLED with nothing changed', { timeout: 60_000 }, async () => {
  const journal: JournalEntry[] = [];
  const run = await startCutover(env, inputFor(plan), scriptedActivities({}, journal));
  await waitForPhase(run.handle, 'AWAIT_GO');
  await run.handle.cancel();
  const result = await run.result;
  assert.equal(result.outcome, 'CANCELLED');
  assert.deepEqual(
    journal.filter((j) => SIDE_EFFECTS.includes(j.name)),
    [],
  );
});

test(
  'a dry run gathers the evidence and ends PLANNED without an approval gate',
  { timeout: 60_000 },
  async () => {
    const journal: JournalEntry[] = [];
    const run = await startCutover(env, inputFor(plan, { dryRun: true }), scriptedActivities({}, journal));
    assert.equal(await phaseOrEnd(run, 'AWAIT_GO'), null, 'the gate never opens');
    const result = await run.result;
    assert.equal(result.outcome, 'PLANNED');
    assert.ok(result.status.evidence.rehearsal);
    assert.deepEqual(stepNames(journal), [
      'calibrate',
      'reportObjects',
      'preflight',
      ...HEALTH_STEPS,
      'renderChange',
      'renderLifecycle',
      'previewChange',
      'rehearse',
    ]);

    const noRehearsal: JournalEntry[] = [];
    const quick = await startCutover(
      env,
      inputFor(plan, { dryRun: true, skipRehearsal: true }),
      scriptedActivities({}, noRehearsal),
    );
    assert.equal((await quick.result).outcome, 'PLANNED');
    assert.equal(calls(noRehearsal, 'rehearse').length, 0);
  },
);

test(
  'skipRehearsal without dryRun is ignored: the rehearsal gate is mandatory',
  { timeout: 60_000 },
  async () => {
    const journal: JournalEntry[] = [];
    const run = await startCutover(
      env,
      inputFor(plan, { skipRehearsal: true }),
      scriptedActivities({}, journal),
    );
    await approve(run, inputFor(plan).planDigest);
    assert.equal((await run.result).outcome, 'DONE');
    assert.equal(calls(journal, 'rehearse').length, 1);
  },
);
