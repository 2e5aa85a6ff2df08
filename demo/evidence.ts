/**
 * What the demo prints about the real run: the evidence sections as they arrive (the CLI's own
 * dry-run sections, client/runbooks.ts), the approval request, and at the end the outcome, the
 * validation run and, for a run that was rolled back, the story of the compensation. Every line is
 * built from the runbook's typed evidence (demo/runbooks.ts), never parsed back out of text.
 */
import { formatBytes } from '../domain/figures.js';
import { rcaFigures } from '../client/rca.js';
import { clientRunbook } from '../client/runbooks.js';
import type { RunStatus } from '../domain/engine/run.js';
import type { RevertRecord } from '../domain/evidence.js';
import type { UpgradeEvidence, UpgradeStatus } from '../domain/upgrade/run.js';
import { DEMO_APPROVER } from './options.js';
import { seconds } from './output.js';
import { typedEvidence, type TypedEvidence } from './runbooks.js';
import { upgradeCompensationLines } from './upgrade-lines.js';

type FlipEvidence = Exclude<TypedEvidence, { runbook: 'upgrade' }>['evidence'];

interface SectionRule {
  phase: string;
  ready(te: TypedEvidence, status: RunStatus): boolean;
}

const flip = (te: TypedEvidence): FlipEvidence | null => (te.runbook === 'upgrade' ? null : te.evidence);
const upgrade = (te: TypedEvidence): UpgradeEvidence | null =>
  te.runbook === 'upgrade' ? te.evidence : null;

/** The evidence sections by the phase that produces them, and when each is complete enough to print. */
const SECTIONS: Record<TypedEvidence['runbook'], SectionRule[]> = {
  xcom: flipSections(),
  'state-store': flipSections(),
  // The upgrade's dry-run sections (client/upgrade/dry-run.ts): the health, the preflight with
  // the SQL, the rehearsal.
  upgrade: [
    { phase: 'ASSESS', ready: (te) => (upgrade(te)?.health?.before ?? null) !== null },
    { phase: 'PREFLIGHT', ready: (te) => (upgrade(te)?.preflight ?? null) !== null },
    { phase: 'REHEARSE', ready: (te) => (upgrade(te)?.rehearsal ?? null) !== null },
  ],
};

function flipSections(): SectionRule[] {
  return [
    { phase: 'CALIBRATE', ready: (te) => (flip(te)?.calibration ?? null) !== null },
    { phase: 'PREFLIGHT', ready: (te) => (flip(te)?.preflight ?? null) !== null },
    // The change section shows the diff too: wait for the preview, or for the phase after RENDER.
    {
      phase: 'RENDER',
      ready: (te, s) => {
        const ev = flip(te);
        return ev !== null && ev.change !== null && (ev.preview !== null || s.phase !== 'RENDER');
      },
    },
    { phase: 'REHEARSE', ready: (te) => (flip(te)?.rehearsal ?? null) !== null },
  ];
}

/** The runbook's dry-run sections (`cutover plan`'s rendering) for the status so far, by phase. */
function sections(status: RunStatus): Map<string, string[]> {
  // Only the evidence sections are used: the outcome fields feed `cutover plan`'s header and footer.
  const rendered = clientRunbook(status.runbook).dryRun({
    outcome: status.outcome ?? 'STOPPED',
    reason: '',
    productionChanged: false,
    status,
  });
  return new Map(rendered.map((section) => [section.phase, section.lines]));
}

/** Prints each evidence section once, as soon as its evidence is in the status. */
export class EvidencePrinter {
  private readonly printed = new Set<string>();

  constructor(private readonly write: (line: string) => void) {}

  /** A section whose evidence never came (the run stopped before it) is never printed: the outcome tells why. */
  update(status: RunStatus): void {
    const te = typedEvidence(status);
    const ready = SECTIONS[te.runbook].filter((s) => !this.printed.has(s.phase) && s.ready(te, status));
    if (ready.length === 0) return;
    const all = sections(status);
    this.write('');
    for (const { phase } of ready) {
      this.printed.add(phase);
      for (const line of all.get(phase) ?? []) this.write(line === '' ? '' : `  ${line}`);
      this.write('');
    }
  }
}

