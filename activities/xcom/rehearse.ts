import { heartbeat } from '@temporalio/activity';
import { formatBytesExact } from '../../domain/figures.js';
import type { ChangeStage, RehearsalEvidence } from '../../domain/evidence.js';
import type { Plan } from '../../domain/plan.js';
import { requireAdapter, type Adapters } from '../adapters.js';
import { gate, timed } from '../engine/timing.js';

export function rehearseActivities(adapters: Adapters) {
  return {
    /**
     * §5: the kill-switch rehearsal, inside Airflow, with the env exactly as it
     * will be deployed: offload, read back under BaseXCom (break), round-trip,
     * re-emit (heal), clean up. Nothing global changes.
     */
    async rehearse({
      plan,
      runId,
      stage,
    }: {
      plan: Plan;
      runId: string;
      stage: ChangeStage;
    }): Promise<RehearsalEvidence> {
      const probes = requireAdapter(adapters, 'probes', plan, 'run the kill-switch rehearsal inside Airflow');
      const component = plan.target.components[0];
      if (!component) throw new Error('plan has no components');
      return timed(async () => {
        const outcome = await probes.rehearse({ component, plan, runId, env: stage.env, heartbeat });
        const reasons: string[] = [];
        if (!outcome.offloaded)
          reasons.push(`the ${formatBytesExact(outcome.valueBytes)} sentinel was not offloaded`);
        if (!outcome.breakConfirmed)
          reasons.push('BaseXCom did not return the path string: the break was not reproduced');
        if (!outcome.roundTripIntact) reasons.push('the offloaded object did not round-trip intact');
        if (!outcome.healConfirmed)
          reasons.push('re-emitting under BaseXCom did not return the data: heal not confirmed');
        if (!outcome.sentinelCleaned)
          reasons.push(`the sentinel object ${outcome.objectPath} was not deleted`);
        return { ...outcome, gate: gate(reasons) };
      });
    },
  };
}
