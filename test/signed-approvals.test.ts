/**
 * Signed approvals (issue #15): a plan that lists approval.allowedSigners gets its start and every
 * decision checked with the real ssh-keygen over keys made for the test, against a real Temporal dev
 * server. Forged, replayed (another run), wrong-digest and unsigned signatures are refused and
 * recorded; self-approval is judged on keys; the CLI signs with --key or a real ssh-agent; `report
 * --verify` re-checks every signature from history, and the dossier shows fingerprints and the
 * Temporal client identity of each message.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import type { Worker } from '@temporalio/worker';
import { stringify } from 'yaml';
import { SshKeygen } from '../adapters/ssh-keygen.js';
import { main } from '../client/cli.js';
import type { CutoverInput } from '../domain/cutover.js';
import type { Decision } from '../domain/engine/evidence.js';
import { decisionMessage, startMessage } from '../domain/engine/signed-message.js';
import type { PlanInput } from '../domain/plan.js';
import { createCutoverWorker } from '../worker/create-worker.js';
import { approveSignal, approveUpdate, rejectUpdate } from '../workflows/engine/messages.js';
import {
  inputFor,
  refusedUpdate,
  startCutover,
  startCutoverEnv,
  waitForPhase,
  waitForStatus,
  type CutoverEnv,
} from './support/cutover-env.js';
import { referencePlanInput, testPlan } from './support/plans.js';
import { calls, scriptedActivities, type JournalEntry } from './support/scripted-activities.js';
import { makeKeys, startAgent, type TestKeys } from './support/ssh-keys.js';

/** A fingerprint inside a RegExp: base64 has `+` and `/`. */
const rx = (text: string): string => text.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');

let env: CutoverEnv;
let keys: TestKeys;
const ssh = new SshKeygen();

before(async () => {
  env = await startCutoverEnv();
  keys = makeKeys(['alice', 'bob', 'mallory']);
});
after(async () => {
  await env?.close();
});

/** alice and bob approve, each with their own key; carol is a second name on alice's key. */
function signedPatch(raw: PlanInput): void {
  delete raw.spec.xcom.ramp;
  raw.approval.approvers = ['alice', 'bob', 'carol'];
  raw.approval.allowedSigners = [
    '# the platform team',
    keys.signer('alice,carol', 'alice', 'namespaces="cutover"'),
    keys.signer('bob', 'bob'),
  ];
}
const signedPlan = () => testPlan(signedPatch);

async function signedStart(
  workflowId: string,
  who = 'alice',
  key = who,
  signedAt = new Date().toISOString(),
) {
  const input = inputFor(signedPlan(), { startedBy: who });
  const message = startMessage({ workflowId, planDigest: input.planDigest, principal: who, signedAt });
  return { ...input, startSignature: { signature: await ssh.sign(message, keys.key(key)), signedAt } };
}

async function signed(
  key: string,
  action: 'approve' | 'reject',
  workflowId: string,
  runId: string,
  d: Decision,
): Promise<Decision> {
  const message = decisionMessage({ action, workflowId, runId, decision: d });
  return { ...d, signature: await ssh.sign(message, keys.key(key)) };
}

