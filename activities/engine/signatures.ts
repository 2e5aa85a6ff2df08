/**
 * The signature checks of a plan that lists approval.allowedSigners: the start's and each decision's.
 * The workflow calls them as local activities (the crypto is ssh-keygen's, so not workflow code) and
 * builds the signed text itself from what it knows, so a caller cannot choose what is verified.
 */
import { ApplicationFailure } from '@temporalio/common';
import type { SignatureCheck } from '../../domain/engine/evidence.js';
import { planDigest } from '../../domain/plan-file.js';
import type { LoadablePlan } from '../../domain/runbooks.js';
import type { Adapters, VerifySignatureArgs } from '../adapters.js';
import { adapterMissing } from './errors.js';

export interface VerifyStartArgs extends VerifySignatureArgs {
  plan: LoadablePlan;
  /** The digest the starter claims (and signed): it must be the digest of the plan the run carries. */
  planDigest: string;
}

export function signatureActivities(adapters: Adapters) {
  const verifier = () => {
    if (!adapters.signatures)
      throw adapterMissing(
        'signature verification (ssh-keygen)',
        'check the signed approvals this plan requires',
      );
    return adapters.signatures;
  };
  const check = async (args: VerifySignatureArgs): Promise<SignatureCheck> => {
    try {
      return await verifier().verify(args);
    } catch (err) {
      if (err instanceof ApplicationFailure) throw err;
      // ssh-keygen missing or killed: retrying on this worker will not install it.
      throw ApplicationFailure.create({
        type: 'PermanentFault',
        nonRetryable: true,
        message: `cannot check the signature: ${err instanceof Error ? err.message : String(err)}`,
      });
    }
  };
  return {
    /** A decision's signature, over the text the workflow built. */
    async verifySignature(args: VerifySignatureArgs): Promise<SignatureCheck> {
      return check(args);
    },

    /**
     * The start's signature, and first that the plan in the run is the plan whose digest was signed:
     * the workflow cannot hash (no crypto in workflow code), and a starter could otherwise sign one
     * digest and send another plan.
     */
    async verifyStart(args: VerifyStartArgs): Promise<SignatureCheck> {
      const { plan, planDigest: claimed, ...rest } = args;
      const actual = planDigest(plan);
      if (actual !== claimed)
        return {
          verified: false,
          why: `the run's plan has digest ${actual}, not the ${claimed} the start claims`,
        };
      return check(rest);
    },
  };
}

export type SignatureActivities = ReturnType<typeof signatureActivities>;
