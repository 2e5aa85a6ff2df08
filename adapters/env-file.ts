/**
 * The env file's text: parsed as the components read it, and rewritten key by key. Pure text
 * functions (no fault types, no diff), so that `cutover validate` can read a local target's env file
 * without loading the change adapter. adapters/env-file-change.ts applies changes with them.
 */
const LINE = /^(?:export\s+)?([A-Za-z_][A-Za-z0-9_.]*)=(.*)$/;

/**
 * A file that is not an env file: its first line that is neither blank, a `#` comment nor
 * KEY=VALUE. The line's text is left out on purpose: env files hold credentials.
 */
export class EnvFileError extends Error {
  constructor(
    readonly file: string,
    readonly line: number,
    readonly why: string,
  ) {
    super(`${file} is not an env file: line ${line} ${why}`);
    this.name = 'EnvFileError';
  }
}

/** Why one trimmed line is not a blank, a comment or KEY=VALUE (with a double-quoted value that is one string), or null. */
function lineProblem(line: string): string | null {
  if (line === '' || line.startsWith('#')) return null;
  if (line.includes('\0')) return 'holds a NUL byte (a binary file?)';
  const m = LINE.exec(line);
  if (!m) return 'is not a comment, a blank line or KEY=VALUE';
  const value = m[2] ?? '';
  if (value.startsWith('"')) {
    try {
      if (value.length < 2 || !value.endsWith('"') || typeof JSON.parse(value) !== 'string')
        throw new Error();
    } catch {
      return `has a double-quoted value of ${m[1] ?? '?'} that is not one string (an unescaped " or \\?)`;
    }
  }
  return null;
}

/**
 * Reads an env file the way the local components' loader does: blank lines, `#` comments and
 * `KEY=VALUE` (optionally `export`, optionally double-quoted with JSON escapes). Anything else
 * throws EnvFileError naming the line: a file we cannot parse is a file we must not rewrite.
 */
export function parseEnvFile(text: string, file = 'the env file'): Map<string, string> {
  const out = new Map<string, string>();
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    const why = lineProblem(line);
    if (why !== null) throw new EnvFileError(file, i + 1, why);
    const m = LINE.exec(line);
    if (m?.[1]) out.set(m[1], unquote(m[2] ?? ''));
  });
  return out;
}

function unquote(v: string): string {
  if (v.length >= 2 && v.startsWith('"') && v.endsWith('"')) return JSON.parse(v) as string;
  return v;
}

function quote(v: string): string {
  return /^[A-Za-z0-9_./:@+,=-]*$/.test(v) ? v : JSON.stringify(v);
}

/** The file with `changes` applied: null deletes the key's line. */
export function setEnvValues(text: string, changes: Record<string, string | null>): string {
  const lines = text === '' ? [] : text.replace(/\n$/, '').split('\n');
  const pending = new Map(Object.entries(changes));
  const kept: string[] = [];
  for (const line of lines) {
    const key = LINE.exec(line.trim())?.[1];
    if (key === undefined || !pending.has(key)) {
      kept.push(line);
      continue;
    }
    const value = pending.get(key);
    pending.delete(key);
    if (value !== null && value !== undefined) kept.push(`${key}=${quote(value)}`);
  }
  for (const [key, value] of pending) if (value !== null) kept.push(`${key}=${quote(value)}`);
  return kept.length === 0 ? '' : `${kept.join('\n')}\n`;
}
