/** Lines every runbook's dry-run rendering shares. */
import type { CheckRow } from '../domain/engine/evidence.js';
import type { RunStatus } from '../domain/engine/run.js';
import type { ChangePreview, RenderedChange } from '../domain/evidence.js';
import type { ObjectStorageEvidence } from '../domain/lifecycle.js';
import { formatBytes, formatBytesExact, table } from './format.js';

const bytes = formatBytes;

export const gateWord = (g: { passed: boolean } | undefined | null): string =>
  !g ? '' : g.passed ? 'green' : 'RED';

export function failedSteps(status: RunStatus, phase: string): string[] {
  return status.steps
    .filter((s) => s.phase === phase && s.status === 'failed')
    .map((s) => `   [FAILED] ${s.step}: ${s.summary}`);
}

/** Any runbook's preflight rows, red ones first-class. */
export function preflightLines(
  s: RunStatus,
  pf: { checks: CheckRow[]; gate: { passed: boolean } } | null,
): string[] {
  const out = [`2. PREFLIGHT ${pf ? gateWord(pf.gate) : ''}`.trimEnd()];
  if (!pf) {
    const failed = failedSteps(s, 'PREFLIGHT');
    out.push(...(failed.length > 0 ? failed : ['   not reached']));
    return out;
  }
  const mark = (r: CheckRow) => (r.status === 'green' ? 'green' : r.status.toUpperCase());
  out.push(
    ...table(
      ['status', 'check', 'ms', 'detail'],
      pf.checks.map((r) => [mark(r), r.name, r.durationMs, r.detail]),
      '   ',
    ),
  );
  return out;
}

/** The rendered change, its lint and its diff. */
export function changeLines(
  s: RunStatus,
  ch: RenderedChange | null,
  preview: ChangePreview | null,
): string[] {
  const dest = preview ? ` -> ${preview.destination}` : '';
  const out = [`3. CHANGE${ch ? ` (lint ${ch.lint.passed ? 'clean' : 'FAILED'})${dest}` : ''}`];
  if (!ch) {
    const failed = failedSteps(s, 'RENDER');
    out.push(...(failed.length > 0 ? failed : ['   not reached']));
    return out;
  }
  for (const stage of ch.stages) {
    out.push(`   stage ${stage.label} (threshold ${formatBytesExact(stage.thresholdBytes)}):`);
    for (const [k, v] of Object.entries(stage.env)) out.push(`     ${k}=${v}`);
  }
  for (const f of ch.lint.findings)
    out.push(`   LINT: ${f.variable}: ${f.problem}${f.suggestion ? ` (use ${f.suggestion})` : ''}`);
  if (preview) {
    if (preview.diff === '') out.push('   diff: none (the destination already holds this change)');
    else {
      out.push('   diff against what is live:');
      for (const line of preview.diff.replace(/\n$/, '').split('\n')) out.push(`     ${line}`);
    }
  } else out.push(...failedSteps(s, 'RENDER'));
  return out;
}

/** One evidence section of a dry run: the phase that produced it and its lines (no blank line after). */
export interface DryRunSection {
  phase: string;
  lines: string[];
}

/** The orphan report and the lifecycle rule, under the section of the phase that made them. */
export function objectStorageLines(ev: ObjectStorageEvidence, which: 'objects' | 'lifecycle'): string[] {
  const out: string[] = [];
  const o = ev.objects;
  if (which === 'objects' && o) {
    if (o.skipped) out.push(`   objects under the prefix: not compared (${o.skipped})`);
    else
      out.push(
        `   objects under ${o.bucket}/${o.keyPrefix}: ${o.listed.objects} (${bytes(o.listed.bytes)}); referenced ${o.referenced.objects}; orphaned ${o.orphaned.objects} (${bytes(o.orphaned.bytes)}, oldest ${o.orphaned.oldest ?? '-'})${o.dangling ? `; ${o.dangling} reference(s) to missing objects` : ''}`,
      );
  }
  const l = ev.lifecycle;
  if (which === 'lifecycle' && l) {
    out.push(
      `   lifecycle rule ${l.ruleId}: expire ${l.keyPrefix} after ${l.days} days (${l.when}); ${l.before?.length ?? 0} existing rule(s) kept`,
    );
    if (l.changed) for (const line of l.diff.split('\n')) out.push(`     ${line}`);
    else out.push('     the bucket already holds it');
    for (const w of l.warnings) out.push(`   AMBER: ${w}`);
  }
  return out;
}
