/**
 * The runbooks' kinds and drill fault names without their plan schemas: what the CLI's help and
 * option choices list, so that `cutover --help` need not load zod and every schema (~0.1 s).
 * domain/runbooks.ts checks when it loads that RUNBOOKS says the same.
 */
import { ASSESSMENT_KIND } from './assessment/kind.js';
import { FAULT_INJECTIONS } from './cutover.js';
import { STATE_STORE_KIND } from './statestore/kind.js';
import { STATE_STORE_FAULT_INJECTIONS } from './statestore/run.js';
import { UPGRADE_KIND } from './upgrade/kind.js';
import { UPGRADE_FAULT_INJECTIONS } from './upgrade/run.js';
import { XCOM_KIND } from './xcom-kind.js';

/** Every plan kind, in the order of RUNBOOKS (the first is `cutover schema`'s default). */
export const RUNBOOK_KINDS: readonly string[] = [XCOM_KIND, STATE_STORE_KIND, ASSESSMENT_KIND, UPGRADE_KIND];

/** Every runbook's drill faults (`cutover start --break`), each once. */
export const FAULT_INJECTION_NAMES: readonly string[] = [
  ...new Set<string>([...FAULT_INJECTIONS, ...STATE_STORE_FAULT_INJECTIONS, ...UPGRADE_FAULT_INJECTIONS]),
];
