/**
 * Every gate failing ends the run in the right state, with the right side
 * effects called and none of the others.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { ApplicationFailure } from '@temporalio/common';
import { createActivities } from '../activities/index.js';
import type { CutoverResult } from '../domain/cutover.js';
import { approveUpdate } from '../workflows/engine/messages.js';
import {
  inputFor,
  phaseOrEnd,
  startCutover,
  startCutoverEnv,
  type CutoverEnv,
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
  type Script,
} from './support/scripted-activities.js';

let env: CutoverEnv;
before(async () => {
  // The time-skipping server: retry backoffs are skipped, not waited out.
  env = await startCutoverEnv({ timeSkipping: true });
});
after(async () => {
  await env?.close();
});

const plan = testPlan((p) => {
  delete p.spec.xcom.ramp;
});

/** Runs to the end, approving when the gate opens (if it does); timers after that are skipped. */
async function runWith(script: Script, journal: JournalEntry[], approve = true): Promise<CutoverResult> {
  const run = await startCutover(env, inputFor(plan), scriptedActivities(script, journal));
  if (approve) {
    if (await phaseOrEnd(run, 'AWAIT_GO')) {
      await run.handle.executeUpdate(approveUpdate, {
        args: [{ operator: 'dococeven', reason: 'go', digest: inputFor(plan).planDigest }],
      });
    }
  }
  return run.untilEnd();
}

const sideEffects = (journal: JournalEntry[]) =>
  journal.filter((j) => SIDE_EFFECTS.includes(j.name)).map((j) => j.name);

test(
  'calibration not near-inert: STOPPED before preflight, nothing changed',
  { timeout: 60_000 },
  async () => {
    const journal: JournalEntry[] = [];
    const result = await runWith(
      {
        calibrate: async (input, attempt) => ({
          ...(await greenScript.calibrate(input, attempt)),
          projectedOffloadRows: 277,
          gate: red('277 historical rows would offload'),
        }),
      },
      journal,
    );
    assert.equal(result.outcome, 'STOPPED');
    assert.equal(result.productionChanged, false);
    assert.match(result.reason, /CALIBRATE gate red, nothing changed: 277 historical rows/);
    assert.deepEqual(
      journal.map((j) => j.name),
      ['calibrate'],
    );
  },
);

test('preflight red: STOPPED, no render, no rehearsal, no apply', { timeout: 60_000 }, async () => {
  const journal: JournalEntry[] = [];
  const result = await runWith(
    {
      preflight: async (input, attempt) => {
        const green = await greenScript.preflight(input, attempt);
        return {
          ...green,
          checks: [
            ...green.checks,
            { name: 'functional write/read/delete', status: 'red', detail: 'NoSuchBucket', durationMs: 3 },
          ],
          gate: red('functional write/read/delete: NoSuchBucket'),
        };
      },
    },
    journal,
  );
  assert.equal(result.outcome, 'STOPPED');
  assert.match(result.reason, /PREFLIGHT gate red.*NoSuchBucket/);
  assert.deepEqual(stepNames(journal), ['calibrate', 'reportObjects', 'preflight', ...HEALTH_STEPS]);
  assert.equal(
    result.status.evidence.preflight?.checks.filter((c) => c.name === 'functional write/read/delete').at(-1)
      ?.status,
    'red',
  );
});

test('rehearsal fails: STOPPED before the approval gate opens', { timeout: 60_000 }, async () => {
  const journal: JournalEntry[] = [];
  const result = await runWith(
    {
      rehearse: async (input, attempt) => ({
        ...(await greenScript.rehearse(input, attempt)),
        healConfirmed: false,
        gate: red('re-emitting under BaseXCom did not return the data: heal not confirmed'),
      }),
    },
    journal,
  );
  assert.equal(result.outcome, 'STOPPED');
  assert.match(result.reason, /REHEARSE gate red.*heal not confirmed/);
  assert.equal(result.status.decision, null);
  assert.deepEqual(sideEffects(journal), []);
});

test(
  'an activity that cannot run (adapter missing) stops the run with its reason',
  { timeout: 60_000 },
  async () => {
    const journal: JournalEntry[] = [];
    const unbuilt = createActivities({});
    const result = await runWith({ calibrate: (input) => unbuilt.calibrate(input) }, journal);
    assert.equal(result.outcome, 'STOPPED');
    assert.match(result.reason, /no metadata-DB adapter configured/);
    assert.equal(calls(journal, 'calibrate').length, 1, 'AdapterMissing is not retried');
    assert.equal(result.status.steps[0]?.status, 'failed');
  },
);

