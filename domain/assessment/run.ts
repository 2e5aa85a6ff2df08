/** What an assessment run records: the two snapshots it read and the judgement of them. */
import type { Timed } from '../engine/evidence.js';
import type { Assessment } from './judge.js';
import type { AirflowSnapshot, TargetSnapshot } from './snapshot.js';

export interface AssessmentEvidence {
  target: TargetSnapshot | null;
  airflow: AirflowSnapshot | null;
  assessment: (Assessment & Timed) | null;
}

export function emptyAssessmentEvidence(): AssessmentEvidence {
  return { target: null, airflow: null, assessment: null };
}
