/**
 * The upgrade's plan (kind AirflowUpgrade): the envelope every runbook shares, where `airflow.version`
 * is the release running now (x.y.z), plus the release to go to, how the metadata DB is backed up
 * before anything stops, the rehearsal, the DAGs that prove the new release, and how a rollback
 * brings the DB back.
 *
 * On a local target the switch is the env file's AIRFLOW_VERSION (change mode env-file). On a
 * kubernetes target it is the official chart's `airflowVersion` and `defaultAirflowTag` in the Helm
 * values, merged through GitOps (change mode gitops, `location` the chart's values in the file: `.`
 * for the file's root), and the chart's migration Job migrates: the image comes from the values, so
 * a ConfigMap cannot switch it.
 */
import { z } from 'zod';
import { apiVersionSchema, checkEnvelope, durationSchema, envelopeFields } from '../engine/plan.js';
import { UPGRADE_KIND } from './kind.js';
import { compareReleases, isMajorUpgrade, parseRelease, RELEASE_PATTERN } from './version.js';

/** A PostgreSQL database name cutover makes (lowercase, digits, underscores; 63 bytes at most). */
const databaseName = z
  .string()
  .regex(/^[a-z_][a-z0-9_]{0,62}$/, 'a database name: lowercase letters, digits and underscores (max 63)');

const release = z.string().regex(RELEASE_PATTERN, 'an Airflow release like 3.3.2 (major.minor.patch)');

/** s3://bucket[/prefix] for a dump kept in object storage, else a directory on the worker. */
const dumpLocation = z
  .string()
  .min(1)
  .refine((s) => !s.startsWith('s3://') || /^s3:\/\/[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](\/.*)?$/.test(s), {
    message: 'an s3://bucket/prefix URL or a directory on the worker',
  })
  .refine((s) => s.startsWith('s3://') || s.startsWith('/'), {
    message: 'an absolute directory on the worker, or s3://bucket/prefix',
  });

const backupSchema = z.discriminatedUnion(
  'strategy',
  [
    z
      .object({
        /** pg_dump -Fc while Airflow still runs; restore = pg_restore into a recreated DB. */
        strategy: z.literal('pg-dump'),
        to: dumpLocation,
        /** For an s3:// location: the env var naming the endpoint (tests: moto), else AWS's. */
        endpointEnv: z
          .string()
          .regex(/^[A-Z_][A-Z0-9_]*$/)
          .optional(),
      })
      .strict(),
    z
      .object({
        /**
         * CREATE DATABASE <clone> TEMPLATE <db> once the components are stopped (PostgreSQL refuses a
         * template with sessions on it); restore = the clone renamed back. Fast to roll back, but the
         * copy counts as downtime.
         */
        strategy: z.literal('clone'),
        /** Default: <db>_before_<to version with underscores>. */
        cloneName: databaseName.optional(),
      })
      .strict(),
  ],
  {
    error: (issue) =>
      issue.input === undefined
        ? 'required: how the metadata DB is backed up before anything stops (strategy pg-dump with `to`, or clone)'
        : undefined,
  },
);

