/**
 * The fault matrix (docs/fault-matrix.md), the workflow's side: a fault that starts in a phase and
 * lasts to the end of the run breaks every later step that needs the faulty system, and the run must
 * end in a named state with `productionChanged` true only where it is, and, where it waits for an
 * operator, say which undo is left. Each fault fails the steps the way its adapter does (the message
 * and error type of the real adapter, checked against the real system in the test the doc names);
 * here the retries are already spent, so a cell takes seconds.
 *
 * Worker SIGKILL and dev-server restarts are not step failures: test/durability.test.ts covers them.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ApplicationFailure } from '@temporalio/common';
import type { CutoverResult, CutoverStatus } from '../domain/cutover.js';
import { acknowledgeUpdate, approveUpdate } from '../workflows/engine/messages.js';
import {
  inputFor,
  phaseOrEnd,
  startCutover,
  startCutoverEnv,
  waitForStatus,
  type CutoverEnv,
} from './support/cutover-env.js';
import { testPlan } from './support/plans.js';
import {
  greenScript,
  red,
  scriptedActivities,
  type ActivityName,
  type Script,
} from './support/scripted-activities.js';

type Phase = 'CALIBRATE' | 'PREFLIGHT' | 'AWAIT_GO' | 'APPLY' | 'VERIFY' | 'VALIDATE' | 'COMPENSATE';

/** The first step of each phase: the fault is switched on when it is called (AWAIT_GO: while the run waits for the go). */
const FIRST_STEP: Record<Exclude<Phase, 'AWAIT_GO'>, ActivityName> = {
  CALIBRATE: 'calibrate',
  PREFLIGHT: 'preflight',
  APPLY: 'applyChange',
  VERIFY: 'verifyConfig',
  VALIDATE: 'validateRun',
  COMPENSATE: 'revertChange',
};

interface Fault {
  /** The steps that need the faulty system, and how each fails once the fault is on. */
  /** `throws-if-applied`: only when there is something to undo (a revert of a merge that never happened pushes nothing). */
  breaks: Partial<Record<ActivityName, 'throws' | 'red' | 'throws-if-applied'>>;
  error: () => ApplicationFailure;
}

const unreachable =
  (what: string, type = 'Error') =>
  () =>
    ApplicationFailure.create({ message: what, type, nonRetryable: true });

/** Each fault kind as the shipped adapters surface it (the doc names the real-component test of each). */
const FAULTS: Record<string, Fault> = {
  'supervisor down': {
    breaks: { waitForRollout: 'throws' },
    error: unreachable(
      'supervisor unreachable at http://127.0.0.1:1 (ECONNREFUSED, 3 tries over 30 s)',
      'ControllerUnreachable',
    ),
  },
  'Kubernetes API down': {
    breaks: {
      calibrate: 'throws',
      preflight: 'throws',
      rehearse: 'throws',
      applyChange: 'throws',
      waitForRollout: 'throws',
      verifyConfig: 'throws',
      revertChange: 'throws',
    },
    error: unreachable(
      'Kubernetes API unreachable at https://127.0.0.1:1 (ECONNREFUSED, 3 tries over 30 s)',
      'ControllerUnreachable',
    ),
  },
  'S3 down': {
    breaks: { preflight: 'red', rehearse: 'throws', validateRun: 'red', confirmHealed: 'throws' },
    error: unreachable('Could not connect to the endpoint URL: "http://127.0.0.1:1/bucket"'),
  },
  'metadata DB down': {
    breaks: { calibrate: 'throws', findAffectedRuns: 'throws' },
    error: unreachable('connect ECONNREFUSED 127.0.0.1:5432'),
  },
  'Airflow REST API 500s': {
    breaks: {
      validateRun: 'throws',
      findAffectedRuns: 'throws',
      rerunAffectedRuns: 'throws',
      confirmHealed: 'throws',
    },
    error: unreachable('POST /api/v2/dags/xcom_backend_validation/dagRuns: HTTP 500 after 5 attempts'),
  },
  'GitOps push refused': {
    breaks: { applyChange: 'throws', revertChange: 'throws-if-applied' },
    error: unreachable(
      'git push rejected: protected branch main (pre-receive hook declined)',
      'PermanentFault',
    ),
  },
};

