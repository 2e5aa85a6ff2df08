/**
 * The dossier in its three forms: Markdown (with its plots as SVG files beside it, or without them),
 * one self-contained HTML page, and JSON. The Markdown is the source: the HTML page renders the
 * same text, with each plot's image line replaced by the plot itself.
 */
import type { RunStatus } from '../domain/engine/run.js';
import type { Plot } from './plots/svg.js';
import { timelinePlot } from './plots/timeline.js';
import { rcaFigures } from './rca.js';
import { IMAGE_LINE, dossierMarkdown, type Dossier } from './dossier-model.js';
import { renderHtml } from './report-html.js';
import { renderReport, type HistoryFacts } from './report.js';
import { clientRunbook } from './runbooks.js';

export type DossierFormat = 'markdown' | 'html' | 'json';

export function buildDossier(status: RunStatus, history?: HistoryFacts): Dossier {
  const markdown = renderReport(status, history);
  const candidates = [...clientRunbook(status.runbook).plots(status)];
  const timeline = timelinePlot(status);
  if (timeline) candidates.push(timeline);
  const byFile = new Map(candidates.map((p) => [p.file, p]));
  const plots: Plot[] = [];
  for (const line of markdown.split('\n')) {
    const plot = byFile.get(IMAGE_LINE.exec(line)?.[1] ?? '');
    if (plot && !plots.includes(plot)) plots.push(plot);
  }
  return { markdown, plots };
}

/**
 * The dossier in one of its forms, as the text of one file. A caller that also writes the plots
 * passes the dossier it built for them, so that it is built once.
 */
export function renderDossier(
  status: RunStatus,
  format: DossierFormat,
  withPlotFiles = false,
  built?: Dossier,
  history?: HistoryFacts,
): string {
  if (format === 'json')
    return `${JSON.stringify({ ...status, rca: rcaFigures(status), ...(history ? { history } : {}) }, null, 2)}\n`;
  const d = built ?? buildDossier(status, history);
  return format === 'html' ? renderHtml(d) : dossierMarkdown(d, withPlotFiles);
}
