/**
 * The plan file: what an operator writes to describe one cut-over.
 *
 * The schema is the single source of truth: the CLI validates with it, the JSON
 * Schema shipped for editors is generated from it, and the workflow receives the
 * parsed, normalised value. Plans never carry secrets, only the NAMES of the
 * environment variables or Kubernetes secrets that hold them; adapters resolve
 * those on the worker.
 */
import { z } from 'zod';
import { DURATION_PATTERN } from './duration.js';

const name = z
  .string()
  .regex(/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/, 'use lowercase letters, digits and dashes (max 63)');

const envVarName = z
  .string()
  .regex(/^[A-Z_][A-Z0-9_]*$/, 'must be the NAME of an environment variable on the worker, not its value');

export const durationSchema = z.union([
  z.number().int().positive(),
  z.string().regex(DURATION_PATTERN, 'use a duration like 90s, 15m, 24h or 7d'),
]);

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

const componentSchema = z
  .object({
    name: name,
    /** Pod label selector (defaults follow the official Helm chart). */
    selector: z.record(z.string(), z.string()).optional(),
    container: z.string().optional(),
    /** Deployment or StatefulSet that owns the pods, for rollout restart/wait. */
    workload: z
      .object({ kind: z.enum(['Deployment', 'StatefulSet']), name: z.string().min(1) })
      .strict()
      .optional(),
  })
  .strict();

const kubernetesTarget = z
  .object({
    kind: z.literal('kubernetes'),
    context: z.string().min(1).optional(),
    namespace: name,
    release: name,
    components: z.array(componentSchema).min(1),
  })
  .strict();

const localTarget = z
  .object({
    kind: z.literal('local'),
    name: name,
    /** Env file the local Airflow components read at start. */
    envFile: z.string().min(1),
    /**
     * Control URL of the cutover supervisor that runs the components (`npm run airflow-local`);
     * default: the URL it records in supervisor.json next to the env file.
     */
    supervisor: z.string().url().optional(),
    components: z.array(componentSchema).min(1),
  })
  .strict();

const gitopsChange = z
  .object({
    mode: z.literal('gitops'),
    repo: z.string().min(1),
    /** Env var holding credentials for a remote repo URL (never the credential itself). */
    credentialsEnv: envVarName.optional(),
    baseBranch: z.string().min(1).default('main'),
    branch: z.string().min(1).optional(),
    valuesFile: z.string().min(1),
    /** Dotted location in the values file, e.g. extraConfigMaps.airflow-env.data */
    location: z.string().min(1),
  })
  .strict();

const configMapChange = z
  .object({
    mode: z.literal('configmap'),
    configMap: z.string().min(1),
  })
  .strict();

const localEnvChange = z.object({ mode: z.literal('env-file') }).strict();

const metadataDbSchema = z.discriminatedUnion('access', [
  z.object({ access: z.literal('direct'), urlEnv: envVarName }).strict(),
  z.object({ access: z.literal('in-pod'), component: name.default('scheduler') }).strict(),
]);

export const planSchema = z
  .object({
    apiVersion: z.literal('cutover/v1'),
    kind: z.literal('XComBackendCutover'),
    name: name,
    description: z.string().optional(),
    target: z.discriminatedUnion('kind', [kubernetesTarget, localTarget]),
    airflow: z
      .object({
        /** The Airflow release running on the target, e.g. "3.1" or "2.10". */
        version: z.string().regex(/^[23]\.\d+(\.\d+)?$/, 'an Airflow 2.x or 3.x version like 3.1'),
        minCommonIoProvider: z
          .string()
          .regex(/^\d+\.\d+(\.\d+)?$/)
          .default('1.4.0'),
        metadataDb: metadataDbSchema,
        /**
         * The REST API the validation run and the re-runs go through: Airflow 3's /api/v2 (token from
         * /auth/token) or Airflow 2's /api/v1 (basic auth), chosen by `version`. Credentials are the
         * NAMES of env vars on the worker.
         */
        api: z
          .object({
            url: z.string().url(),
            usernameEnv: envVarName,
            passwordEnv: envVarName,
          })
          .strict()
          .optional(),
      })
      .strict(),
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
    change: z.discriminatedUnion('mode', [gitopsChange, configMapChange, localEnvChange]),
    validation: z
      .object({
        dagId: z.string().min(1),
        unpause: z.boolean().default(false),
        timeout: durationSchema.default('30m'),
        /** Expected offloaded values in the validation run (0 for a near-inert flip). */
        maxOffloaded: z.number().int().nonnegative().optional(),
      })
      .strict(),
    approval: z
      .object({
        approvers: z.array(z.string().min(1)).min(1),
        allowSelfApproval: z.boolean().default(false),
        timeout: durationSchema.default('24h'),
      })
      .strict(),
    rollout: z
      .object({ timeout: durationSchema.default('10m') })
      .strict()
      .default({ timeout: '10m' }),
    lifecycle: z.object({ days: z.number().int().positive() }).strict().optional(),
  })
  .strict()
  .superRefine((plan, ctx) => {
    if (plan.target.kind === 'local' && plan.change.mode !== 'env-file') {
      ctx.addIssue({
        code: 'custom',
        path: ['change', 'mode'],
        message: 'a local target takes change mode env-file',
      });
    }
    if (plan.target.kind === 'kubernetes' && plan.change.mode === 'env-file') {
      ctx.addIssue({
        code: 'custom',
        path: ['change', 'mode'],
        message: 'a kubernetes target takes change mode gitops or configmap',
      });
    }
    const t = plan.xcom.threshold;
    if (plan.xcom.ramp && t.strategy === 'fixed' && plan.xcom.ramp.startBytes <= t.bytes) {
      ctx.addIssue({
        code: 'custom',
        path: ['xcom', 'ramp', 'startBytes'],
        message: `must be above the target threshold (${t.bytes}) so the ramp starts with zero offload`,
      });
    }
    if (plan.airflow.metadataDb.access === 'in-pod') {
      const component = plan.airflow.metadataDb.component;
      if (!plan.target.components.some((c) => c.name === component)) {
        ctx.addIssue({
          code: 'custom',
          path: ['airflow', 'metadataDb', 'component'],
          message: `names component "${component}", which target.components does not list`,
        });
      }
    }
    const seen = new Set<string>();
    plan.target.components.forEach((c, i) => {
      if (seen.has(c.name))
        ctx.addIssue({
          code: 'custom',
          path: ['target', 'components', i, 'name'],
          message: 'duplicate component',
        });
      seen.add(c.name);
    });
  });

export type Plan = z.infer<typeof planSchema>;
export type PlanInput = z.input<typeof planSchema>;
export type Component = Plan['target']['components'][number];
