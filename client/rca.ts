/** The root-cause figures of a run the kill-switch touched: shared by the dossier, its timeline plot and `report --format json`. */
import type { RunStatus } from '../domain/engine/run.js';
import { seconds } from './report-md.js';

/**
 * Root-cause analysis for a run that failed after APPLY: what failed, when, what the kill-switch
 * did, and the time from detection (the failing step's end) to healed (the last compensation
 * step's end). Worker timestamps only: the same figures the evidence holds.
 */
export function rcaFigures(status: RunStatus): {
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