interface Expected {
  outcome: CutoverResult['outcome'] | 'NEEDS_OPERATOR';
  productionChanged: boolean;
  /** While NEEDS_OPERATOR: the undo steps the status says are left. */
  undoLeft?: string[];
}

const STOPPED: Expected = { outcome: 'STOPPED', productionChanged: false };
const DONE: Expected = { outcome: 'DONE', productionChanged: true };
const ROLLED_BACK: Expected = { outcome: 'ROLLED_BACK', productionChanged: false };
const UNDONE_NOT_HEALED: Expected = { outcome: 'NEEDS_OPERATOR', productionChanged: false, undoLeft: [] };
const STILL_CHANGED: Expected = {
  outcome: 'NEEDS_OPERATOR',
  productionChanged: true,
  undoLeft: ['revert target'],
};

/** The matrix: fault -> phase it starts in -> end state. A missing phase: the fault touches nothing there. */
const MATRIX: Record<string, Partial<Record<Phase, Expected>>> = {
  'supervisor down': {
    CALIBRATE: UNDONE_NOT_HEALED,
    PREFLIGHT: UNDONE_NOT_HEALED,
    AWAIT_GO: UNDONE_NOT_HEALED,
    APPLY: UNDONE_NOT_HEALED,
    VERIFY: DONE,
    VALIDATE: DONE,
    COMPENSATE: UNDONE_NOT_HEALED,
  },
  'Kubernetes API down': {
    CALIBRATE: STOPPED,
    PREFLIGHT: STOPPED,
    AWAIT_GO: STILL_CHANGED,
    APPLY: STILL_CHANGED,
    VERIFY: STILL_CHANGED,
    VALIDATE: DONE,
    COMPENSATE: STILL_CHANGED,
  },
  'S3 down': {
    CALIBRATE: STOPPED,
    PREFLIGHT: STOPPED,
    AWAIT_GO: UNDONE_NOT_HEALED,
    APPLY: UNDONE_NOT_HEALED,
    VERIFY: UNDONE_NOT_HEALED,
    VALIDATE: UNDONE_NOT_HEALED,
    COMPENSATE: UNDONE_NOT_HEALED,
  },
  'metadata DB down': {
    CALIBRATE: STOPPED,
    PREFLIGHT: DONE,
    AWAIT_GO: DONE,
    APPLY: DONE,
    VERIFY: DONE,
    VALIDATE: DONE,
    COMPENSATE: UNDONE_NOT_HEALED,
  },
  'Airflow REST API 500s': {
    CALIBRATE: UNDONE_NOT_HEALED,
    PREFLIGHT: UNDONE_NOT_HEALED,
    AWAIT_GO: UNDONE_NOT_HEALED,
    APPLY: UNDONE_NOT_HEALED,
    VERIFY: UNDONE_NOT_HEALED,
    VALIDATE: UNDONE_NOT_HEALED,
    COMPENSATE: UNDONE_NOT_HEALED,
  },
  'GitOps push refused': {
    CALIBRATE: ROLLED_BACK,
    PREFLIGHT: ROLLED_BACK,
    AWAIT_GO: ROLLED_BACK,
    APPLY: ROLLED_BACK,
    VERIFY: DONE,
    VALIDATE: DONE,
    COMPENSATE: STILL_CHANGED,
  },
};

const plan = testPlan((p) => {
  delete p.spec.xcom.ramp;
  delete p.spec.lifecycle;
});