test(
  'signed start and approval: the keys are verified and recorded; forged, replayed, wrong-digest, unsigned and self-approving keys are refused',
  { timeout: 120_000 },
  async () => {
    const journal: JournalEntry[] = [];
    const workflowId = `cutover-signed-${randomUUID()}`;
    const input = await signedStart(workflowId);
    const run = await startCutover(env, input, scriptedActivities({}, journal), workflowId);
    const { handle } = run;
    const runId = handle.firstExecutionRunId;
    const waiting = await waitForPhase(handle, 'AWAIT_GO');
    assert.equal(waiting.startSigner?.fingerprint, keys.fingerprint('alice'));
    assert.equal(waiting.startSigner?.principal, 'alice');
    assert.equal(waiting.pendingApproval?.signaturesRequired, true);
    assert.equal(waiting.pendingApproval?.startedWithKey, keys.fingerprint('alice'));

    const digest = input.planDigest;
    const base: Decision = { operator: 'bob', reason: 'evidence reviewed', digest };
    const approve = (d: Decision) => handle.executeUpdate(approveUpdate, { args: [d] });

    // Unsigned: the validator refuses it at once (nothing reaches history).
    assert.match(await refusedUpdate(approve(base)), /the decision must be signed/);
    // Forged: mallory's key, claiming to be bob.
    assert.match(
      await refusedUpdate(approve(await signed('mallory', 'approve', workflowId, runId, base))),
      new RegExp(`the signing key ${rx(keys.fingerprint('mallory'))} is not an allowed signer for bob`),
    );
    // Replayed: bob's real signature, made for another run of this workflow id.
    assert.match(
      await refusedUpdate(approve(await signed('bob', 'approve', workflowId, randomUUID(), base))),
      /the signature does not verify over this decision/,
    );
    // Wrong digest: bob signed another plan's digest; the message claims the right one.
    const otherDigest = await signed('bob', 'approve', workflowId, runId, {
      ...base,
      digest: 'sha256:0123456789abcdef',
    });
    assert.match(
      await refusedUpdate(approve({ ...otherDigest, digest })),
      /the signature does not verify over this decision/,
    );
    // A signed reject is no approve.
    const reject = await signed('bob', 'reject', workflowId, runId, base);
    assert.match(await refusedUpdate(approve(reject)), /does not verify/);
    // Self-approval judged on keys: carol is another name on the key that started the run.
    assert.match(
      await refusedUpdate(
        approve(await signed('alice', 'approve', workflowId, runId, { ...base, operator: 'carol' })),
      ),
      new RegExp(
        `key ${rx(keys.fingerprint('alice'))} started this run \\(signed by alice\\) and the plan does not allow self-approval`,
      ),
    );
    // Signals get the same check: a forged one is recorded and changes nothing.
    await handle.signal(approveSignal, await signed('mallory', 'approve', workflowId, runId, base));
    const status = await waitForStatus(handle, (s) => s.refusals.some((r) => r.via === 'signal'));
    assert.equal(status.phase, 'AWAIT_GO');
    assert.deepEqual(
      status.refusals.map((r) => [r.operator, r.via, r.fingerprint ?? null]),
      [
        ['bob', 'update', keys.fingerprint('mallory')],
        ['bob', 'update', null],
        ['bob', 'update', null],
        ['bob', 'update', null],
        ['carol', 'update', keys.fingerprint('alice')],
        ['bob', 'signal', keys.fingerprint('mallory')],
      ],
    );
    assert.equal(calls(journal, 'applyChange').length, 0);

    const ack = await approve(await signed('bob', 'approve', workflowId, runId, base));
    assert.match(
      ack,
      new RegExp(`approved by bob \\(digest ${digest}, key ${rx(keys.fingerprint('bob'))}\\)`),
    );
    const result = await run.result;
    assert.equal(result.outcome, 'DONE');
    assert.deepEqual(result.status.decision?.signer, {
      principal: 'bob',
      fingerprint: keys.fingerprint('bob'),
      keyType: 'ED25519',
    });
  },
);

test(
  'a start without a good signature ends STOPPED before any step, and says why',
  { timeout: 120_000 },
  async () => {
    const cases: [string, (id: string) => Promise<CutoverInput>, RegExp][] = [
      ['unsigned', async () => inputFor(signedPlan(), { startedBy: 'alice' }), /the start is not signed/],
      ['forged', (id) => signedStart(id, 'alice', 'mallory'), /is not an allowed signer for alice/],
      [
        'stale',
        (id) => signedStart(id, 'alice', 'alice', new Date(Date.now() - 20 * 60_000).toISOString()),
        /more than 10 minutes before this run started/,
      ],
      [
        'digest of another plan',
        async (id) => ({
          ...(await signedStart(id)),
          plan: testPlan((p) => (signedPatch(p), (p.name = 'xcom-other'))),
        }),
        /the run's plan has digest sha256:\w+, not the sha256:\w+ the start claims/,
      ],
    ];
    for (const [name, makeInput, why] of cases) {
      const journal: JournalEntry[] = [];
      const workflowId = `cutover-signed-start-${randomUUID()}`;
      const run = await startCutover(
        env,
        await makeInput(workflowId),
        scriptedActivities({}, journal),
        workflowId,
      );
      const result = await run.result;
      assert.equal(result.outcome, 'STOPPED', name);
      assert.match(result.reason, /^start signature refused: .*; nothing changed$/, name);
      assert.match(result.reason, why, name);
      assert.equal(result.status.refusals[0]?.message, 'start', name);
      assert.deepEqual(
        journal.filter((j) => j.name !== 'verifyStart'),
        [],
        `${name}: no step ran but the signature check`,
      );
    }
  },
);

