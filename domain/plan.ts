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

export { durationSchema } from './engine/plan.js';
export type { Component } from './engine/plan.js';

/**
 * `s3://aws_default@bucket/prefix`: the form Airflow's ObjectStoragePath takes,
 * with the Airflow connection id as the URL's user part.
 */
export const objectStoragePathSchema = z
  .string()
  .regex(
    /^(s3|gs|gcs|abfs|az|file):\/\/([A-Za-z0-9_.-]+@)?[A-Za-z0-9._-]+(\/[A-Za-z0-9._\-/]*)?$/,
    'must look like s3://<conn_id>@<bucket>/<prefix>',
  )
  .refine((p) => !p.endsWith('/'), 'must not end with a slash (the backend joins paths itself)');

/** The codecs fsspec knows; anything else makes every XCom push raise, inline ones too. */
export const FSSPEC_CODECS = ['', 'gzip', 'bz2', 'lzma', 'xz', 'zip'] as const;

const thresholdSchema = z.discriminatedUnion('strategy', [
  z
    .object({
      strategy: z.literal('above-quantile'),
      quantile: z.enum(['p99', 'p99.9', 'max']).default('p99.9'),
      roundTo: z.number().int().positive().default(100_000),
    })
    .strict(),
  z.object({ strategy: z.literal('fixed'), bytes: z.number().int().nonnegative() }).strict(),
]);

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
            /** Expected offloaded values in the validation run (0 for a near-inert flip). */
            maxOffloaded: z.number().int().nonnegative().optional(),
          })
          .strict(),
        lifecycle: z.object({ days: z.number().int().positive() }).strict().optional(),
      })
      .strict(),
  })
  .strict()
  .superRefine((plan, ctx) => {
    checkEnvelope(plan, ctx);
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
