/**
 * Threshold proposal from measured XCom sizes. Pure, so the rule the dossier
 * used ("the smallest round value strictly above p99.9") is tested on its own.
 */
import { formatBytes, formatBytesExact } from './figures.js';
import type { SizeQuantiles } from './evidence.js';
import type { z } from 'zod';
import type { thresholdSchema } from './object-storage.js';

export interface ThresholdProposal {
  thresholdBytes: number;
  strategy: string;
  rationale: string;
}

const QUANTILE_FIELD = { p99: 'p99', 'p99.9': 'p999', max: 'max' } as const;

export function proposeThreshold(
  sizes: SizeQuantiles,
  strategy: z.infer<typeof thresholdSchema>,
): ThresholdProposal {
  if (strategy.strategy === 'fixed') {
    return {
      thresholdBytes: strategy.bytes,
      strategy: 'fixed',
      rationale: `fixed by the plan at ${formatBytesExact(strategy.bytes)}`,
    };
  }
  const measured = sizes[QUANTILE_FIELD[strategy.quantile]];
  const step = strategy.roundTo;
  // Strictly above: the backend offloads size >= threshold, so a value of exactly
  // the quantile must stay inline.
  const thresholdBytes = (Math.floor(measured / step) + 1) * step;
  return {
    thresholdBytes,
    strategy: `above-${strategy.quantile}`,
    rationale: `smallest multiple of ${formatBytes(step)} strictly above ${strategy.quantile} (${formatBytesExact(measured)}): keeps values up to ${strategy.quantile} inline in the metadata DB`,
  };
}

/** The backend's own rule (common.io serialize_value): negative = never, else size >= threshold. */
export function offloads(sizeBytes: number, thresholdBytes: number): boolean {
  return thresholdBytes >= 0 && sizeBytes >= thresholdBytes;
}
