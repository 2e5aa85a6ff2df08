/**
 * The exact texts an operator's SSH key signs. Pure and shared: the CLI builds them to sign, the
 * workflow builds them to verify (it never trusts a message text sent to it), and `cutover report
 * --verify` builds them again from history.
 *
 * Each text is versioned and binds everything a replayed signature could be misused for:
 * - the action (a signed reject is no approve, a signed start no approval);
 * - the workflow id AND, for decisions, the run id: a plan's workflow id is reused by its later runs,
 *   so a decision signed for one run is refused by every other;
 * - the plan digest the signer reviewed, the principal they sign as, and (for decisions) the reason,
 *   so none of them can be edited on the way.
 * A start is signed before Temporal assigns the run id; it carries the signing time instead, and the
 * workflow refuses a start signature that is older than START_SIGNATURE_MAX_AGE_MS (or from the future)
 * when the run started, so it cannot be reused for a later run.
 */
import type { Decision } from './evidence.js';

export type SignedAction = 'start' | 'approve' | 'reject';

/** How old a start signature may be when its run starts (and how far ahead a signer's clock may run). */
export const START_SIGNATURE_MAX_AGE_MS = 10 * 60_000;
export const START_SIGNATURE_MAX_SKEW_MS = 2 * 60_000;

/** What a signed start carries in the run's input (a signature and a timestamp: no secret). */
export interface StartSignature {
  /** The armored `-----BEGIN SSH SIGNATURE-----` text. */
  signature: string;
  /** When the starter signed, ISO 8601 (part of the signed text). */
  signedAt: string;
}

export function startMessage(a: {
  workflowId: string;
  planDigest: string;
  principal: string;
  signedAt: string;
}): string {
  return [
    'cutover signed start v1',
    `workflow-id ${a.workflowId}`,
    `plan-digest ${a.planDigest}`,
    `principal ${a.principal}`,
    `signed-at ${a.signedAt}`,
    '',
  ].join('\n');
}

export function decisionMessage(a: {
  action: 'approve' | 'reject';
  workflowId: string;
  /** The run's first execution run id (cut-overs never continue-as-new, so it is the run's id). */
  runId: string;
  decision: Pick<Decision, 'operator' | 'reason' | 'digest'>;
}): string {
  return [
    'cutover signed decision v1',
    `action ${a.action}`,
    `workflow-id ${a.workflowId}`,
    `run-id ${a.runId}`,
    `plan-digest ${a.decision.digest}`,
    `principal ${a.decision.operator}`,
    // JSON: a reason with newlines cannot forge another line of the text.
    `reason ${JSON.stringify(a.decision.reason)}`,
    '',
  ].join('\n');
}

const ARMOR = /^-----BEGIN SSH SIGNATURE-----\n[A-Za-z0-9+/=\n]+-----END SSH SIGNATURE-----\n?$/;

/** Is this (shaped like) an armored SSH signature? The crypto is ssh-keygen's; this only spots garbage. */
export function isArmoredSignature(text: unknown): text is string {
  return typeof text === 'string' && text.length < 16_384 && ARMOR.test(text);
}

/**
 * Why a start signature's time is refused for a run that started at `runStart`, or null. Pure: the
 * workflow passes its own start time, which history fixes.
 */
export function startSignatureTimeProblem(signedAt: string, runStart: Date): string | null {
  const t = Date.parse(signedAt);
  if (Number.isNaN(t)) return `signed-at ${signedAt} is not a time`;
  const age = runStart.getTime() - t;
  if (age > START_SIGNATURE_MAX_AGE_MS)
    return `the start was signed at ${signedAt}, more than ${START_SIGNATURE_MAX_AGE_MS / 60_000} minutes before this run started (${runStart.toISOString()}): a signature of an earlier start is not reused`;
  if (-age > START_SIGNATURE_MAX_SKEW_MS)
    return `the start was signed at ${signedAt}, after this run started (${runStart.toISOString()})`;
  return null;
}
