/** The root-cause figures of a run the kill-switch touched: shared by the dossier, its timeline plot and `report --format json`. */
import type { RunStatus } from '../domain/engine/run.js';
import { seconds } from './report-md.js';

/**
 * Where "detected" comes from. A gate that is red returns evidence, so its step has an end; an
 * activity that threw (S3 killed under VALIDATE) has no time of its own, and then the kill-switch's
 * first step, which starts as soon as the workflow learns of the failure, is the best worker time;
 * when no compensation step has a time either (the first one failed too), the last time before the
 * failure is a lower bound.
 */
export type DetectedFrom = 'failing step' | 'kill-switch start' | 'after the last step before';

/**
 * Root-cause analysis for a run that failed after APPLY: what failed, when, what the kill-switch
 * did, and the time from detection to healed (the last compensation step's end). Worker
 * timestamps only: the same figures the evidence holds. Pure over the status, so runs recorded
 * before a fix here get it too.
 */
export function rcaFigures(status: RunStatus): {
  failingStep: string | null;
  detectedAt: string | null;
  detectedFrom: DetectedFrom | null;
  healedAt: string | null;
  timeToHealSeconds: number | null;
} | null {
  const comp = status.compensation;
  if (!comp) return null;
  const steps = status.steps;
  const first = steps.findIndex((s) => s.phase === 'COMPENSATE' || s.phase === 'NEEDS_OPERATOR');
  const before = first > 0 ? steps.slice(0, first) : first === 0 ? [] : steps;
  const failing = [...before].reverse().find((s) => s.status === 'failed') ?? before[before.length - 1];
  const compensating = first >= 0 ? steps.slice(first) : [];
  const killSwitchStart = compensating.find((s) => s.startedAt)?.startedAt;
  const lastBefore = [...before].reverse().find((s) => s.finishedAt)?.finishedAt;
  const [detectedAt, detectedFrom]: [string | null, DetectedFrom | null] = failing?.finishedAt
    ? [failing.finishedAt, 'failing step']
    : killSwitchStart
      ? [killSwitchStart, 'kill-switch start']
      : lastBefore
        ? [lastBefore, 'after the last step before']
        : [null, null];
  const ended = compensating.filter((s) => s.finishedAt);
  const healed = status.outcome === 'ROLLED_BACK' ? ended[ended.length - 1] : undefined;
  const healedAt = healed?.finishedAt ?? null;
  return {
    failingStep: failing ? `${failing.phase} / ${failing.step}` : null,
    detectedAt,
    detectedFrom,
    healedAt,
    timeToHealSeconds: seconds(detectedAt ?? undefined, healedAt ?? undefined),
  };
}
