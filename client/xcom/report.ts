/** The XCom flip's own dossier sections: its calibration, preflight, rehearsal, verification, validation, heal. */
import { countText, sampleLines } from './sample-text.js';
import type { CutoverStatus } from '../../domain/cutover.js';
import type { CalibrationEvidence } from '../../domain/evidence.js';
import { calibrationPlot } from '../plots/calibration.js';
import type { Plot } from '../plots/svg.js';
import type { RunStatus } from '../../domain/engine/run.js';
import {
  bytes,
  code,
  count,
  duration,
  exactBytes,
  gate,
  mdTable,
  NOT_REACHED,
  plotLines,
  span,
  yes,
  type Put,
  type Section,
} from '../report-md.js';
import {
  changeSection,
  deploySection,
  healthSection,
  preflightSection,
  rerunSection,
  lifecycleSection,
  objectsSection,
  undoSection,
} from '../report-shared.js';

/** The XCom sizes as a plot: the distribution, the quantiles, the threshold and what it offloads. */
export function xcomCalibrationPlot(c: CalibrationEvidence | null): Plot | null {
  if (!c) return null;
  return calibrationPlot({
    file: 'calibration.svg',
    title: `XCom value sizes: ${count(c.rowCount)} values, threshold ${bytes(c.proposal.thresholdBytes)}`,
    bands: c.sizeBands ?? [],
    quantiles: c.sizeBytes,
    thresholdBytes: c.proposal.thresholdBytes,
    projectedOffloadRows: c.projectedOffloadRows,
  });
}

