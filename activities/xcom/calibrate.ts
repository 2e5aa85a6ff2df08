import type { CalibrationEvidence } from '../../domain/evidence.js';
import { formatBytesExact, formatCount } from '../../domain/figures.js';
import type { Plan } from '../../domain/plan.js';
import { proposeThreshold } from '../../domain/threshold.js';
import { requireAdapter, type Adapters, type OffloadThreshold } from '../adapters.js';
import { PermanentFault } from '../engine/errors.js';
import { gate, timed } from '../engine/timing.js';

export function calibrateActivities(adapters: Adapters) {
  return {
    /** §1 of the dossier: measure XCom sizes in the DB, propose a threshold, project offloads. */
    async calibrate({
      plan,
      samplePercent,
    }: {
      plan: Plan;
      /** `--sample PCT`: measure a TABLESAMPLE SYSTEM sample; the exact scan is the default. */
      samplePercent?: number;
    }): Promise<CalibrationEvidence> {
      if (
        samplePercent !== undefined &&
        (typeof samplePercent !== 'number' || !(samplePercent > 0 && samplePercent <= 100))
      )
        throw new PermanentFault(
          `samplePercent: must be a number above 0 and at most 100 (got ${String(samplePercent)})`,
        );
      const metadb = requireAdapter(adapters, 'metadb', plan, 'measure XCom sizes');
      return timed(async () => {
        const strategy = plan.spec.xcom.threshold;
        const rampStart = plan.spec.xcom.ramp?.startBytes;
        // The proposal's threshold is computed in the measuring statement (one scan); the
        // domain's rule is checked against it below.
        const proposed: OffloadThreshold =
          strategy.strategy === 'fixed'
            ? strategy.bytes
            : {
                above: strategy.quantile === 'p99.9' ? 'p999' : strategy.quantile,
                roundTo: strategy.roundTo,
              };
        const { offloadAt, sample, ...stats } = await metadb.measureXComSizes({
          offloadAt: rampStart === undefined ? [proposed] : [proposed, rampStart],
          ...(samplePercent === undefined ? {} : { samplePercent }),
        });
        const proposal = proposeThreshold(stats.sizeBytes, strategy);
        const [main, ramped] = offloadAt ?? [];
        if (main?.thresholdBytes !== proposal.thresholdBytes)
          throw new Error(
            `the size query projected offloads at ${String(main?.thresholdBytes)} bytes where the proposal is ${proposal.thresholdBytes}`,
          );
        const projected = main.rows;
        const rampProjected = ramped?.rows;
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
            `${sample ? 'about ' : ''}${formatCount(projected)} historical rows would offload at ${formatBytesExact(proposal.thresholdBytes)}, above the plan's maxOffloadRows ${formatCount(plan.spec.xcom.maxOffloadRows)}: not near-inert`,
          );
        } else if (sample && projected + sample.rowsBound >= plan.spec.xcom.maxOffloadRows) {
          // A sample alone never passes the gate when the allowance is within its error bound.
          reasons.push(
            `measured on a ${sample.percent}% sample: about ${formatCount(projected)} rows (+- ${formatCount(sample.rowsBound)} at ${sample.confidence * 100}% confidence) would offload at ${formatBytesExact(proposal.thresholdBytes)}, within the error bound of the plan's maxOffloadRows ${formatCount(plan.spec.xcom.maxOffloadRows)}: calibrate on the whole table (without --sample) to decide`,
          );
        }
        if (rampStart !== undefined && rampStart <= proposal.thresholdBytes) {
          reasons.push(
            `ramp.startBytes ${rampStart} is not above the proposed threshold ${proposal.thresholdBytes}`,
          );
        }
        if (sample && rampStart !== undefined && (rampProjected ?? 0) === 0) {
          reasons.push(
            `measured on a ${sample.percent}% sample, which cannot show that the ramp's first step (${formatBytesExact(rampStart)}) offloads nothing: calibrate on the whole table (without --sample)`,
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
          ...(sample === undefined ? {} : { sample }),
          gate: gate(reasons),
        };
      });
    },
  };
}
