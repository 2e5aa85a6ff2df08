/**
 * node --test reporter for scripts/test.sh: node's own spec output, plus the slowest test files
 * with their wall times, printed just before the runner's closing summary (so that the summary
 * stays the last lines a CI log shows) and written in full to CUTOVER_TEST_TIMES_FILE.
 *
 *   node --test --test-reporter=./dist/test/support/file-times-reporter.js ... files
 *
 * A file's time is the runner's own `duration_ms` of the subtest it makes for the file (its
 * `test:complete` event whose name is the file), i.e. the child process from start to exit.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { spec as SpecReporter, type TestEvent } from 'node:test/reporters';

/** How many files the console shows; the file has them all. */
const SHOWN = 10;

export interface FileTime {
  file: string;
  ms: number;
  ok: boolean;
}

/** The files slowest first, one line each: `  123.4s  test/x.test.ts`. */
export function fileTimeLines(times: FileTime[], cwd = process.cwd()): string[] {
  return [...times]
    .sort((a, b) => b.ms - a.ms)
    .map(
      (t) =>
        `${(t.ms / 1000).toFixed(1).padStart(8)}s  ${path.relative(cwd, t.file)}${t.ok ? '' : '  (failed)'}`,
    );
}

function fileTime(event: TestEvent): FileTime | null {
  if (event.type !== 'test:complete') return null;
  const data = event.data as {
    name: string;
    file?: string;
    nesting: number;
    details: { duration_ms: number; passed?: boolean; error?: unknown };
  };
  if (data.nesting !== 0 || !data.file || data.name !== data.file) return null;
  const ok = data.details.passed ?? data.details.error === undefined;
  return { file: data.file, ms: data.details.duration_ms, ok };
}

/** The run's closing plan (the one no file owns) comes right before the summary. */
function isClosingPlan(event: TestEvent): boolean {
  if (event.type !== 'test:plan') return false;
  const data = event.data as { nesting: number; file?: string };
  return data.nesting === 0 && data.file === undefined;
}

export default async function* fileTimesReporter(
  source: AsyncIterable<TestEvent>,
): AsyncGenerator<string | Buffer> {
  const spec = new SpecReporter();
  const drain = function* (): Generator<string | Buffer> {
    for (let chunk: unknown; (chunk = spec.read()) !== null;) yield chunk as string | Buffer;
  };
  const times: FileTime[] = [];
  let shown = false;
  for await (const event of source) {
    const t = fileTime(event);
    if (t) times.push(t);
    if (!shown && isClosingPlan(event) && times.length > 0) {
      shown = true;
      yield* drain();
      const lines = fileTimeLines(times);
      yield `\nslowest test files (${Math.min(SHOWN, lines.length)} of ${lines.length}):\n${lines.slice(0, SHOWN).join('\n')}\n`;
      const out = process.env.CUTOVER_TEST_TIMES_FILE;
      if (out) {
        mkdirSync(path.dirname(out), { recursive: true });
        writeFileSync(out, `${lines.join('\n')}\n`);
        yield `(all ${lines.length} in ${path.relative(process.cwd(), out)})\n\n`;
      }
    }
    // The spec reporter turns each event into its text at once (a synchronous transform).
    spec.write(event);
    yield* drain();
  }
  spec.end();
  for await (const chunk of spec) yield chunk as string | Buffer;
}
