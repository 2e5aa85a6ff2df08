/**
 * What the Airflow CLI and ruff print, read into records: `airflow db migrate --show-sql-only`,
 * `airflow config lint`, `airflow db check-migrations`, a failed command's error, and ruff's JSON.
 * Pure functions over text, so each format is pinned by a test on the real output.
 *
 * Formats read from Airflow 3.3.2's source (docs/upgrade-facts.md names the files).
 */

/** One alembic step of an upgrade: `-- Running upgrade <from> -> <to>`. */
export interface MigrationStep {
  from: string;
  to: string;
}

/**
 * Text a migration prints instead of SQL in offline mode (3.3.0's deadline_alert conversion prints
 * "Manual conversion required" and emits no SQL): the approver must read it, and the SQL alone is
 * not what an online migration runs.
 */
export interface ManualStep {
  /** The step (`from -> to`) that printed it. */
  step: string;
  text: string;
}

export interface ParsedMigrationSql {
  /** What Airflow printed between BEGIN; and COMMIT; (log lines removed), manual notes included. */
  sql: string;
  /** SQL statements, BEGIN/COMMIT not counted (the alembic_version stamps are). */
  statementCount: number;
  steps: MigrationStep[];
  manualSteps: ManualStep[];
  /** Airflow said there is nothing to migrate. */
  nothingToDo: boolean;
}

// Airflow 3's structlog lines and Airflow 2's logging format, and alembic's own INFO lines.
const LOG_LINE =
  /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z? \[\s*[a-z]+\s*\]|\[\d{4}-\d{2}-\d{2}[T ][\d:.,+-]+\] \{|(INFO|WARNI|WARNING|ERROR|DEBUG) {1,2}\[)/;
const STEP = /^-- Running upgrade (\S+) -> (\S+)/;

export function isLogLine(line: string): boolean {
  return LOG_LINE.test(line);
}

/**
 * Reads the output of `airflow db migrate --show-sql-only`. A statement starts at column 0 and
 * ends with a line ending in `;` (alembic's offline writer indents only continuation lines); an
 * indented line outside a statement is a migration's printed note.
 */
export function parseMigrationSql(output: string): ParsedMigrationSql {
  const lines = output.split('\n').filter((l) => !isLogLine(l));
  const nothingToDo = lines.some((l) => l.includes('No migrations to apply'));
  const begin = lines.findIndex((l) => l.trim() === 'BEGIN;');
  let end = -1;
  for (let i = lines.length - 1; i > begin; i--) {
    if (lines[i]?.trim() === 'COMMIT;') {
      end = i;
      break;
    }
  }
  if (begin < 0 || end < 0) return { sql: '', statementCount: 0, steps: [], manualSteps: [], nothingToDo };

  const body = lines.slice(begin, end + 1);
  const steps: MigrationStep[] = [];
  const manualSteps: ManualStep[] = [];
  let statementCount = 0;
  let inStatement = false;
  let note: string[] = [];
  let currentStep = '(before the first step)';

  const flushNote = () => {
    const text = note.join('\n').trim();
    if (text) manualSteps.push({ step: currentStep, text: dedent(note).trim() });
    note = [];
  };

  for (const line of body.slice(1, -1)) {
    const step = STEP.exec(line);
    if (step?.[1] && step[2]) {
      flushNote();
      steps.push({ from: step[1], to: step[2] });
      currentStep = `${step[1]} -> ${step[2]}`;
      continue;
    }
    if (inStatement) {
      if (line.trimEnd().endsWith(';')) inStatement = false;
      continue;
    }
    if (line.trim() === '' && note.length === 0) continue;
    if (/^\S/.test(line) && !line.startsWith('--')) {
      flushNote();
      statementCount += 1;
      inStatement = !line.trimEnd().endsWith(';');
      continue;
    }
    if (line.startsWith('--')) continue;
    note.push(line);
  }
  flushNote();
  return { sql: body.join('\n'), statementCount, steps, manualSteps, nothingToDo };
}

function dedent(lines: string[]): string {
  const indents = lines.filter((l) => l.trim() !== '').map((l) => /^\s*/.exec(l)?.[0].length ?? 0);
  const cut = indents.length ? Math.min(...indents) : 0;
  return lines.map((l) => l.slice(cut).trimEnd()).join('\n');
}

export type ConfigLintKind = 'removed' | 'renamed' | 'changed-default' | 'invalid-value' | 'unrecognised';

export interface ConfigLintFinding {
  /** null only for a message this parser does not recognise (kind `unrecognised`). */
  section: string | null;
  option: string | null;
  kind: ConfigLintKind;
  /** The lint's own sentence, as printed. */
  message: string;
  /** For `renamed`: where the option lives in the target version. */
  renamedTo?: { section: string; option: string };
}

const LINT_RULES: {
  kind: ConfigLintKind;
  re: RegExp;
  pick: (m: RegExpExecArray) => Pick<ConfigLintFinding, 'section' | 'option' | 'renamedTo'>;
}[] = [
  {
    kind: 'removed',
    re: /^Removed(?: deprecated)? `([^`]+)` configuration parameter from `([^`]+)` section\./,
    pick: (m) => ({ option: m[1] ?? null, section: m[2] ?? null }),
  },
  {
    kind: 'renamed',
    re: /^`([^`]+)` configuration parameter moved from `([^`]+)` section to `([^`]+)` section as `([^`]+)`\./,
    pick: (m) => ({
      option: m[1] ?? null,
      section: m[2] ?? null,
      renamedTo: { section: m[3] ?? '', option: m[4] ?? '' },
    }),
  },
  {
    kind: 'renamed',
    re: /^`([^`]+)` configuration parameter renamed to `([^`]+)` in the `([^`]+)` section\./,
    pick: (m) => ({
      option: m[1] ?? null,
      section: m[3] ?? null,
      renamedTo: { section: m[3] ?? '', option: m[2] ?? '' },
    }),
  },
  {
    kind: 'changed-default',
    re: /^Changed default value of `([^`]+)` in `([^`]+)` from /,
    pick: (m) => ({ option: m[1] ?? null, section: m[2] ?? null }),
  },
  {
    kind: 'invalid-value',
    re: /^Invalid value `[^`]*` set for `([^`]+)` configuration parameter in `([^`]+)` section\./,
    pick: (m) => ({ option: m[1] ?? null, section: m[2] ?? null }),
  },
];

