/**
 * The runbooks' kinds, workflow types and drill fault names without their plan schemas: what the
 * CLI's help, option choices and `cutover list` need, so that they do without loading zod and every
 * schema (~0.1 s). domain/runbooks.ts checks when it loads that RUNBOOKS says the same.
 */
import { ASSESSMENT_KIND, ASSESSMENT_WORKFLOW_TYPE } from './assessment/kind.js';
import { FAULT_INJECTIONS } from './cutover.js';
import { STATE_STORE_KIND, STATE_STORE_WORKFLOW_TYPE } from './statestore/kind.js';
import { STATE_STORE_FAULT_INJECTIONS } from './statestore/run.js';
import { UPGRADE_KIND, UPGRADE_WORKFLOW_TYPE } from './upgrade/kind.js';
import { UPGRADE_FAULT_INJECTIONS } from './upgrade/run.js';
import { WORKFLOW_TYPE as XCOM_WORKFLOW_TYPE, XCOM_KIND } from './xcom-kind.js';

/** Each runbook's plan kind and workflow type, in the order of RUNBOOKS. */
export const RUNBOOK_NAMES: readonly { kind: string; workflowType: string }[] = [
  { kind: XCOM_KIND, workflowType: XCOM_WORKFLOW_TYPE },
  { kind: STATE_STORE_KIND, workflowType: STATE_STORE_WORKFLOW_TYPE },
  { kind: ASSESSMENT_KIND, workflowType: ASSESSMENT_WORKFLOW_TYPE },
  { kind: UPGRADE_KIND, workflowType: UPGRADE_WORKFLOW_TYPE },
];

/** Every plan kind, in the order of RUNBOOKS (the first is `cutover schema`'s default). */
export const RUNBOOK_KINDS: readonly string[] = RUNBOOK_NAMES.map((r) => r.kind);

/** Every runbook's drill faults (`cutover start --break`), each once. */
export const FAULT_INJECTION_NAMES: readonly string[] = [
  ...new Set<string>([...FAULT_INJECTIONS, ...STATE_STORE_FAULT_INJECTIONS, ...UPGRADE_FAULT_INJECTIONS]),
];
