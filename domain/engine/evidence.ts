/**
 * The evidence shapes every runbook shares. Evidence records are plain,
 * serialisable data (they travel through Temporal history) and are exactly
 * what the dossier prints; no record may hold a secret.
 */

/** When a step ran, measured on the worker (workflow code never reads the clock). */
export interface Timed {
  startedAt: string;
  finishedAt: string;
}

export interface GateVerdict {
  passed: boolean;
  /** Why it failed, one sentence each; empty when passed. */
  reasons: string[];
}

export type CheckStatus = 'green' | 'amber' | 'red';

/** The preflight row every changing runbook has: can this worker finish or undo what it would start. */
export const WORKER_CAN_DEPLOY_CHECK = 'worker-can-deploy';

export interface CheckRow {
  /** A stable key for rows other code looks for (the name is for people and may change). */
  id?: string;
  name: string;
  status: CheckStatus;
  detail: string;
  durationMs: number;
}

export interface Decision {
  operator: string;
  reason: string;
  /** The plan digest the operator reviewed. */
  digest: string;
  /**
   * `ssh-keygen -Y sign -n cutover` over the decision's text (domain/engine/signed-message.ts), armored;
   * required when the plan lists approval.allowedSigners. A signature is public: it may sit in history.
   */
  signature?: string;
}

/** The key that made a signature, as ssh-keygen reported it when it verified the signature. */
export interface Signer {
  /** The allowed_signers principal the signature was verified for. */
  principal: string;
  /** `SHA256:...`, as `ssh-keygen -l` prints it. */
  fingerprint: string;
  /** ED25519, RSA, ECDSA... */
  keyType: string;
}

/** What the signature check (ssh-keygen -Y verify) found. */
export type SignatureCheck =
  | { verified: true; signer: Signer }
  | {
      verified: false;
      why: string;
      /** The key that made the signature, when it is a well-formed signature over this text. */
      fingerprint?: string;
    };

export interface RecordedDecision extends Decision {
  kind: 'approve' | 'reject';
  via: 'signal' | 'update';
  /** The verified key, when the plan lists approval.allowedSigners. */
  signer?: Signer;
}

export interface Refusal {
  message: 'approve' | 'reject' | 'retryCompensation' | 'acknowledge' | 'start';
  operator: string;
  via: 'signal' | 'update' | 'start';
  why: string;
  /** The key behind a refused signature, when ssh-keygen could tell. */
  fingerprint?: string;
}
