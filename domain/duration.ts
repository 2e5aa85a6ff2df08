/** Durations the way operators write them: 90s, 15m, 24h, 7d, or a number of seconds. */
export type Duration = number | string;

export const DURATION_PATTERN = /^(\d+)(ms|s|m|h|d)$/;

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

export function durationMs(d: Duration): number {
  if (typeof d === 'number') return d * 1000;
  const m = DURATION_PATTERN.exec(d);
  if (!m || !m[1] || !m[2]) throw new Error(`bad duration ${d}`);
  return Number(m[1]) * (UNIT_MS[m[2]] ?? 0);
}