test(
  'plans without signers decide by name as before: no signature is asked or checked',
  { timeout: 90_000 },
  async () => {
    const journal: JournalEntry[] = [];
    const input = inputFor(testPlan((p) => delete p.spec.xcom.ramp));
    const run = await startCutover(env, input, scriptedActivities({}, journal));
    await waitForPhase(run.handle, 'AWAIT_GO');
    await run.handle.executeUpdate(rejectUpdate, {
      args: [{ operator: 'dococeven', reason: 'freeze', digest: input.planDigest }],
    });
    const result = await run.result;
    assert.equal(result.outcome, 'REJECTED');
    assert.equal(result.status.decision?.signer, undefined);
    assert.equal(calls(journal, 'verifySignature').length + calls(journal, 'verifyStart').length, 0);
  },
);

test(
  'CLI: start --key signs, approve signs with ssh-agent, report shows keys and client identities, report --verify re-checks them',
  { timeout: 150_000 },
  async () => {
    const taskQueue = `signed-cli-${randomUUID()}`;
    const worker: Worker = await createCutoverWorker({
      connection: env.connection,
      taskQueue,
      activities: scriptedActivities(),
    });
    const workerDone = worker.run();
    const agent = await startAgent(keys.dir);
    try {
      const dir = mkdtempSync(path.join(os.tmpdir(), 'cutover-signed-cli-'));
      const raw = referencePlanInput();
      signedPatch(raw);
      raw.name = `signed-${randomUUID().slice(0, 8)}`;
      // A target of its own: the one-cut-over-per-target rule must not see this file's other runs.
      if (raw.target.kind === 'kubernetes') raw.target.namespace = 'signed-cli';
      const planFile = path.join(dir, 'plan.yaml');
      writeFileSync(planFile, stringify(raw));
      const ioEnv = {
        TEMPORAL_ADDRESS: env.server.address,
        TEMPORAL_NAMESPACE: 'default',
        CUTOVER_TASK_QUEUE: taskQueue,
      };
      const cli = async (args: string[], extra: NodeJS.ProcessEnv = {}) => {
        let stdout = '';
        let stderr = '';
        const code = await main(args, {
          stdout: { write: (s: string) => (stdout += s) },
          stderr: { write: (s: string) => (stderr += s) },
          env: { ...ioEnv, ...extra },
        });
        return { code, stdout, stderr };
      };

      // Unsigned start of a plan with signers: refused at the CLI, nothing started.
      const unsigned = await cli(['start', '--plan', planFile, '--operator', 'alice']);
      assert.equal(unsigned.code, 2, unsigned.stderr);
      assert.match(
        unsigned.stderr,
        /the plan lists approval\.allowedSigners: sign the start with --key FILE/,
      );
      // A starter the plan has no key for cannot sign.
      const stranger = await cli([
        'start',
        '--plan',
        planFile,
        '--operator',
        'mallory',
        '--key',
        keys.key('mallory'),
      ]);
      assert.equal(stranger.code, 2);
      assert.match(stranger.stderr, /mallory has no key in the plan's approval\.allowedSigners/);

      const started = await cli([
        'start',
        '--plan',
        planFile,
        '--operator',
        'alice',
        '--key',
        keys.key('alice'),
        '--json',
      ]);
      assert.equal(started.code, 0, started.stderr);
      const { workflowId } = JSON.parse(started.stdout) as { workflowId: string };
      const handle = env.client.workflow.getHandle(workflowId);
      await waitForPhase(handle, 'AWAIT_GO');

      // bob's key only in the agent: approve finds it there (no --key).
      const noKey = await cli(['approve', workflowId, '--operator', 'bob', '--reason', 'go'], {
        SSH_AUTH_SOCK: agent.socket,
      });
      assert.equal(noKey.code, 2, noKey.stderr);
      assert.match(noKey.stderr, /none of the 0 key\(s\) in ssh-agent is listed for bob/);
      agent.add(keys.key('bob'));
      const approved = await cli(
        ['approve', workflowId, '--operator', 'bob', '--reason', 'evidence reviewed'],
        {
          SSH_AUTH_SOCK: agent.socket,
        },
      );
      assert.equal(approved.code, 0, approved.stderr);
      assert.match(approved.stdout, new RegExp(`approved by bob .*key ${rx(keys.fingerprint('bob'))}`));
      assert.equal((await handle.result()).outcome, 'DONE');

      const report = await cli(['report', workflowId]);
      assert.equal(report.code, 0, report.stderr);
      assert.match(
        report.stdout,
        new RegExp(
          `alice \\(signed, ED25519 key \`${rx(keys.fingerprint('alice'))}\`\\), from Temporal client \`\\d+@`,
        ),
      );
      assert.match(
        report.stdout,
        new RegExp(`Signed by bob with ED25519 key \`${rx(keys.fingerprint('bob'))}\``),
      );
      assert.match(
        report.stdout,
        /\| Time +\| Message +\| Via +\| Claimed operator +\| Temporal client identity +\| Answer/,
      );
      assert.match(report.stdout, /\| approve +\| update +\| bob +\| `\d+@[^`]+` +\| accepted/);

      const verified = await cli(['report', workflowId, '--verify']);
      assert.equal(verified.code, 0, verified.stdout + verified.stderr);
      assert.match(verified.stdout, /ok +plan digest/);
      assert.match(verified.stdout, new RegExp(`ok +start by alice .*${rx(keys.fingerprint('alice'))}`));
      assert.match(
        verified.stdout,
        new RegExp(`ok +approve by bob via update .*accepted by the run.*${rx(keys.fingerprint('bob'))}`),
      );
      assert.match(verified.stdout, /verified: every signature the run relied on holds/);

      // Checked against an allowed_signers kept elsewhere that does not trust bob's key: exit 1.
      const elsewhere = path.join(dir, 'allowed_signers');
      writeFileSync(elsewhere, `${keys.signer('alice,carol', 'alice')}\n${keys.signer('bob', 'mallory')}\n`);
      const distrusted = await cli(['report', workflowId, '--verify', '--allowed-signers', elsewhere]);
      assert.equal(distrusted.code, 1, distrusted.stdout);
      assert.match(distrusted.stdout, /FAIL +approve by bob via update .*not an allowed signer for bob/);
      assert.match(distrusted.stdout, /NOT verified: 1 check\(s\) failed/);
    } finally {
      agent.stop();
      worker.shutdown();
      await workerDone;
    }
  },
);

test(
  'report --verify on a run approved by name says there is nothing to verify (exit 1)',
  { timeout: 90_000 },
  async () => {
    const input = inputFor(testPlan((p) => delete p.spec.xcom.ramp));
    const run = await startCutover(env, input, scriptedActivities());
    await waitForPhase(run.handle, 'AWAIT_GO');
    await run.handle.executeUpdate(approveUpdate, {
      args: [{ operator: 'dococeven', reason: 'go', digest: input.planDigest }],
    });
    await run.result;
    let stdout = '';
    const code = await main(['report', run.handle.workflowId, '--verify'], {
      stdout: { write: (s: string) => (stdout += s) },
      stderr: { write: () => true },
      env: { TEMPORAL_ADDRESS: env.server.address, TEMPORAL_NAMESPACE: 'default' },
    });
    assert.equal(code, 1);
    assert.match(stdout, /lists no approval\.allowedSigners: its approvals are by name, nothing to verify/);
  },
);
