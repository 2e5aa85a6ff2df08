/**
 * The state-store flip's plan (kind StateStoreBackendCutover): Airflow 3.3's
 * task and asset state routed through the object-storage backend of
 * apache-airflow-providers-common-io ([workers] state_store_backend). The
 * envelope every runbook shares, plus where offloaded state goes, the
 * threshold rule and the validation DAG.
 */
import { z } from 'zod';
import { apiVersionSchema, checkEnvelope, durationSchema, envelopeFields } from '../engine/plan.js';
import { checkLifecycle, lifecycleSchema } from '../lifecycle.js';
import { FSSPEC_CODECS, objectStoragePathSchema, thresholdSchema } from '../object-storage.js';
import { STATE_STORE_KIND } from './kind.js';

export const stateStorePlanSchema = z
  .object({
    apiVersion: apiVersionSchema,
    kind: z.literal(STATE_STORE_KIND),
    ...envelopeFields,
    /** What this runbook changes: where offloaded state goes, the threshold rule, the validation DAG. */
    spec: z
      .object({
        stateStore: z
          .object({
            path: objectStoragePathSchema,
            /** `fixed` 0 offloads every value (the backend's own default). */
            threshold: thresholdSchema,
            compression: z.enum(FSSPEC_CODECS).default(''),
            /** Near-inert gate: the most existing state rows allowed at or above the threshold. */
            maxOffloadRows: z.number().int().nonnegative(),
          })
          .strict(),
        validation: z
          .object({
            dagId: z.string().min(1).default('state_store_backend_validation'),
            unpause: z.boolean().default(false),
            timeout: durationSchema.default('30m'),
            /** The most objects the validation run's task state may put in object storage (0: nothing offloaded). */
            maxObjects: z.number().int().nonnegative().optional(),
          })
          .strict(),
        /**
         * A bucket lifecycle rule expiring offloaded state. The backend ignores `expires_at` and
         * `airflow state-store clean` skips worker-side backends: without a rule, objects stay forever.
         */
        lifecycle: lifecycleSchema.optional(),
      })
      .strict(),
  })
  .strict()
  .superRefine((plan, ctx) => {
    checkEnvelope(plan, ctx);
    checkLifecycle(plan.spec.stateStore.path, plan.spec.lifecycle, ctx);
    // The state store exists from Airflow 3.3 on; a plan for an older release cannot be right.
    const [major = 0, minor = 0] = plan.airflow.version.split('.').map(Number);
    if (major < 3 || (major === 3 && minor < 3)) {
      ctx.addIssue({
        code: 'custom',
        path: ['airflow', 'version'],
        message: `Airflow ${plan.airflow.version} has no task/asset state store (it came in 3.3)`,
      });
    }
  });

export type StateStorePlan = z.infer<typeof stateStorePlanSchema>;
export type StateStorePlanInput = z.input<typeof stateStorePlanSchema>;
