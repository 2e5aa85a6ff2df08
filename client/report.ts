/**
 * The evidence of one run as a Markdown dossier, for every runbook: the common
 * sections (status, operator decision, compensation, RCA, steps) around the
 * runbook's own (client/runbooks.ts). Pure: status in, Markdown out (the
 * `report` command feeds it the query or result).
 */
import type { RunStatus } from '../domain/engine/run.js';
import type { ReceivedMessage, RunStart } from './history-messages.js';
import { code, duration, mdTable, plotLines, type Put } from './report-md.js';
import { timelinePlot } from './plots/timeline.js';
import { rcaFigures, type DetectedFrom } from './rca.js';
import { clientRunbook } from './runbooks.js';

/** The detection time with where it comes from when that is not the failing step's own end. */
function detected(at: string | null, from: DetectedFrom | null): string {
  if (at === null) return 'no step of the run has a time';
  if (from === 'kill-switch start')
    return `${at} (the kill-switch started; the failing step has no time of its own)`;
  if (from === 'after the last step before') return `after ${at} (the last time before the failure)`;
  return at;
}

function rca(status: RunStatus, p: (...lines: string[]) => void): void {
  const comp = status.compensation;
  const figures = rcaFigures(status);
  if (!comp || !figures) return;
  p('## RCA', '');
  p(
    ...mdTable(
      ['Field', 'Value'],
      [
        ['Failing phase', comp.trigger.phase],
        ['Failing step', figures.failingStep],
        ['Error', comp.trigger.error],
        ['Detected', detected(figures.detectedAt, figures.detectedFrom)],
        [
          'Compensation',
          `${comp.completed.join(' → ') || 'nothing completed'}${comp.remaining.length ? `; left: ${comp.remaining.join(', ')}` : ''}`,
        ],
        ['Healed', figures.healedAt ?? `not healed (${status.outcome ?? status.phase})`],
        [
          'Time to heal',
          figures.timeToHealSeconds !== null
            ? duration(figures.timeToHealSeconds * 1000)
            : `not healed (${status.outcome ?? status.phase})`,
        ],
      ],
    ),
    '',
    '### Timeline',
    '',
    ...mdTable(
      ['Started', 'Finished', 'Phase', 'Step', 'Status', 'Summary'],
      status.steps.map((s) => [s.startedAt, s.finishedAt, s.phase, s.step, s.status, s.summary]),
    ),
    '',
  );
}

/** The header's one line: a long failure is told in full under its section and the RCA. */
const HEADLINE_MAX = 400;
function clippedDetails(details: string): string {
  return details.length <= HEADLINE_MAX
    ? details
    : `${details.slice(0, HEADLINE_MAX - 1)}… (in full below: the failing phase's section and the RCA)`;
}

/** What the run's Temporal history adds to its status: who (which client) sent what. */
export interface HistoryFacts {
  start: RunStart | null;
  messages: ReceivedMessage[];
}

function messagesTable(history: HistoryFacts, p: Put): void {
  if (history.messages.length === 0) return;
  p(
    'Messages received, from the Temporal history (the client identity is what Temporal recorded for the caller; the operator is what the message claims; updates refused by their validator leave no event):',
    '',
    ...mdTable(
      ['Time', 'Message', 'Via', 'Claimed operator', 'Temporal client identity', 'Answer'],
      history.messages.map((m) => [
        m.time,
        m.action,
        m.via,
        m.claimedOperator ?? '–',
        code(m.identity),
        m.outcome
          ? m.outcome.accepted
            ? 'accepted'
            : `refused: ${m.outcome.text}`
          : m.via === 'signal'
            ? '(see above)'
            : 'pending',
      ]),
    ),
    '',
  );
}

