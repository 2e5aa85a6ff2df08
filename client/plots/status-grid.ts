/** The assessment's component table as a status grid: one tile per component, coloured by its state. */
import type { Assessment, ComponentRow } from '../../domain/assessment/judge.js';
import { COLOURS, el, svgDocument, text, tooltip, type Plot } from './svg.js';

const COLUMNS = 3;
const TILE_W = 236;
const TILE_H = 78;
const GAP = 12;

const FILL: Record<ComponentRow['state'], string> = {
  running: COLOURS.green,
  partial: COLOURS.amber,
  failed: COLOURS.red,
  unknown: COLOURS.grey,
};

const LABEL: Record<ComponentRow['state'], string> = {
  running: 'Running',
  partial: 'Partial',
  failed: 'Failed',
  unknown: 'Unknown',
};

function clip(s: string, max: number): string {
  return s.length > max ? `${s.slice(0, max - 1)}…` : s;
}

export function statusGridPlot(a: Assessment): Plot | null {
  if (a.components.length === 0) return null;
  const rows = Math.ceil(a.components.length / COLUMNS);
  const W = COLUMNS * TILE_W + (COLUMNS + 1) * GAP;
  const H = rows * TILE_H + (rows + 1) * GAP;
  const title = `Components: ${a.verdict}, ${a.counts.critical} critical, ${a.counts.warnings} warnings`;
  const body = a.components.map((c, i) => {
    const x = GAP + (i % COLUMNS) * (TILE_W + GAP);
    const y = GAP + Math.floor(i / COLUMNS) * (TILE_H + GAP);
    const mine = a.findings.filter((f) => f.component === c.component);
    const critical = mine.filter((f) => f.severity === 'critical').length;
    const warnings = mine.filter((f) => f.severity === 'warning').length;
    const counts =
      critical + warnings === 0
        ? 'no findings'
        : [
            critical ? `${critical} critical` : '',
            warnings ? `${warnings} warning${warnings > 1 ? 's' : ''}` : '',
          ]
            .filter(Boolean)
            .join(' · ');
    return el('g', { 'data-component': c.component, 'data-state': c.state }, [
      tooltip(`${c.component}: ${LABEL[c.state]}. ${c.details}`),
      el('rect', {
        x,
        y,
        width: TILE_W,
        height: TILE_H,
        rx: 6,
        fill: FILL[c.state],
        'fill-opacity': 0.14,
        stroke: FILL[c.state],
        'stroke-width': 2,
      }),
      el('circle', { cx: x + 16, cy: y + 20, r: 6, fill: FILL[c.state] }),
      text({ x: x + 30, y: y + 24, 'font-weight': 'bold', fill: COLOURS.ink }, clip(c.component, 22)),
      text({ x: x + TILE_W - 10, y: y + 24, 'text-anchor': 'end', fill: COLOURS.ink }, LABEL[c.state]),
      text({ x: x + 12, y: y + 46, fill: COLOURS.ink }, counts),
      text({ x: x + 12, y: y + 66, fill: COLOURS.muted, 'font-size': 11 }, clip(c.details, 38)),
    ]);
  });
  return { file: 'components.svg', title, svg: svgDocument(W, H, title, body) };
}
