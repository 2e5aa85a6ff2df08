/**
 * The runbook registry for clients: a plan's `kind` picks the runbook, its
 * workflow type and its plan schema. The engine never imports this; adding a
 * runbook adds an entry here (and its activities in activities/index.ts, its
 * workflow in workflows/index.ts, its report sections in client/runbooks.ts).
 */
import type { z } from 'zod';
import { formatBytes } from './figures.js';
import type { thresholdSchema } from './object-storage.js';
import { FAULT_INJECTIONS } from './cutover.js';
import { objectLocation, type LifecyclePlan } from './lifecycle.js';
import { planSchema as xcomPlanSchema, type Plan as XComPlan } from './plan.js';
import { LEGACY_LAYOUT_NOTICE, isLegacyXComLayout, withSpecLayout } from './xcom-layout.js';
import { STATE_STORE_KIND, STATE_STORE_WORKFLOW_TYPE } from './statestore/kind.js';
import { stateStorePlanSchema, type StateStorePlan } from './statestore/plan.js';
import { STATE_STORE_FAULT_INJECTIONS } from './statestore/run.js';
import { WORKFLOW_TYPE as XCOM_WORKFLOW_TYPE, XCOM_KIND } from './xcom-kind.js';
import { ASSESSMENT_KIND, ASSESSMENT_WORKFLOW_TYPE } from './assessment/kind.js';
import { assessmentWorkflowId, workflowIdFor } from './plan-key.js';
import { assessmentPlanSchema, type AssessmentPlan } from './assessment/plan.js';
import { UPGRADE_KIND, UPGRADE_WORKFLOW_TYPE } from './upgrade/kind.js';
import { upgradePlanSchema, type UpgradePlan } from './upgrade/plan.js';
import { UPGRADE_FAULT_INJECTIONS } from './upgrade/run.js';
import { FAULT_INJECTION_NAMES, RUNBOOK_KINDS, RUNBOOK_NAMES } from './runbook-names.js';

export interface RunbookEntry {
  kind: string;
  workflowType: string;
  /** The phase a run starts in (the CutoverPhase search attribute before the first workflow task). */
  firstPhase: string;
  /** One line for people: what the runbook changes. */
  title: string;
  planSchema: z.ZodType;
  /** The `--break` drills it knows. */
  faultInjections: readonly string[];
  /** Reads only: no approval, no change; runs never count as a cut-over on the target. */
  readOnly?: boolean;
  /**
   * What a run of this plan changes, in a few words for the Web UI's one-line summary
   * ("XCom backend -> s3://aws_default@bucket/xcom at 1.6 MB").
   */
  changes(plan: LoadablePlan): string;
  /**
   * Lock keys for what a run changes beyond the envelope's target and change (domain/engine/locks.ts),
   * e.g. a bucket's lifecycle configuration.
   */
  locks?(plan: LoadablePlan): string[];
  /** Rewrites an older layout of its plans, with a notice saying what to change; null when current. */
  migrate?(raw: Record<string, unknown>): { raw: Record<string, unknown>; notice: string } | null;
}

/** A plan of a backend flip: a config change with values routed to object storage. */
export type BackendFlipPlan = XComPlan | StateStorePlan;

/** A plan of a runbook that changes production. */
export type AnyPlan = BackendFlipPlan | UpgradePlan;

/** A plan of any registered runbook, read-only ones included (what a plan file may hold). */
export type LoadablePlan = AnyPlan | AssessmentPlan;

