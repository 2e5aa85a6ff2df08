/**
 * Notifications: the workflow's decisions come from scripted activities, the
 * notify activity is the real one, and the webhook is a real HTTP server on
 * 127.0.0.1 that accepts each idempotency key once (the usual receiver
 * contract) and counts every request.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { ApplicationFailure } from '@temporalio/common';
import { Worker } from '@temporalio/worker';
import { historyToJson } from '../client/history-json.js';
import { notifyActivities, type NotificationMessage } from '../activities/engine/notify.js';
import { workflowCode } from '../domain/workflow-bundle.js';
import { approveUpdate, retryCompensationUpdate } from '../workflows/engine/messages.js';
import { RUNBOOK_ATTRIBUTE_PATCH } from '../workflows/engine/runbook.js';
import { NOTIFICATIONS_PATCH } from '../workflows/engine/notifications.js';
import {
  inputFor,
  startCutover,
  startCutoverEnv,
  waitForPhase,
  type CutoverEnv,
  type RunningCutover,
} from './support/cutover-env.js';
import { testPlan } from './support/plans.js';
import { greenScript, red, scriptedActivities, type Script } from './support/scripted-activities.js';
import { freePort } from './support/temporal.js';

interface Body {
  text: string;
  idempotencyKey: string;
  event: string;
  seq: number;
  workflowId: string;
  runId: string;
  attempt: number;
  fields: Record<string, unknown>;
}

interface Receiver {
  url: string;
  /** Every request, in arrival order. */
  requests: { headerKey: string; body: Body; answered: number }[];
  /** Accepted messages, one per key, in the order they were accepted. */
  delivered: Body[];
  close(): Promise<void>;
}