export function classifyLintMessage(message: string): ConfigLintFinding {
  for (const rule of LINT_RULES) {
    const m = rule.re.exec(message);
    if (m) {
      const picked = rule.pick(m);
      return {
        section: picked.section,
        option: picked.option,
        kind: rule.kind,
        message,
        ...(picked.renamedTo ? { renamedTo: picked.renamedTo } : {}),
      };
    }
  }
  return { section: null, option: null, kind: 'unrecognised', message };
}

export interface ParsedConfigLint {
  /** The lint printed its "No issues found" line. */
  clean: boolean;
  findings: ConfigLintFinding[];
}

/**
 * `airflow config lint` (config_command.lint_config) prints "Found issues in your airflow.cfg:",
 * then one "  - <message>" per issue, then a blank line; or "No issues found ...". Its console is
 * 200 columns wide off a TTY, so a long message wraps onto unindented lines: they are joined back.
 */
export function parseConfigLint(output: string): ParsedConfigLint {
  const lines = output.split('\n').filter((l) => !isLogLine(l));
  const clean = lines.some((l) => l.startsWith('No issues found'));
  const start = lines.findIndex((l) => l.startsWith('Found issues in your airflow.cfg'));
  const messages: string[] = [];
  if (start >= 0) {
    for (const line of lines.slice(start + 1)) {
      if (line.trim() === '') break;
      if (line.startsWith('  - ')) messages.push(line.slice(4).trim());
      else if (messages.length > 0) messages[messages.length - 1] += ` ${line.trim()}`;
    }
  }
  return { clean, findings: messages.map(classifyLintMessage) };
}

