/**
 * The dossier sections of evidence records every changing runbook shares (the
 * rendered change and its diff, the deploy and its rollouts, the reverts): each
 * rendered here once.
 */
import type { HealthGateEvidence } from '../domain/assessment/run.js';
import type { JudgedHealth } from '../domain/assessment/judge.js';
import type { CheckRow, GateVerdict } from '../domain/engine/evidence.js';
import type {
  ApplyRecord,
  ChangeEvidence,
  ChangePreview,
  RenderedChange,
  RevertRecord,
  RolloutEvidence,
} from '../domain/evidence.js';
import type { ObjectStorageEvidence } from '../domain/lifecycle.js';
import {
  bytes,
  code,
  count,
  duration,
  exactBytes,
  gate,
  mdTable,
  NOT_REACHED,
  span,
  yes,
  type Put,
} from './report-md.js';

export function changeSection(ch: RenderedChange | null, preview: ChangePreview | null, p: Put): void {
  if (!ch) p(NOT_REACHED, '');
  else {
    if (preview) p(`Destination: ${preview.destination}.`, '');
    for (const stage of ch.stages) {
      p(`### Stage ${stage.label} (threshold ${exactBytes(stage.thresholdBytes)})`, '');
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
    if (preview) {
      p(
        preview.diff === ''
          ? 'Diff: none (the destination already holds this change).'
          : 'Diff against what is live:',
        '',
      );
      if (preview.diff !== '') p('```diff', preview.diff.replace(/\n$/, ''), '```', '');
    }
  }
}

export function deploySection(applies: ApplyRecord[], rollouts: RolloutEvidence[], p: Put): void {
  if (applies.length === 0) p(NOT_REACHED, '');
  else {
    p(
      ...mdTable(
        ['Stage', 'Mode', 'Changed', 'Ref', 'Started', 'Finished'],
        applies.map((a) => [
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
    rollouts.forEach((ro, i) => {
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
}

export function revertTable(reverts: RevertRecord[], p: Put): void {
  if (reverts.length === 0) return;
  p(
    ...mdTable(
      ['Reverted stage', 'Ref', 'Changed', 'Restored'],
      reverts.map((x) => [
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

/** Any runbook's preflight rows. */
export function preflightSection(pf: { checks: CheckRow[]; gate: GateVerdict } | null, p: Put): void {
  if (!pf) {
    p(NOT_REACHED, '');
    return;
  }
  p(
    ...mdTable(
      ['Check', 'Status', 'Detail', 'Duration'],
      pf.checks.map((x) => [
        x.name,
        x.status === 'green' ? 'green' : `**${x.status}**`,
        x.detail,
        duration(x.durationMs),
      ]),
      ['l', 'l', 'l', 'r'],
    ),
    '',
    gate(pf.gate),
    '',
  );
}

/** The undo of a changing runbook: what each revert restored and the rollout of the old config. */
export function undoSection(ev: ChangeEvidence, p: Put): void {
  revertTable(ev.reverts, p);
  if (ev.revertRollout) p(`Rollout of the reverted config: ${gate(ev.revertRollout.gate)}`, '');
}

/** The DAG runs found since the change (`which` says under what) and how their re-runs ended. */
export function rerunSection(ev: ChangeEvidence, which: string, p: Put): void {
  if (ev.affected) p(`DAG runs ${which} since ${ev.affected.since}: ${ev.affected.runs.length}.`, '');
  if (ev.reruns && ev.reruns.runs.length > 0) {
    p(
      ...mdTable(
        ['DAG', 'Run', 'State before', 'State after re-run'],
        ev.reruns.runs.map((x) => [x.dagId, code(x.runId), x.state, x.finalState]),
      ),
      '',
    );
  }
}

/** What lies under the backend's prefix against the DB's references: the evidence a retention is chosen from. */
export function objectsSection(ev: ObjectStorageEvidence, p: Put): void {
  const o = ev.objects;
  if (!o) {
    p(NOT_REACHED, '');
    return;
  }
  if (o.skipped) {
    p(`Not compared (${span(o)}): ${o.skipped}.`, '');
    return;
  }
  p(
    `Objects under ${code(`${o.bucket}/${o.keyPrefix}`)} against the metadata DB's references (${span(o)}):`,
    '',
    ...mdTable(
      ['', 'Objects', 'Bytes', 'Oldest'],
      [
        ['listed', count(o.listed.objects), bytes(o.listed.bytes), o.listed.oldest],
        ['still referenced', count(o.referenced.objects), bytes(o.referenced.bytes), o.referenced.oldest],
        [
          'orphaned (no row references them)',
          count(o.orphaned.objects),
          bytes(o.orphaned.bytes),
          o.orphaned.oldest,
        ],
      ],
      ['l', 'r', 'r', 'l'],
    ),
    '',
  );
  if (o.dangling > 0) p(`References to objects that are gone: ${o.dangling}.`, '');
  if (o.retentionDays !== null)
    p(
      `Referenced objects older than the ${o.retentionDays}-day retention: ${o.referencedOlderThanRetention ?? '–'}.`,
      '',
    );
}

/** The retention rule: the bucket's configuration before and after, what to weigh, and what was done. */
export function lifecycleSection(ev: ObjectStorageEvidence, p: Put): void {
  const l = ev.lifecycle;
  if (!l) {
    p('No lifecycle rule in the plan (`spec.lifecycle`).', '');
    return;
  }
  p(
    `Rule ${code(l.ruleId)}: expire ${code(`${l.bucket}/${l.keyPrefix}`)} after ${l.days} days, put ${l.when === 'before-flip' ? 'before the flip' : 'once VERIFY holds'}. The bucket's configuration ${l.before === null ? 'was empty' : `held ${l.before.length} rule(s), kept as they were`}.`,
    '',
  );
  if (l.changed) p('Lifecycle configuration diff:', '', '```diff', l.diff, '```', '');
  else p('The bucket already held this configuration.', '');
  for (const w of l.warnings) p(`- **amber**: ${w}`);
  if (l.warnings.length > 0) p('');
  const a = ev.lifecycleApplied;
  if (a) p(`Applied (${span(a)}): ${a.detail}.`, '');
  const r = ev.lifecycleReverted;
  if (r) p(`Reverted (${span(r)}): ${r.outcome}: ${r.detail}.`, '');
}

/** The health gate: the deployment before the change, after it, after the kill-switch (each a row). */
export function healthSection(ev: HealthGateEvidence, p: Put): void {
  const h = ev.health;
  if (!h?.before) {
    p('_Not read: the run was recorded before the health gate existed, or stopped before PREFLIGHT._', '');
    return;
  }
  const readings: [string, JudgedHealth | null][] = [
    ['before the change (PREFLIGHT)', h.before],
    ['after the change rolled out', h.afterChange],
    ['after the kill-switch', h.afterRollback],
  ];
  p(
    ...mdTable(
      ['When', 'Verdict', 'Row', 'Status', 'Detail'],
      readings
        .filter((r): r is [string, JudgedHealth] => r[1] !== null)
        .map(([when, a]) => [when, a.verdict, a.row.name, a.row.status, a.row.detail]),
    ),
    '',
  );
  if (h.before.findings.length > 0)
    p(
      'Findings before the change:',
      '',
      ...h.before.findings.map((f) => `- **${f.severity}** (${f.component}): ${f.title}`),
      '',
    );
}
