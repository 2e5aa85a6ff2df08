/**
 * The plan envelope every runbook shares: what it changes (target, airflow,
 * change), who may say go (approval) and how long a rollout may take. A
 * runbook's plan is this envelope plus its own fields (domain/<runbook> or
 * domain/plan.ts for the first one), and its `kind` picks the runbook.
 *
 * Plans never carry secrets, only the NAMES of the environment variables that
 * hold them; adapters resolve those on the worker.
 */
import { z } from 'zod';
import { DURATION_PATTERN } from '../duration.js';
import { isCommentLine, parseAllowedSigner, signerPrincipals } from './allowed-signers.js';

export const name = z
  .string()
  .regex(/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/, 'use lowercase letters, digits and dashes (max 63)');

export const envVarName = z
  .string()
  .regex(/^[A-Z_][A-Z0-9_]*$/, 'must be the NAME of an environment variable on the worker, not its value');

export const durationSchema = z.union([
  z.number().int().positive(),
  z.string().regex(DURATION_PATTERN, 'use a duration like 90s, 15m, 24h or 7d'),
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

export const targetSchema = z.discriminatedUnion('kind', [kubernetesTarget, localTarget]);

export const changeSchema = z.discriminatedUnion('mode', [gitopsChange, configMapChange, localEnvChange]);

export const airflowSchema = z
  .object({
    /** The Airflow release running on the target, e.g. "3.1" or "2.10". */
    version: z.string().regex(/^[23]\.\d+(\.\d+)?$/, 'an Airflow 2.x or 3.x version like 3.1'),
    minCommonIoProvider: z
      .string()
      .regex(/^\d+\.\d+(\.\d+)?$/)
      .default('1.4.0'),
    metadataDb: metadataDbSchema,
    /**
     * The REST API validation runs and re-runs go through: Airflow 3's /api/v2 (token from
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
  .strict();

/** One line of an allowed_signers file (domain/engine/allowed-signers.ts says what is accepted). */
const allowedSignerLine = z.string().superRefine((line, ctx) => {
  if (isCommentLine(line)) return;
  const parsed = parseAllowedSigner(line);
  if ('problem' in parsed) ctx.addIssue({ code: 'custom', message: parsed.problem });
});

export const approvalSchema = z
  .object({
    approvers: z.array(z.string().min(1)).min(1),
    allowSelfApproval: z.boolean().default(false),
    timeout: durationSchema.default('24h'),
    /**
     * The approvers' SSH public keys, in git's allowed_signers format (`name [namespaces="cutover"]
     * ssh-ed25519 AAAA... [comment]`). When given, every start and decision must be signed with one
     * of them (`ssh-keygen -Y sign -n cutover`), and self-approval is judged on keys, not names.
     */
    allowedSigners: z.array(allowedSignerLine).optional(),
  })
  .strict()
  .superRefine((a, ctx) => {
    if (!a.allowedSigners) return;
    const principals = signerPrincipals(a.allowedSigners);
    if (principals.size === 0) {
      ctx.addIssue({
        code: 'custom',
        path: ['allowedSigners'],
        message: 'lists no key: remove it to approve by name, or add one line per approver',
      });
      return;
    }
    a.approvers.forEach((name, i) => {
      if (!principals.has(name))
        ctx.addIssue({
          code: 'custom',
          path: ['approvers', i],
          message: `${name} has no key in approval.allowedSigners: with signers, every approver needs one`,
        });
    });
  });

export const rolloutSchema = z
  .object({ timeout: durationSchema.default('10m') })
  .strict()
  .default({ timeout: '10m' });

export const apiVersionSchema = z.literal('cutover/v1');

/**
 * The envelope's fields, spread into each runbook's plan schema after `apiVersion` and its `kind`
 * and before its own fields.
 */
export const envelopeFields = {
  name: name,
  description: z.string().optional(),
  target: targetSchema,
  airflow: airflowSchema,
  change: changeSchema,
  approval: approvalSchema,
  rollout: rolloutSchema,
};

export const envelopeSchema = z.object({ apiVersion: apiVersionSchema, kind: z.string(), ...envelopeFields });

/** What the engine, the change/rollout adapters and the CLI may rely on in a changing runbook's plan. */
export type PlanEnvelope = z.infer<typeof envelopeSchema>;

/**
 * What the engine needs of any plan: its name and target, and the approval policy where the runbook
 * changes production. A read-only runbook's plan (an assessment) carries no change and no approval.
 */
export interface EnginePlan {
  name: string;
  target: PlanEnvelope['target'];
  approval?: PlanEnvelope['approval'];
}

/** The Airflow a read-only runbook inspects: the envelope's fields less what only a change uses. */
export const inspectedAirflowSchema = airflowSchema.omit({ minCommonIoProvider: true });

/** What an inspection of a deployment needs of a plan, whichever runbook's it is. */
export interface InspectedPlan {
  name: string;
  target: PlanEnvelope['target'];
  airflow: z.infer<typeof inspectedAirflowSchema>;
}
export type Component = PlanEnvelope['target']['components'][number];

/** The envelope's cross-field rules: every runbook's schema applies them in its superRefine. */
export function checkEnvelope(plan: PlanEnvelope, ctx: z.RefinementCtx): void {
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
  checkInspected(plan, ctx);
}

/** The rules of what a plan inspects (components, metadata-DB access), for every runbook's plan. */
export function checkInspected(plan: InspectedPlan, ctx: z.RefinementCtx): void {
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
}
