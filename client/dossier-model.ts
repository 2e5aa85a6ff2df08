/** The dossier's Markdown and the plots its image lines stand for; shared by its Markdown and HTML forms. */
import type { Plot } from './plots/svg.js';

export interface Dossier {
  /** The Markdown with an image line (`![title](file.svg)`) where each plot goes. */
  markdown: string;
  /** The plots the Markdown references, in the order they appear. */
  plots: Plot[];
}

export const IMAGE_LINE = /^!\[[^\]]*\]\(([\w.-]+\.svg)\)$/;

/** The plot an image line of the dossier shows, if it is one. */
export function plotOfLine(d: Dossier, line: string): Plot | undefined {
  const file = IMAGE_LINE.exec(line)?.[1];
  return file === undefined ? undefined : d.plots.find((p) => p.file === file);
}

/**
 * The Markdown to write: with the plots' image lines when their SVG files are written beside it,
 * without them (and the blank line after each) when the Markdown travels alone.
 */
export function dossierMarkdown(d: Dossier, withPlotFiles: boolean): string {
  if (withPlotFiles) return d.markdown;
  const lines = d.markdown.split('\n');
  const kept: string[] = [];
  for (let i = 0; i < lines.length; i += 1) {
    const line = lines[i] ?? '';
    if (plotOfLine(d, line)) {
      if (lines[i + 1] === '') i += 1;
      continue;
    }
    kept.push(line);
  }
  return kept.join('\n');
}
