/**
 * How the demo talks: plain lines on stdout, problems on stderr prefixed "demo:", paths as the
 * user would type them, and the wall-time table printed at the end.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';

export const say = (line = ''): void => {
  process.stdout.write(`${line}\n`);
};
export const warn = (line: string): void => {
  process.stderr.write(`demo: ${line}\n`);
};
/** A path as the user would type it: relative to the working directory when inside it. */
export const shown = (p: string): string => {
  const rel = path.relative(process.cwd(), p);
  return rel !== '' && !rel.startsWith('..') && !path.isAbsolute(rel) ? rel : p;
};
export const seconds = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;
export const since = (t: number): number => performance.now() - t;
export const errorText = (err: unknown): string => (err instanceof Error ? err.message : String(err));

export interface Timing {
  label: string;
  ms: number | null;
  note?: string;
}

export function timingLines(timings: Timing[]): string[] {
  const width = Math.max(...timings.map((t) => t.label.length));
  return timings.map((t) =>
    `  ${t.label.padEnd(width)}  ${t.ms === null ? '     -' : seconds(t.ms).padStart(7)}${t.note ? `  ${t.note}` : ''}`.trimEnd(),
  );
}

/**
 * How long scripts/setup.sh took before this process started, when run by `npm run demo` (the
 * script is `bash scripts/setup.sh && node dist/demo/main.js`): this process's start time minus
 * its parent shell's, from /proc. Null elsewhere.
 */
export function setupWallMs(): number | null {
  if (process.platform !== 'linux') return null;
  try {
    const parentCmd = readFileSync(`/proc/${process.ppid}/cmdline`, 'utf8');
    if (!parentCmd.includes('scripts/setup.sh')) return null;
    const startTicks = (pid: number | 'self'): number => {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      return Number(fields[19]); // field 22 of proc(5), counted from field 3
    };
    let hz = 100;
    try {
      hz = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      // 100 on every common Linux
    }
    const ms = ((startTicks('self') - startTicks(process.ppid)) * 1000) / hz;
    return Number.isFinite(ms) && ms >= 0 ? ms : null;
  } catch {
    return null;
  }
}
