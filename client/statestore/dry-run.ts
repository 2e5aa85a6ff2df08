/** The state-store flip's dry-run evidence for a terminal. */
import type { RunResult } from '../../domain/engine/run.js';
import type { StateStoreResult } from '../../domain/statestore/run.js';
import { changeLines, failedSteps, gateWord, objectStorageLines, preflightLines } from '../dry-run-lines.js';
import { formatBytes, formatBytesExact, formatCount, keyValues, table } from '../format.js';
import type { DryRunSection } from '../dry-run-lines.js';

const bytes = formatBytes;
const yesNo = (b: boolean): string => (b ? 'yes' : 'NO');

export function stateStoreDryRun(r0: RunResult): DryRunSection[] {
  const result = r0 as StateStoreResult;
  const s = result.status;
  const ev = s.evidence;
  const sections: DryRunSection[] = [];
  let out: string[] = [];
  const close = (phase: string) => {
    sections.push({ phase, lines: out });
    out = [];
  };
  const notReached = (phase: string) => {
    const failed = failedSteps(s, phase);
    out.push(...(failed.length > 0 ? failed : ['   not reached']));
  };

  const c = ev.calibration;
  out.push(`1. CALIBRATE ${c ? gateWord(c.gate) : ''}`.trimEnd());
  if (!c) notReached('CALIBRATE');
  else {
    out.push(
      ...table(
        ['store', 'rows', 'wrapped', 'p50', 'p99', 'p99.9', 'max'],
        (['task', 'asset'] as const).map((k) => [
          k,
          formatCount(c[k].rowCount),
          c[k].wrapped.rows,
          bytes(c[k].sizeBytes.p50),
          bytes(c[k].sizeBytes.p99),
          bytes(c[k].sizeBytes.p999),
          bytes(c[k].sizeBytes.max),
        ]),
        '   ',
      ),
      `   threshold ${formatBytesExact(c.proposal.thresholdBytes)} (${c.proposal.rationale}); ${formatCount(c.projectedOffloadRows)} existing rows at or above it (allowed ${formatCount(c.maxOffloadRows)})`,
    );
    for (const reason of c.gate.reasons) out.push(`   RED: ${reason}`);
  }
  out.push(...objectStorageLines(ev, 'objects'));
  close('CALIBRATE');
  sections.push({ phase: 'PREFLIGHT', lines: preflightLines(s, ev.preflight) });
  sections.push({
    phase: 'RENDER',
    lines: [...changeLines(s, ev.change, ev.preview), ...objectStorageLines(ev, 'lifecycle')],
  });

  const r = ev.rehearsal;
  out.push(`4. REHEARSAL ${r ? gateWord(r.gate) : ''}`.trimEnd());
  if (!r) {
    const skipped = result.outcome === 'PLANNED' && !s.steps.some((x) => x.phase === 'REHEARSE');
    if (skipped) out.push('   skipped (--no-rehearsal)');
    else notReached('REHEARSE');
  } else {
    out.push(
      ...keyValues(
        [
          ['in component', r.component],
          ['values', `${bytes(r.valueBytes.small)} and ${bytes(r.valueBytes.large)}`],
          ['objects', r.objectPaths.join(', ') || '(none)'],
          ['marker in the DB rows', yesNo(r.checks.markerInDb)],
          ['offloaded above the threshold', yesNo(r.checks.offloaded)],
          ['round trip intact', yesNo(r.checks.roundTripIntact)],
          ['revert breaks reads', yesNo(r.checks.breakConfirmed)],
          ['row rewrite heals', yesNo(r.checks.healConfirmed)],
          ['cleaned', yesNo(r.checks.cleaned)],
        ],
        '   ',
      ),
    );
    for (const reason of r.gate.reasons) out.push(`   RED: ${reason}`);
  }
  close('REHEARSE');
  return sections;
}
