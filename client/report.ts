/**
 * The evidence of one cut-over as a Markdown dossier: what was measured, what
 * was checked, what changed, who said go, and what the deploy proved. Pure:
 * status in, Markdown out (the `report` command feeds it the query or result).
 */
import type { CutoverStatus } from '../domain/cutover.js';
import type { GateVerdict } from '../domain/evidence.js';

function cell(value: unknown): string {
  if (value === null || value === undefined || value === '') return '–';
  return String(value)
    .replace(/\|/g, '\\|')
    .replace(/\s*\n\s*/g, ' ');
}

function mdTable(headers: string[], rows: unknown[][], align: ('l' | 'r')[] = []): string[] {
  return [
    `| ${headers.map(cell).join(' | ')} |`,
    `|${headers.map((_, i) => (align[i] === 'r' ? '---:' : '---')).join('|')}|`,
    ...rows.map((r) => `| ${r.map(cell).join(' | ')} |`),
  ];
}

const bytes = (n: number | null | undefined): string => (n === null || n === undefined ? '–' : `${n} B`);
const yes = (b: boolean): string => (b ? 'yes' : '**NO**');
const code = (s: string): string => `\`${s.replace(/`/g, "'")}\``;

function gate(g: GateVerdict | undefined): string {
  if (!g) return '';
  return g.passed ? 'Gate: **green**.' : `Gate: **RED**: ${g.reasons.join('; ') || 'no reason given'}.`;
}

function span(t: { startedAt?: string; finishedAt?: string }): string {
  return t.startedAt ? `${t.startedAt} → ${t.finishedAt ?? '…'}` : '';
}

const NOT_REACHED = '_Not reached._';

const seconds = (from?: string, to?: string): number | null =>
  from && to ? Math.round((Date.parse(to) - Date.parse(from)) / 100) / 10 : null;

/**
 * Root-cause analysis for a run that failed after APPLY: what failed, when, what the kill-switch
 * did, and the time from detection (the failing step's end) to healed (the last compensation
 * step's end). Worker timestamps only: the same figures the evidence holds.
 */
export function rcaFigures(status: CutoverStatus): {
  failingStep: string | null;
  detectedAt: string | null;
  healedAt: string | null;
  timeToHealSeconds: number | null;
} | null {
  const comp = status.compensation;
  if (!comp) return null;
  const steps = status.steps;
  const first = steps.findIndex((s) => s.phase === 'COMPENSATE' || s.phase === 'NEEDS_OPERATOR');
  const before = first > 0 ? steps.slice(0, first) : steps;
  const failing = [...before].reverse().find((s) => s.status === 'failed') ?? before[before.length - 1];
  const detectedAt = failing?.finishedAt ?? null;
  const compensating = first >= 0 ? steps.slice(first).filter((s) => s.finishedAt) : [];
  const healed = status.outcome === 'ROLLED_BACK' ? compensating[compensating.length - 1] : undefined;
  const healedAt = healed?.finishedAt ?? null;
  return {
    failingStep: failing ? `${failing.phase} / ${failing.step}` : null,
    detectedAt,
    healedAt,
    timeToHealSeconds: seconds(detectedAt ?? undefined, healedAt ?? undefined),
  };
}

