/** Terminal formatting: the shared text layout and figures, and live progress clocks. */
export { command, keyValues, oneLine, shellQuote, table } from '../domain/text.js';
export { formatBytes, formatBytesExact, formatCount, formatDuration, formatSpan } from '../domain/figures.js';

/** HH:MM:SS of a moment, local time: for live progress lines. */
export function clock(date = new Date()): string {
  return date.toTimeString().slice(0, 8);
}
