/**
 * The shape every runbook run takes, so a runbook only writes its own phases:
 *
 *   EVIDENCE   the runbook's read-only phases; a red gate ends the run STOPPED, nothing changed
 *   (dry run)  ends PLANNED here
 *   AWAIT_GO   approve/reject (signals + validated updates) until the plan's deadline
 *   CHANGE     the runbook's changes, each pushing its undo first, then its proofs
 *   DONE
 *   on any failure after the first change: COMPENSATE (undo stack, then the runbook's heal
 *   steps) -> ROLLED_BACK, or NEEDS_OPERATOR until retryCompensation / acknowledge.
 *
 * Read-only runbooks have no `change`: they end after their evidence with their own verdict.
 */
import {
  CancellationScope,
  CancelledFailure,
  TemporalFailure,
  isCancellation,
  patched,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import { approvalRequestLines } from '../../domain/engine/approval-request.js';
import type { EnginePlan } from '../../domain/engine/plan.js';
import type { ApprovalRequest, RunInput, RunResult } from '../../domain/engine/run.js';
import { durationMs } from '../../domain/duration.js';
import { awaitGo, handleDecisions } from './approval.js';
import { compensate, handleOperatorActions, UndoStack, type CompensationStep } from './compensation.js';
import { describeError, GateFailed } from './errors.js';
import { statusQuery } from './messages.js';
import { NOTIFICATIONS_PATCH, Notifications } from './notifications.js';
import { Run, type RunbookMeta } from './run.js';
import { RUNBOOK } from './search-attributes.js';
import { signersOf, verifyStartSignature } from './signatures.js';

/**
 * Runs recorded before the engine set the CutoverRunbook search attribute replay without it (the upsert
 * is a command in history). Asked once per run, at its start.
 */
export const RUNBOOK_ATTRIBUTE_PATCH = 'runbook-search-attribute-v1';

export interface Runbook<P extends EnginePlan, E> extends RunbookMeta<E> {
  /** The read-only phases. Return a finished result to end the run (run.stop for a red gate). */
  evidence(run: Run<P, E>): Promise<RunResult<E> | undefined>;
  /**
   * What the approver reads, and the worker time the evidence ended (the deadline counts from it).
   * Every runbook with a `change` has one; a read-only runbook needs none.
   */
  review?(run: Run<P, E>): { openedAfter: string; lines: string[] };
  /**
   * The production change and its proofs. Push each change's undo onto `undo` BEFORE making it; throw
   * GateFailed for a red proof. Returns the sentence the DONE outcome carries.
   */
  change?(run: Run<P, E>, undo: UndoStack): Promise<string>;
  /** What a bare undo cannot repair, run after the undo stack (re-runs, row rewrites). */
  heal?(run: Run<P, E>): CompensationStep[];
  /** The ROLLED_BACK sentence, after "<phase> failed (<error>); ". */
  rolledBack?(run: Run<P, E>): string;
}

export async function runRunbook<P extends EnginePlan, E>(
  input: RunInput<P>,
  runbook: Runbook<P, E>,
): Promise<RunResult<E>> {
  const run = new Run<P, E>(input, runbook);
  // Temporal's patching API: the notify activity calls change the shape of the history, so a run recorded
  // before them (test/histories/*.json, or a run in flight during an upgrade) must replay without them.
  // patched() records a marker in new runs and answers false when replaying history that lacks it.
  // Asked once, here: a run is on one side of the patch from start to end, never half notified.
  if (patched(NOTIFICATIONS_PATCH)) run.notifications = new Notifications(run);
  if (patched(RUNBOOK_ATTRIBUTE_PATCH)) upsertSearchAttributes([{ key: RUNBOOK, value: runbook.kind }]);
  const result = await phases(run, runbook);
  if (!run.notifications) return result;
  // The outcome is decided; the run closes once its messages are out (or given up on), and its status
  // says which were delivered.
  await run.notifications.settled();
  return { ...result, status: run.status() };
}

async function phases<P extends EnginePlan, E>(
  run: Run<P, E>,
  runbook: Runbook<P, E>,
): Promise<RunResult<E>> {
  const { input, plan } = run;
  const operatorChoices: Parameters<typeof handleOperatorActions>[1] = [];
  setHandler(statusQuery, () => run.status());
  handleDecisions(run);
  handleOperatorActions(run, operatorChoices);

  try {
    // A signed start is checked before anything else runs; a dry run changes nothing and needs none.
    const signers = input.dryRun ? null : signersOf(run);
    if (signers) {
      run.say(`checking ${input.startedBy}'s signature over the start`);
      const refused = await verifyStartSignature(run, signers);
      if (refused) return run.finish('STOPPED', `start signature refused: ${refused}; nothing changed`);
    }
    const ended = await runbook.evidence(run);
    if (ended) return ended;
    if (input.dryRun) return run.finish('PLANNED', 'evidence complete; a dry run never reaches a change');
    if (!runbook.change) return run.finish('DONE', 'evidence complete');
    const approval = plan.approval;
    // A runbook that changes production always has an approval policy and a review; their absence is a bug.
    if (!approval || !runbook.review)
      throw new Error(`${runbook.kind} changes production but has no approval policy or review`);

    const request = approvalRequest(run, approval, runbook.review(run));
    run.enter(
      'AWAIT_GO',
      `waiting for approval from ${request.approvers.join(' or ')} until ${request.deadline} (digest ${request.planDigest})`,
      approvalRequestLines(workflowInfo().workflowId, request),
    );
    run.notifications?.approvalRequested(request);
    const go = await awaitGo(run, request);
    if (go === 'timed-out') {
      return run.finish('TIMED_OUT', `no decision within ${approval.timeout}; nothing changed`);
    }
    if (go === 'rejected') {
      return run.finish(
        'REJECTED',
        `rejected by ${run.decision?.operator}: ${run.decision?.reason}; nothing changed`,
      );
    }
    run.notifications?.approved();
  } catch (err) {
    if (isCancellation(err)) return run.finish('CANCELLED', `cancelled in ${run.phase}; nothing changed`);
    // A bug in this code is not a verdict: let the workflow task fail so a fixed worker can carry on.
    if (!(err instanceof TemporalFailure)) throw err;
    return run.finish('STOPPED', `${run.phase} could not complete: ${describeError(err)}; nothing changed`);
  }

  // From here on production changes: every failure goes through the kill-switch.
  const undo = new UndoStack();
  try {
    const done = await runbook.change(run, undo);
    // A cancel that raced the last step still means "put it back": the operator asked for it.
    if (CancellationScope.current().consideredCancelled) throw new CancelledFailure('cancel requested');
    return run.finish('DONE', done, true);
  } catch (err) {
    if (!(err instanceof TemporalFailure || err instanceof GateFailed)) throw err;
    const trigger = {
      phase: err instanceof GateFailed ? err.phase : run.phase,
      error: isCancellation(err) ? 'the run was cancelled after the change started' : describeError(err),
    };
    const heal = runbook.heal?.(run) ?? [];
    const rolledBack = () => runbook.rolledBack?.(run) ?? 'every change undone';
    // Compensation must finish even if the run was cancelled: a half-changed Airflow is the worst outcome.
    return CancellationScope.nonCancellable(() =>
      compensate(run, undo, heal, trigger, operatorChoices, rolledBack),
    );
  }
}

function approvalRequest<P extends EnginePlan, E>(
  run: Run<P, E>,
  approval: NonNullable<EnginePlan['approval']>,
  review: { openedAfter: string; lines: string[] },
): ApprovalRequest {
  const { planDigest, startedBy } = run.input;
  const timeoutMs = durationMs(approval.timeout);
  // The gate opens as soon as the last evidence step ends; that step's clock is the workflow's only time source.
  const { openedAfter } = review;
  return {
    planDigest,
    approvers: approval.approvers,
    startedBy,
    allowSelfApproval: approval.allowSelfApproval,
    ...(signersOf(run)
      ? {
          signaturesRequired: true,
          ...(run.startSigner ? { startedWithKey: run.startSigner.fingerprint } : {}),
        }
      : {}),
    timeoutMs,
    openedAfter,
    deadline: openedAfter
      ? new Date(Date.parse(openedAfter) + timeoutMs).toISOString()
      : `${approval.timeout} after the evidence`,
    review: review.lines,
  };
}
