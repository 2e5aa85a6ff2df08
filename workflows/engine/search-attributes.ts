/**
 * Custom search attributes: the Web UI and `cutover list` filter on them.
 * The dev-server launcher registers exactly these keys.
 */
import { defineSearchAttributeKey } from '@temporalio/common';

export const PHASE = defineSearchAttributeKey('CutoverPhase', 'KEYWORD');
export const TARGET = defineSearchAttributeKey('CutoverTarget', 'KEYWORD');
export const PLAN = defineSearchAttributeKey('CutoverPlan', 'KEYWORD');
export const APPROVER = defineSearchAttributeKey('CutoverApprover', 'KEYWORD');
/** How the run ended (DONE, ROLLED_BACK, STOPPED...): a finished run's phase alone does not say. */
export const OUTCOME = defineSearchAttributeKey('CutoverOutcome', 'KEYWORD');

/**
 * What a run changes, as lock keys (domain/engine/locks.ts): the env file, the release, the values
 * file, the bucket's lifecycle. Set at start; a start is refused while a running cut-over holds one.
 */
export const LOCKS = defineSearchAttributeKey('CutoverLocks', 'KEYWORD_LIST');

/** The plan's kind: which runbook the run is (`cutover list --runbook`). */
export const RUNBOOK = defineSearchAttributeKey('CutoverRunbook', 'KEYWORD');

/**
 * A read-only runbook's verdict (OPERATIONAL, DEGRADED, DOWN) and its counts: `cutover list` and the
 * Web UI find the deployments that need attention without opening each run.
 */
export const VERDICT = defineSearchAttributeKey('CutoverVerdict', 'KEYWORD');
export const CRITICAL = defineSearchAttributeKey('CutoverCritical', 'INT');
export const WARNINGS = defineSearchAttributeKey('CutoverWarnings', 'INT');
export const RECOMMENDATIONS = defineSearchAttributeKey('CutoverRecommendations', 'INT');

export const SEARCH_ATTRIBUTES = [
  PHASE,
  TARGET,
  PLAN,
  APPROVER,
  OUTCOME,
  RUNBOOK,
  LOCKS,
  VERDICT,
  CRITICAL,
  WARNINGS,
  RECOMMENDATIONS,
];
