/**
 * AWAIT_GO: the operator's go, with the rules that make it mean something.
 * The same rules judge signals (a refused one is recorded and changes nothing)
 * and updates (a refused one is rejected by its validator, so the CLI learns why
 * at once).
 */
import { ApplicationFailure, condition, setHandler } from '@temporalio/workflow';
import type { Decision, RecordedDecision } from '../../domain/engine/evidence.js';
import type { ApprovalRequest } from '../../domain/engine/run.js';
import { approveSignal, approveUpdate, rejectSignal, rejectUpdate } from './messages.js';
import type { Run } from './run.js';

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

function accept(run: Run, kind: DecisionKind, d: Decision, via: RecordedDecision['via']): string {
  const recorded: RecordedDecision = {
    kind,
    via,
    operator: d.operator,
    reason: d.reason,
    digest: d.digest,
  };
  run.recordDecision(recorded);
  run.pendingApproval = null;
  return `${kind === 'approve' ? 'approved' : 'rejected'} by ${d.operator} (digest ${d.digest})`;
}

/** Registers approve/reject as signals and as validated updates. Call once, at workflow start. */
export function handleDecisions(run: Run): void {
  for (const [kind, signal, update] of [
    ['approve', approveSignal, approveUpdate],
    ['reject', rejectSignal, rejectUpdate],
  ] as const) {
    setHandler(signal, (d: Decision) => {
      const why = refusal(kind, d, run);
      if (why) {
        run.refusals.push({ message: kind, operator: String(d?.operator ?? ''), via: 'signal', why });
        return;
      }
      accept(run, kind, d, 'signal');
    });
    setHandler(
      update,
      (d: Decision) => {
        // Judge again: another message handled since validation may have closed the gate.
        const why = refusal(kind, d, run);
        if (why) throw ApplicationFailure.create({ type: 'Refused', message: why, nonRetryable: true });
        return accept(run, kind, d, 'update');
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