/**
 * `airflow db check-migrations` raises TimeoutError("... Migration Head(s) in DB: {..} | Migration
 * Head(s) in Source Code: {..}") when the heads differ (airflow/utils/db.py check_migrations).
 */
export function parseCheckMigrationsHeads(
  output: string,
): { dbHeads: string[]; sourceHeads: string[] } | null {
  const m = /Head\(s\) in DB: (.*?) \| Migration Head\(s\) in Source Code: (.*)$/m.exec(output);
  if (!m) return null;
  const revs = (s: string | undefined) =>
    [...(s ?? '').matchAll(/'([0-9a-zA-Z_]+)'/g)].map((x) => x[1] ?? '');
  return { dbHeads: revs(m[1]), sourceHeads: revs(m[2]) };
}

/**
 * The error a failed Airflow command ends with: its last `pkg.Error: message` line (Python's
 * traceback summary), with PostgreSQL's DETAIL / CONTEXT lines and the statement SQLAlchemy quotes
 * after it (without the bound parameters, which may hold table data); else the last non-log line.
 */
export function extractCliError(output: string): string {
  const lines = output.split('\n').filter((l) => l.trim() !== '' && !isLogLine(l));
  let at = -1;
  for (let i = lines.length - 1; i >= 0; i--) {
    if (/^([A-Za-z_][\w.]*)?(Error|Exception|Exit|Timeout\w*|Failure)\b[\w.]*: /.test(lines[i] ?? '')) {
      at = i;
      break;
    }
  }
  if (at < 0) return (lines[lines.length - 1] ?? '').trim();
  const out = [lines[at] ?? ''];
  for (const line of lines.slice(at + 1, at + 40)) {
    if (/^\s*\[parameters:/.test(line) || /^\(Background on this error/.test(line)) break;
    out.push(line.trimEnd());
  }
  return out
    .join('\n')
    .replace(/\n\s*\]\s*$/, ']')
    .trim();
}

export interface RuffFinding {
  /** Relative to the DAG folder. */
  file: string;
  line: number;
  column: number;
  /** The rule code, e.g. AIR301. */
  rule: string;
  /** The rule's name, e.g. airflow3-removal. */
  name: string;
  message: string;
  /**
   * AIR301 (removed) and AIR302 (moved to a provider) break a DAG on Airflow 3, and so does a file
   * ruff cannot parse (`invalid-syntax`); AIR311 / AIR312 are suggested updates that still work.
   */
  breaking: boolean;
  /** ruff offers a fix (`fix.message`), e.g. "Use `schedule` instead". */
  fix: string | null;
}

const BREAKING_AIRFLOW3_RULES = new Set(['AIR301', 'AIR302', 'invalid-syntax']);

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** ruff's `--output-format json`: an array of diagnostics (code, message, filename, location). */
export function parseRuffJson(text: string, relativeTo: (file: string) => string): RuffFinding[] {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    throw new Error(`ruff printed no JSON: ${text.slice(0, 300)}`);
  }
  if (!Array.isArray(doc)) throw new Error('ruff printed JSON that is not an array of diagnostics');
  return doc.filter(isRecord).map((d) => {
    const location = isRecord(d['location']) ? d['location'] : {};
    const fix = isRecord(d['fix']) && typeof d['fix']['message'] === 'string' ? d['fix']['message'] : null;
    const rule = typeof d['code'] === 'string' ? d['code'] : '';
    return {
      file: relativeTo(typeof d['filename'] === 'string' ? d['filename'] : ''),
      line: typeof location['row'] === 'number' ? location['row'] : 0,
      column: typeof location['column'] === 'number' ? location['column'] : 0,
      rule,
      name: typeof d['name'] === 'string' ? d['name'] : '',
      message: typeof d['message'] === 'string' ? d['message'] : '',
      breaking: BREAKING_AIRFLOW3_RULES.has(rule),
      fix,
    };
  });
}
