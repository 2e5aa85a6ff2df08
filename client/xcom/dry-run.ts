/** The XCom flip's dry-run evidence for a terminal: compact, section by section, red rows first-class. */
import { countText, sampleLines } from './sample-text.js';
import type { CutoverResult } from '../../domain/cutover.js';
import type { RunResult } from '../../domain/engine/run.js';
import { formatBytes, formatBytesExact, formatCount, formatDuration, keyValues, table } from '../format.js';
import type { DryRunSection } from '../dry-run-lines.js';
import { changeLines, failedSteps, gateWord, objectStorageLines, preflightLines } from '../dry-run-lines.js';

const bytes = formatBytes;
const yesNo = (b: boolean): string => (b ? 'yes' : 'NO');

export function xcomDryRun(r0: RunResult): DryRunSection[] {
  const result = r0 as CutoverResult;
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
  out.push(
    `1. CALIBRATE ${c ? `${gateWord(c.gate)} (${c.source === 'in-pod' ? 'in-pod' : 'metadata DB'})` : ''}`.trimEnd(),
  );
  if (!c) notReached('CALIBRATE');
  else {
    out.push(...sampleLines(c).map((l) => `   ${l}`));
    out.push(
      ...table(
        ['XCom rows', 'p50', 'p95', 'p99', 'p99.9', 'max'],
        [
          [
            formatCount(c.rowCount),
            bytes(c.sizeBytes.p50),
            bytes(c.sizeBytes.p95),
            bytes(c.sizeBytes.p99),
            bytes(c.sizeBytes.p999),
            bytes(c.sizeBytes.max),
          ],
        ],
        '   ',
      ),
      ...table(
        ['rows > 48 KB', '> 100 KB', '> 1 MB'],
        [[c.rowsAbove['48KB'], c.rowsAbove['100KB'], c.rowsAbove['1MB']]],
        '   ',
      ),
      `   threshold proposed: ${formatBytesExact(c.proposal.thresholdBytes)} (${c.proposal.strategy}: ${c.proposal.rationale})`,
      `   historical rows that would offload: ${countText(c, c.projectedOffloadRows)} (plan allows ${formatCount(c.maxOffloadRows)})`,
    );
    if (c.ramp)
      out.push(
        `   ramp starts at ${formatBytesExact(c.ramp.startBytes)}: ${formatCount(c.ramp.projectedOffloadRows)} historical rows would offload`,
      );
    if (c.topProducers.length > 0)
      out.push(
        `   largest producers: ${c.topProducers.map((p) => `${p.dagId}.${p.taskId} ${formatCount(p.rows)} rows (max ${bytes(p.maxBytes)})`).join(', ')}`,
      );
    for (const r of c.gate.reasons) out.push(`   RED: ${r}`);
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
          ['sentinel', `${bytes(r.valueBytes)} -> ${r.objectPath || '(no object)'}`],
          ['offloaded', yesNo(r.offloaded)],
          ['revert breaks reads', yesNo(r.breakConfirmed)],
          ['round trip intact', yesNo(r.roundTripIntact)],
          ['re-run heals', yesNo(r.healConfirmed)],
          ['sentinel cleaned', yesNo(r.sentinelCleaned)],
          [
            'timings',
            Object.entries(r.timingsMs)
              .map(([k, v]) => `${k} ${formatDuration(v)}`)
              .join(', '),
          ],
        ],
        '   ',
      ),
    );
    for (const reason of r.gate.reasons) out.push(`   RED: ${reason}`);
  }
  close('REHEARSE');

  return sections;
}
