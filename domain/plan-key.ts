/** Identity of a cut-over: pure functions, safe for workflow code (no zod, no I/O). */
import type { PlanEnvelope } from './engine/plan.js';

type Plan = Pick<PlanEnvelope, 'name' | 'target'>;

/** A stable key for the system a plan changes: two cut-overs of one key must never overlap. */
export function targetKey(plan: Plan): string {
  const t = plan.target;
  return t.kind === 'kubernetes'
    ? `k8s-${t.context ?? 'current'}-${t.namespace}-${t.release}`
    : `local-${t.name}`;
}

export function workflowIdFor(plan: Plan): string {
  return `cutover/${targetKey(plan)}/${plan.name}`;
}

/** Read-only runs (assessments) get their own id, `cutover-assess/<target>/<plan>/<suffix>`: never a cut-over. */
export const ASSESSMENT_ID_PREFIX = 'cutover-assess/';

export function assessmentWorkflowId(plan: Plan, suffix: string): string {
  return `${ASSESSMENT_ID_PREFIX}${targetKey(plan)}/${plan.name}/${suffix}`;
}
