/**
 * timeline(history): the decision lines read from a real run's history. One run
 * on the dev server covers a retried activity, a refused signal, an approval by
 * update, a failed validation and the kill-switch.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { ApplicationFailure } from '@temporalio/common';
import type { CutoverResult } from '../domain/cutover.js';
import { historyFromJson, historyToJson, type History } from '../client/history-json.js';
import { formatTimeline, timeline, type TimelineEntry } from '../client/timeline.js';
import { approveSignal, approveUpdate } from '../workflows/engine/messages.js';
import {
  inputFor,
  startCutover,
  startCutoverEnv,
  waitForPhase,
  waitForStatus,
  type CutoverEnv,
} from './support/cutover-env.js';
import { testPlan } from './support/plans.js';
import { greenScript, scriptedActivities } from './support/scripted-activities.js';

let env: CutoverEnv;
let history: History;
let result: CutoverResult;
let entries: TimelineEntry[];

before(async () => {
  env = await startCutoverEnv();
  const plan = testPlan((p) => {
    delete p.spec.xcom.ramp;
  });
  const run = await startCutover(
    env,
    inputFor(plan),
    scriptedActivities({
      preflight: async (input, attempt) => {
        if (attempt === 1) throw new Error('S3 endpoint timed out');
        return greenScript.preflight(input, attempt);
      },
      validateRun: async () => {
        throw ApplicationFailure.nonRetryable(
          'task pull failed: XCom read returned a path string',
          'ValidationRunFailed',
        );
      },
    }),
  );
  const waiting = await waitForPhase(run.handle, 'AWAIT_GO', 60_000);
  await run.handle.signal(approveSignal, {
    operator: 'mallory',
    reason: 'ship it',
    digest: waiting.planDigest,
  });
  await waitForStatus(run.handle, (s) => s.refusals.length === 1);
  await run.handle.executeUpdate(approveUpdate, {
    args: [{ operator: 'dococeven', reason: 'evidence reviewed', digest: waiting.planDigest }],
  });
  result = await run.result;
  history = await run.handle.fetchHistory();
  entries = timeline(history);
});

after(async () => {
  await env?.close();
});

const texts = () => entries.map((e) => e.text);
const find = (re: RegExp): TimelineEntry => {
  const hit = entries.find((e) => re.test(e.text));
  assert.ok(hit, `no timeline line matches ${re}:\n${formatTimeline(entries).join('\n')}`);
  return hit;
};

void test('the run under test went through the kill-switch', () => {
  assert.equal(result.outcome, 'ROLLED_BACK');
});

void test('the first line says who started which plan, the last how it ended', () => {
  const first = entries[0];
  assert.ok(first);
  assert.equal(first.eventId, 1);
  assert.equal(first.kind, 'workflow');
  assert.match(
    first.text,
    /^workflow xcomBackendCutover started by alice: plan xcom-flip-prod \(digest sha256:[0-9a-f]{16}, target k8s-scaleway-prod-cvntrade-airflow\); task queue test-/,
  );
  const last = entries[entries.length - 1];
  assert.match(
    last?.text ?? '',
    /^workflow completed: ROLLED_BACK: VALIDATE failed .*\(production unchanged\)$/,
  );
});

void test('phases appear in runbook order', () => {
  const phases = entries.filter((e) => e.kind === 'phase').map((e) => e.text.replace(/^phase (\w+).*/, '$1'));
  assert.deepEqual(phases, [
    'CALIBRATE',
    'PREFLIGHT',
    'RENDER',
    'REHEARSE',
    'AWAIT_GO',
    'APPLY',
    'VERIFY',
    'VALIDATE',
    'COMPENSATE',
    'FINISHED',
  ]);
});

void test('activities: attempts, the last failure of a retried one, gates, permanent failures', () => {
  find(/^activity calibrate scheduled: Measures the size of every XCom value in the metadata DB/);
  find(/^activity calibrate completed \(attempt 1\); gate green$/);
  find(/^activity preflight completed after 2 attempts \(last failure: S3 endpoint timed out\); gate green$/);
  find(/^activity applyChange completed \(attempt 1\); ref merge-target$/);
  find(
    /^activity validateRun FAILED after 1 attempt: task pull failed: XCom read returned a path string \[ValidationRunFailed\] \(non retryable failure\)$/,
  );
  find(/^activity revertChange completed \(attempt 1\); ref revert-target$/);
  find(/^activity confirmHealed completed \(attempt 1\); gate green$/);
});

void test('the approval: a refused signal, an update accepted, the deadline timer', () => {
  find(/^timer 1 started: fires in 1 d \(approval deadline\)$/);
  const refused = find(/^signal approve from mallory/);
  assert.match(
    refused.text,
    /REFUSED: mallory is not one of the plan's approvers \(dococeven, platform-oncall\)$/,
  );
  const validated = find(
    /^update approveUpdate from dococeven, reason "evidence reviewed", digest sha256:\w+ passed validation/,
  );
  const accepted = find(/^update approveUpdate from dococeven accepted: approved by dococeven/);
  assert.ok(accepted.eventId > validated.eventId);
  assert.ok(accepted.eventId > refused.eventId);
  find(/^search attributes: approver dococeven recorded$/);
  find(/^timer 1 cancelled/);
});

void test('entries are in event order with the events own timestamps', () => {
  const ids = entries.map((e) => e.eventId);
  assert.deepEqual(
    ids,
    [...ids].sort((a, b) => a - b),
  );
  assert.ok(entries.every((e) => /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/.test(e.time)));
  assert.ok(
    !texts().some((t) => /workflow task (scheduled|started|completed)/.test(t)),
    'task mechanics are left out',
  );
  const lines = formatTimeline(entries);
  assert.match(lines[0] ?? '', /^\d{4}-\S+Z {2}# +1 {2}workflow xcomBackendCutover started/);
});

void test('the JSON form of the history (temporal workflow show --output json) gives the same timeline', () => {
  const json = JSON.parse(historyToJson(history)) as { events: { eventType: string; eventId: string }[] };
  assert.equal(json.events[0]?.eventType, 'EVENT_TYPE_WORKFLOW_EXECUTION_STARTED');
  assert.equal(json.events[0]?.eventId, '1');
  assert.deepEqual(timeline(historyFromJson(json)), entries);
});

void test('without a final status, signal verdicts are not guessed', () => {
  const running: History = {
    events: (history.events ?? []).filter((e) => !e.workflowExecutionCompletedEventAttributes),
  };
  const line = timeline(running).find((e) => e.kind === 'signal');
  assert.match(line?.text ?? '', /verdict not known yet/);
  const withStatus = timeline(running, result.status).find((e) => e.kind === 'signal');
  assert.match(withStatus?.text ?? '', /REFUSED: /);
});
