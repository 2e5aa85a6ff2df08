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
}

export interface RecordedDecision extends Decision {
  kind: 'approve' | 'reject';
  via: 'signal' | 'update';
}

export interface Refusal {
  message: 'approve' | 'reject' | 'retryCompensation' | 'acknowledge';
  operator: string;
  via: 'signal' | 'update';
  why: string;
}
