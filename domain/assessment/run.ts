/** What an assessment run records: the two snapshots it read and the judgement of them. */
import type { Timed } from '../engine/evidence.js';
import type { RunInput, RunResult } from '../engine/run.js';
import type { AssessmentPlan } from './plan.js';
import type { Assessment, JudgedHealth } from './judge.js';
import type { AirflowSnapshot, TargetSnapshot } from './snapshot.js';

export interface AssessmentEvidence {
  target: TargetSnapshot | null;
  airflow: AirflowSnapshot | null;
  assessment: (Assessment & Timed) | null;
  /** A scheduled run against the previous one of its schedule: whether anything changed. */
  comparison: AssessmentComparison | null;
}

export interface AssessmentComparison {
  /** The previous completed run of the schedule, or null for the first. */
  previousRun: string | null;
  previousVerdict: string | null;
  /** The verdict or the set of findings differs (always true for the first run): the run announces itself. */
  changed: boolean;
  appeared: string[];
  cleared: string[];
}

/** What an assessment's result says of itself, for the next scheduled run to compare with. */
export interface PreviousAssessment {
  workflowId: string;
  verdict: string;
  findingIds: string[];
}

/** A run's input; `scheduleId` when a Temporal Schedule started it (`cutover assess --every`). */
export type AssessmentInput = RunInput<AssessmentPlan> & { scheduleId?: string };
export type AssessmentResult = RunResult<AssessmentEvidence>;

export function emptyAssessmentEvidence(): AssessmentEvidence {
  return { target: null, airflow: null, assessment: null, comparison: null };
}

/** Pure: what changed between two readings (ids of findings; the verdict). */
export function compareAssessments(
  previous: PreviousAssessment | null,
  now: { verdict: string; findingIds: string[] },
): AssessmentComparison {
  if (!previous)
    return { previousRun: null, previousVerdict: null, changed: true, appeared: now.findingIds, cleared: [] };
  const before = new Set(previous.findingIds);
  const after = new Set(now.findingIds);
  const appeared = now.findingIds.filter((id) => !before.has(id));
  const cleared = previous.findingIds.filter((id) => !after.has(id));
  return {
    previousRun: previous.workflowId,
    previousVerdict: previous.verdict,
    changed: previous.verdict !== now.verdict || appeared.length > 0 || cleared.length > 0,
    appeared,
    cleared,
  };
}

/**
 * The health gate of a runbook that changes the deployment: the assessment before (a PREFLIGHT row),
 * after the change rolled out, and after the kill-switch put things back (each "left healthy" against
 * the first). Absent on runs recorded before the gate existed.
 */
export interface HealthGateEvidence {
  health?: {
    before: JudgedHealth | null;
    afterChange: JudgedHealth | null;
    afterRollback: JudgedHealth | null;
  };
}
