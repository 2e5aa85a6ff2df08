/**
 * AWAIT_GO: the operator's go, with the rules that make it mean something.
 * The same rules judge signals (a refused one is recorded and changes nothing)
 * and updates (a refused one is rejected by its validator, so the CLI learns why
 * at once).
 *
 * When the plan lists approval.allowedSigners a decision must also carry an SSH signature over
 * its text for this run. The validator stays synchronous and deterministic: it checks the rules
 * above and that a signature is there; the handler then has ssh-keygen verify it (a local
 * activity) and judges again, since the gate may have closed meanwhile. A signature refused there
 * is recorded in the run's refusals, for updates as for signals. Signals get the same check: a
 * signal is how `temporal workflow signal` and the Web UI decide, and an unverified one must not
 * count where the plan asks for keys.
 */
import { ApplicationFailure, condition, setHandler } from '@temporalio/workflow';
import type { Decision, RecordedDecision, Signer } from '../../domain/engine/evidence.js';
import type { ApprovalRequest } from '../../domain/engine/run.js';
import { isArmoredSignature } from '../../domain/engine/signed-message.js';
import { approveSignal, approveUpdate, rejectSignal, rejectUpdate } from './messages.js';
import type { Run } from './run.js';
import { signersOf, verifyDecision } from './signatures.js';

export type DecisionKind = 'approve' | 'reject';

/** Why a decision is refused, or null when it is accepted. */
export function refusal(kind: DecisionKind, d: Decision, run: Run): string | null {
  const request = run.pendingApproval;
  if (!request) {
    if (run.decision) {
      const prior = run.decision;
      return `the approval gate is closed: already ${prior.kind === 'approve' ? 'approved' : 'rejected'} by ${prior.operator}`;
    }
    return run.phase === 'FINISHED' || run.outcome
      ? `the approval gate is closed: the run ended ${run.outcome ?? ''}`.trim()
      : `the approval gate is not open (phase ${run.phase}): wait until the evidence is complete`;
  }
  if (!d || typeof d.operator !== 'string' || d.operator.trim() === '') return 'an operator name is required';
  if (typeof d.reason !== 'string' || d.reason.trim() === '') return 'a reason is required';
  if (d.digest !== request.planDigest) {
    return `digest ${String(d.digest)} does not match the plan under review (${request.planDigest})`;
  }
  if (request.signaturesRequired && !isArmoredSignature(d.signature)) {
    return d.signature === undefined
      ? 'this plan lists approval.allowedSigners: the decision must be signed (cutover approve|reject --key FILE, or a key in ssh-agent)'
      : 'the signature is not an armored SSH signature (-----BEGIN SSH SIGNATURE-----)';
  }
  const isApprover = request.approvers.includes(d.operator);
  if (kind === 'approve') {
    if (!isApprover)
      return `${d.operator} is not one of the plan's approvers (${request.approvers.join(', ')})`;
    if (d.operator === request.startedBy && !request.allowSelfApproval) {
      return `${d.operator} started this run and the plan does not allow self-approval`;
    }
  } else if (!isApprover && d.operator !== request.startedBy) {
    return `${d.operator} may not reject: only the plan's approvers or the operator who started the run`;
  }
  return null;
}

/** Key-based self-approval: the key that started the run may not approve it, whatever name it signs as. */
function keyRefusal(kind: DecisionKind, signer: Signer, run: Run): string | null {
  const starter = run.startSigner;
  if (kind !== 'approve' || !starter || run.plan.approval?.allowSelfApproval) return null;
  return signer.fingerprint === starter.fingerprint
    ? `key ${signer.fingerprint} started this run (signed by ${starter.principal}) and the plan does not allow self-approval`
    : null;
}

function accept(
  run: Run,
  kind: DecisionKind,
  d: Decision,
  via: RecordedDecision['via'],
  signer?: Signer,
): string {
  const recorded: RecordedDecision = {
    kind,
    via,
    operator: d.operator,
    reason: d.reason,
    digest: d.digest,
    ...(signer ? { signature: d.signature, signer } : {}),
  };
  run.recordDecision(recorded);
  run.pendingApproval = null;
  const key = signer ? `, key ${signer.fingerprint}` : '';
  return `${kind === 'approve' ? 'approved' : 'rejected'} by ${d.operator} (digest ${d.digest}${key})`;
}

type Verdict = { accepted: true; message: string } | { accepted: false; why: string };

/**
 * Judges one decision, verifying its signature where the plan asks for one, and records a refusal.
 * Without signers nothing is awaited, so the decision is taken in the same activation as before.
 */
async function decide(
  kind: DecisionKind,
  d: Decision,
  run: Run,
  via: RecordedDecision['via'],
): Promise<Verdict> {
  const refuse = (why: string, fingerprint?: string): Verdict => {
    run.refusals.push({
      message: kind,
      operator: String(d?.operator ?? ''),
      via,
      why,
      ...(fingerprint ? { fingerprint } : {}),
    });
    return { accepted: false, why };
  };
  const why = refusal(kind, d, run);
  if (why) return refuse(why);
  const signers = run.pendingApproval?.signaturesRequired ? signersOf(run) : null;
  if (!signers) return { accepted: true, message: accept(run, kind, d, via) };
  const check = await verifyDecision(run, signers, kind, d);
  if (!check.verified) return refuse(`signature refused: ${check.why}`, check.fingerprint);
  // Judge again: another decision may have been taken while ssh-keygen ran.
  const again = refusal(kind, d, run) ?? keyRefusal(kind, check.signer, run);
  if (again) return refuse(again, check.signer.fingerprint);
  return { accepted: true, message: accept(run, kind, d, via, check.signer) };
}

/** Registers approve/reject as signals and as validated updates. Call once, at workflow start. */
export function handleDecisions(run: Run): void {
  for (const [kind, signal, update] of [
    ['approve', approveSignal, approveUpdate],
    ['reject', rejectSignal, rejectUpdate],
  ] as const) {
    setHandler(signal, async (d: Decision) => {
      await decide(kind, d, run, 'signal');
    });
    setHandler(
      update,
      async (d: Decision) => {
        const verdict = await decide(kind, d, run, 'update');
        if (!verdict.accepted)
          throw ApplicationFailure.create({ type: 'Refused', message: verdict.why, nonRetryable: true });
        return verdict.message;
      },
      {
        validator: (d: Decision) => {
          const why = refusal(kind, d, run);
          if (why) throw new Error(why);
        },
      },
    );
  }
}

export type GoResult = 'approved' | 'rejected' | 'timed-out';

/** Opens the gate, waits for a decision or the deadline, closes the gate. */
export async function awaitGo(run: Run, request: ApprovalRequest): Promise<GoResult> {
  run.pendingApproval = request;
  const decided = await condition(() => run.decision !== null, request.timeoutMs);
  run.pendingApproval = null;
  if (!decided) return 'timed-out';
  return run.decision?.kind === 'approve' ? 'approved' : 'rejected';
}
