/**
 * What the demo prints about the real run: the evidence sections as they arrive (the same
 * rendering as `cutover plan`), the approval request, and at the end the outcome, the validation
 * run and, for a run that was rolled back, the story of the compensation.
 */
import { renderPlanEvidence } from '../client/commands/plan.js';
import type { CutoverStatus, StepRecord } from '../domain/cutover.js';
import { DEMO_APPROVER } from './options.js';
import { seconds } from './output.js';

const SECTIONS = [
  { header: /^1\. CALIBRATE/, ready: (s: CutoverStatus) => s.evidence.calibration !== null },
  { header: /^2\. PREFLIGHT/, ready: (s: CutoverStatus) => s.evidence.preflight !== null },
  // The change section shows the diff too: wait for the preview, or for the phase after RENDER.
  {
    header: /^3\. CHANGE/,
    ready: (s: CutoverStatus) =>
      s.evidence.change !== null && (s.evidence.preview !== null || s.phase !== 'RENDER'),
  },
  { header: /^4\. REHEARSAL/, ready: (s: CutoverStatus) => s.evidence.rehearsal !== null },
] as const;

/** The sections of `cutover plan`'s rendering, cut out of it by their numbered headers. */
function sections(status: CutoverStatus): string[][] {
  // Only the evidence sections are used: the outcome fields feed the header and footer, left out.
  const lines = renderPlanEvidence({
    outcome: status.outcome ?? 'STOPPED',
    reason: '',
    productionChanged: false,
    status,
  });
  return SECTIONS.map(({ header }) => {
    const start = lines.findIndex((l) => header.test(l));
    if (start < 0) return [];
    const end = lines.indexOf('', start);
    return lines.slice(start, end < 0 ? undefined : end);
  });
}

/** Prints each evidence section once, as soon as its evidence is in the status. */
export class EvidencePrinter {
  private readonly printed = new Set<number>();

  constructor(private readonly write: (line: string) => void) {}

  update(status: CutoverStatus, final = false): void {
    const ready = SECTIONS.map((s, i) => !this.printed.has(i) && s.ready(status));
    if (!ready.includes(true)) return;
    const all = sections(status);
    let blank = false;
    ready.forEach((r, i) => {
      // At the end, a section that never got evidence is left out: the outcome tells why.
      if (!r || (final && !SECTIONS[i]?.ready(status))) return;
      this.printed.add(i);
      if (!blank) this.write('');
      for (const line of all[i] ?? []) this.write(`  ${line}`);
      this.write('');
      blank = true;
    });
  }
}

/** The approval request as the approver reads it, and how to answer from another terminal. */
export function approvalLines(status: CutoverStatus, approveCommand: string): string[] {
  const a = status.pendingApproval;
  if (!a) return [];
  return [
    `AWAIT_GO: the run waits for a go from ${a.approvers.join(' or ')} (started by ${a.startedBy}: ${a.allowSelfApproval ? 'self-approval allowed' : 'who may not approve it'})`,
    `  plan digest: ${a.planDigest}`,
    `  deadline:    ${a.deadline}`,
    '  review:',
    ...a.review.map((line) => `    - ${line}`),
    `  to approve from another terminal (as "${DEMO_APPROVER}", one of the plan's approvers):`,
    `    ${approveCommand}`,
  ];
}

const at = (iso: string | undefined): number => (iso ? Date.parse(iso) : Number.NaN);
const clockOf = (iso: string | undefined): string => (iso ? iso.slice(11, 19) : '?');

/** The validation run(s): state, offloaded values, objects in the bucket. */
export function validationLines(status: CutoverStatus, where: string): string[] {
  return status.evidence.validations.map(
    (v) =>
      `  validation run: ${v.dagId}/${v.runId} ${v.state}; ${v.offloadedCount} offloaded value(s), ${v.inlineCount} inline, largest ${v.largestXComBytes.toLocaleString('en-US')} B; ${v.objectCount} object(s) in ${where}; ${v.xcomErrors} XCom error(s); gate ${v.gate.passed ? 'green' : `RED (${v.gate.reasons.join('; ')})`}`,
  );
}

