/**
 * The runbooks the demo can run on its stack (`--runbook`): which checked-in plan, which
 * drills, whether the metadata DB needs the reference XCom history, and each one's evidence read
 * by its own types. The status's `runbook` field says which evidence a status holds: nothing here
 * reads rendered text back.
 */
import { ASSESSMENT_KIND } from '../domain/assessment/kind.js';
import type { AssessmentPlanInput } from '../domain/assessment/plan.js';
import type { CutoverStatus, Evidence as XComEvidence } from '../domain/cutover.js';
import type { RunStatus } from '../domain/engine/run.js';
import type { PlanInput } from '../domain/plan.js';
import { runbookOf } from '../domain/runbooks.js';
import { STATE_STORE_KIND } from '../domain/statestore/kind.js';
import type { StateStorePlanInput } from '../domain/statestore/plan.js';
import type { StateStoreEvidence, StateStoreStatus } from '../domain/statestore/run.js';
import { XCOM_KIND } from '../domain/xcom-kind.js';

export const DEMO_RUNBOOK_NAMES = ['xcom', 'state-store', 'assess'] as const;
export type DemoRunbookName = (typeof DEMO_RUNBOOK_NAMES)[number];

/** A parsed plan file of either runbook, before its schema's defaults. */
export type RawPlan = PlanInput | StateStorePlanInput | AssessmentPlanInput;

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
   * Whether the database is seeded with the reference XCom history. Only the XCom calibration
   * measures it; the state-store tables start empty, and that plan's fixed threshold needs no history.
   */
  seedsXComHistory: boolean;
  /** The plan's object-storage path: its bucket is the one moto creates. */
  objectPath(raw: RawPlan): string;
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
  },
  'state-store': {
    name: 'state-store',
    kind: STATE_STORE_KIND,
    title: 'the state-store cut-over (Airflow 3.3 task and asset state to object storage)',
    planFile: 'plans/state-store-local.yaml',
    drills: drillsOf(STATE_STORE_KIND),
    seedsXComHistory: false,
    objectPath: (raw) => (raw as StateStorePlanInput).spec.stateStore.path,
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
  },
};

/** A status's evidence, typed by the runbook that recorded it. */
export type TypedEvidence =
  { runbook: 'xcom'; evidence: XComEvidence } | { runbook: 'state-store'; evidence: StateStoreEvidence };

export function typedEvidence(status: RunStatus): TypedEvidence {
  if (status.runbook === STATE_STORE_KIND)
    return { runbook: 'state-store', evidence: (status as StateStoreStatus).evidence };
  // Anything else is the XCom flip's: a status of an older shape has no `runbook` field, and the
  // CLI's renderers (client/runbooks.ts) read it as the first runbook's too.
  return { runbook: 'xcom', evidence: (status as CutoverStatus).evidence };
}