/** A webhook that accepts each key once; with failFirst, the first request of every key gets a 500. */
async function startReceiver({ failFirst = false } = {}): Promise<Receiver> {
  const requests: Receiver['requests'] = [];
  const delivered: Body[] = [];
  const server = http.createServer((req, res) => {
    let raw = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => (raw += c));
    req.on('end', () => {
      const body = JSON.parse(raw) as Body;
      const headerKey = String(req.headers['idempotency-key'] ?? '');
      const seenBefore = requests.some((r) => r.headerKey === headerKey);
      const answered = failFirst && !seenBefore ? 500 : 200;
      requests.push({ headerKey, body, answered });
      if (answered === 200 && !delivered.some((d) => d.idempotencyKey === headerKey)) delivered.push(body);
      res.writeHead(answered, { 'content-type': 'text/plain' }).end(answered === 200 ? 'ok' : 'boom');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    // The path stands for the secret part of a Slack URL: it must never reach history.
    url: `http://127.0.0.1:${port}/services/T0/B0/secret-token-xyz`,
    requests,
    delivered,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

const singleStage = testPlan((p) => {
  delete p.spec.xcom.ramp;
});

const verifyFails: Script['verifyConfig'] = async (input, attempt) => {
  const green = await greenScript.verifyConfig(input, attempt);
  return { ...green, gate: red('scheduler: ImportError: XComObjectStorageBackend') };
};

async function approve(run: RunningCutover): Promise<void> {
  const waiting = await waitForPhase(run.handle, 'AWAIT_GO', 60_000);
  await run.handle.executeUpdate(approveUpdate, {
    args: [{ operator: 'dococeven', reason: 'evidence reviewed', digest: waiting.planDigest }],
  });
}

function assertKeys(run: RunningCutover, runId: string, bodies: Body[]): void {
  bodies.forEach((b, i) => {
    assert.equal(b.idempotencyKey, `${run.handle.workflowId}/${runId}/${b.event}/${i + 1}`);
    assert.equal(b.seq, i + 1);
    assert.equal(typeof b.text, 'string');
  });
}

let env: CutoverEnv;
before(async () => {
  // The time-skipping server: the webhook retries' backoffs are skipped, not waited out.
  env = await startCutoverEnv({ timeSkipping: true });
});
after(async () => {
  await env?.close();
});

test('no webhook configured: notify answers "skipped" at once', async () => {
  const { notify } = notifyActivities({});
  const started = Date.now();
  const message: NotificationMessage = {
    key: 'w/r/done/1',
    event: 'done',
    seq: 1,
    workflowId: 'w',
    runId: 'r',
    text: 'done',
    fields: {},
    metrics: { phaseDurations: [], offloadedValues: 0, compensation: null },
  };
  assert.equal(await notify(message), 'skipped');
  assert.ok(Date.now() - started < 100);
});

// One after another: the server's clock is shared, and a test skipping to the end of its run would
// also skip the approval timeout of another test's run waiting at its gate.
describe('webhook messages from real runs', () => {
  test(
    'happy path: one message per state change, in order, and the history replays',
    { timeout: 120_000 },
    async () => {
      const receiver = await startReceiver();
      try {
        const run = await startCutover(env, inputFor(singleStage), {
          ...scriptedActivities(),
          ...notifyActivities({ webhookUrl: receiver.url }),
        });
        await approve(run);
        const result = await run.untilEnd();
        assert.equal(result.outcome, 'DONE');

        const { runId } = await run.handle.describe();
        assert.deepEqual(
          receiver.delivered.map((b) => b.event),
          ['approval-requested', 'approved', 'done'],
        );
        assertKeys(run, runId, receiver.delivered);
        assert.equal(receiver.requests.length, 3, 'no retries, no duplicates');
        for (const r of receiver.requests) assert.equal(r.headerKey, r.body.idempotencyKey);

        const [requested, approved, done] = receiver.delivered;
        const digest = inputFor(singleStage).planDigest;
        assert.match(requested?.text ?? '', new RegExp(`digest ${digest}`));
        assert.equal(
          requested?.fields['approveCommand'],
          `npx cutover approve ${run.handle.workflowId} --operator <you> --reason "<why>" --digest ${digest}`,
        );
        assert.equal(approved?.fields['operator'], 'dococeven');
        assert.equal(approved?.fields['reason'], 'evidence reviewed');
        assert.equal(done?.fields['outcome'], 'DONE');
        assert.deepEqual(
          result.status.notifications?.map((n) => [n.event, n.status]),
          [
            ['approval-requested', 'delivered'],
            ['approved', 'delivered'],
            ['done', 'delivered'],
          ],
        );

        // The new shape: a patch marker, notify activities, and it replays with the same code.
        const history = await run.handle.fetchHistory();
        const json = historyToJson(history);
        const patches = (history.events ?? []).flatMap((e) => {
          const m = e.markerRecordedEventAttributes;
          const data = m?.markerName === 'core_patch' ? m.details?.['patch-data']?.payloads?.[0]?.data : null;
          return data ? [Buffer.from(data).toString('utf8')] : [];
        });
        assert.equal(
          patches.length,
          4,
          'four patch markers: notifications, the runbook attribute, the object-storage steps, the health gate',
        );
        assert.match(patches[0] ?? '', new RegExp(`"${NOTIFICATIONS_PATCH}"`));
        assert.match(patches[1] ?? '', new RegExp(`"${RUNBOOK_ATTRIBUTE_PATCH}"`));
        assert.match(patches[2] ?? '', /"object-storage-steps-v1"/);
        assert.match(patches[3] ?? '', /"health-gate-v1"/);
        assert.equal(
          (history.events ?? []).filter(
            (e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'notify',
          ).length,
          3,
        );
        assert.ok(!json.includes('secret-token-xyz'), 'the webhook URL never enters history');
        await Worker.runReplayHistory(workflowCode(), history, run.handle.workflowId);
      } finally {
        await receiver.close();
      }
    },
  );

  test(
    'a 500 on every first attempt: the retry sends the same key, the receiver keeps one message each',
    { timeout: 120_000 },
    async () => {
      const receiver = await startReceiver({ failFirst: true });
      try {
        let reverts = 0;
        const run = await startCutover(env, inputFor(singleStage), {
          ...scriptedActivities({
            verifyConfig: verifyFails,
            revertChange: async (input, attempt) => {
              reverts += 1;
              if (reverts === 1)
                throw ApplicationFailure.create({
                  type: 'PermanentFault',
                  message: 'git push rejected: branch protection on main',
                  nonRetryable: true,
                });
              return greenScript.revertChange(input, attempt);
            },
          }),
          ...notifyActivities({ webhookUrl: receiver.url }),
        });
        await approve(run);
        await waitForPhase(run.handle, 'NEEDS_OPERATOR', 60_000);
        await run.handle.executeUpdate(retryCompensationUpdate, {
          args: [{ operator: 'dococeven', reason: 'branch protection lifted' }],
        });
        const result = await run.untilEnd();
        assert.equal(result.outcome, 'ROLLED_BACK');

        const { runId } = await run.handle.describe();
        const events = [
          'approval-requested',
          'approved',
          'verification-failed',
          'needs-operator',
          'rolled-back',
        ];
        assert.deepEqual(
          receiver.delivered.map((b) => b.event),
          events,
        );
        assertKeys(run, runId, receiver.delivered);
        for (const b of receiver.delivered) {
          const attempts = receiver.requests.filter((r) => r.headerKey === b.idempotencyKey);
          assert.deepEqual(
            attempts.map((a) => [a.answered, a.body.attempt]),
            [
              [500, 1],
              [200, 2],
            ],
            `${b.event}: one failed attempt, then the same key again`,
          );
        }
        const [, , failed, needsOperator, rolledBack] = receiver.delivered;
        assert.deepEqual(failed?.fields['reasons'], ['scheduler: ImportError: XComObjectStorageBackend']);
        assert.equal(needsOperator?.fields['failedStep'], 'revert target');
        assert.equal(needsOperator?.fields['productionChanged'], true);
        assert.equal(rolledBack?.fields['triggerPhase'], 'VERIFY');
        assert.ok(result.status.notifications?.every((n) => n.status === 'delivered'));
      } finally {
        await receiver.close();
      }
    },
  );

  test(
    'an unreachable webhook changes nothing but the notification records',
    { timeout: 120_000 },
    async () => {
      const port = await freePort();
      const url = `http://127.0.0.1:${port}/services/T0/B0/secret-token-xyz`;
      const run = await startCutover(env, inputFor(singleStage), {
        ...scriptedActivities(),
        ...notifyActivities({ webhookUrl: url }),
      });
      // The approval goes through while the first message is still being retried.
      await approve(run);
      const result = await run.untilEnd();
      assert.equal(result.outcome, 'DONE');
      assert.equal(result.productionChanged, true);
      assert.deepEqual(
        result.status.notifications?.map((n) => [n.event, n.status, n.error]),
        [
          ['approval-requested', 'failed', 'webhook unreachable (ECONNREFUSED)'],
          ['approved', 'failed', 'webhook unreachable (ECONNREFUSED)'],
          ['done', 'failed', 'webhook unreachable (ECONNREFUSED)'],
        ],
      );
      const json = historyToJson(await run.handle.fetchHistory());
      assert.ok(!json.includes('secret-token-xyz'), 'the webhook URL never enters history');
    },
  );
});
