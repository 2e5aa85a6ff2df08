/**
 * Statuses as the engine reports them, whatever version of the workflow code
 * produced them: runs started before the engine kept the decision and the
 * compensation inside the XCom evidence; they are lifted to where the engine
 * keeps them now, so every reader sees one shape.
 */
import type { CompensationState, RunStatus } from '../domain/engine/run.js';

type Legacy = Partial<RunStatus<Record<string, unknown>>> & { evidence?: Record<string, unknown> };

export function normalizeStatus<S extends RunStatus>(raw: S): S {
  const s = raw as unknown as Legacy;
  const ev = s.evidence;
  if (!ev || ('decision' in s && 'compensation' in s)) return raw;
  const legacyComp = ev['compensation'] as (CompensationState & Record<string, unknown>) | null | undefined;
  const { decision = null, compensation: _dropped, ...rest } = ev;
  const evidence: Record<string, unknown> = {
    reverts: legacyComp?.['reverts'] ?? [],
    revertRollout: legacyComp?.['rollout'] ?? null,
    affected: legacyComp?.['affected'] ?? null,
    reruns: legacyComp?.['reruns'] ?? null,
    heal: legacyComp?.['heal'] ?? null,
    ...rest,
  };
  const compensation: CompensationState | null = legacyComp
    ? {
        trigger: legacyComp.trigger,
        completed: legacyComp.completed,
        failed: legacyComp.failed,
        remaining: legacyComp.remaining,
        undoRemaining: legacyComp.completed.includes('revert') ? [] : ['revert'],
        operatorActions: legacyComp.operatorActions,
      }
    : null;
  return {
    ...raw,
    runbook: s.runbook ?? 'XComBackendCutover',
    evidence,
    decision,
    compensation,
  } as S;
}
