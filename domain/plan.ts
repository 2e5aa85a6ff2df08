/**
 * The XCom backend flip's plan (kind XComBackendCutover): the envelope every
 * runbook shares (domain/engine/plan.ts) plus what this runbook needs: where
 * offloaded XComs go, the threshold rule, the validation DAG.
 *
 * The schema is the single source of truth: the CLI validates with it, the JSON
 * Schema shipped for editors is generated from it, and the workflow receives the
 * parsed, normalised value.
 */
import { z } from 'zod';
import { XCOM_KIND } from './xcom-kind.js';
import { apiVersionSchema, checkEnvelope, durationSchema, envelopeFields } from './engine/plan.js';
import { checkLifecycle, lifecycleSchema } from './lifecycle.js';
import { FSSPEC_CODECS, objectStoragePathSchema, thresholdSchema } from './object-storage.js';

export { durationSchema } from './engine/plan.js';
export { FSSPEC_CODECS, objectStoragePathSchema } from './object-storage.js';
export type { Component } from './engine/plan.js';

export const planSchema = z
  .object({
    apiVersion: apiVersionSchema,
    kind: z.literal(XCOM_KIND),
    ...envelopeFields,
    /** What this runbook changes: where offloaded XComs go, the threshold rule, the validation DAG. */
    spec: z
      .object({
        xcom: z
          .object({
            path: objectStoragePathSchema,
            threshold: thresholdSchema,
            compression: z.enum(FSSPEC_CODECS).default(''),
            /** Start above the largest measured value (zero offload), then lower to the target. */
            ramp: z.object({ startBytes: z.number().int().positive() }).strict().optional(),
            /** Near-inert gate: the most historical rows allowed to offload at the chosen threshold. */
            maxOffloadRows: z.number().int().nonnegative(),
          })
          .strict(),
        validation: z
          .object({
            dagId: z.string().min(1),
            unpause: z.boolean().default(false),
            timeout: durationSchema.default('30m'),
            /**
             * Most offloaded values the validation run may show. Unless it is 0 (a near-inert flip,
             * where the DAG keeps its own 2 MB value), the run's large value is sized above the
             * stage's threshold and at least one value must offload.
             */
            maxOffloaded: z.number().int().nonnegative().optional(),
          })
          .strict(),
        /** A bucket lifecycle rule expiring the backend's objects, merged into the bucket's configuration. */
        lifecycle: lifecycleSchema.optional(),
      })
      .strict(),
  })
  .strict()
  .superRefine((plan, ctx) => {
    checkEnvelope(plan, ctx);
    checkLifecycle(plan.spec.xcom.path, plan.spec.lifecycle, ctx);
    const { xcom } = plan.spec;
    const t = xcom.threshold;
    if (xcom.ramp && t.strategy === 'fixed' && xcom.ramp.startBytes <= t.bytes) {
      ctx.addIssue({
        code: 'custom',
        path: ['spec', 'xcom', 'ramp', 'startBytes'],
        message: `must be above the target threshold (${t.bytes}) so the ramp starts with zero offload`,
      });
    }
  });

export type Plan = z.infer<typeof planSchema>;
export type PlanInput = z.input<typeof planSchema>;
