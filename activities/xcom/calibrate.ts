import type { CalibrationEvidence } from '../../domain/evidence.js';
import { formatBytesExact, formatCount } from '../../domain/figures.js';
import type { Plan } from '../../domain/plan.js';
import { proposeThreshold } from '../../domain/threshold.js';
import { requireAdapter, type Adapters } from '../adapters.js';
import { gate, timed } from '../engine/timing.js';

export function calibrateActivities(adapters: Adapters) {
  return {
    /** §1 of the dossier: measure XCom sizes in the DB, propose a threshold, project offloads. */
    async calibrate({ plan }: { plan: Plan }): Promise<CalibrationEvidence> {
      const metadb = requireAdapter(adapters, 'metadb', plan, 'measure XCom sizes');
      return timed(async () => {
        const stats = await metadb.measureXComSizes();
        const proposal = proposeThreshold(stats.sizeBytes, plan.spec.xcom.threshold);
        const rampStart = plan.spec.xcom.ramp?.startBytes;
        const [projected = 0, rampProjected] = await metadb.countRowsAtOrAbove(
          rampStart === undefined ? [proposal.thresholdBytes] : [proposal.thresholdBytes, rampStart],
        );
        const reasons: string[] = [];
        const nonJson = stats.nonJson;
        if (nonJson && nonJson.rows > 0) {
          const shown = nonJson.producers.reduce((sum, p) => sum + p.rows, 0);
          const who =
            nonJson.producers.map((p) => `${p.dagId}.${p.taskId} (${p.rows})`).join(', ') +
            (shown < nonJson.rows ? ` and others (${nonJson.rows - shown})` : '');
          reasons.push(
            `${nonJson.rows} xcom rows hold values that are not JSON (${nonJson.pickled} of them pickled: ` +
              `[core] enable_xcom_pickling is or was on), written by ${who}: ` +
              'the object-storage backend JSON-encodes every value and never pickles, so their sizes cannot be measured as it will count them ' +
              '(they are left out of the figures above) and a task whose values only pickling can carry fails at its first push after the flip; ' +
              'make those tasks push JSON-serialisable values, turn pickling off, and calibrate again once their rows are gone (airflow db clean)',
          );
        }
        if (projected > plan.spec.xcom.maxOffloadRows) {
          reasons.push(
            `${formatCount(projected)} historical rows would offload at ${formatBytesExact(proposal.thresholdBytes)}, above the plan's maxOffloadRows ${formatCount(plan.spec.xcom.maxOffloadRows)}: not near-inert`,
          );
        }
        if (rampStart !== undefined && rampStart <= proposal.thresholdBytes) {
          reasons.push(
            `ramp.startBytes ${rampStart} is not above the proposed threshold ${proposal.thresholdBytes}`,
          );
        }
        if (rampStart !== undefined && (rampProjected ?? 0) > 0) {
          reasons.push(
            `the ramp's first step (${formatBytesExact(rampStart)}) would already offload ${formatCount(rampProjected ?? 0)} rows; start above the max (${formatBytesExact(stats.sizeBytes.max)})`,
          );
        }
        return {
          source: metadb.source,
          ...stats,
          proposal,
          projectedOffloadRows: projected,
          maxOffloadRows: plan.spec.xcom.maxOffloadRows,
          ...(rampStart === undefined
            ? {}
            : { ramp: { startBytes: rampStart, projectedOffloadRows: rampProjected ?? 0 } }),
          gate: gate(reasons),
        };
      });
    },
  };
}
