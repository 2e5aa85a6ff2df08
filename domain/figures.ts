/**
 * Figures as people read them, the way the reference dossier writes them: 1.6 MB, 73 KB, 15 B;
 * 7 175 rows; 1 min 12 s. One module for the CLI, the Web UI texts (set from workflow code, so
 * this stays pure and deterministic), the notifications and every report.
 */

/** Decimal units, as storage vendors and the backend's threshold (1600000 = 1.6 MB) count. */
const BYTE_UNITS: readonly [string, number][] = [
  ['TB', 1e12],
  ['GB', 1e9],
  ['MB', 1e6],
  ['KB', 1e3],
];

/** Three significant digits, trailing zeros dropped: 1.6, 73, 307, 3.22. */
function significant(value: number): string {
  const digits = value >= 100 ? 0 : value >= 10 ? 1 : 2;
  const fixed = value.toFixed(digits);
  return digits === 0 ? fixed : fixed.replace(/0+$/, '').replace(/\.$/, '');
}

/** 1600000 -> "1.6 MB", 73000 -> "73 KB", 15 -> "15 B"; null/undefined -> "–". */
export function formatBytes(n: number | null | undefined): string {
  if (n === null || n === undefined || !Number.isFinite(n)) return '–';
  const sign = n < 0 ? '-' : '';
  const abs = Math.abs(n);
  for (const [unit, size] of BYTE_UNITS) {
    // 999 999 B rounds to "1000 KB" at three digits: show it as 1 MB instead.
    if (abs >= size * 0.9995) {
      const shown = significant(abs / size);
      if (shown === '1000' && unit !== 'TB') continue;
      return `${sign}${shown} ${unit}`;
    }
  }
  return `${sign}${Math.round(abs)} B`;
}

/** Where the exact figure matters (a threshold the backend compares): "1.6 MB (1 600 000 B)". */
export function formatBytesExact(n: number | null | undefined): string {
  if (n === null || n === undefined || !Number.isFinite(n)) return '–';
  const short = formatBytes(n);
  return Math.abs(n) < 1000 ? short : `${short} (${formatCount(n)} B)`;
}

/** Digit groups of three, separated by a space as in the reference dossier: 7175 -> "7 175". */
export function formatCount(n: number | null | undefined): string {
  if (n === null || n === undefined || !Number.isFinite(n)) return '–';
  const [whole = '0', frac] = String(Math.abs(n)).split('.');
  const grouped = whole.replace(/\B(?=(\d{3})+(?!\d))/g, ' ');
  return `${n < 0 ? '-' : ''}${grouped}${frac === undefined ? '' : `.${frac}`}`;
}

const DURATION_UNITS: readonly [string, number][] = [
  ['d', 86_400_000],
  ['h', 3_600_000],
  ['min', 60_000],
  ['s', 1000],
];

/**
 * Milliseconds as people say them, the two largest units: 72000 -> "1 min 12 s",
 * 86400000 -> "1 d", 4200 -> "4.2 s", 350 -> "350 ms".
 */
export function formatDuration(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return '–';
  if (ms < 0) return `-${formatDuration(-ms)}`;
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 10_000) return `${significant(Math.round(ms / 100) / 10)} s`;
  let rest = Math.round(ms / 1000) * 1000;
  const parts: string[] = [];
  for (const [unit, size] of DURATION_UNITS) {
    if (rest >= size || (parts.length > 0 && parts.length < 2)) {
      const k = Math.floor(rest / size);
      if (k > 0) parts.push(`${k} ${unit}`);
      else if (parts.length > 0) break;
      rest %= size;
    }
    if (parts.length === 2) break;
  }
  return parts.join(' ');
}

/** formatDuration of the time between two ISO instants; "–" when either is missing. */
export function formatSpan(from?: string | null, to?: string | null): string {
  if (!from || !to) return '–';
  return formatDuration(Date.parse(to) - Date.parse(from));
}
