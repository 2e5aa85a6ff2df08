/**
 * deploymentAssessment: the deployment health assessment, read-only, as one workflow on the engine.
 * It reads the target (pods, events, volumes and nodes, or the local processes) and Airflow (health
 * endpoint, version, import errors, metadata DB) at the same time, judges what it read, and ends
 * ASSESSED with a verdict: OPERATIONAL, DEGRADED or DOWN. No approval, no change, no compensation.
 */
import { ASSESSMENT_KIND } from '../../domain/assessment/kind.js';
import type { AssessmentPlan } from '../../domain/assessment/plan.js';
import { emptyAssessmentEvidence, type AssessmentEvidence } from '../../domain/assessment/run.js';
import { verdictLine } from '../../domain/assessment/judge.js';
import type { RunInput, RunResult } from '../../domain/engine/run.js';
import { runRunbook, type Runbook } from '../engine/runbook.js';
import { readHealth } from '../health/steps.js';

export async function deploymentAssessment(
  input: RunInput<AssessmentPlan>,
): Promise<RunResult<AssessmentEvidence>> {
  return runRunbook(input, assessment);
}

const assessment: Runbook<AssessmentPlan, AssessmentEvidence> = {
  kind: ASSESSMENT_KIND,
  firstPhase: 'ASSESS',
  emptyEvidence: emptyAssessmentEvidence,

  async evidence(run) {
    const { plan } = run;
    const where =
      plan.target.kind === 'kubernetes'
        ? `namespace ${plan.target.namespace} (release ${plan.target.release})`
        : `local target ${plan.target.name}`;
    run.enter('ASSESS', `reading ${where} and Airflow, read-only`);
    const reading = await readHealth(run, {
      heartbeatTimeout: plan.spec.heartbeatTimeout,
      maxRestarts: plan.spec.maxRestarts,
      ...(plan.spec.helmValues ? { helmValues: plan.spec.helmValues } : {}),
    });
    Object.assign(run.evidence, reading);
    const a = reading.assessment;
    return run.assessed(
      a.verdict,
      a.counts,
      `${verdictLine(a)}, ${a.counts.recommendations} recommendation${a.counts.recommendations === 1 ? '' : 's'}`,
    );
  },
};
