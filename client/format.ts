/** Plain-text formatting for the terminal: aligned tables, key/value blocks, shell-safe commands. */

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

/** HH:MM:SS of a moment, local time: for live progress lines. */
export function clock(date = new Date()): string {
  return date.toTimeString().slice(0, 8);
}

/** Milliseconds as people say them: 86400000 -> 24h, 90000 -> 1m30s. */
export function humanDuration(ms: number): string {
  if (ms < 1000) return `${ms}ms`;
  const units: [string, number][] = [
    ['d', 86_400_000],
    ['h', 3_600_000],
    ['m', 60_000],
    ['s', 1000],
  ];
  let rest = Math.round(ms / 1000) * 1000;
  const parts: string[] = [];
  for (const [unit, size] of units) {
    if (rest >= size) {
      parts.push(`${Math.floor(rest / size)}${unit}`);
      rest %= size;
    }
  }
  return parts.slice(0, 2).join('');
}
