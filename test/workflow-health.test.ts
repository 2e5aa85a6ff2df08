/**
 * The health gate around a change, as workflow decisions (scripted activities, the real Temporal dev
 * server, the real judge): an unhealthy deployment stops PREFLIGHT with nothing changed; a change
 * after which something critical got worse is rolled back, and the kill-switch records how it left
 * the deployment.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
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
  greenScript,
  HEALTH_STEPS,
  scriptedActivities,
  SIDE_EFFECTS,
  stepNames,
  type JournalEntry,
  type Script,
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
  // The health endpoint is read through the plan's API.
  p.airflow.api = {
    url: 'http://127.0.0.1:8080',
    usernameEnv: 'AIRFLOW_USER',
    passwordEnv: 'AIRFLOW_PASSWORD',
  };
});

async function runWith(script: Script, journal: JournalEntry[]): Promise<CutoverResult> {
  const run = await startCutover(env, inputFor(plan), scriptedActivities(script, journal));
  if (await phaseOrEnd(run, 'AWAIT_GO'))
    await run.handle.executeUpdate(approveUpdate, {
      args: [{ operator: 'dococeven', reason: 'go', digest: inputFor(plan).planDigest }],
    });
  return run.result;
}

/** Airflow as the health endpoint sees it, with the scheduler dead (no heartbeat for 10 min). */
const schedulerDead: NonNullable<Script['inspectAirflow']> = async (input, attempt) => {
  const healthy = await greenScript.inspectAirflow(input, attempt);
  if (!healthy.api?.health) throw new Error('the green script reads the API');
  return {
    ...healthy,
    api: {
      ...healthy.api,
      health: {
        ...healthy.api.health,
        scheduler: { status: 'unhealthy', latestHeartbeat: '2026-06-06T09:50:00.000Z' },
      },
    },
  };
};

test('an unhealthy deployment: PREFLIGHT red on "deployment healthy", STOPPED, nothing changed', async () => {
  const journal: JournalEntry[] = [];
  const result = await runWith({ inspectAirflow: schedulerDead }, journal);
  assert.equal(result.outcome, 'STOPPED');
  assert.equal(result.productionChanged, false);
  assert.match(result.reason, /PREFLIGHT gate red, nothing changed: deployment healthy: DOWN: 1 critical/);
  assert.match(result.reason, /scheduler's last heartbeat is .* old/);
  const row = result.status.evidence.preflight?.checks.at(-1);
  assert.equal(row?.id, 'deployment-healthy');
  assert.equal(row?.status, 'red');
  assert.deepEqual(stepNames(journal), ['calibrate', 'reportObjects', 'preflight', ...HEALTH_STEPS]);
  assert.deepEqual(
    journal.filter((j) => SIDE_EFFECTS.includes(j.name)),
    [],
  );
  assert.equal(result.status.evidence.health?.before?.verdict, 'DOWN');
});

test('a warning is amber: the run goes on to the approval', async () => {
  const journal: JournalEntry[] = [];
  const result = await runWith(
    {
      inspectAirflow: async (input, attempt) => {
        const healthy = await greenScript.inspectAirflow(input, attempt);
        if (!healthy.api) throw new Error('the green script reads the API');
        return {
          ...healthy,
          api: { ...healthy.api, importErrors: [{ file: 'dags/broken.py', error: 'SyntaxError' }] },
        };
      },
    },
    journal,
  );
  assert.equal(result.outcome, 'DONE', result.reason);
  const row = result.status.evidence.preflight?.checks.find((c) => c.id === 'deployment-healthy');
  assert.equal(row?.status, 'amber');
  assert.match(row?.detail ?? '', /1 DAG file fails to import/);
  assert.equal(result.status.evidence.health?.afterChange?.row.status, 'green', 'nothing got worse');
});

test('the scheduler dies after the rollout: "left healthy" red, the change rolled back, the state after recorded', async () => {
  const journal: JournalEntry[] = [];
  let reads = 0;
  const result = await runWith(
    {
      inspectAirflow: async (input, attempt) => {
        reads += 1;
        // Before the change and after the kill-switch: healthy; right after the rollout: dead scheduler.
        return reads === 2 ? schedulerDead(input, attempt) : greenScript.inspectAirflow(input, attempt);
      },
    },
    journal,
  );
  assert.equal(result.outcome, 'ROLLED_BACK', result.reason);
  const comp = result.status.compensation;
  assert.equal(comp?.trigger.phase, 'VERIFY');
  assert.match(
    comp?.trigger.error ?? '',
    /left healthy: got worse since before the change \(OPERATIONAL -> DOWN\)/,
  );
  assert.equal(comp?.completed.at(-1), 'leftHealthy');
  const h = result.status.evidence.health;
  assert.equal(h?.afterChange?.row.status, 'red');
  assert.equal(h?.afterRollback?.row.status, 'green');
  assert.match(
    h?.afterRollback?.row.detail ?? '',
    /nothing got worse \(OPERATIONAL before, OPERATIONAL now\)/,
  );
  assert.deepEqual(
    journal.filter((j) => SIDE_EFFECTS.includes(j.name)).map((j) => j.name),
    ['applyChange', 'revertChange', 'rerunAffectedRuns'],
    'no lifecycle rule and no validation after a red "left healthy"',
  );
});
