/**
 * ChangePort for the local target: the Airflow components read their config
 * from an env file at start, so the change is an edit of that file.
 *
 * Apply rewrites only the stage's keys (in place when present, appended when
 * not) and keeps the previous values of exactly those keys in a journal next to
 * the file, keyed by workflow and stage, so a retried apply never overwrites
 * the original and a revert restores the file byte for byte when nothing else
 * touched it.
 */
import { createHash } from 'node:crypto';
import { access, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { createTwoFilesPatch } from 'diff';
import type { AppliedChange, ChangePort } from '../activities/adapters.js';
import { PermanentFault } from '../activities/engine/errors.js';
import type { ChangeStage } from '../domain/evidence.js';
import { EnvFileError, parseEnvFile, setEnvValues } from './env-file.js';

// The text functions live in env-file.ts (the CLI reads env files without this adapter); the
// worker, the supervisor and the tests keep importing them from here.
export { EnvFileError, parseEnvFile, setEnvValues };

interface JournalEntry {
  changeId: string;
  stage: string;
  /** What each key of the stage held before this apply (null = absent). */
  previous: Record<string, string | null>;
}

export class EnvFileChange implements ChangePort {
  readonly mode = 'env-file' as const;

  constructor(private readonly envFile: string) {}

  describeDestination(): string {
    return `env file ${this.envFile}`;
  }

  private journalPath(changeId: string, stage: string): string {
    const id = createHash('sha256').update(`${changeId}\n${stage}`).digest('hex').slice(0, 16);
    return path.join(
      path.dirname(this.envFile),
      '.cutover-journal',
      `${path.basename(this.envFile)}.${id}.json`,
    );
  }

  /** The file's text, only when it parses as an env file: never edit what we could not read. */
  private async read(): Promise<string> {
    let text: string;
    try {
      text = await readFile(this.envFile, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
        throw new PermanentFault(
          `${this.envFile} does not exist: the local target's env file must be created first`,
        );
      }
      throw err;
    }
    try {
      parseEnvFile(text, this.envFile);
    } catch (err) {
      if (err instanceof EnvFileError)
        throw new PermanentFault(`${err.message}: cutover edits only a file it parsed`);
      throw err;
    }
    return text;
  }

  private async write(text: string): Promise<void> {
    const tmp = `${this.envFile}.cutover-tmp`;
    await writeFile(tmp, text);
    await rename(tmp, this.envFile);
  }

  async diff(stage: ChangeStage): Promise<string> {
    const before = await this.read();
    const after = setEnvValues(before, stage.env);
    if (after === before) return '';
    // No context lines: the neighbours are other variables of the file (credentials, DB URLs), and this
    // diff is evidence that lands in workflow history. Only the stage's own keys may appear.
    return createTwoFilesPatch(this.envFile, this.envFile, before, after, 'live', `with ${stage.label}`, {
      context: 0,
    });
  }

  async apply({ stage, changeId }: { stage: ChangeStage; changeId: string }): Promise<AppliedChange> {
    const before = await this.read();
    const journal = this.journalPath(changeId, stage.label);
    const current = parseEnvFile(before, this.envFile);
    // First attempt only: a retry after a crash must not record the new values as "previous".
    if (!(await exists(journal))) {
      const previous = Object.fromEntries(Object.keys(stage.env).map((k) => [k, current.get(k) ?? null]));
      const entry: JournalEntry = { changeId, stage: stage.label, previous };
      await mkdir(path.dirname(journal), { recursive: true });
      await writeFile(journal, JSON.stringify(entry, null, 2));
    }
    const after = setEnvValues(before, stage.env);
    if (after !== before) await this.write(after);
    return { changed: after !== before, ref: contentRef(after), revertHandle: journal };
  }

  async revert({
    stage,
    revertHandle,
    changeId,
  }: {
    stage: ChangeStage;
    revertHandle: string | null;
    changeId: string;
  }): Promise<{ changed: boolean; ref: string; restoredEnv: Record<string, string | null> }> {
    const before = await this.read();
    const journal = revertHandle ?? this.journalPath(changeId, stage.label);
    if (!(await exists(journal))) {
      // The apply never got as far as its journal, so it never wrote the file either.
      const live = parseEnvFile(before, this.envFile);
      return {
        changed: false,
        ref: contentRef(before),
        restoredEnv: Object.fromEntries(Object.keys(stage.env).map((k) => [k, live.get(k) ?? null])),
      };
    }
    const entry = JSON.parse(await readFile(journal, 'utf8')) as JournalEntry;
    const after = setEnvValues(before, entry.previous);
    if (after !== before) await this.write(after);
    return { changed: after !== before, ref: contentRef(after), restoredEnv: entry.previous };
  }
}

function contentRef(text: string): string {
  return `sha256:${createHash('sha256').update(text).digest('hex').slice(0, 12)}`;
}

async function exists(p: string): Promise<boolean> {
  try {
    await access(p);
    return true;
  } catch {
    return false;
  }
}
