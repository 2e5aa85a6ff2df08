/**
 * Records the replay corpus: runs xcomBackendCutover (and the assessment) with scripted activities
 * against a fresh dev server through each scenario below and writes its
 * history to test/histories/<scenario>.json.
 *
 *   npx tsc -p . && PATH=.venv/bin:$PATH node dist/test/support/record-histories.js [scenario ...]
 *
 * With scenario names, only those are recorded: the others stay as the code of their time wrote
 * them, which is what makes them worth replaying.
 *
 * Format: proto3 JSON, the same as `temporal workflow show --output json`, the
 * Web UI's download and `cutover replay --export` (client/history-json.ts); this
 * script checks that the file parses back to the very same bytes before writing.
 *
 * Each run's workflow id is `cutover-history-<scenario>`: replay passes the same id.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { WorkflowHandle } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import protos from '@temporalio/proto';
import type { CutoverResult, Outcome } from '../../domain/cutover.js';
import { WORKFLOW_TYPE } from '../../domain/cutover.js';
import { ASSESSMENT_WORKFLOW_TYPE } from '../../domain/assessment/kind.js';
import { assessmentPlanSchema } from '../../domain/assessment/plan.js';
import type { Plan } from '../../domain/plan.js';
import { historyFromJson, historyToJson } from '../../client/history-json.js';
import { createCutoverWorker } from '../../worker/create-worker.js';
import { approveUpdate, rejectSignal, retryCompensationUpdate } from '../../workflows/engine/messages.js';
import { inputFor, startCutoverEnv, waitForPhase, type CutoverEnv } from './cutover-env.js';
import { REPO_ROOT, testPlan } from './plans.js';
import { greenScript, red, scriptedActivities, type Script } from './scripted-activities.js';

// @temporalio/proto is CommonJS: its namespaces come through the default import.
const History = protos.temporal.api.history.v1.History;

const HISTORIES_DIR = path.join(REPO_ROOT, 'test', 'histories');
const historyWorkflowId = (scenario: string): string => `cutover-history-${scenario}`;

interface Scenario {
  name: string;
  expect: Outcome;
  plan: Plan;
  /** Another runbook's workflow and input (default: the XCom flip of `plan`). */
  workflow?: { type: string; input: unknown };
  script: () => Script;
  /** Drives the run from the outside (approve, reject, retry) while the worker runs. */
  drive(handle: WorkflowHandle): Promise<void>;
}

const singleStage = testPlan((p) => {
  delete p.spec.xcom.ramp;
});
const ramped = testPlan();
/** The health endpoint is read through the plan's REST API. */
const withApi = testPlan((p) => {
  delete p.spec.xcom.ramp;
  p.airflow.api = {
    url: 'http://127.0.0.1:8080',
    usernameEnv: 'AIRFLOW_USER',
    passwordEnv: 'AIRFLOW_PASSWORD',
  };
});

async function approve(handle: WorkflowHandle): Promise<void> {
  const waiting = await waitForPhase(handle, 'AWAIT_GO');
  await handle.executeUpdate(approveUpdate, {
    args: [{ operator: 'dococeven', reason: 'evidence reviewed', digest: waiting.planDigest }],
  });
}

/** VERIFY red in one component: the trigger for the kill-switch. */
const verifyFails: Script['verifyConfig'] = async (input, attempt) => {
  const green = await greenScript.verifyConfig(input, attempt);
  return {
    ...green,
    components: green.components.map((c, i) =>
      i === 0 ? { ...c, xcomClass: null, error: 'ImportError: XComObjectStorageBackend' } : c,
    ),
    gate: red(`${green.components[0]?.component ?? 'scheduler'}: ImportError: XComObjectStorageBackend`),
  };
};

