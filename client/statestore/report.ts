/** The state-store flip's own dossier sections: its calibration, preflight, rehearsal, verification, validation, heal. */
import type { RunStatus } from '../../domain/engine/run.js';
import type { StateStoreCalibration, StateStoreStatus } from '../../domain/statestore/run.js';
import { calibrationPlot } from '../plots/calibration.js';
import type { Plot } from '../plots/svg.js';
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

/** Each store's sizes as a plot, with the one threshold both share. */
export function stateStoreCalibrationPlots(c: StateStoreCalibration | null): Plot[] {
  if (!c) return [];
  return (['task', 'asset'] as const).flatMap((k) => {
    const store = c[k];
    const plot = calibrationPlot({
      file: `calibration-${k}-state.svg`,
      title: `${k}_state_store value sizes: ${count(store.rowCount)} plain rows`,
      bands: store.sizeBands ?? [],
      quantiles: store.sizeBytes,
      thresholdBytes: c.proposal.thresholdBytes,
      projectedOffloadRows: c.projectedOffloadRows,
      offloadNote: 'task and asset rows together',
    });
    return plot ? [plot] : [];
  });
}

export function stateStoreReportSections(s: RunStatus): {
  before: Section[];
  after: Section[];
  compensation(p: Put): void;
} {
  const ev = (s as StateStoreStatus).evidence;
  return {
    before: [
      {
        title: 'Calibration',
        render(p) {
          const c = ev.calibration;
          if (!c) return p(NOT_REACHED, '');
          p(`Measured in the metadata DB, ${span(c)}.`, '');
          p(
            ...mdTable(
              ['Store', 'Plain rows', 'Already wrapped', 'p50', 'p95', 'p99', 'p99.9', 'max'],
              (['task', 'asset'] as const).map((k) => [
                `${k}_state_store`,
                count(c[k].rowCount),
                c[k].wrapped.rows,
                bytes(c[k].sizeBytes.p50),
                bytes(c[k].sizeBytes.p95),
                bytes(c[k].sizeBytes.p99),
                bytes(c[k].sizeBytes.p999),
                bytes(c[k].sizeBytes.max),
              ]),
              ['l', 'r', 'r', 'r', 'r', 'r', 'r', 'r'],
            ),
            '',
            `Proposed threshold: **${exactBytes(c.proposal.thresholdBytes)}** (${c.proposal.strategy}: ${c.proposal.rationale}).`,
            `Existing rows at or above it: **${count(c.projectedOffloadRows)}** (the plan allows ${count(c.maxOffloadRows)}).`,
            '',
          );
          for (const plot of stateStoreCalibrationPlots(c)) p(...plotLines(plot));
          const producers = [
            ...c.task.topProducers.map((t) => ['task', t.name, t.key, count(t.rows), bytes(t.maxBytes)]),
            ...c.asset.topProducers.map((t) => ['asset', t.name, t.key, count(t.rows), bytes(t.maxBytes)]),
          ];
          if (producers.length > 0)
            p(
              '',
              'Largest producers:',
              '',
              ...mdTable(['Store', 'Producer', 'Key', 'Rows', 'Largest'], producers),
            );
          p('', gate(c.gate), '');
        },
      },
      { title: 'Objects under the backend prefix', render: (p) => objectsSection(ev, p) },
      { title: 'Preflight', render: (p) => preflightSection(ev.preflight, p) },
      { title: 'The change', render: (p) => changeSection(ev.change, ev.preview, p) },
      { title: 'Lifecycle rule', render: (p) => lifecycleSection(ev, p) },
      {
        title: 'Flip and heal rehearsal',
        render(p) {
          const r = ev.rehearsal;
          if (!r) return p(NOT_REACHED, '');
          p(
            `In ${r.component}, ${span(r)}: ${bytes(r.valueBytes.small)} and ${bytes(r.valueBytes.large)} values as task and asset state.`,
            '',
            ...mdTable(
              [
                'Marker in DB',
                'Offloaded',
                'Round trip',
                'Revert breaks reads',
                'Row rewrite heals',
                'Cleaned',
              ],
              [
                [
                  yes(r.checks.markerInDb),
                  yes(r.checks.offloaded),
                  yes(r.checks.roundTripIntact),
                  yes(r.checks.breakConfirmed),
                  yes(r.checks.healConfirmed),
                  yes(r.checks.cleaned),
                ],
              ],
            ),
            '',
            gate(r.gate),
            '',
          );
        },
      },
    ],
    after: [
      { title: 'Deploy', render: (p) => deploySection(ev.applies, ev.rollouts, p) },
      {
        title: 'Verification per component',
        render(p) {
          if (ev.verifications.length === 0) return p(NOT_REACHED, '');
          for (const v of ev.verifications)
            p(
              ...mdTable(
                ['Component', '[workers] state_store_backend', 'Path', 'Threshold', 'Compression', 'Error'],
                v.components.map((x) => [
                  x.component,
                  x.workerBackend,
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
        },
      },
      {
        title: 'Validation run',
        render(p) {
          if (ev.validations.length === 0) return p(NOT_REACHED, '');
          for (const v of ev.validations)
            p(
              ...mdTable(
                ['DAG', 'Run', 'State', 'Objects under the state path'],
                [[v.dagId, code(v.runId), v.state, v.objectCount]],
              ),
              '',
              `Tasks: ${
                Object.entries(v.taskStates)
                  .map(([t, st]) => `${t} ${st}`)
                  .join(', ') || 'none reported'
              }.`,
              '',
              gate(v.gate),
              '',
            );
        },
      },
      { title: 'Deployment health', render: (p) => healthSection(ev, p) },
    ],
    compensation(p) {
      undoSection(ev, p);
      const h = ev.heal;
      if (h) {
        p(
          `Data-aware heal since ${h.since}: **${count(h.rewritten)}** row(s) rewritten to plain values (${count(h.inlineRefs)} inline refs, ${count(h.objectRefs)} read back from objects) in ${duration(h.durationMs)}; ${count(h.markerRowsRemaining)} marker row(s) left.`,
          '',
        );
        if (h.unreadable.length > 0)
          p(
            ...mdTable(
              ['Store', 'Where', 'Key', 'Object', 'Why'],
              h.unreadable.map((u) => [u.store, u.where, u.key, u.path ? code(u.path) : '–', u.reason]),
            ),
            '',
          );
        p(gate(h.gate), '');
      }
      rerunSection(ev, 'while the flip was live', p);
    },
  };
}