export function xcomReportSections(s: RunStatus): {
  before: Section[];
  after: Section[];
  compensation(p: Put): void;
} {
  const status = s as CutoverStatus;
  const ev = status.evidence;
  return {
    before: [
      {
        title: 'Calibration',
        render(p) {
          const c = ev.calibration;
          if (!c) p(NOT_REACHED, '');
          else {
            p(
              `Measured from ${c.source === 'in-pod' ? 'inside the scheduler pod' : 'the metadata DB'}, ${span(c)}.`,
              '',
            );
            if (c.sample) p(...sampleLines(c).map((l) => `**${l}**`), '');
            p(
              ...mdTable(
                ['XCom rows', 'p50', 'p95', 'p99', 'p99.9', 'max'],
                [
                  [
                    count(c.rowCount),
                    bytes(c.sizeBytes.p50),
                    bytes(c.sizeBytes.p95),
                    bytes(c.sizeBytes.p99),
                    bytes(c.sizeBytes.p999),
                    bytes(c.sizeBytes.max),
                  ],
                ],
                ['r', 'r', 'r', 'r', 'r', 'r'],
              ),
              '',
              ...mdTable(
                ['Rows above 48 KB', 'above 100 KB', 'above 1 MB'],
                [[count(c.rowsAbove['48KB']), count(c.rowsAbove['100KB']), count(c.rowsAbove['1MB'])]],
                ['r', 'r', 'r'],
              ),
              '',
              `Proposed threshold: **${exactBytes(c.proposal.thresholdBytes)}** (${c.proposal.strategy}: ${c.proposal.rationale}).`,
              `Historical rows that would offload at this threshold: **${countText(c, c.projectedOffloadRows)}** (the plan allows ${count(c.maxOffloadRows)}).`,
              '',
              ...plotLines(xcomCalibrationPlot(c)),
            );
            if (c.ramp)
              p(
                `Ramp: starts at ${exactBytes(c.ramp.startBytes)}, where ${count(c.ramp.projectedOffloadRows)} historical rows would offload.`,
              );
            if (c.topProducers.length > 0) {
              p(
                '',
                'Largest producers:',
                '',
                ...mdTable(
                  ['DAG', 'Task', 'Rows', 'Largest value'],
                  c.topProducers.map((t) => [t.dagId, t.taskId, count(t.rows), bytes(t.maxBytes)]),
                  ['l', 'l', 'r', 'r'],
                ),
              );
            }
            p('', gate(c.gate), '');
          }
        },
      },
      { title: 'Objects under the backend prefix', render: (p) => objectsSection(ev, p) },
      { title: 'Preflight', render: (p) => preflightSection(ev.preflight, p) },
      { title: 'The change', render: (p) => changeSection(ev.change, ev.preview, p) },
      { title: 'Lifecycle rule', render: (p) => lifecycleSection(ev, p) },
      {
        title: 'Kill-switch rehearsal',
        render(p) {
          const r = ev.rehearsal;
          if (!r) p(NOT_REACHED, '');
          else {
            const verdict = r.gate.passed ? 'PASSED' : 'FAILED';
            p(`Verdict: **${verdict}** (${span(r)}).`, '');
            p(
              ...mdTable(
                [
                  'Sentinel',
                  'Object',
                  'Offloaded',
                  'Revert breaks reads',
                  'Round trip intact',
                  'Re-run heals',
                  'Sentinel cleaned',
                ],
                [
                  [
                    bytes(r.valueBytes),
                    code(r.objectPath),
                    yes(r.offloaded),
                    yes(r.breakConfirmed),
                    yes(r.roundTripIntact),
                    yes(r.healConfirmed),
                    yes(r.sentinelCleaned),
                  ],
                ],
              ),
            );
            const timings = Object.entries(r.timingsMs);
            if (timings.length > 0)
              p('', `Timings: ${timings.map(([k, v]) => `${k} ${duration(v)}`).join(', ')}.`);
            p('', gate(r.gate), '');
          }
        },
      },
    ],
    after: [
      { title: 'Deploy', render: (p) => deploySection(ev.applies, ev.rollouts, p) },
      {
        title: 'Verification per component',
        render(p) {
          if (ev.verifications.length === 0) p(NOT_REACHED, '');
          ev.verifications.forEach((v, i) => {
            if (ev.verifications.length > 1) p(`Verification ${i + 1}:`, '');
            p(
              ...mdTable(
                ['Component', 'Pod', 'XCom class', 'Path', 'Threshold', 'Compression', 'Error'],
                v.components.map((x) => [
                  x.component,
                  x.pod,
                  x.xcomClass,
                  x.path,
                  exactBytes(x.threshold),
                  x.compression === '' ? '(none)' : x.compression,
                  x.error,
                ]),
              ),
              '',
              gate(v.gate),
              '',
            );
          });
        },
      },
      {
        title: 'Validation run',
        render(p) {
          if (ev.validations.length === 0) p(NOT_REACHED, '');
          for (const v of ev.validations) {
            p(
              ...mdTable(
                ['DAG', 'Run', 'State', 'XCom errors', 'Inline', 'Offloaded', 'Largest XCom', 'Objects'],
                [
                  [
                    v.dagId,
                    code(v.runId),
                    v.state,
                    v.xcomErrors,
                    v.inlineCount,
                    v.offloadedCount,
                    bytes(v.largestXComBytes),
                    v.objectCount,
                  ],
                ],
              ),
              '',
              `Tasks: ${
                Object.entries(v.taskStates)
                  .map(([t, s]) => `${t} ${s}`)
                  .join(', ') || 'none reported'
              }.`,
              '',
              gate(v.gate),
              '',
            );
          }
        },
      },
      { title: 'Deployment health', render: (p) => healthSection(ev, p) },
    ],
    compensation(p) {
      undoSection(ev, p);
      rerunSection(ev, 'under the new backend', p);
      if (ev.heal) {
        p(
          ...mdTable(
            ['DAG', 'Run', 'Reads data', 'Detail'],
            ev.heal.runs.map((x) => [x.dagId, code(x.runId), yes(x.readsData), x.detail]),
          ),
          '',
          gate(ev.heal.gate),
          '',
        );
      }
    },
  };
}
