/**
 * The few SVG pieces the dossier's plots are drawn with. The plots are the project's own inline
 * SVG: a dossier attached to a change ticket must open with no network and no script, and three
 * small plots do not justify a charting library and its upgrades.
 */

/** One plot of a dossier: drawn once, embedded inline in HTML or written beside the Markdown. */
export interface Plot {
  /** File name beside the Markdown (`--out DIR`), and the plot's id in HTML. */
  file: string;
  /** What it shows, in words: the caption and the image's alt text. */
  title: string;
  svg: string;
}

export function esc(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

type Attrs = Record<string, string | number | undefined>;

function attrs(a: Attrs): string {
  return Object.entries(a)
    .flatMap(([k, v]) => (v === undefined ? [] : [` ${k}="${esc(typeof v === 'number' ? round(v) : v)}"`]))
    .join('');
}

/** Two decimals are finer than any screen or printer needs, and keep the files small and stable. */
function round(n: number): string {
  return String(Math.round(n * 100) / 100);
}

export function el(name: string, a: Attrs, children: string | string[] = ''): string {
  const inner = Array.isArray(children) ? children.join('') : children;
  return inner === '' ? `<${name}${attrs(a)}/>` : `<${name}${attrs(a)}>${inner}</${name}>`;
}

export function text(a: Attrs, content: string): string {
  return el('text', a, esc(content));
}

/** A tooltip for the element it is placed in (browsers show it on hover). */
export function tooltip(content: string): string {
  return el('title', {}, esc(content));
}

export const COLOURS = {
  ink: '#1f2933',
  muted: '#616e7c',
  grid: '#d9e2ec',
  bar: '#4c6fa8',
  offload: '#d9822b',
  threshold: '#c92a2a',
  green: '#2f9e44',
  amber: '#e6a700',
  red: '#c92a2a',
  grey: '#9aa5b1',
  wait: '#bcccdc',
} as const;

/** The document around a plot's body: a viewBox so it scales to the page, and a title for screen readers. */
export function svgDocument(width: number, height: number, title: string, body: string[]): string {
  return el(
    'svg',
    {
      xmlns: 'http://www.w3.org/2000/svg',
      viewBox: `0 0 ${width} ${height}`,
      width,
      height,
      role: 'img',
      'aria-label': title,
      'font-family': 'system-ui, -apple-system, Segoe UI, Helvetica, Arial, sans-serif',
      'font-size': 12,
    },
    [tooltip(title), ...body],
  );
}
