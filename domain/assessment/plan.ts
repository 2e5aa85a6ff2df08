/**
 * The deployment assessment's plan (kind DeploymentAssessment): read-only, so it names what to
 * inspect (the target and its Airflow) and how to judge it, and carries no change and no approval.
 */
import { z } from 'zod';
import {
  apiVersionSchema,
  checkInspected,
  durationSchema,
  inspectedAirflowSchema,
  name,
  targetSchema,
} from '../engine/plan.js';
import { ASSESSMENT_KIND } from './kind.js';

export const assessmentPlanSchema = z
  .object({
    apiVersion: apiVersionSchema,
    kind: z.literal(ASSESSMENT_KIND),
    name: name,
    description: z.string().optional(),
    target: targetSchema,
    airflow: inspectedAirflowSchema,
    spec: z
      .object({
        /**
         * A job (scheduler, triggerer, dag processor) whose last heartbeat is older than this is dead.
         * Airflow's own health checks use 30 s ([scheduler] scheduler_health_check_threshold).
         */
        heartbeatTimeout: durationSchema.default('60s'),
        /** A container restarted more often than this is a warning (CrashLoopBackOff is one whatever the count). */
        maxRestarts: z.number().int().nonnegative().default(5),
        /**
         * The Helm values file the release is installed from (a path on the worker, e.g. the GitOps
         * checkout): the chart settings behind a finding are named from it.
         */
        helmValues: z.string().min(1).optional(),
      })
      .strict()
      .default({ heartbeatTimeout: '60s', maxRestarts: 5 }),
  })
  .strict()
  .superRefine((plan, ctx) => {
    if (plan.spec.helmValues !== undefined && plan.target.kind !== 'kubernetes')
      ctx.addIssue({
        code: 'custom',
        path: ['spec', 'helmValues'],
        message: 'Helm values describe a kubernetes target; a local target has none',
      });
    checkInspected(plan, ctx);
  });

export type AssessmentPlan = z.infer<typeof assessmentPlanSchema>;
export type AssessmentPlanInput = z.input<typeof assessmentPlanSchema>;