function lastFinished(steps: StepRecord[]): StepRecord | undefined {
  return steps
    .filter((s) => s.finishedAt)
    .sort((a, b) => at(a.finishedAt) - at(b.finishedAt))
    .at(-1);
}

/**
 * What failed, what the compensation did, and the time from detection (the failed gate's step
 * finished) to healed (the compensation's last step finished).
 */
export function compensationLines(status: CutoverStatus): { lines: string[]; healMs: number | null } {
  const comp = status.compensation;
  if (!comp) return { lines: [], healMs: null };
  const lines: string[] = ['What happened'];
  // The gate's reason lists every component's findings in one sentence: grouped, one per line.
  const byError = new Map<string, string[]>();
  for (const v of status.evidence.verifications)
    for (const c of v.components)
      if (c.error) byError.set(c.error, [...(byError.get(c.error) ?? []), c.component]);
  if (comp.trigger.phase === 'VERIFY' && byError.size > 0) {
    lines.push('  failed: VERIFY (the config as each running component resolves it)');
    for (const [error, components] of byError) {
      lines.push(`    ${components.join(', ')}:`);
      for (const finding of error.split('; ')) lines.push(`      ${finding}`);
    }
  } else lines.push(`  failed: ${comp.trigger.phase}: ${comp.trigger.error}`);
  lines.push('  compensation (the kill-switch, run by the workflow itself):');
  for (const r of status.evidence.reverts) {
    const restored = Object.entries(r.restoredEnv)
      .map(([k, v]) => `${k}${v === null ? ' absent' : `=${v}`}`)
      .join(', ');
    lines.push(
      `    revert ${r.stage}: ${r.changed ? 'env file restored' : 'nothing to revert'} (${restored})`,
    );
  }
  if (status.evidence.revertRollout)
    lines.push(
      `    restart: ${status.evidence.revertRollout.components.filter((c) => c.ready).length}/${status.evidence.revertRollout.components.length} components back on the old config (${status.evidence.revertRollout.components.map((c) => c.name).join(', ')})`,
    );
  if (status.evidence.affected)
    lines.push(
      `    affected DAG runs since ${status.evidence.affected.since}: ${status.evidence.affected.runs.length === 0 ? 'none' : status.evidence.affected.runs.map((r) => `${r.dagId}/${r.runId} (${r.state})`).join(', ')}`,
    );
  if (status.evidence.reruns)
    lines.push(
      `    re-runs: ${status.evidence.reruns.runs.length === 0 ? 'none needed' : status.evidence.reruns.runs.map((r) => `${r.dagId}/${r.runId} ${r.finalState}`).join(', ')}`,
    );
  if (status.evidence.heal)
    lines.push(
      `    healed: ${status.evidence.heal.gate.passed ? 'yes' : 'NO'}${status.evidence.heal.runs.length > 0 ? ` (${status.evidence.heal.runs.map((r) => `${r.runId}: ${r.readsData ? 'reads data' : r.detail}`).join('; ')})` : ''}`,
    );
  if (comp.remaining.length > 0) lines.push(`    NOT done: ${comp.remaining.join(', ')}`);

  const detected = status.steps
    .filter((s) => s.phase === comp.trigger.phase && s.finishedAt)
    .sort((a, b) => at(a.finishedAt) - at(b.finishedAt))
    .at(-1);
  const healed =
    comp.remaining.length === 0
      ? lastFinished(status.steps.filter((s) => s.phase === 'COMPENSATE'))
      : undefined;
  const healMs = detected && healed ? at(healed.finishedAt) - at(detected.finishedAt) : null;
  if (healMs !== null && detected && healed)
    lines.push(
      `  time from detection to healed: ${seconds(healMs)} (${comp.trigger.phase} failed at ${clockOf(detected.finishedAt)} UTC, ${healed.step} finished at ${clockOf(healed.finishedAt)} UTC)`,
    );
  return { lines, healMs };
}
