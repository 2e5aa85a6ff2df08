/**
 * The deployment health checks, read-only: what the target runs (pods or processes), what Airflow
 * says of itself (REST API, metadata DB), and the judgement of both. The assessment runbook is made
 * of them, and any runbook may call them as a gate. A source that cannot be read is reported in the
 * snapshot (a finding), never a failed step: the assessment of a broken deployment must still end.
 */
import { healthRow, judge, type Assessment, type JudgedHealth } from '../domain/assessment/judge.js';
import type { AirflowSnapshot, TargetSnapshot } from '../domain/assessment/snapshot.js';
import type { InspectedPlan } from '../domain/engine/plan.js';
import { durationMs } from '../domain/duration.js';
import type { HealthOptions } from '../domain/assessment/options.js';
import { requireAdapter, type Adapters } from './adapters.js';
import { timed } from './engine/timing.js';

export type { HealthOptions } from '../domain/assessment/options.js';

export function deploymentHealthActivities(adapters: Adapters) {
  return {
    /** The release's pods, events, claims and nodes (kubernetes), or the supervisor's processes (local). */
    async inspectTarget({
      plan,
      options,
    }: {
      plan: InspectedPlan;
      options: HealthOptions;
    }): Promise<TargetSnapshot> {
      return timed(async () => {
        const t = plan.target;
        if (t.kind === 'local')
          return requireAdapter(
            adapters,
            'processInspector',
            plan,
            'list the components the supervisor runs',
          ).inspect();
        const inspector = requireAdapter(adapters, 'clusterInspector', plan, 'read pods, events and volumes');
        return inspector.inspect({
          namespace: t.namespace,
          release: t.release,
          components: t.components,
          ...(options.helmValues ? { helmValues: options.helmValues } : {}),
        });
      });
    },

    /** The health endpoint, version, import errors and DAG warnings, and the metadata DB's view. */
    async inspectAirflow({ plan }: { plan: InspectedPlan }): Promise<AirflowSnapshot> {
      return timed(async () => {
        const [api, db] = await Promise.all([
          plan.airflow.api
            ? requireAdapter(adapters, 'airflowHealth', plan, "read Airflow's health endpoint").read()
            : Promise.resolve(null),
          (async () => {
            try {
              const port = requireAdapter(
                adapters,
                'deploymentDb',
                plan,
                'read DAG visibility and job heartbeats',
              );
              return { db: await port.deploymentHealth(), dbError: null };
            } catch (err) {
              return { db: null, dbError: err instanceof Error ? err.message : String(err) };
            }
          })(),
        ]);
        return { api, ...db };
      });
    },

    /** The findings, component table, recommendations and verdict: pure, run here so rule changes never touch history. */
    async judgeDeployment(args: {
      plan: InspectedPlan;
      options: HealthOptions;
      target: TargetSnapshot;
      airflow: AirflowSnapshot;
      /** The assessment before a change: the row then says what got worse since. */
      baseline?: Assessment;
      /** A dry run's row is never red: it reports and goes on. */
      dryRun?: boolean;
    }): Promise<JudgedHealth> {
      return timed(async () => {
        const { plan, options } = args;
        const a = judge(args.target, args.airflow, {
          components: plan.target.components.map((c) => c.name),
          namespace: plan.target.kind === 'kubernetes' ? plan.target.namespace : null,
          airflowVersion: plan.airflow.version,
          heartbeatTimeoutSeconds: Math.round(durationMs(options.heartbeatTimeout) / 1000),
          maxRestarts: options.maxRestarts,
          now: new Date().toISOString(),
          apiConfigured: plan.airflow.api !== undefined,
        });
        return { ...a, row: { ...healthRow(a, args.baseline, args.dryRun ?? false), durationMs: 0 } };
      });
    },
  };
}

export type DeploymentHealthActivities = ReturnType<typeof deploymentHealthActivities>;
