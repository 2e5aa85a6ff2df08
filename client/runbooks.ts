/**
 * The runbook registry for the CLI's renderers: each kind's own dossier
 * sections and dry-run rendering. The common verbs and sections never name a
 * runbook; they look it up here by the status's `runbook`.
 */
import type { RunResult, RunStatus } from '../domain/engine/run.js';
import type { DryRunSection } from './dry-run-lines.js';
import type { Put, Section } from './report-md.js';
import type { CutoverStatus } from '../domain/cutover.js';
import type { StateStoreStatus } from '../domain/statestore/run.js';
import type { Plot } from './plots/svg.js';
import { assessmentDocument, assessmentGridPlot } from './assessment/report.js';
import { assessmentLines } from './assessment/summary.js';
import { stateStoreDryRun } from './statestore/dry-run.js';
import { stateStoreCalibrationPlots, stateStoreReportSections } from './statestore/report.js';
import { xcomDryRun } from './xcom/dry-run.js';
import { upgradeDryRun } from './upgrade/dry-run.js';
import { upgradeReportSections } from './upgrade/report.js';
import { xcomCalibrationPlot, xcomReportSections } from './xcom/report.js';

export interface ClientRunbook {
  kind: string;
  /** The runbook's dossier sections: before the operator decision, after it, and in the compensation. */
  report(status: RunStatus): { before: Section[]; after: Section[]; compensation(p: Put): void };
  /**
   * The dry run's evidence for a terminal, one entry per evidence phase in order. Sections rather
   * than one text so that a caller printing them as they arrive (the demo) picks them by phase.
   */
  dryRun(result: RunResult): DryRunSection[];
  /** A read-only runbook's whole document, in place of the dossier's sections around a change. */
  document?(status: RunStatus): string;
  /** The runbook's own plots, each referenced by its sections (report-md.ts plotLines). */
  plots(status: RunStatus): Plot[];
}

export type { DryRunSection } from './dry-run-lines.js';

const RUNBOOKS: ClientRunbook[] = [
  {
    kind: 'XComBackendCutover',
    report: xcomReportSections,
    dryRun: xcomDryRun,
    plots: (s) => present(xcomCalibrationPlot((s as CutoverStatus).evidence.calibration)),
  },
  {
    kind: 'StateStoreBackendCutover',
    report: stateStoreReportSections,
    dryRun: stateStoreDryRun,
    plots: (s) => stateStoreCalibrationPlots((s as StateStoreStatus).evidence.calibration),
  },
  {
    kind: 'DeploymentAssessment',
    report: () => ({ before: [], after: [], compensation: () => undefined }),
    dryRun: assessmentLines,
    document: assessmentDocument,
    plots: (s) => present(assessmentGridPlot(s)),
  },
  {
    kind: 'AirflowUpgrade',
    report: upgradeReportSections,
    dryRun: upgradeDryRun,
    plots: () => [],
  },
];

function present(plot: Plot | null): Plot[] {
  return plot ? [plot] : [];
}

/** The renderers for a kind; a status without one (a run of an older shape) is the first runbook's. */
export function clientRunbook(kind: string | undefined): ClientRunbook {
  const found = RUNBOOKS.find((r) => r.kind === kind);
  if (found) return found;
  const first = RUNBOOKS[0];
  if (!first) throw new Error('no runbook renderers registered');
  return first;
}
