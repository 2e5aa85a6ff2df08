/** Markdown building blocks of the dossier, shared by the common sections and every runbook's own. */
import type { GateVerdict } from '../domain/engine/evidence.js';
import { formatBytes, formatBytesExact, formatCount, formatDuration } from '../domain/figures.js';
import type { Plot } from './plots/svg.js';

/** Appends lines to the document being written. */
export type Put = (...lines: string[]) => void;

/** One numbered section of the dossier: the report numbers them in order. */
export interface Section {
  title: string;
  render(p: Put): void;
}

export function cell(value: unknown): string {
  if (value === null || value === undefined || value === '') return '–';
  return String(value)
    .replace(/\|/g, '\\|')
    .replace(/\s*\n\s*/g, ' ');
}

export function mdTable(headers: string[], rows: unknown[][], align: ('l' | 'r')[] = []): string[] {
  return [
    `| ${headers.map(cell).join(' | ')} |`,
    `|${headers.map((_, i) => (align[i] === 'r' ? '---:' : '---')).join('|')}|`,
    ...rows.map((r) => `| ${r.map(cell).join(' | ')} |`),
  ];
}

/** Figures as the reference dossier writes them (domain/figures.ts): 1.6 MB, 7 175, 1 min 12 s. */
export const bytes = formatBytes;
/** A size the backend compares exactly (a threshold): 1.6 MB (1 600 000 B). */
export const exactBytes = formatBytesExact;
export const count = formatCount;
export const duration = formatDuration;

/** The Markdown that shows a plot: an image beside the dossier (`report --out DIR`), inline SVG in HTML. */
export function plotLines(plot: Plot | null): string[] {
  return plot ? [`![${plot.title.replace(/[[\]]/g, '')}](${plot.file})`, ''] : [];
}
export const yes = (b: boolean): string => (b ? 'yes' : '**NO**');
export const code = (s: string): string => `\`${s.replace(/`/g, "'")}\``;

export function gate(g: GateVerdict | undefined): string {
  if (!g) return '';
  return g.passed ? 'Gate: **green**.' : `Gate: **RED**: ${g.reasons.join('; ') || 'no reason given'}.`;
}

export function span(t: { startedAt?: string; finishedAt?: string }): string {
  return t.startedAt ? `${t.startedAt} → ${t.finishedAt ?? '…'}` : '';
}

export const NOT_REACHED = '_Not reached._';

export const seconds = (from?: string, to?: string): number | null =>
  from && to ? Math.round((Date.parse(to) - Date.parse(from)) / 100) / 10 : null;
