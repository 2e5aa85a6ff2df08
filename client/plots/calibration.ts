/**
 * The calibration as a picture: how many values of each size (both axes logarithmic: sizes span
 * bytes to megabytes, counts thousands to one), the quantiles marked, the threshold drawn, and the
 * values it would offload in another colour.
 */
import type { SizeBand, SizeQuantiles } from '../../domain/evidence.js';
import { formatBytes, formatBytesExact, formatCount } from '../../domain/figures.js';
import { COLOURS, el, svgDocument, text, tooltip, type Plot } from './svg.js';

export interface CalibrationPlotInput {
  file: string;
  title: string;
  bands: SizeBand[];
  quantiles: SizeQuantiles;
  thresholdBytes: number;
  /** Values at or above the threshold, counted exactly by the database (the bands only approximate it). */
  projectedOffloadRows: number;
  /** What projectedOffloadRows counts, when it is not only this plot's values. */
  offloadNote?: string;
}

const W = 760;
const H = 330;
const M = { left: 64, right: 24, top: 76, bottom: 48 };
const PW = W - M.left - M.right;
const PH = H - M.top - M.bottom;
/** An estimate of a label character's width at 12 px, to keep labels apart. */
const CHAR_W = 6.6;
/** Size 0 has no logarithm: its band is drawn from half a byte. */
const SMALLEST = 0.5;

export function calibrationPlot(input: CalibrationPlotInput): Plot | null {
  const bands = input.bands.filter((b) => b.rows > 0);
  const first = bands[0];
  const last = bands[bands.length - 1];
  if (!first || !last) return null;
  const th = input.thresholdBytes;
  let lo = Math.log2(Math.max(SMALLEST, first.fromBytes));
  let hi = Math.log2(last.toBytes);
  if (th > 0) {
    lo = Math.min(lo, Math.floor(Math.log2(th)) - 1);
    hi = Math.max(hi, Math.ceil(Math.log2(th)) + 1);
  }
  const x = (bytes: number) => M.left + ((Math.log2(Math.max(SMALLEST, bytes)) - lo) / (hi - lo)) * PW;

  const maxRows = Math.max(...bands.map((b) => b.rows));
  const yTop = Math.max(1, Math.ceil(Math.log10(maxRows)));
  const yBottom = Math.log10(0.5);
  const y = (rows: number) => M.top + PH - ((Math.log10(rows) - yBottom) / (yTop - yBottom)) * PH;

  const body: string[] = [];
  // Grid and axes: rows at powers of ten, sizes at powers of ten (1 B, 10 B, ... 1 MB, 10 MB).
  for (let e = 0; e <= yTop; e += 1) {
    const yy = y(10 ** e);
    body.push(
      el('line', { x1: M.left, x2: M.left + PW, y1: yy, y2: yy, stroke: COLOURS.grid }),
      text({ x: M.left - 6, y: yy + 4, 'text-anchor': 'end', fill: COLOURS.muted }, formatCount(10 ** e)),
    );
  }
  for (let e = 0; 10 ** e <= 2 ** hi; e += 1) {
    const b = 10 ** e;
    if (b < 2 ** lo) continue;
    const xx = x(b);
    body.push(
      el('line', { x1: xx, x2: xx, y1: M.top, y2: M.top + PH, stroke: COLOURS.grid, 'data-tick-bytes': b }),
      text({ x: xx, y: M.top + PH + 16, 'text-anchor': 'middle', fill: COLOURS.muted }, formatBytes(b)),
    );
  }
  body.push(
    text(
      { x: M.left + PW / 2, y: H - 8, 'text-anchor': 'middle', fill: COLOURS.ink },
      'value size (log scale)',
    ),
    text(
      {
        x: 14,
        y: M.top + PH / 2,
        'text-anchor': 'middle',
        fill: COLOURS.ink,
        transform: `rotate(-90 14 ${M.top + PH / 2})`,
      },
      'values (log scale)',
    ),
  );

  // What the threshold would offload: shaded to the right of the line.
  if (th > 0) {
    body.push(
      el('rect', {
        x: x(th),
        y: M.top,
        width: M.left + PW - x(th),
        height: PH,
        fill: COLOURS.offload,
        'fill-opacity': 0.08,
      }),
    );
  }

  // One bar per size band; the part at or above the threshold in the offload colour.
  const base = M.top + PH;
  for (const band of bands) {
    const x0 = x(band.fromBytes) + 0.5;
    const x1 = x(band.toBytes) - 0.5;
    const top = y(band.rows);
    const tip = tooltip(
      `${formatBytes(band.fromBytes)} to ${formatBytes(band.toBytes)}: ${formatCount(band.rows)} values`,
    );
    const split = th > 0 ? Math.min(Math.max(x(th), x0), x1) : x1;
    if (split > x0)
      body.push(el('rect', { x: x0, y: top, width: split - x0, height: base - top, fill: COLOURS.bar }, tip));
    if (split < x1)
      body.push(
        el(
          'rect',
          {
            x: split,
            y: top,
            width: x1 - split,
            height: base - top,
            fill: COLOURS.offload,
            'data-role': 'offload',
          },
          tip,
        ),
      );
  }

  // The quantiles, each label on the lowest of three rows where it clears the labels already placed.
  const marks: [string, number][] = [
    ['p50', input.quantiles.p50],
    ['p99', input.quantiles.p99],
    ['p99.9', input.quantiles.p999],
    ['max', input.quantiles.max],
  ];
  const rowEnds = [-Infinity, -Infinity, -Infinity];
  for (const [name, bytes] of marks) {
    const xx = x(bytes);
    const label = `${name} ${formatBytes(bytes)}`;
    const width = label.length * CHAR_W;
    const left = Math.min(Math.max(xx - width / 2, 0), W - width);
    const row = Math.max(
      0,
      rowEnds.findIndex((end) => end + 6 <= left),
    );
    rowEnds[row] = left + width;
    const ly = M.top - 8 - row * 15;
    body.push(
      el('line', {
        x1: xx,
        x2: xx,
        // From the plot's top, so that a line never crosses another quantile's label.
        y1: M.top,
        y2: base,
        stroke: COLOURS.ink,
        'stroke-dasharray': '3 3',
        'data-quantile': name,
      }),
      text({ x: left + width / 2, y: ly, 'text-anchor': 'middle', fill: COLOURS.ink }, label),
    );
  }

  if (th > 0) {
    const xx = x(th);
    const right = xx > M.left + PW * 0.6;
    const anchor = right ? 'end' : 'start';
    const lx = right ? xx - 6 : xx + 6;
    body.push(
      el('line', {
        x1: xx,
        x2: xx,
        y1: M.top - 58,
        y2: base,
        stroke: COLOURS.threshold,
        'stroke-width': 2,
        'data-role': 'threshold',
        'data-bytes': th,
      }),
      text(
        { x: lx, y: M.top - 54, 'text-anchor': anchor, fill: COLOURS.threshold, 'font-weight': 'bold' },
        `threshold ${formatBytesExact(th)}`,
      ),
      text(
        { x: lx, y: M.top + 14, 'text-anchor': anchor, fill: COLOURS.offload },
        `${formatCount(input.projectedOffloadRows)} values at or above it would offload${input.offloadNote ? ` (${input.offloadNote})` : ''}`,
      ),
    );
  }
  return { file: input.file, title: input.title, svg: svgDocument(W, H, input.title, body) };
}
