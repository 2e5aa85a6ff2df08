/**
 * The go at AWAIT_GO: --yes approves at once; on a terminal the demo asks; otherwise it waits for
 * an approval from another terminal (the follow loop sees it arrive). The demo answers as the
 * approver "demo", never as the operator who started the run, so the no-self-approval rule holds.
 */
import { createInterface } from 'node:readline/promises';
import type { WorkflowHandle } from '@temporalio/client';
import type { ApprovalRequest } from '../domain/cutover.js';
import type { Decision } from '../domain/evidence.js';
import { approveUpdate, rejectUpdate } from '../workflows/engine/messages.js';
import { DEMO_APPROVER } from './options.js';
import { errorText, say, warn } from './output.js';

export type ApprovalMode = 'yes' | 'ask' | 'wait';

export function approvalMode(yes: boolean): ApprovalMode {
  return yes ? 'yes' : process.stdin.isTTY ? 'ask' : 'wait';
}

async function send(handle: WorkflowHandle, kind: 'approve' | 'reject', reason: string, digest: string) {
  const decision: Decision = { operator: DEMO_APPROVER, reason, digest };
  try {
    const answer = await handle.executeUpdate(kind === 'approve' ? approveUpdate : rejectUpdate, {
      args: [decision],
    });
    say(`  ${kind === 'approve' ? 'approved' : 'rejected'} as ${DEMO_APPROVER}: ${answer}`);
  } catch (err) {
    // Refused (the gate closed meanwhile, someone else answered first): the follow loop tells the rest.
    warn(`the ${kind} was not accepted: ${errorText(err)}`);
  }
}

/** y/N on the terminal; aborted (no answer sent) when `signal` fires first. */
async function ask(signal: AbortSignal): Promise<boolean | null> {
  const rl = createInterface({ input: process.stdin, output: process.stdout });
  // A terminal in readline's hands delivers Ctrl-C to it, not to the process: pass it on.
  rl.on('SIGINT', () => process.kill(process.pid, 'SIGINT'));
  try {
    const answer = await rl.question('approve? [y/N] ', { signal });
    return /^y(es)?$/i.test(answer.trim());
  } catch {
    return null;
  } finally {
    rl.close();
  }
}

/**
 * Answers the pending request by `mode`. `signal` aborts a question still on the terminal (an
 * answer came from elsewhere, or the demo was interrupted).
 */
export async function answerApproval(
  handle: WorkflowHandle,
  request: ApprovalRequest,
  mode: ApprovalMode,
  signal: AbortSignal,
): Promise<void> {
  if (mode === 'wait') {
    say(
      '  waiting for an approval from another terminal (no terminal here to ask on; --yes approves at once)',
    );
    return;
  }
  if (mode === 'yes') {
    say(`  --yes: approving as ${DEMO_APPROVER}`);
    await send(handle, 'approve', 'evidence reviewed in the demo (--yes)', request.planDigest);
    return;
  }
  const go = await ask(signal);
  if (go === null) return;
  if (go) await send(handle, 'approve', 'evidence reviewed at the demo prompt', request.planDigest);
  else await send(handle, 'reject', 'declined at the demo prompt', request.planDigest);
}