function rca(status: CutoverStatus, p: (...lines: string[]) => void): void {
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
        ['Detected', figures.detectedAt],
        [
          'Compensation',
          `${comp.completed.join(' → ') || 'nothing completed'}${comp.remaining.length ? `; left: ${comp.remaining.join(', ')}` : ''}`,
        ],
        ['Healed', figures.healedAt ?? `not healed (${status.outcome ?? status.phase})`],
        ['Time to heal', figures.timeToHealSeconds === null ? '–' : `${figures.timeToHealSeconds} s`],
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

export function renderReport(status: CutoverStatus): string {
  const ev = status.evidence;
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
        ['Started by', status.startedBy],
        ['Phase', status.phase],
        ['Outcome', status.outcome ?? 'not finished'],
        ['Now', status.details],
      ],
    ),
    '',
  );

  p('## 1. Calibration', '');
  const c = ev.calibration;
  if (!c) p(NOT_REACHED, '');
  else {
    p(
      `Measured from ${c.source === 'in-pod' ? 'inside the scheduler pod' : 'the metadata DB'}, ${span(c)}.`,
      '',
    );
    p(
      ...mdTable(
        ['XCom rows', 'p50', 'p95', 'p99', 'p99.9', 'max'],
        [
          [
            c.rowCount,
            bytes(c.sizeBytes.p50),
            bytes(c.sizeBytes.p95),
            bytes(c.sizeBytes.p99),
            bytes(c.sizeBytes.p999),
            bytes(c.sizeBytes.max),
          ],
        ],
        ['r', 'r', 'r', 'r', 'r', 'r'],
      ),
      '',
      ...mdTable(
        ['Rows above 48 KB', 'above 100 KB', 'above 1 MB'],
        [[c.rowsAbove['48KB'], c.rowsAbove['100KB'], c.rowsAbove['1MB']]],
        ['r', 'r', 'r'],
      ),
      '',
      `Proposed threshold: **${bytes(c.proposal.thresholdBytes)}** (${c.proposal.strategy}: ${c.proposal.rationale}).`,
      `Historical rows that would offload at this threshold: **${c.projectedOffloadRows}** (the plan allows ${c.maxOffloadRows}).`,
    );
    if (c.ramp)
      p(
        `Ramp: starts at ${bytes(c.ramp.startBytes)}, where ${c.ramp.projectedOffloadRows} historical rows would offload.`,
      );
    if (c.topProducers.length > 0) {
      p(
        '',
        'Largest producers:',
        '',
        ...mdTable(
          ['DAG', 'Task', 'Rows', 'Largest value'],
          c.topProducers.map((t) => [t.dagId, t.taskId, t.rows, bytes(t.maxBytes)]),
          ['l', 'l', 'r', 'r'],
        ),
      );
    }
    p('', gate(c.gate), '');
  }

  p('## 2. Preflight', '');
  const pf = ev.preflight;
  if (!pf) p(NOT_REACHED, '');
  else {
    p(
      ...mdTable(
        ['Check', 'Status', 'Detail', 'Duration'],
        pf.checks.map((x) => [
          x.name,
          x.status === 'green' ? 'green' : `**${x.status}**`,
          x.detail,
          `${x.durationMs} ms`,
        ]),
        ['l', 'l', 'l', 'r'],
      ),
      '',
      gate(pf.gate),
      '',
    );
  }

  p('## 3. The change', '');
  const ch = ev.change;
  if (!ch) p(NOT_REACHED, '');
  else {
    if (ev.preview) p(`Destination: ${ev.preview.destination}.`, '');
    for (const stage of ch.stages) {
      p(`### Stage ${stage.label} (threshold ${bytes(stage.thresholdBytes)})`, '');
      p(
        ...mdTable(
          ['Variable', 'Value'],
          Object.entries(stage.env).map(([k, v]) => [code(k), v === '' ? '(empty)' : code(v)]),
        ),
        '',
      );
    }
    if (ch.lint.passed) p('Encoding lint: clean.', '');
    else {
      p(
        'Encoding lint: **FAILED**.',
        '',
        ...mdTable(
          ['Variable', 'Problem', 'Suggestion'],
          ch.lint.findings.map((f) => [f.variable, f.problem, f.suggestion]),
        ),
        '',
      );
    }
    if (ev.preview) {
      p(
        ev.preview.diff === ''
          ? 'Diff: none (the destination already holds this change).'
          : 'Diff against what is live:',
        '',
      );
      if (ev.preview.diff !== '') p('```diff', ev.preview.diff.replace(/\n$/, ''), '```', '');
    }
  }

  p('## 4. Kill-switch rehearsal', '');
  const r = ev.rehearsal;
  if (!r) p(NOT_REACHED, '');
  else {
    const verdict = r.gate.passed ? 'PASSED' : 'FAILED';
    p(`Verdict: **${verdict}** (${span(r)}).`, '');
    p(
      ...mdTable(
        [
          'Sentinel',
          'Object',
          'Offloaded',
          'Revert breaks reads',
          'Round trip intact',
          'Re-run heals',
          'Sentinel cleaned',
        ],
        [
          [
            bytes(r.valueBytes),
            code(r.objectPath),
            yes(r.offloaded),
            yes(r.breakConfirmed),
            yes(r.roundTripIntact),
            yes(r.healConfirmed),
            yes(r.sentinelCleaned),
          ],
        ],
      ),
    );
    const timings = Object.entries(r.timingsMs);
    if (timings.length > 0) p('', `Timings: ${timings.map(([k, v]) => `${k} ${v} ms`).join(', ')}.`);
    p('', gate(r.gate), '');
  }

  p('## 5. Operator decision', '');
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
  } else if (status.pendingApproval) {
    const a = status.pendingApproval;
    p(
      `Waiting for a decision from ${a.approvers.join(' or ')} until ${a.deadline} (digest ${code(a.planDigest)}).`,
      '',
    );
  } else p('_No decision recorded._', '');
  if (status.refusals.length > 0) {
    p(
      'Refused messages:',
      '',
      ...mdTable(
        ['Message', 'From', 'Via', 'Why refused'],
        status.refusals.map((x) => [x.message, x.operator, x.via, x.why]),
      ),
      '',
    );
  }

  p('## 6. Deploy', '');
  if (ev.applies.length === 0) p(NOT_REACHED, '');
  else {
    p(
      ...mdTable(
        ['Stage', 'Mode', 'Changed', 'Ref', 'Started', 'Finished'],
        ev.applies.map((a) => [
          a.stage,
          a.mode,
          a.changed ? 'yes' : 'no (already live)',
          code(a.ref),
          a.startedAt,
          a.finishedAt,
        ]),
      ),
      '',
    );
    ev.rollouts.forEach((ro, i) => {
      p(
        `Rollout ${i + 1} (${span(ro)}):`,
        '',
        ...mdTable(
          ['Component', 'Ready', 'Detail'],
          ro.components.map((x) => [x.name, yes(x.ready), x.detail]),
        ),
        '',
        gate(ro.gate),
        '',
      );
    });
  }

  p('## 7. Verification per component', '');
  if (ev.verifications.length === 0) p(NOT_REACHED, '');
  ev.verifications.forEach((v, i) => {
    if (ev.verifications.length > 1) p(`Verification ${i + 1}:`, '');
    p(
      ...mdTable(
        ['Component', 'Pod', 'XCom class', 'Path', 'Threshold', 'Compression', 'Error'],
        v.components.map((x) => [
          x.component,
          x.pod,
          x.xcomClass,
          x.path,
          bytes(x.threshold),
          x.compression === '' ? '(none)' : x.compression,
          x.error,
        ]),
      ),
      '',
      gate(v.gate),
      '',
    );
  });

  p('## 8. Validation run', '');
  if (ev.validations.length === 0) p(NOT_REACHED, '');
  for (const v of ev.validations) {
    p(
      ...mdTable(
        ['DAG', 'Run', 'State', 'XCom errors', 'Inline', 'Offloaded', 'Largest XCom', 'Objects'],
        [
          [
            v.dagId,
            code(v.runId),
            v.state,
            v.xcomErrors,
            v.inlineCount,
            v.offloadedCount,
            bytes(v.largestXComBytes),
            v.objectCount,
          ],
        ],
      ),
      '',
      `Tasks: ${
        Object.entries(v.taskStates)
          .map(([t, s]) => `${t} ${s}`)
          .join(', ') || 'none reported'
      }.`,
      '',
      gate(v.gate),
      '',
    );
  }

  const comp = status.compensation;
  if (comp) {
    p('## 9. Compensation (kill-switch)', '');
    p(
      `Triggered by ${comp.trigger.phase}: ${comp.trigger.error}`,
      '',
      `Completed: ${comp.completed.join(', ') || 'nothing yet'}. Remaining: ${comp.remaining.join(', ') || 'nothing'}.`,
    );
    if (comp.failed)
      p('', `**Failed step**: ${comp.failed.step} (attempt ${comp.failed.attempt}): ${comp.failed.error}`);
    p('');
    if (ev.reverts.length > 0) {
      p(
        ...mdTable(
          ['Reverted stage', 'Ref', 'Changed', 'Restored'],
          ev.reverts.map((x) => [
            x.stage,
            code(x.ref),
            x.changed ? 'yes' : 'no',
            Object.entries(x.restoredEnv)
              .map(([k, v]) => `${k}=${v === null ? '(absent)' : v}`)
              .join(', '),
          ]),
        ),
        '',
      );
    }
    if (ev.revertRollout) p(`Rollout of the reverted config: ${gate(ev.revertRollout.gate)}`, '');
    if (ev.affected) {
      p(`DAG runs under the new backend since ${ev.affected.since}: ${ev.affected.runs.length}.`, '');
    }
    if (ev.reruns && ev.reruns.runs.length > 0) {
      p(
        ...mdTable(
          ['DAG', 'Run', 'State before', 'State after re-run'],
          ev.reruns.runs.map((x) => [x.dagId, code(x.runId), x.state, x.finalState]),
        ),
        '',
      );
    }
    if (ev.heal) {
      p(
        ...mdTable(
          ['DAG', 'Run', 'Reads data', 'Detail'],
          ev.heal.runs.map((x) => [x.dagId, code(x.runId), yes(x.readsData), x.detail]),
        ),
        '',
        gate(ev.heal.gate),
        '',
      );
    }
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