/** The steps of `fault`, switched on at the first step of `phase` (COMPENSATE: a red VERIFY starts it). */
function faultScript(fault: Fault, phase: Phase): { script: Script; turnOn: () => void } {
  let on = false;
  let applied = false;
  const script: Record<string, (input: never, attempt: number) => Promise<unknown>> = {};
  for (const name of Object.keys(greenScript) as ActivityName[]) {
    const green = greenScript[name] as (input: never, attempt: number) => Promise<unknown>;
    const breaks = fault.breaks[name];
    script[name] = async (input, attempt) => {
      if (phase !== 'AWAIT_GO' && name === FIRST_STEP[phase]) on = true;
      if (phase === 'COMPENSATE' && name === 'verifyConfig') {
        return {
          ...((await green(input, attempt)) as object),
          gate: red('scheduler: AirflowConfigException'),
        };
      }
      if (!on || breaks === undefined || (breaks === 'throws-if-applied' && !applied)) {
        const value = await green(input, attempt);
        if (name === 'applyChange') applied = true;
        return value;
      }
      if (breaks === 'red') {
        return { ...((await green(input, attempt)) as object), gate: red(fault.error().message) };
      }
      throw fault.error();
    };
  }
  return { script: script as Script, turnOn: () => (on = true) };
}

let env: CutoverEnv;
before(async () => {
  env = await startCutoverEnv();
});
after(async () => {
  await env?.close();
});

/** Runs one cell to its end, or to NEEDS_OPERATOR (then the operator acknowledges, ending the run). */
async function runCell(
  fault: Fault,
  phase: Phase,
): Promise<{ status: CutoverStatus; result: CutoverResult }> {
  const input = inputFor(plan);
  const { script, turnOn } = faultScript(fault, phase);
  const run = await startCutover(env, input, scriptedActivities(script));
  const waiting = await phaseOrEnd(run, 'AWAIT_GO', 60_000);
  // The fault arrives while the run waits: the go meets it.
  if (phase === 'AWAIT_GO') turnOn();
  if (waiting) {
    await run.handle.executeUpdate(approveUpdate, {
      args: [{ operator: 'dococeven', reason: 'go', digest: input.planDigest }],
    });
  }
  const stop = new AbortController();
  const stuck = await Promise.race([
    waitForStatus(run.handle, (s) => s.phase === 'NEEDS_OPERATOR' || s.outcome !== null, 60_000, stop.signal),
    run.result.then(() => null),
  ]).finally(() => stop.abort());
  if (stuck?.phase === 'NEEDS_OPERATOR') {
    await run.handle.executeUpdate(acknowledgeUpdate, {
      args: [{ operator: 'dococeven', reason: 'fault matrix: the operator takes over' }],
    });
    return { status: stuck, result: await run.result };
  }
  const result = await run.result;
  return { status: result.status, result };
}

describe('fault matrix: phase x fault -> end state', { concurrency: 4 }, () => {
  for (const [faultName, row] of Object.entries(MATRIX)) {
    const fault = FAULTS[faultName];
    assert.ok(fault);
    for (const [phase, want] of Object.entries(row) as [Phase, Expected][]) {
      test(
        `${faultName} from ${phase}: ${want.outcome}${want.productionChanged ? ', production changed' : ''}`,
        {
          timeout: 120_000,
        },
        async () => {
          const { status, result } = await runCell(fault, phase);
          if (want.outcome === 'NEEDS_OPERATOR') {
            assert.equal(status.phase, 'NEEDS_OPERATOR', result.reason);
            assert.deepEqual(
              status.compensation?.undoRemaining,
              want.undoLeft,
              JSON.stringify(status.compensation),
            );
            // The operator took over: the run says whether production is still changed.
            assert.equal(result.outcome, 'OPERATOR_TOOK_OVER');
            if (want.productionChanged)
              assert.match(result.reason, /still changed|revert target/, result.reason);
          } else {
            assert.equal(result.outcome, want.outcome, result.reason);
          }
          assert.equal(result.productionChanged, want.productionChanged, result.reason);
        },
      );
    }
  }
});
