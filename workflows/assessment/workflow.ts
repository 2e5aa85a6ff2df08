/**
 * deploymentAssessment: the deployment health assessment, read-only, as one workflow on the engine.
 * It reads the target (pods, events, volumes and nodes, or the local processes) and Airflow (health
 * endpoint, version, import errors, metadata DB) at the same time, judges what it read, and ends
 * ASSESSED with a verdict: OPERATIONAL, DEGRADED or DOWN. No approval, no change, no compensation.
 *
 * Started by a Temporal Schedule (`cutover assess --every`), it compares itself with the schedule's
 * previous run and announces its end only when the verdict or the set of findings changed.
 */
import type { AssessmentActivities } from '../../activities/assessment/index.js';
import { verdictLine } from '../../domain/assessment/judge.js';
import { ASSESSMENT_KIND } from '../../domain/assessment/kind.js';
import type { AssessmentPlan } from '../../domain/assessment/plan.js';
import {
  emptyAssessmentEvidence,
  type AssessmentEvidence,
  type AssessmentInput,
  type AssessmentResult,
} from '../../domain/assessment/run.js';
import { READS, proxyStep } from '../engine/steps.js';
import { runRunbook, type Runbook } from '../engine/runbook.js';
import { readHealth } from '../health/steps.js';

const compareWithPrevious = proxyStep<AssessmentActivities, 'assess.compareWithPrevious'>(
  'assess.compareWithPrevious',
  "Compares this assessment with the schedule's previous one (ASSESS).",
  READS,
);

export async function deploymentAssessment(input: AssessmentInput): Promise<AssessmentResult> {
  return runRunbook(input, assessment(input.scheduleId));
}

function assessment(scheduleId: string | undefined): Runbook<AssessmentPlan, AssessmentEvidence> {
  return {
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
      let news = '';
      if (scheduleId) {
        const c = await run.step(
          'compare with the previous run',
          () =>
            compareWithPrevious({ scheduleId, verdict: a.verdict, findingIds: a.findings.map((f) => f.id) }),
          (x) =>
            x.previousRun === null
              ? 'first run of the schedule'
              : x.changed
                ? `changed since ${x.previousRun}: ${x.previousVerdict} -> ${a.verdict}, ${x.appeared.length} new, ${x.cleared.length} cleared`
                : `unchanged since ${x.previousRun}`,
        );
        run.evidence.comparison = c;
        // Nothing new is not news: the schedule's message goes out only on a change.
        run.quiet = !c.changed;
        news = c.changed ? '' : ', unchanged since the previous run (no message)';
      }
      const recs = a.counts.recommendations;
      return run.assessed(
        a.verdict,
        a.counts,
        `${verdictLine(a)}, ${recs} recommendation${recs === 1 ? '' : 's'}${news}`,
      );
    },
  };
}
