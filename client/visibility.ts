/** Visibility queries (List Filter syntax) over the cut-over's search attributes. */
import { WORKFLOW_TYPE } from '../domain/cutover.js';

/** A string literal for a List Filter. */
export function literal(value: string): string {
  return `"${value.replace(/[\\"]/g, (c) => `\\${c}`)}"`;
}

/**
 * Workflow ids of dry runs (`cutover plan`): `cutover-plan/<target>/<plan>/<random>`. They
 * upsert the same CutoverTarget as real cut-overs (`cutover/<target>/<plan>`) but change
 * nothing, so they never count as "a cut-over running on the target".
 */
export const DRY_RUN_ID_PREFIX = 'cutover-plan/';

/** Cut-overs of one target that are still running (dry runs excluded). */
export function runningOnTarget(target: string): string {
  return `CutoverTarget = ${literal(target)} AND ExecutionStatus = "Running" AND WorkflowId NOT STARTS_WITH ${literal(DRY_RUN_ID_PREFIX)}`;
}

export interface ListFilter {
  all?: boolean;
  target?: string;
  phase?: string;
}

export function listQuery(filter: ListFilter): string {
  const clauses = [`WorkflowType = ${literal(WORKFLOW_TYPE)}`];
  if (!filter.all) clauses.push('ExecutionStatus = "Running"');
  if (filter.target) clauses.push(`CutoverTarget = ${literal(filter.target)}`);
  if (filter.phase) clauses.push(`CutoverPhase = ${literal(filter.phase)}`);
  return clauses.join(' AND ');
}
