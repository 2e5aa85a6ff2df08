/** Visibility queries (List Filter syntax) over the cut-over's search attributes. */
import { literal } from '../domain/list-filter.js';
import { ASSESSMENT_ID_PREFIX } from '../domain/plan-key.js';
// The names only, not the runbooks' plan schemas: `cutover list` starts faster without them.
import { RUNBOOK_NAMES } from '../domain/runbook-names.js';

export { literal } from '../domain/list-filter.js';

/**
 * Workflow ids of dry runs (`cutover plan`): `cutover-plan/<target>/<plan>/<random>`. They
 * upsert the same CutoverTarget as real cut-overs (`cutover/<target>/<plan>`) but change
 * nothing, so they never count as "a cut-over running on the target".
 */
export const DRY_RUN_ID_PREFIX = 'cutover-plan/';

/** Cut-overs of one target that are still running (dry runs and read-only assessments excluded). */
/**
 * Running cut-overs (not dry runs, not assessments) that hold any of these lock keys, or run on this
 * target (runs started before lock keys existed carry only their target).
 */
export function runningHolding(locks: readonly string[], target: string): string {
  const holds = locks.length > 0 ? `CutoverLocks IN (${locks.map(literal).join(', ')}) OR ` : '';
  return `(${holds}CutoverTarget = ${literal(target)}) AND ExecutionStatus = "Running" AND WorkflowId NOT STARTS_WITH ${literal(DRY_RUN_ID_PREFIX)} AND WorkflowId NOT STARTS_WITH ${literal(ASSESSMENT_ID_PREFIX)}`;
}

export function runningOnTarget(target: string): string {
  return `CutoverTarget = ${literal(target)} AND ExecutionStatus = "Running" AND WorkflowId NOT STARTS_WITH ${literal(DRY_RUN_ID_PREFIX)} AND WorkflowId NOT STARTS_WITH ${literal(ASSESSMENT_ID_PREFIX)}`;
}

export interface ListFilter {
  all?: boolean;
  target?: string;
  phase?: string;
  /** A plan kind: only runs of that runbook. */
  runbook?: string;
}

export function listQuery(filter: ListFilter): string {
  // The workflow type, not the CutoverRunbook attribute: runs started before the attribute existed carry none.
  const chosen = filter.runbook ? RUNBOOK_NAMES.find((r) => r.kind === filter.runbook) : undefined;
  const clauses = [
    chosen
      ? `WorkflowType = ${literal(chosen.workflowType)}`
      : `WorkflowType IN (${RUNBOOK_NAMES.map((r) => literal(r.workflowType)).join(', ')})`,
  ];
  if (!filter.all) clauses.push('ExecutionStatus = "Running"');
  if (filter.target) clauses.push(`CutoverTarget = ${literal(filter.target)}`);
  if (filter.phase) clauses.push(`CutoverPhase = ${literal(filter.phase)}`);
  return clauses.join(' AND ');
}

/** The plan kind a workflow type runs, for listing. */
export function kindOfWorkflowType(type: string): string | null {
  return RUNBOOK_NAMES.find((r) => r.workflowType === type)?.kind ?? null;
}
