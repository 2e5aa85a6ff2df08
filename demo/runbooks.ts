/**
 * The runbooks the demo can run on its stack (`--runbook`): which checked-in plan, which
 * drills, whether the metadata DB needs the reference XCom history, which Airflow release and DAGs
 * the stack starts with, and each one's evidence read by its own types. The status's `runbook`
 * field says which evidence a status holds: nothing here reads rendered text back.
 */
import { ASSESSMENT_KIND } from '../domain/assessment/kind.js';
import type { AssessmentPlanInput } from '../domain/assessment/plan.js';
import type { CutoverStatus, Evidence as XComEvidence } from '../domain/cutover.js';
import type { RunStatus } from '../domain/engine/run.js';
import type { PlanInput } from '../domain/plan.js';
import { runbookOf, type LoadablePlan } from '../domain/runbooks.js';
import { STATE_STORE_KIND } from '../domain/statestore/kind.js';
import type { StateStorePlanInput } from '../domain/statestore/plan.js';
import type { StateStoreEvidence, StateStoreStatus } from '../domain/statestore/run.js';
import { UPGRADE_KIND } from '../domain/upgrade/kind.js';
import type { UpgradePlanInput } from '../domain/upgrade/plan.js';
import type { UpgradeEvidence, UpgradeStatus } from '../domain/upgrade/run.js';
import { XCOM_KIND } from '../domain/xcom-kind.js';

export const DEMO_RUNBOOK_NAMES = ['xcom', 'state-store', 'assess', 'upgrade'] as const;
export type DemoRunbookName = (typeof DEMO_RUNBOOK_NAMES)[number];

/** A parsed plan file of any of the runbooks, before its schema's defaults. */
export type RawPlan = PlanInput | StateStorePlanInput | AssessmentPlanInput | UpgradePlanInput;

/** The evidence phases of the flips (before AWAIT_GO); the change phases follow the go. */
const FLIP_EVIDENCE_PHASES = ['CALIBRATE', 'PREFLIGHT', 'RENDER', 'REHEARSE'] as const;

export interface DemoRunbook {
  name: DemoRunbookName;
  /** The plan kind (the status's `runbook`). */
  kind: string;
  /** What the banner calls the cut-over. */
  title: string;
  /** The checked-in plan the demo runs, relative to the repository root. */
  planFile: string;
  /** The `--break` drills the runbook knows (its registry entry's). */
  drills: readonly string[];
  /**
   * Whether the database is seeded with the reference XCom history (7,175 DAG runs, task instances
   * and XComs). The XCom calibration measures it; the upgrade must keep it (counted and checksummed
   * before and after every change to the DB); the state-store tables start empty, and that plan's
   * fixed threshold needs no history.
   */
  seedsXComHistory: boolean;
  /** The plan's object-storage path: its bucket is the one moto creates. */
  objectPath(raw: RawPlan): string;
  /** The phases that gather evidence before AWAIT_GO, in order (the go's wait comes after the last). */
  evidencePhases: readonly string[];
  /**
   * The Airflow release the stack starts on: the database is migrated by it and the env file names
   * it (AIRFLOW_VERSION, the supervisor runs its venv). Null: the default venv's, unnamed.
   */
  stackRelease(raw: RawPlan): string | null;
  /**
   * The DAGs the plan runs, each served from its file in dags/; null: the whole dags/ folder. A
   * runbook that starts on another release serves only these (a DAG of a newer release would be an
   * import error there).
   */
  dagIds(plan: LoadablePlan): string[] | null;
  /** Whether the plan keeps backups the demo points at a directory of its own (<dir>/backups). */
  keepsBackups: boolean;
  /** Whether its dry run reads the running deployment (Airflow is started for it too). */
  dryRunNeedsAirflow: boolean;
}

function drillsOf(kind: string): readonly string[] {
  const entry = runbookOf(kind);
  if (!entry) throw new Error(`no runbook registered for kind ${kind}`);
  return entry.faultInjections;
}

