/**
 * Signed starts and decisions, for plans that list approval.allowedSigners. The workflow builds the
 * signed text itself (domain/engine/signed-message.ts) from its own workflow id, run id and what the
 * message claims, and has a local activity run ssh-keygen over it: the crypto is not workflow code,
 * and a plan without signers schedules nothing, so the histories of such runs keep their shape.
 */
import {
  ActivityFailure,
  ApplicationFailure,
  proxyLocalActivities,
  workflowInfo,
} from '@temporalio/workflow';
import type { SignatureActivities } from '../../activities/engine/signatures.js';
import { requiresSignatures } from '../../domain/engine/allowed-signers.js';
import type { Decision, SignatureCheck } from '../../domain/engine/evidence.js';
import {
  decisionMessage,
  startMessage,
  startSignatureTimeProblem,
} from '../../domain/engine/signed-message.js';
import type { LoadablePlan } from '../../domain/runbooks.js';
import { NON_RETRYABLE_TYPES } from '../../domain/failure-types.js';
import type { Run } from './run.js';

const { verifySignature, verifyStart } = proxyLocalActivities<SignatureActivities>({
  startToCloseTimeout: '30s',
  retry: { initialInterval: '1s', maximumAttempts: 3, nonRetryableErrorTypes: [...NON_RETRYABLE_TYPES] },
});

/** The plan's signer lines when it asks for signatures, else null. */
export function signersOf(run: Run): string[] | null {
  const lines = run.plan.approval?.allowedSigners;
  return lines && requiresSignatures(lines) ? lines : null;
}

/** A check that could not run (ssh-keygen missing on the worker) refuses, saying why. */
async function checked(run: () => Promise<SignatureCheck>): Promise<SignatureCheck> {
  try {
    return await run();
  } catch (err) {
    if (!(err instanceof ActivityFailure)) throw err;
    const cause = err.cause instanceof ApplicationFailure ? err.cause.message : err.message;
    return { verified: false, why: `the signature could not be checked on the worker: ${cause}` };
  }
}

/** Checks a decision's signature over the text of this decision for this run. */
export function verifyDecision(
  run: Run,
  signers: string[],
  kind: 'approve' | 'reject',
  d: Decision,
): Promise<SignatureCheck> {
  const info = workflowInfo();
  const message = decisionMessage({
    action: kind,
    workflowId: info.workflowId,
    runId: info.firstExecutionRunId,
    decision: d,
  });
  return checked(() =>
    verifySignature({
      allowedSigners: signers,
      principal: d.operator,
      message,
      signature: d.signature ?? '',
    }),
  );
}

/**
 * Checks the start's signature before anything else runs: null when it holds (the signer is recorded
 * in the run), else why not (also recorded, as a refusal of the start).
 */
export async function verifyStartSignature(run: Run, signers: string[]): Promise<string | null> {
  const { input } = run;
  const info = workflowInfo();
  const refuse = (why: string, fingerprint?: string): string => {
    run.refusals.push({
      message: 'start',
      operator: input.startedBy,
      via: 'start',
      why,
      ...(fingerprint ? { fingerprint } : {}),
    });
    return why;
  };
  const signed = input.startSignature;
  if (!signed?.signature)
    return refuse(
      'the plan lists approval.allowedSigners and the start is not signed (cutover start --key FILE)',
    );
  const late = startSignatureTimeProblem(signed.signedAt, info.startTime);
  if (late) return refuse(late);
  const message = startMessage({
    workflowId: info.workflowId,
    planDigest: input.planDigest,
    principal: input.startedBy,
    signedAt: signed.signedAt,
  });
  const check = await checked(() =>
    verifyStart({
      plan: input.plan as LoadablePlan,
      planDigest: input.planDigest,
      allowedSigners: signers,
      principal: input.startedBy,
      message,
      signature: signed.signature,
    }),
  );
  if (!check.verified) return refuse(check.why, check.fingerprint);
  run.startSigner = check.signer;
  return null;
}
