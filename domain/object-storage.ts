/**
 * Plan fields every object-storage backend flip shares (XCom, state store):
 * the base path in the form Airflow's ObjectStoragePath takes, the codecs, and
 * the threshold rule.
 */
import { z } from 'zod';

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

/** The codecs fsspec knows; anything else makes every write through the backend raise, inline ones too. */
export const FSSPEC_CODECS = ['', 'gzip', 'bz2', 'lzma', 'xz', 'zip'] as const;

/** How a runbook picks the size above which values go to object storage: measured, or fixed. */
export const thresholdSchema = z.discriminatedUnion('strategy', [
  z
    .object({
      strategy: z.literal('above-quantile'),
      quantile: z.enum(['p99', 'p99.9', 'max']).default('p99.9'),
      roundTo: z.number().int().positive().default(100_000),
    })
    .strict(),
  z.object({ strategy: z.literal('fixed'), bytes: z.number().int().nonnegative() }).strict(),
]);
