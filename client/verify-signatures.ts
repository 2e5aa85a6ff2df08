/**
 * `cutover report ID --verify`: every signature of a run checked again, on this machine, from the
 * run's Temporal history alone (the plan and its signers are in the start event's input, each
 * signature in the message that carried it): the run's plan digest, the start, and every signed
 * decision. The worker's own verdicts (in the run's status) are compared with what ssh-keygen says
 * here. Each key's validity window is judged at the time the history recorded, not today.
 */
import type { SignatureVerifierPort } from '../activities/adapters.js';
import { requiresSignatures } from '../domain/engine/allowed-signers.js';
import type { RunStatus } from '../domain/engine/run.js';
import { decisionMessage, startMessage } from '../domain/engine/signed-message.js';
import { planDigest } from '../domain/plan-file.js';
import type { History } from './history-json.js';
import { receivedMessages, runStart } from './history-messages.js';

export interface SignatureCheckLine {
  /** ok: holds. FAIL: a signature the run relied on does not. note: a refused message's signature. */
  verdict: 'ok' | 'FAIL' | 'note';
  what: string;
  detail: string;
}

export interface RunSignatureReport {
  /** False when the plan lists no signers: names only, nothing to verify. */
  signed: boolean;
  lines: SignatureCheckLine[];
  failed: number;
}

export async function verifyRunSignatures(a: {
  history: History;
  workflowId: string;
  /** The run's status (query or result), for the worker's verdicts; null when unavailable. */
  status: RunStatus | null;
  verifier: SignatureVerifierPort;
  /** Check against these signer lines instead of the plan's (an independently kept allowed_signers). */
  allowedSigners?: string[];
}): Promise<RunSignatureReport> {
  const lines: SignatureCheckLine[] = [];
  const add = (verdict: SignatureCheckLine['verdict'], what: string, detail: string) =>
    lines.push({ verdict, what, detail });
  const start = runStart(a.history);
  const input = start?.input;
  if (!start || !input) {
    add('FAIL', 'history', 'the history has no start event with the run input');
    return { signed: false, lines, failed: 1 };
  }
  const plan = input.plan;
  const planSigners = 'approval' in plan ? plan.approval?.allowedSigners : undefined;
  if (!requiresSignatures(planSigners)) return { signed: false, lines, failed: 0 };
  const signers = a.allowedSigners ?? planSigners ?? [];

  const actual = planDigest(plan);
  if (actual === input.planDigest)
    add('ok', 'plan digest', `${actual} is the digest of the plan in the run's input`);
  else add('FAIL', 'plan digest', `the run claims ${input.planDigest} but its plan has digest ${actual}`);

  const startWhat = `start by ${input.startedBy} (client ${start.identity})`;
  if (input.dryRun) add('note', startWhat, 'a dry run: no start signature needed');
  else if (!input.startSignature) add('FAIL', startWhat, 'not signed');
  else {
    const check = await a.verifier.verify({
      allowedSigners: signers,
      principal: input.startedBy,
      message: startMessage({
        workflowId: a.workflowId,
        planDigest: input.planDigest,
        principal: input.startedBy,
        signedAt: input.startSignature.signedAt,
      }),
      signature: input.startSignature.signature,
      at: input.startSignature.signedAt,
    });
    const recorded = a.status?.startSigner?.fingerprint;
    if (!check.verified) add('FAIL', startWhat, check.why);
    else if (recorded && recorded !== check.signer.fingerprint)
      add('FAIL', startWhat, `${check.signer.fingerprint} here, but the run recorded ${recorded}`);
    else
      add(
        'ok',
        startWhat,
        `${check.signer.keyType} key ${check.signer.fingerprint}, signed ${input.startSignature.signedAt}`,
      );
  }

  const decided = a.status?.decision ?? null;
  let decisionSeen = decided === null;
  for (const m of receivedMessages(a.history)) {
    const d = m.decision;
    if (!d || (m.action !== 'approve' && m.action !== 'reject')) continue;
    // Which message the run took: an update says so in history; a signal is matched to the decision.
    const accepted =
      m.outcome?.accepted ??
      (decided !== null &&
        decided.via === m.via &&
        decided.kind === m.action &&
        decided.operator === d.operator &&
        decided.reason === d.reason &&
        decided.digest === d.digest &&
        decided.signature === d.signature);
    if (accepted) decisionSeen = true;
    const what = `${m.action} by ${d.operator} via ${m.via} at ${m.time} (client ${m.identity}; ${accepted ? 'accepted by the run' : 'refused by the run'})`;
    if (!d.signature) {
      add(accepted ? 'FAIL' : 'note', what, 'not signed');
      continue;
    }
    const check = await a.verifier.verify({
      allowedSigners: signers,
      principal: d.operator,
      message: decisionMessage({
        action: m.action,
        workflowId: a.workflowId,
        runId: start.runId,
        decision: d,
      }),
      signature: d.signature,
      at: m.time,
    });
    if (!check.verified) add(accepted ? 'FAIL' : 'note', what, check.why);
    else if (accepted && decided?.signer && decided.signer.fingerprint !== check.signer.fingerprint)
      add(
        'FAIL',
        what,
        `${check.signer.fingerprint} here, but the run recorded ${decided.signer.fingerprint}`,
      );
    else
      add(
        accepted ? 'ok' : 'note',
        what,
        `good signature: ${check.signer.keyType} key ${check.signer.fingerprint}`,
      );
  }
  if (!decisionSeen && decided)
    add(
      'FAIL',
      `${decided.kind} by ${decided.operator}`,
      'the run recorded this decision but no message in its history carries it',
    );
  return { signed: true, lines, failed: lines.filter((l) => l.verdict === 'FAIL').length };
}
