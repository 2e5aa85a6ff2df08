/** Lines every runbook's dry-run rendering shares. */
import type { RunStatus } from '../domain/engine/run.js';

export const gateWord = (g: { passed: boolean } | undefined | null): string =>
  !g ? '' : g.passed ? 'green' : 'RED';

export function failedSteps(status: RunStatus, phase: string): string[] {
  return status.steps
    .filter((s) => s.phase === phase && s.status === 'failed')
    .map((s) => `   [FAILED] ${s.step}: ${s.summary}`);
}