/** The approval request as the approver reads it, and how to answer from another terminal. */
export function approvalLines(status: RunStatus, approveCommand: string): string[] {
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

const clockOf = (iso: string | null): string => (iso ? iso.slice(11, 19) : '?');
const gateText = (g: { passed: boolean; reasons: string[] }): string =>
  g.passed ? 'green' : `RED (${g.reasons.join('; ')})`;

/** The flips' validation run(s), from the runbook's own record: state, what went to object storage. */
export function validationLines(status: RunStatus, where: string): string[] {
  const te = typedEvidence(status);
  // The upgrade's runs are told with its other figures (upgradeOutcomeLines).
  if (te.runbook === 'upgrade') return [];
  if (te.runbook === 'state-store')
    return te.evidence.validations.map((v) => {
      const tasks = Object.entries(v.taskStates)
        .map(([task, state]) => `${task} ${state}`)
        .join(', ');
      return `  validation run: ${v.dagId}/${v.runId} ${v.state}; tasks: ${tasks || 'none reported'}; ${v.objectCount} state object(s) in ${where}; gate ${gateText(v.gate)}`;
    });
  return te.evidence.validations.map(
    (v) =>
      `  validation run: ${v.dagId}/${v.runId} ${v.state}; ${v.offloadedCount} offloaded value(s), ${v.inlineCount} inline, largest ${formatBytes(v.largestXComBytes)}; ${v.objectCount} object(s) in ${where}; ${v.xcomErrors} XCom error(s); gate ${gateText(v.gate)}`,
  );
}

/** The runbook's own heal: the XCom flip re-runs what read offloaded values; the state store rewrites its rows. */
function healLines(te: Exclude<TypedEvidence, { runbook: 'upgrade' }>): string[] {
  if (te.runbook === 'state-store') {
    const h = te.evidence.heal;
    if (!h) return [];
    return [
      `    healed: ${h.gate.passed ? 'yes' : 'NO'} (${h.rewritten} state row(s) written since ${h.since} rewritten to plain values: ${h.inlineRefs} inline, ${h.objectRefs} read back from objects; ${h.markerRowsRemaining} marker row(s) left)`,
      ...h.unreadable.map(
        (u) =>
          `      unreadable: ${u.store} ${u.where} key ${u.key}${u.path ? ` (${u.path})` : ''}: ${u.reason}`,
      ),
    ];
  }
  const h = te.evidence.heal;
  if (!h) return [];
  return [
    `    healed: ${h.gate.passed ? 'yes' : 'NO'}${h.runs.length > 0 ? ` (${h.runs.map((r) => `${r.runId}: ${r.readsData ? 'reads data' : r.detail}`).join('; ')})` : ''}`,
  ];
}

/** What "production changed" means for the runbook: the change that stays in place. */
export function changeInPlace(status: RunStatus): string {
  const te = typedEvidence(status);
  if (te.runbook === 'upgrade') return `Airflow ${te.evidence.preflight?.to ?? 'the new release'} runs`;
  return 'the flip is live';
}

/** The env file's reverts: every runbook that changed it undoes its change first. */
function revertLines(reverts: RevertRecord[]): string[] {
  return reverts.map((r) => {
    const restored = Object.entries(r.restoredEnv)
      .map(([k, v]) => `${k}${v === null ? ' absent' : `=${v}`}`)
      .join(', ');
    return `    revert ${r.stage}: ${r.changed ? 'env file restored' : 'nothing to revert'} (${restored})`;
  });
}

/** A flip's kill-switch after the revert: the restart, the affected runs, the runbook's own heal. */
function flipCompensationLines(te: Exclude<TypedEvidence, { runbook: 'upgrade' }>): string[] {
  const ev = te.evidence;
  const lines: string[] = [];
  const rollout = ev.revertRollout;
  if (rollout)
    lines.push(
      `    restart: ${rollout.components.filter((c) => c.ready).length}/${rollout.components.length} components back on the old config (${rollout.components.map((c) => c.name).join(', ')})`,
    );
  // In the order each runbook heals: the state store rewrites its rows before re-running DAG runs.
  if (te.runbook === 'state-store') lines.push(...healLines(te));
  if (ev.affected)
    lines.push(
      `    affected DAG runs since ${ev.affected.since}: ${ev.affected.runs.length === 0 ? 'none' : ev.affected.runs.map((r) => `${r.dagId}/${r.runId} (${r.state})`).join(', ')}`,
    );
  if (ev.reruns)
    lines.push(
      `    re-runs: ${ev.reruns.runs.length === 0 ? 'none needed' : ev.reruns.runs.map((r) => `${r.dagId}/${r.runId} ${r.finalState}`).join(', ')}`,
    );
  if (te.runbook === 'xcom') lines.push(...healLines(te));
  return lines;
}

/**
 * What failed, what the compensation did, and the time from detection to healed: the dossier's RCA
 * figures (client/report.ts), so that the demo and the dossier it writes tell the same time.
 */
export function compensationLines(status: RunStatus): { lines: string[]; healMs: number | null } {
  const comp = status.compensation;
  if (!comp) return { lines: [], healMs: null };
  const te = typedEvidence(status);
  const lines: string[] = ['What happened'];
  // The gate's reason lists every component's findings in one sentence: grouped, one per line.
  const byError = new Map<string, string[]>();
  for (const v of flip(te)?.verifications ?? [])
    for (const c of v.components)
      if (c.error) byError.set(c.error, [...(byError.get(c.error) ?? []), c.component]);
  if (comp.trigger.phase === 'VERIFY' && byError.size > 0) {
    lines.push('  failed: VERIFY (the config as each running component resolves it)');
    for (const [error, components] of byError) {
      lines.push(`    ${components.join(', ')}:`);
      for (const finding of error.split('; ')) lines.push(`      ${finding}`);
    }
  } else
    lines.push(
      // An error quoting SQL or a traceback spans lines: its continuation stays under it.
      `  failed: ${comp.trigger.phase}: ${comp.trigger.error.trimEnd().replace(/\n/g, '\n    ')}`,
    );
  lines.push('  compensation (the kill-switch, run by the workflow itself):');
  lines.push(...revertLines(te.evidence.reverts));
  lines.push(
    ...(te.runbook === 'upgrade'
      ? upgradeCompensationLines(status as UpgradeStatus)
      : flipCompensationLines(te)),
  );
  if (comp.remaining.length > 0) lines.push(`    NOT done: ${comp.remaining.join(', ')}`);

  const rca = rcaFigures(status);
  const healMs =
    rca?.detectedAt && rca.healedAt ? Date.parse(rca.healedAt) - Date.parse(rca.detectedAt) : null;
  if (healMs !== null && rca)
    lines.push(
      `  time from detection to healed: ${seconds(healMs)} (${rca.failingStep ?? comp.trigger.phase} failed at ${clockOf(rca.detectedAt)} UTC, healed at ${clockOf(rca.healedAt)} UTC)`,
    );
  return { lines, healMs };
}