export const upgradePlanSchema = z
  .object({
    apiVersion: apiVersionSchema,
    kind: z.literal(UPGRADE_KIND),
    ...envelopeFields,
    spec: z
      .object({
        upgrade: z.object({ toVersion: release }).strict(),
        backup: backupSchema,
        rehearsal: z
          .object({
            /** The scratch database the migration is rehearsed on (same server); default <db>_cutover_rehearsal. */
            database: databaseName.optional(),
            /** Red when the rehearsed migration takes longer than this (the downtime it predicts). */
            maxMigrationTime: durationSchema.optional(),
          })
          .strict()
          .default({}),
        validation: z
          .object({
            /** Runs on both releases: dags/upgrade_validation.py. */
            dagId: z.string().min(1).default('upgrade_validation'),
            /** Run first after the switch, `concurrency` at a time, never a bulk clear. */
            criticalDags: z.array(z.string().min(1)).default([]),
            concurrency: z.number().int().min(1).max(32).default(1),
            unpause: z.boolean().default(true),
            timeout: durationSchema.default('30m'),
            /**
             * After the new release starts, how long the scheduler has to create the runs of every DAG
             * that fell due while Airflow was down (Slack's "my DAG is not scheduled").
             */
            scheduleGrace: durationSchema.default('5m'),
          })
          .strict()
          .default({
            dagId: 'upgrade_validation',
            criticalDags: [],
            concurrency: 1,
            unpause: true,
            timeout: '30m',
            scheduleGrace: '5m',
          }),
        rollback: z
          .object({
            /**
             * restore: the backup, always (runs made on the new release are lost from the DB and
             * triggered again on the old one). downgrade: `airflow db downgrade` with the new
             * release's code, keeping what was written since the switch. auto: restore unless DAG runs
             * other than cutover's own were written since the switch, then downgrade.
             */
            method: z.enum(['auto', 'restore', 'downgrade']).default('auto'),
          })
          .strict()
          .default({ method: 'auto' }),
      })
      .strict(),
  })
  .strict()
  .superRefine((plan, ctx) => {
    checkEnvelope(plan, ctx);
    const from = plan.airflow.version;
    const to = plan.spec.upgrade.toVersion;
    if (!parseRelease(from)) {
      ctx.addIssue({
        code: 'custom',
        path: ['airflow', 'version'],
        message: `an upgrade needs the exact release running now (like 3.2.2), not "${from}"`,
      });
    } else if (parseRelease(to) && compareReleases(to, from) <= 0) {
      ctx.addIssue({
        code: 'custom',
        path: ['spec', 'upgrade', 'toVersion'],
        message:
          compareReleases(to, from) === 0
            ? `${to} is the release running now (airflow.version): nothing to upgrade`
            : `${to} is older than ${from} (airflow.version): a downgrade is not an upgrade; roll back a finished upgrade with its own run's kill-switch`,
      });
    }
    if (plan.airflow.metadataDb.access !== 'direct') {
      ctx.addIssue({
        code: 'custom',
        path: ['airflow', 'metadataDb', 'access'],
        message:
          'the upgrade backs up, rehearses and migrates the metadata DB from the worker: use access direct with urlEnv',
      });
    }
    if (!plan.airflow.api) {
      ctx.addIssue({
        code: 'custom',
        path: ['airflow', 'api'],
        message: 'the upgrade proves the new release with DAG runs through the REST API: give airflow.api',
      });
    }
    if (plan.target.kind === 'kubernetes') {
      if (plan.change.mode === 'configmap')
        ctx.addIssue({
          code: 'custom',
          path: ['change', 'mode'],
          message:
            "an upgrade on kubernetes changes the image, which comes from the Helm chart's values (airflowVersion, defaultAirflowTag), not from a ConfigMap: use mode gitops with the values file",
        });
      plan.target.components.forEach((c, i) => {
        if (!c.workload)
          ctx.addIssue({
            code: 'custom',
            path: ['target', 'components', i, 'workload'],
            message: `the upgrade scales ${c.name}'s Deployment or StatefulSet to 0 and back: name it (kind, name)`,
          });
      });
      if (parseRelease(from) && parseRelease(to) && isMajorUpgrade(from, to))
        ctx.addIssue({
          code: 'custom',
          path: ['spec', 'upgrade', 'toVersion'],
          message: `a major upgrade (${from} -> ${to}) on kubernetes is not built: its Airflow 3 config lint reads a local component's config; upgrade within Airflow ${from.split('.')[0] ?? ''} here, or on a local target`,
        });
    }
    const critical = plan.spec.validation.criticalDags;
    critical.forEach((dag, i) => {
      if (critical.indexOf(dag) !== i)
        ctx.addIssue({
          code: 'custom',
          path: ['spec', 'validation', 'criticalDags', i],
          message: `${dag} is listed twice`,
        });
    });
  });

export type UpgradePlan = z.infer<typeof upgradePlanSchema>;
export type UpgradePlanInput = z.input<typeof upgradePlanSchema>;
export type BackupPlan = UpgradePlan['spec']['backup'];