const scenarios: Scenario[] = [
  {
    name: 'happy-path',
    expect: 'DONE',
    plan: singleStage,
    script: () => ({}),
    drive: approve,
  },
  {
    name: 'rejected',
    expect: 'REJECTED',
    plan: singleStage,
    script: () => ({}),
    // By signal, so the corpus covers the signal handler too.
    async drive(handle) {
      const waiting = await waitForPhase(handle, 'AWAIT_GO');
      await handle.signal(rejectSignal, {
        operator: 'platform-oncall',
        reason: 'not during the release freeze',
        digest: waiting.planDigest,
      });
    },
  },
  {
    name: 'rolled-back',
    expect: 'ROLLED_BACK',
    plan: singleStage,
    script: () => ({ verifyConfig: verifyFails }),
    drive: approve,
  },
  {
    name: 'needs-operator',
    expect: 'ROLLED_BACK',
    plan: singleStage,
    script: () => {
      let reverts = 0;
      return {
        verifyConfig: verifyFails,
        revertChange: async (input, attempt) => {
          reverts += 1;
          if (reverts === 1) {
            throw ApplicationFailure.create({
              type: 'PermanentFault',
              message: 'git push rejected: branch protection on main',
              nonRetryable: true,
            });
          }
          return greenScript.revertChange(input, attempt);
        },
      };
    },
    async drive(handle) {
      await approve(handle);
      await waitForPhase(handle, 'NEEDS_OPERATOR');
      await handle.executeUpdate(retryCompensationUpdate, {
        args: [{ operator: 'dococeven', reason: 'branch protection lifted for the revert' }],
      });
    },
  },
  {
    name: 'ramp',
    expect: 'DONE',
    plan: ramped,
    script: () => ({}),
    drive: approve,
  },
  {
    // The object-storage steps (orphan report, lifecycle rule put after VERIFY), then a red
    // VALIDATE: the kill-switch takes the rule back before the config.
    name: 'lifecycle-rolled-back',
    expect: 'ROLLED_BACK',
    plan: singleStage,
    script: () => ({
      validateRun: async (input, attempt) => ({
        ...(await greenScript.validateRun(input, attempt)),
        state: 'failed',
        gate: red('validation run failed'),
      }),
    }),
    drive: approve,
  },
  {
    // The health gate: healthy before, the scheduler dead after the rollout ("left healthy" red), so
    // the kill-switch reverts; its last step records how the deployment was left.
    name: 'health-rolled-back',
    expect: 'ROLLED_BACK',
    plan: withApi,
    script: () => {
      let reads = 0;
      return {
        inspectAirflow: async (input, attempt) => {
          reads += 1;
          const healthy = await greenScript.inspectAirflow(input, attempt);
          if (reads !== 2 || !healthy.api?.health) return healthy;
          const health = { ...healthy.api.health, scheduler: { status: 'unhealthy', latestHeartbeat: null } };
          return { ...healthy, api: { ...healthy.api, health } };
        },
      };
    },
    drive: approve,
  },
  {
    // The read-only runbook: ASSESS (target and Airflow read at once, then judged), ASSESSED.
    name: 'assessment',
    expect: 'ASSESSED',
    plan: singleStage,
    workflow: {
      type: ASSESSMENT_WORKFLOW_TYPE,
      input: {
        plan: assessmentPlanSchema.parse({
          apiVersion: 'cutover/v1',
          kind: 'DeploymentAssessment',
          name: 'assess-history',
          target: {
            kind: 'local',
            name: 'history',
            envFile: 'airflow.env',
            components: [{ name: 'scheduler' }],
          },
          airflow: { version: '3.3', metadataDb: { access: 'direct', urlEnv: 'CUTOVER_METADB_URL' } },
        }),
        planDigest: 'sha256:history',
        startedBy: 'dococeven',
      },
    },
    script: () => ({}),
    drive: async () => undefined,
  },
];

async function record(env: CutoverEnv, scenario: Scenario): Promise<string> {
  const taskQueue = `record-${scenario.name}`;
  const worker = await createCutoverWorker({
    connection: env.connection,
    taskQueue,
    activities: scriptedActivities(scenario.script()),
  });
  const handle = await env.client.workflow.start(scenario.workflow?.type ?? WORKFLOW_TYPE, {
    taskQueue,
    workflowId: historyWorkflowId(scenario.name),
    args: [scenario.workflow?.input ?? inputFor(scenario.plan)],
  });
  const result = await worker.runUntil(async () => {
    await scenario.drive(handle);
    return (await handle.result()) as CutoverResult;
  });
  if (result.outcome !== scenario.expect) {
    throw new Error(
      `${scenario.name}: expected ${scenario.expect}, got ${result.outcome} (${result.reason})`,
    );
  }
  if (scenario.name === 'ramp' && result.status.evidence.applies.length !== 2) {
    throw new Error(`ramp: expected two stages, got ${result.status.evidence.applies.length}`);
  }
  const history = await handle.fetchHistory();
  const text = historyToJson(history);
  const encoded = Buffer.from(History.encode(history).finish());
  const reloaded = Buffer.from(History.encode(History.create(historyFromJson(JSON.parse(text)))).finish());
  if (!encoded.equals(reloaded)) throw new Error(`${scenario.name}: the JSON form does not round-trip`);
  const file = path.join(HISTORIES_DIR, `${scenario.name}.json`);
  writeFileSync(file, `${text}\n`);
  return `${scenario.name}: ${result.outcome}, ${history.events?.length ?? 0} events -> ${path.relative(REPO_ROOT, file)}`;
}

async function main(): Promise<void> {
  mkdirSync(HISTORIES_DIR, { recursive: true });
  const env = await startCutoverEnv();
  try {
    const wanted = process.argv.slice(2);
    const unknown = wanted.filter((w) => !scenarios.some((s) => s.name === w));
    if (unknown.length > 0) throw new Error(`no such scenario: ${unknown.join(', ')}`);
    for (const scenario of scenarios)
      if (wanted.length === 0 || wanted.includes(scenario.name)) console.log(await record(env, scenario));
  } finally {
    await env.close();
  }
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? (err.stack ?? err.message) : String(err));
  process.exit(1);
});