export const DEMO_RUNBOOKS: Record<DemoRunbookName, DemoRunbook> = {
  xcom: {
    name: 'xcom',
    kind: XCOM_KIND,
    title: 'the reference XCom-backend cut-over',
    planFile: 'plans/local.yaml',
    drills: drillsOf(XCOM_KIND),
    seedsXComHistory: true,
    objectPath: (raw) => (raw as PlanInput).spec.xcom.path,
    evidencePhases: FLIP_EVIDENCE_PHASES,
    stackRelease: () => null,
    dagIds: () => null,
    keepsBackups: false,
    dryRunNeedsAirflow: false,
  },
  'state-store': {
    name: 'state-store',
    kind: STATE_STORE_KIND,
    title: 'the state-store cut-over (Airflow 3.3 task and asset state to object storage)',
    planFile: 'plans/state-store-local.yaml',
    drills: drillsOf(STATE_STORE_KIND),
    seedsXComHistory: false,
    objectPath: (raw) => (raw as StateStorePlanInput).spec.stateStore.path,
    evidencePhases: FLIP_EVIDENCE_PHASES,
    stackRelease: () => null,
    dagIds: () => null,
    keepsBackups: false,
    dryRunNeedsAirflow: false,
  },
  assess: {
    name: 'assess',
    kind: ASSESSMENT_KIND,
    title: 'the deployment health assessment (read-only) of the demo stack',
    planFile: 'plans/assess-local.yaml',
    drills: drillsOf(ASSESSMENT_KIND),
    seedsXComHistory: false,
    // The assessment writes nothing: moto gets the bucket the demo's other plans use.
    objectPath: () => 's3://aws_default@cutover-demo',
    evidencePhases: ['ASSESS'],
    stackRelease: () => null,
    dagIds: () => null,
    keepsBackups: false,
    dryRunNeedsAirflow: false,
  },
  upgrade: {
    name: 'upgrade',
    kind: UPGRADE_KIND,
    title: 'the Airflow version upgrade (a rehearsed migration, a verified backup, a fast rollback)',
    planFile: 'plans/airflow-upgrade.yaml',
    drills: drillsOf(UPGRADE_KIND),
    seedsXComHistory: true,
    // The upgrade keeps nothing in object storage here (its dump goes to a directory): moto serves
    // the aws_default connection the env file names, on the bucket the demo's other plans use.
    objectPath: () => 's3://aws_default@cutover-demo',
    evidencePhases: ['ASSESS', 'PREFLIGHT', 'REHEARSE'],
    stackRelease: (raw) => (raw as UpgradePlanInput).airflow.version,
    dagIds: (plan) => {
      if (plan.kind !== UPGRADE_KIND) return null;
      const v = plan.spec.validation;
      return [...new Set([...v.criticalDags, v.dagId])];
    },
    keepsBackups: true,
    // Its evidence is the running release: the version inside every component, the health.
    dryRunNeedsAirflow: true,
  },
};

/** A status's evidence, typed by the runbook that recorded it. */
export type TypedEvidence =
  | { runbook: 'xcom'; evidence: XComEvidence }
  | { runbook: 'state-store'; evidence: StateStoreEvidence }
  | { runbook: 'upgrade'; evidence: UpgradeEvidence };

export function typedEvidence(status: RunStatus): TypedEvidence {
  if (status.runbook === STATE_STORE_KIND)
    return { runbook: 'state-store', evidence: (status as StateStoreStatus).evidence };
  if (status.runbook === UPGRADE_KIND)
    return { runbook: 'upgrade', evidence: (status as UpgradeStatus).evidence };
  // Anything else is the XCom flip's: a status of an older shape has no `runbook` field, and the
  // CLI's renderers (client/runbooks.ts) read it as the first runbook's too.
  return { runbook: 'xcom', evidence: (status as CutoverStatus).evidence };
}
