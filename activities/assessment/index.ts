/**
 * The assessment runbook's own activity (prefixed `assess.`): the previous run of its schedule, read
 * from Temporal (visibility, then that run's result) through the worker's own client, so a scheduled
 * assessment announces itself only when the verdict or the set of findings changed.
 */
import { Context } from '@temporalio/activity';
import type { Client } from '@temporalio/client';
import type { ASSESSMENT_ACTIVITY_PREFIX } from '../../domain/assessment/kind.js';
import {
  compareAssessments,
  type AssessmentComparison,
  type AssessmentResult,
} from '../../domain/assessment/run.js';
import type { Timed } from '../../domain/engine/evidence.js';
import { literal } from '../../domain/list-filter.js';
import type { Adapters } from '../adapters.js';
import { timed } from '../engine/timing.js';

export function assessmentActivities(
  _adapters: Adapters,
  clientOf: () => Client = () => Context.current().client,
) {
  return {
    'assess.compareWithPrevious': async (args: {
      scheduleId: string;
      verdict: string;
      findingIds: string[];
    }): Promise<AssessmentComparison & Timed> =>
      timed(async () => {
        const client = clientOf();
        const query = `TemporalScheduledById = ${literal(args.scheduleId)} AND ExecutionStatus = "Completed"`;
        // Visibility lists newest first; with overlap SKIP the newest completed run is the previous one.
        let latest: { workflowId: string; runId: string } | null = null;
        for await (const w of client.workflow.list({ query, pageSize: 1 })) {
          latest = { workflowId: w.workflowId, runId: w.runId };
          break;
        }
        if (!latest) return compareAssessments(null, args);
        const result = (await client.workflow
          .getHandle(latest.workflowId, latest.runId)
          .result()) as AssessmentResult;
        const a = result.status.evidence.assessment;
        return compareAssessments(
          a
            ? { workflowId: latest.workflowId, verdict: a.verdict, findingIds: a.findings.map((f) => f.id) }
            : null,
          args,
        );
      }),
  } satisfies Record<`${typeof ASSESSMENT_ACTIVITY_PREFIX}${string}`, unknown>;
}

export type AssessmentActivities = ReturnType<typeof assessmentActivities>;