test('transient faults are retried by the activity policy', { timeout: 60_000 }, async () => {
  const journal: JournalEntry[] = [];
  const result = await runWith(
    {
      calibrate: async (input, attempt) => {
        if (attempt < 3) throw new Error('connection reset by peer');
        return greenScript.calibrate(input, attempt);
      },
    },
    journal,
  );
  assert.equal(result.outcome, 'DONE');
  assert.deepEqual(
    calls(journal, 'calibrate').map((c) => c.attempt),
    [1, 2, 3],
  );
});

test(
  'VERIFY fails after apply: revert, wait, re-run affected runs -> ROLLED_BACK; no validation run',
  { timeout: 60_000 },
  async () => {
    const journal: JournalEntry[] = [];
    const result = await runWith(
      {
        verifyConfig: async (input, attempt) => ({
          ...(await greenScript.verifyConfig(input, attempt)),
          gate: red(
            'scheduler (scheduler-0): AirflowConfigException: section/key [common.io/xcom_objectstorage_path] not found in config; AIRFLOW__COMMON.IO__XCOM_OBJECTSTORAGE_PATH is set but never read',
          ),
        }),
      },
      journal,
    );
    assert.equal(result.outcome, 'ROLLED_BACK');
    assert.equal(result.productionChanged, false);
    assert.match(result.reason, /VERIFY failed .*AIRFLOW__COMMON\.IO__XCOM_OBJECTSTORAGE_PATH/);
    assert.deepEqual(sideEffects(journal), ['applyChange', 'revertChange', 'rerunAffectedRuns']);
    const comp = result.status.compensation;
    assert.ok(comp);
    assert.deepEqual(comp.completed, [
      'revert target',
      'waitForRollout',
      'findAffectedRuns',
      'rerunAffectedRuns',
      'confirmHealed',
      'leftHealthy',
    ]);
    assert.equal(comp.trigger.phase, 'VERIFY');
    assert.equal(result.status.evidence.heal?.runs[0]?.readsData, true);
    // The revert rollout waits for the old config (the flip's keys absent again).
    const revertRollout = calls(journal, 'waitForRollout');
    assert.equal(revertRollout.length, 2);
  },
);

test(
  'VALIDATE fails: compensation re-runs the runs found since APPLY -> ROLLED_BACK',
  { timeout: 60_000 },
  async () => {
    const journal: JournalEntry[] = [];
    let since = '';
    const result = await runWith(
      {
        validateRun: async (input, attempt) => ({
          ...(await greenScript.validateRun(input, attempt)),
          state: 'failed',
          xcomErrors: 1,
          gate: red('validation run ended failed', '1 task(s) failed on XCom / backend / config errors'),
        }),
        findAffectedRuns: async (input, attempt) => {
          since = input.since;
          return greenScript.findAffectedRuns(input, attempt);
        },
      },
      journal,
    );
    assert.equal(result.outcome, 'ROLLED_BACK');
    assert.equal(result.status.compensation?.trigger.phase, 'VALIDATE');
    assert.equal(
      since,
      result.status.evidence.applies[0]?.startedAt,
      'affected runs are searched from the apply',
    );
    // The plan's retention rule went out after VERIFY, so it is taken back first.
    assert.deepEqual(sideEffects(journal), [
      'applyChange',
      'applyLifecycle',
      'validateRun',
      'revertLifecycle',
      'revertChange',
      'rerunAffectedRuns',
    ]);
  },
);

test('a stuck rollout fails APPLY and triggers compensation', { timeout: 60_000 }, async () => {
  const journal: JournalEntry[] = [];
  let rollouts = 0;
  const result = await runWith(
    {
      waitForRollout: async (input, attempt) => {
        rollouts += 1;
        const green = await greenScript.waitForRollout(input, attempt);
        if (rollouts > 1) return green;
        return {
          ...green,
          components: [{ name: 'scheduler', ready: false, detail: 'ProgressDeadlineExceeded' }],
          gate: red('scheduler: ProgressDeadlineExceeded'),
        };
      },
    },
    journal,
  );
  assert.equal(result.outcome, 'ROLLED_BACK');
  assert.equal(result.status.compensation?.trigger.phase, 'APPLY');
  assert.equal(calls(journal, 'verifyConfig').length, 0);
});

test(
  'APPLY itself fails without reporting back: revert still runs, without a handle',
  { timeout: 60_000 },
  async () => {
    const journal: JournalEntry[] = [];
    let revertHandle: string | null | undefined;
    const result = await runWith(
      {
        applyChange: async () => {
          throw ApplicationFailure.nonRetryable('merge rejected: branch protection', 'PermanentFault');
        },
        revertChange: async (input, attempt) => {
          revertHandle = input.revertHandle;
          return { ...(await greenScript.revertChange(input, attempt)), changed: false };
        },
      },
      journal,
    );
    assert.equal(result.outcome, 'ROLLED_BACK');
    assert.equal(revertHandle, null);
    assert.match(result.reason, /merge rejected: branch protection/);
  },
);
