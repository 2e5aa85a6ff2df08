/**
 * The upgrade's plan (kind AirflowUpgrade): the envelope every runbook shares, where `airflow.version`
 * is the release running now (x.y.z), plus the release to go to, how the metadata DB is backed up
 * before anything stops, the rehearsal, the DAGs that prove the new release, and how a rollback
 * brings the DB back.
 */
import { z } from 'zod';
import { apiVersionSchema, checkEnvelope, durationSchema, envelopeFields } from '../engine/plan.js';
import { UPGRADE_KIND } from './kind.js';
import { compareReleases, parseRelease, RELEASE_PATTERN } from './version.js';

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
    if (plan.target.kind !== 'local') {
      ctx.addIssue({
        code: 'custom',
        path: ['target', 'kind'],
        message:
          'AirflowUpgrade runs on a local target in this release; a Kubernetes upgrade (image tag via GitOps, the chart migration job) is not built yet',
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