export const RUNBOOKS: readonly RunbookEntry[] = [
  {
    kind: XCOM_KIND,
    workflowType: XCOM_WORKFLOW_TYPE,
    firstPhase: 'CALIBRATE',
    title: 'XCom backend flip to object storage (XComObjectStorageBackend with a size threshold)',
    planSchema: xcomPlanSchema,
    faultInjections: FAULT_INJECTIONS,
    changes: (plan) =>
      plan.kind === XCOM_KIND
        ? `XCom backend -> ${plan.spec.xcom.path} at ${thresholdWords(plan.spec.xcom.threshold)}`
        : '',
    locks: (plan) => (plan.kind === XCOM_KIND ? storageLocks(plan) : []),
    migrate: (raw) =>
      isLegacyXComLayout(raw) ? { raw: withSpecLayout(raw), notice: LEGACY_LAYOUT_NOTICE } : null,
  },
  {
    kind: STATE_STORE_KIND,
    workflowType: STATE_STORE_WORKFLOW_TYPE,
    firstPhase: 'CALIBRATE',
    title: 'Airflow 3.3 task/asset state store flip to object storage (StateStoreObjectStorageBackend)',
    planSchema: stateStorePlanSchema,
    faultInjections: STATE_STORE_FAULT_INJECTIONS,
    changes: (plan) =>
      plan.kind === STATE_STORE_KIND
        ? `State store backend -> ${plan.spec.stateStore.path} at ${thresholdWords(plan.spec.stateStore.threshold)}`
        : '',
    locks: (plan) => (plan.kind === STATE_STORE_KIND ? storageLocks(plan) : []),
  },
  {
    kind: ASSESSMENT_KIND,
    workflowType: ASSESSMENT_WORKFLOW_TYPE,
    firstPhase: 'ASSESS',
    title: 'Deployment health assessment (read-only): components, pods, volumes, heartbeats, DAG visibility',
    planSchema: assessmentPlanSchema,
    faultInjections: [],
    changes: () => 'Deployment health assessment (read-only, changes nothing)',
    readOnly: true,
  },
  {
    kind: UPGRADE_KIND,
    workflowType: UPGRADE_WORKFLOW_TYPE,
    firstPhase: 'ASSESS',
    title: 'Airflow version upgrade: rehearsed migration, verified backup, fast rollback',
    planSchema: upgradePlanSchema,
    faultInjections: UPGRADE_FAULT_INJECTIONS,
    changes: (plan) =>
      plan.kind === UPGRADE_KIND
        ? `Airflow ${plan.airflow.version} -> ${plan.spec.upgrade.toVersion} (backup: ${plan.spec.backup.strategy})`
        : '',
    // The metadata DB is stopped, migrated and maybe restored: one upgrade per database at a time.
    locks: (plan) =>
      plan.kind === UPGRADE_KIND && plan.airflow.metadataDb.access === 'direct'
        ? [
            `metadata-db:${plan.airflow.metadataDb.urlEnv}@${plan.target.kind === 'local' ? plan.target.envFile : plan.target.release}`,
          ]
        : [],
  },
];

/** A plan's threshold rule in words: a fixed size, or the quantile calibration will round up from. */
function thresholdWords(t: ThresholdRule): string {
  return t.strategy === 'fixed'
    ? formatBytes(t.bytes)
    : `a threshold above ${t.quantile} (rounded up to ${formatBytes(t.roundTo)})`;
}

export function runbookOf(kind: unknown): RunbookEntry | undefined {
  return RUNBOOKS.find((r) => r.kind === kind);
}

/** Where a backend flip's values go, and the retention rule its plan asks for (if any). */
export function backendStorage(plan: BackendFlipPlan): {
  path: string;
  lifecycle: LifecyclePlan | undefined;
} {
  return plan.kind === XCOM_KIND
    ? { path: plan.spec.xcom.path, lifecycle: plan.spec.lifecycle }
    : { path: plan.spec.stateStore.path, lifecycle: plan.spec.lifecycle };
}

/** A bucket's lifecycle configuration is read, merged and written whole: one writer at a time. */
function storageLocks(plan: BackendFlipPlan): string[] {
  const { path, lifecycle } = backendStorage(plan);
  return lifecycle ? [`bucket-lifecycle:${objectLocation(path).bucket}`] : [];
}

type ThresholdRule = z.infer<typeof thresholdSchema>;

export const KINDS: readonly string[] = RUNBOOK_KINDS;

// The CLI's help and `cutover list` take the kinds, workflow types and faults from
// runbook-names.ts, without the schemas: a runbook added here and not there would be missing from
// them, so that is an error as soon as this loads.
const namesOf = (list: readonly { kind: string; workflowType: string }[]) =>
  list.map((r) => `${r.kind} ${r.workflowType}`).join(', ');
if (namesOf(RUNBOOKS) !== namesOf(RUNBOOK_NAMES))
  throw new Error(
    `domain/runbook-names.ts RUNBOOK_NAMES (${namesOf(RUNBOOK_NAMES)}) disagrees with RUNBOOKS`,
  );
if (
  [...new Set(RUNBOOKS.flatMap((r) => r.faultInjections))].sort().join() !==
  [...FAULT_INJECTION_NAMES].sort().join()
)
  throw new Error(
    'domain/runbook-names.ts FAULT_INJECTION_NAMES disagrees with the RUNBOOKS fault injections',
  );

/**
 * The workflow id a plan's run gets, as `validate` shows it: a cut-over's is fixed (one per target
 * and plan); a read-only run's ends in a random suffix, shown as `<6 hex>`.
 */
export function workflowIdShown(plan: LoadablePlan): string {
  return runbookOf(plan.kind)?.readOnly ? assessmentWorkflowId(plan, '<6 hex>') : workflowIdFor(plan);
}
