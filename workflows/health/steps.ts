/**
 * The deployment health checks as workflow steps, for any runbook: read the target and Airflow at the
 * same time (both read-only), then judge. The assessment runbook is these steps; a changing runbook
 * can run them as a gate.
 */
import type { HealthOptions } from '../../domain/assessment/options.js';
import type { SharedActivities } from '../../activities/index.js';
import { verdictLine, type Assessment, type JudgedHealth } from '../../domain/assessment/judge.js';
import type { AirflowSnapshot, TargetSnapshot } from '../../domain/assessment/snapshot.js';
import type { EnginePlan, InspectedPlan } from '../../domain/engine/plan.js';
import { QUICK, READS, proxyStep } from '../engine/steps.js';
import type { Run } from '../engine/run.js';

const inspectTarget = proxyStep<SharedActivities, 'inspectTarget'>(
  'inspectTarget',
  'Reads the pods, events and volumes (or the local processes), changing nothing (ASSESS).',
  READS,
);
const inspectAirflow = proxyStep<SharedActivities, 'inspectAirflow'>(
  'inspectAirflow',
  "Reads Airflow's health endpoint, its import errors and the metadata DB, changing nothing (ASSESS).",
  READS,
);
const judgeDeployment = proxyStep<SharedActivities, 'judgeDeployment'>(
  'judgeDeployment',
  'Judges what was read into findings, a component table and a verdict (ASSESS).',
  QUICK,
);

export interface HealthReading {
  target: TargetSnapshot;
  airflow: AirflowSnapshot;
  assessment: JudgedHealth;
}

/** Reads the deployment (two sources at once) and judges it, as steps of the run's current phase. */
export async function readHealth<P extends EnginePlan & InspectedPlan, E>(
  run: Run<P, E>,
  options: HealthOptions,
  baseline?: Assessment,
  dryRun = false,
  /** The Airflow as it runs now, when a run changed its release (an upgrade reads 3.x after 2.x). */
  release: InspectedPlan['airflow'] = run.plan.airflow,
): Promise<HealthReading> {
  const plan: InspectedPlan = { name: run.plan.name, target: run.plan.target, airflow: release };
  const [target, airflow] = await Promise.all([
    run.step(
      'read the target',
      () => inspectTarget({ plan, options }),
      (t) =>
        t.error !== null
          ? `could not be read: ${t.error}`
          : t.source === 'kubernetes'
            ? `${t.pods.length} pods, ${t.events.length} events, ${t.claims.length} claims${t.nodes ? `, ${t.nodes.length} nodes` : ''} in ${t.namespace}`
            : `${t.components.filter((c) => c.running).length}/${t.components.length} components running`,
    ),
    run.step(
      'read Airflow',
      () => inspectAirflow({ plan }),
      (a) =>
        [
          a.api
            ? a.api.error
              ? `API: ${a.api.error}`
              : `API answered (Airflow ${a.api.version ?? '?'})`
            : 'no API in the plan',
          a.db
            ? `${a.db.visibility.serializedDags} DAGs serialized, ${a.db.jobs.length} running jobs`
            : `DB: ${a.dbError ?? 'not read'}`,
        ].join('; '),
    ),
  ]);
  const assessment = await run.step(
    'judge',
    () =>
      judgeDeployment({
        plan,
        options,
        target,
        airflow,
        ...(baseline ? { baseline } : {}),
        ...(dryRun ? { dryRun } : {}),
      }),
    verdictLine,
  );
  // The row's time is the whole reading's: both sources and the judgement (worker clocks only).
  assessment.row.durationMs = Math.max(0, Date.parse(assessment.finishedAt) - Date.parse(target.startedAt));
  return { target, airflow, assessment };
}
