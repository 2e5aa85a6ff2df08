/** How a dossier or a dry run says that CALIBRATE's figures come from a sample (`--sample PCT`). */
import type { CalibrationEvidence } from '../../domain/evidence.js';
import { formatBytes, formatCount } from '../../domain/figures.js';

/** Empty for an exact scan; otherwise the estimate, each quantile's bounds and the count bound. */
export function sampleLines(c: CalibrationEvidence): string[] {
  const s = c.sample;
  if (!s) return [];
  const pct = `${Math.round(s.confidence * 100)}%`;
  const range = (q: 'p50' | 'p95' | 'p99' | 'p999', name: string) =>
    `${name} ${formatBytes(s.quantileBounds[q].low)} to ${formatBytes(s.quantileBounds[q].high)}`;
  return [
    `ESTIMATE: measured on a ${s.percent}% TABLESAMPLE SYSTEM sample (${formatCount(s.sampledRows)} rows), not the whole table. ` +
      `At ${pct} confidence (rows assumed drawn at random; SYSTEM samples whole pages, so this is indicative): ` +
      `${range('p50', 'p50')}, ${range('p95', 'p95')}, ${range('p99', 'p99')}, ${range('p999', 'p99.9')}; ` +
      `every row count +- ${formatCount(s.rowsBound)}; the max is the sample's, the table's may be larger.`,
  ];
}

/** "about N (+- B)" for a sampled count, N for an exact one. */
export function countText(c: CalibrationEvidence, n: number): string {
  return c.sample ? `about ${formatCount(n)} (+- ${formatCount(c.sample.rowsBound)})` : formatCount(n);
}