export function renderReport(status: RunStatus, history?: HistoryFacts): string {
  const own = clientRunbook(status.runbook).document;
  if (own) return own(status);
  const out: string[] = [];
  const p = (...lines: string[]) => out.push(...lines);
  const headline = status.outcome ?? `in progress (${status.phase})`;

  p(`# Cut-over ${status.planName}: ${headline}`, '');
  p(
    ...mdTable(
      ['Field', 'Value'],
      [
        ['Workflow', code(status.workflowId)],
        ['Target', status.target],
        ['Plan digest', code(status.planDigest)],
        [
          'Started by',
          `${status.startedBy}${status.startSigner ? ` (signed, ${status.startSigner.keyType} key ${code(status.startSigner.fingerprint)})` : ''}${history?.start ? `, from Temporal client ${code(history.start.identity)}` : ''}`,
        ],
        ['Phase', status.phase],
        ['Outcome', status.outcome ?? 'not finished'],
        ['Now', clippedDetails(status.details)],
      ],
    ),
    '',
  );

  p(...plotLines(timelinePlot(status)));

  const runbook = clientRunbook(status.runbook).report(status);
  let n = 0;
  const section = (title: string, render: (p: Put) => void) => {
    n += 1;
    p(`## ${n}. ${title}`, '');
    render(p);
  };
  for (const s of runbook.before) section(s.title, s.render);
  section('Operator decision', (p) => {
    const d = status.decision;
    if (d) {
      const matches =
        d.digest === status.planDigest
          ? 'matches the plan digest'
          : `does NOT match the plan digest ${status.planDigest}`;
      p(
        `**${d.kind === 'approve' ? 'Approved' : 'Rejected'}** by **${d.operator}** (via ${d.via}): ${d.reason}`,
        '',
        `Digest quoted: ${code(d.digest)} (${matches}).`,
        '',
      );
      if (d.signer)
        p(
          `Signed by ${d.signer.principal} with ${d.signer.keyType} key ${code(d.signer.fingerprint)}, verified by the worker (ssh-keygen -Y verify against the plan's approval.allowedSigners; re-check with \`cutover report ${status.workflowId} --verify\`).`,
          '',
        );
      else if (status.startSigner || status.pendingApproval?.signaturesRequired) p('**Not signed.**', '');
    } else if (status.pendingApproval) {
      const a = status.pendingApproval;
      p(
        `Waiting for a decision from ${a.approvers.join(' or ')} until ${a.deadline} (digest ${code(a.planDigest)}).`,
        '',
      );
    } else p('_No decision recorded._', '');
    if (status.refusals.length > 0) {
      const keyed = status.refusals.some((x) => x.fingerprint);
      p(
        'Refused messages:',
        '',
        ...(keyed
          ? mdTable(
              ['Message', 'From', 'Via', 'Signing key', 'Why refused'],
              status.refusals.map((x) => [
                x.message,
                x.operator,
                x.via,
                x.fingerprint ? code(x.fingerprint) : '–',
                x.why,
              ]),
            )
          : mdTable(
              ['Message', 'From', 'Via', 'Why refused'],
              status.refusals.map((x) => [x.message, x.operator, x.via, x.why]),
            )),
        '',
      );
    }
    if (history) messagesTable(history, p);
  });
  for (const s of runbook.after) section(s.title, s.render);

  const comp = status.compensation;
  if (comp) {
    n += 1;
    p(`## ${n}. Compensation (kill-switch)`, '');
    p(
      `Triggered by ${comp.trigger.phase}: ${comp.trigger.error}`,
      '',
      `Completed: ${comp.completed.join(', ') || 'nothing yet'}. Remaining: ${comp.remaining.join(', ') || 'nothing'}.`,
    );
    if (comp.failed)
      p('', `**Failed step**: ${comp.failed.step} (attempt ${comp.failed.attempt}): ${comp.failed.error}`);
    p('');
    runbook.compensation(p);
    if (comp.operatorActions.length > 0) {
      p(
        ...mdTable(
          ['Operator action', 'By', 'Reason'],
          comp.operatorActions.map((x) => [x.action, x.operator, x.reason]),
        ),
        '',
      );
    }
  }

  rca(status, p);

  p('## Steps', '');
  p(
    ...mdTable(
      ['Phase', 'Step', 'Status', 'Summary'],
      status.steps.map((s) => [s.phase, s.step, s.status === 'failed' ? '**failed**' : s.status, s.summary]),
    ),
  );
  return `${out
    .join('\n')
    .replace(/\n{3,}/g, '\n\n')
    .trimEnd()}\n`;
}
