/** Plain-text layout shared by the CLI and the Web UI texts: aligned tables, key/value blocks, shell-safe commands. */

/** Columns padded to their widest cell; the last column is never padded. */
export function table(
  headers: string[],
  rows: (string | number | null | undefined)[][],
  indent = '',
): string[] {
  const cells = [headers, ...rows.map((r) => r.map((c) => (c === null || c === undefined ? '' : String(c))))];
  const widths = headers.map((_, i) => Math.max(...cells.map((r) => oneLine(r[i] ?? '').length)));
  return cells.map(
    (r) =>
      indent +
      r
        .map((c, i) => (i === r.length - 1 ? oneLine(c) : oneLine(c).padEnd(widths[i] ?? 0)))
        .join('  ')
        .trimEnd(),
  );
}

/** `label: value` lines with the values aligned. */
export function keyValues(pairs: [string, string | number | null | undefined][], indent = '  '): string[] {
  const shown = pairs.filter((p): p is [string, string | number] => p[1] !== null && p[1] !== undefined);
  const width = Math.max(0, ...shown.map(([k]) => k.length + 1));
  return shown.map(([k, v]) => `${indent}${`${k}:`.padEnd(width)}  ${v}`);
}

export function oneLine(text: string): string {
  return text.replace(/\s*\n\s*/g, ' ');
}

/** Quotes a word for a POSIX shell only when it needs it. */
export function shellQuote(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

/** A command line to copy; words like `<name>` (to be filled in by the reader) stay unquoted. */
export function command(...words: string[]): string {
  return words.map((w) => (/^<[^>]+>$/.test(w) || /^"<[^>]+>"$/.test(w) ? w : shellQuote(w))).join(' ');
}
