/**
 * The Airflow upgrade's checks and migration commands, run with a named venv's own `airflow`
 * (and python) against a metadata DB: the DB's alembic revision and the Airflow version it
 * belongs to, the SQL `airflow db migrate --show-sql-only` would run, the migration itself,
 * `db check-migrations`, `db downgrade`, `config lint` of a live config with the TARGET version,
 * ruff's Airflow 3 rules over a DAG folder, and provider compatibility with the target.
 *
 * Every method answers with a plain, serialisable record. A command that ran and failed (a
 * migration that stopped mid-way, heads that differ) is a record with `ok: false`, not a throw:
 * a rehearsal turns it into red evidence, MIGRATE into a failure. Methods throw only when they
 * cannot answer: bad input (PermanentFault naming the field), a venv without `airflow`, a DB
 * that cannot be read, a timeout.
 *
 * Secrets: the DB URL reaches a process only through its environment
 * (AIRFLOW__DATABASE__SQL_ALCHEMY_CONN), never argv, and every text this module returns or throws
 * has the URL and its password masked. Each command gets a minimal environment (nothing inherited)
 * and a throw-away AIRFLOW_HOME, like local/airflow-db.ts; the read-only commands also run with
 * PGOPTIONS=-c default_transaction_read_only=on, so PostgreSQL itself refuses any write they might
 * attempt (the CLI's audit-log row of `db migrate --show-sql-only` is one: see docs/upgrade-facts.md).
 */
import { spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Heartbeat } from '../activities/heartbeat.js';
import { PermanentFault } from '../activities/engine/errors.js';
import {
  extractCliError,
  parseCheckMigrationsHeads,
  parseConfigLint,
  parseMigrationSql,
  parseRuffJson,
  type ConfigLintFinding,
  type ManualStep,
  type MigrationStep,
  type RuffFinding,
} from './airflow-upgrade-parse.js';
import { RESULT_MARK, UPGRADE_PY } from './airflow-upgrade-python.js';

export type { ConfigLintFinding, ManualStep, MigrationStep, RuffFinding };

/** The DB's schema revision as a venv's migration scripts describe it. */
export interface DbRevision {
  /** The alembic revision in `alembic_version`; null for a database without Airflow's schema. */
  revision: string | null;
  /** Every row of `alembic_version` (more than one only for a DB with several heads). */
  revisions: string[];
  /** `airflow_version` of the migration that made this revision, per the venv's scripts. */
  airflowVersion: string | null;
  /** The release whose head this revision is in the venv's `_REVISION_HEADS_MAP`, if it is one. */
  releaseHeadOf: string | null;
  /** The migration's one-line description. */
  description: string | null;
  /** The venv's scripts know this revision (false: the DB is newer than the venv, or foreign). */
  knownToVenv: boolean;
  /** The venv's alembic head(s). */
  venvHeads: string[];
  atVenvHead: boolean;
  /** The venv's `airflow.__version__`. */
  venvAirflowVersion: string;
}

export interface MigrationSql {
  fromRevision: string;
  /** The venv's head: where the SQL leads. */
  toRevision: string;
  /** What the CLI printed between BEGIN; and COMMIT; with log lines removed. */
  sql: string;
  statementCount: number;
  steps: MigrationStep[];
  /** Migrations that print instructions instead of SQL offline: what the SQL alone does not show. */
  manualSteps: ManualStep[];
  nothingToDo: boolean;
  durationMs: number;
}

export interface CommandOutcome {
  ok: boolean;
  exitCode: number;
  durationMs: number;
  /** The revision before the command (null: no Airflow schema yet). */
  fromRevision: string | null;
  /** The revision after it, read from the DB: for a failed migration, where it stopped. */
  toRevision: string | null;
  /** The alembic steps the command's output says it started, in order. */
  stepsStarted: MigrationStep[];
  /** The error the command ended with (null when ok). */
  error: string | null;
  /** The last lines it printed, secrets masked. */
  outputTail: string;
}

export interface CheckMigrationsOutcome {
  ok: boolean;
  exitCode: number;
  dbHeads: string[];
  sourceHeads: string[];
  error: string | null;
}

export interface ConfigLintResult {
  findings: ConfigLintFinding[];
  /** The lint printed "No issues found". */
  clean: boolean;
  /** The airflow.cfg linted (a copy of it was): null when the env names none that exists. */
  configFile: string | null;
  targetVenv: string;
}

export interface RuffResult {
  findings: RuffFinding[];
  ruffVersion: string;
  dagsFolder: string;
}

export interface InstalledProvider {
  name: string;
  version: string;
  /** Its `Requires-Dist: apache-airflow...` lines, as the inventory probe reads them. */
  airflowRequirements: string[];
}

export type ProviderFindingKind =
  | 'requires-airflow-excludes-target'
  | 'requirement-unreadable'
  | 'constraint-differs'
  | 'not-in-target-constraints'
  | 'missing-in-target-venv'
  | 'target-venv-differs';

export interface ProviderFinding {
  provider: string;
  installedVersion: string;
  kind: ProviderFindingKind;
  /** Would break the target: the provider excludes it, or the target cannot import it. */
  blocking: boolean;
  detail: string;
  /** For the version differences: installed -> the target's pin / the target venv's version. */
  from?: string;
  to?: string;
  requirement?: string;
}

export interface ProviderCompatibility {
  targetVersion: string;
  findings: ProviderFinding[];
  /** How many exact pins the constraints text held. */
  constraintsPinned: number;
}

export interface AirflowUpgradeCliOptions {
  /** The target version's venv (default venv for dbRevision, configLint, providerCompatibility). */
  targetVenv: string;
  /** ruff's executable (default: `ruff` from this process's PATH). */
  ruffBin?: string;
  /** Timeout of a migration or downgrade (default 30 min: Airflow's own limit is 20). */
  migrateTimeoutMs?: number;
  /** Timeout of the other commands (default 5 min). */
  commandTimeoutMs?: number;
  /** How often a running migration heartbeats (default 5 s). */
  heartbeatEveryMs?: number;
}

interface RunResult {
  exitCode: number;
  stdout: string;
  stderr: string;
  durationMs: number;
}

interface RunOptions {
  env: Record<string, string>;
  timeoutMs: number;
  stdin?: string;
  signal?: AbortSignal;
  /** Called with each complete stdout/stderr line as it arrives. */
  onLine?: (line: string) => void;
}

const READ_ONLY_PG = '-c default_transaction_read_only=on';
const MAX_OUTPUT = 64 * 1024 * 1024;
const VERSION_RE = /^\d+(\.\d+){1,3}$/;

/** Masks a DB URL and its password in any text this module hands out. */
export function maskSecrets(text: string, dbUrl?: string): string {
  let out = text;
  if (dbUrl) {
    out = out.split(dbUrl).join('<metadata-db-url>');
    const password = passwordOf(dbUrl);
    if (password && password.length >= 3) {
      out = out.split(password).join('***');
      out = out.split(encodeURIComponent(password)).join('***');
    }
  }
  return out.replace(/\b([a-z][a-z0-9+.-]*:\/\/[^:/\s@]*:)[^@\s]+@/gi, '$1***@');
}

function passwordOf(url: string): string | null {
  const m = /^[a-z][a-z0-9+.-]*:\/\/[^:/@]*:([^@]*)@/i.exec(url);
  if (!m?.[1]) return null;
  try {
    return decodeURIComponent(m[1]);
  } catch {
    return m[1];
  }
}

function checkDbUrl(dbUrl: unknown): string {
  if (typeof dbUrl !== 'string' || !/^[a-z][a-z0-9+]*:\/\/\S+$/i.test(dbUrl)) {
    throw new PermanentFault(
      'dbUrl: expected a SQLAlchemy URL of the metadata DB (postgresql+psycopg2://user@host:port/db)',
    );
  }
  return dbUrl;
}

function checkVersion(field: string, v: unknown): string {
  if (typeof v !== 'string' || !VERSION_RE.test(v)) {
    throw new PermanentFault(`${field}: expected an Airflow release like 3.2.2, got ${JSON.stringify(v)}`);
  }
  return v;
}

/** <venv>/bin/<name>, or a PermanentFault naming the field when the venv has none. */
export function venvExecutable(field: string, venv: unknown, name: 'airflow' | 'python'): string {
  if (typeof venv !== 'string' || venv.trim() === '') {
    throw new PermanentFault(`${field}: expected the path of an Airflow venv`);
  }
  const bin = path.join(venv, 'bin', name);
  if (!existsSync(bin))
    throw new PermanentFault(`${field}: no ${name} at ${bin}: is ${venv} an Airflow venv?`);
  return bin;
}

function lastLines(text: string, lines = 40, chars = 6000): string {
  const tail = text.trimEnd().split('\n').slice(-lines).join('\n');
  return tail.length > chars ? tail.slice(-chars) : tail;
}

const STEP_LINE = /Running upgrade (\S+) -> (\S+?),?(?:\s|$)/;
const DOWNGRADE_LINE = /Running downgrade (\S+) -> (\S+?),?(?:\s|$)/;

function stepsIn(output: string): MigrationStep[] {
  const steps: MigrationStep[] = [];
  for (const line of output.split('\n')) {
    const m = STEP_LINE.exec(line) ?? DOWNGRADE_LINE.exec(line);
    if (m?.[1] && m[2]) steps.push({ from: m[1], to: m[2] });
  }
  return steps;
}

export class AirflowUpgradeCli {
  private readonly migrateTimeoutMs: number;
  private readonly commandTimeoutMs: number;

  constructor(private readonly options: AirflowUpgradeCliOptions) {
    this.migrateTimeoutMs = options.migrateTimeoutMs ?? 30 * 60_000;
    this.commandTimeoutMs = options.commandTimeoutMs ?? 5 * 60_000;
  }

  /** The DB's alembic revision and what `venv`'s (default: the target's) migration scripts say of it. */
  async dbRevision(dbUrl: string, venv: string = this.options.targetVenv): Promise<DbRevision> {
    checkDbUrl(dbUrl);
    const python = venvExecutable('venv', venv, 'python');
    return revisionRecord(await this.python(python, 'describe', dbUrl));
  }

  /** What `venv`'s migration scripts say of a revision given by the caller (no database read). */
  async describeRevision(revision: string, venv: string = this.options.targetVenv): Promise<DbRevision> {
    if (typeof revision !== 'string' || !/^[0-9a-zA-Z_]{1,64}$/.test(revision)) {
      throw new PermanentFault(`revision: expected an alembic revision id, got ${JSON.stringify(revision)}`);
    }
    const python = venvExecutable('venv', venv, 'python');
    return revisionRecord(await this.python(python, 'describe-given', null, JSON.stringify([revision])));
  }
  /**
   * The SQL `airflow db migrate --show-sql-only --from-revision <the DB's revision>` prints with
   * `venv`'s Airflow: from the DB's current revision to the venv's head, in a read-only session.
   */
  async migrationSql({ venv, dbUrl }: { venv: string; dbUrl: string }): Promise<MigrationSql> {
    checkDbUrl(dbUrl);
    const airflow = venvExecutable('venv', venv, 'airflow');
    const current = await this.dbRevision(dbUrl, venv);
    if (current.revision === null) {
      throw new PermanentFault(
        current.revisions.length > 1
          ? `the metadata DB has several alembic heads (${current.revisions.join(', ')}): no single revision to migrate from`
          : 'the metadata DB has no Airflow schema (no alembic_version row): there is nothing to upgrade',
      );
    }
    if (!current.knownToVenv) {
      throw new PermanentFault(
        `the metadata DB is at revision ${current.revision}, which Airflow ${current.venvAirflowVersion} does not know: ` +
          'it is newer than that version (a downgrade) or not an Airflow schema',
      );
    }
    const toRevision = current.venvHeads[0] ?? '';
    const res = await this.withHome((home) =>
      this.run(airflow, ['db', 'migrate', '--show-sql-only', '--from-revision', current.revision ?? ''], {
        env: { ...cliEnv(venv, home, dbUrl), PGOPTIONS: READ_ONLY_PG },
        timeoutMs: this.commandTimeoutMs,
      }),
    );
    if (res.exitCode !== 0) throw this.failure('airflow db migrate --show-sql-only', res, dbUrl);
    const parsed = parseMigrationSql(res.stdout);
    return {
      fromRevision: current.revision,
      toRevision,
      sql: maskSecrets(parsed.sql, dbUrl),
      statementCount: parsed.statementCount,
      steps: parsed.steps,
      manualSteps: parsed.manualSteps,
      nothingToDo: parsed.nothingToDo || current.revision === toRevision,
      durationMs: res.durationMs,
    };
  }

  /** `airflow db migrate` with `venv`'s Airflow; a failure mid-way is `ok: false` with where it stopped. */
  async migrate({
    venv,
    dbUrl,
    heartbeat,
    signal,
  }: {
    venv: string;
    dbUrl: string;
    heartbeat?: Heartbeat;
    signal?: AbortSignal;
  }): Promise<CommandOutcome> {
    return this.schemaCommand('airflow db migrate', venv, dbUrl, ['db', 'migrate'], heartbeat, signal);
  }

  /** `airflow db downgrade --to-version <toVersion> -y` with `venv`'s Airflow (the NEWER one's scripts). */
  async downgrade({
    venv,
    dbUrl,
    toVersion,
    heartbeat,
    signal,
  }: {
    venv: string;
    dbUrl: string;
    toVersion: string;
    heartbeat?: Heartbeat;
    signal?: AbortSignal;
  }): Promise<CommandOutcome> {
    checkVersion('toVersion', toVersion);
    return this.schemaCommand(
      'airflow db downgrade',
      venv,
      dbUrl,
      ['db', 'downgrade', '--to-version', toVersion, '-y'],
      heartbeat,
      signal,
    );
  }

  /** `airflow db check-migrations -t <timeoutS>`: the DB's heads equal `venv`'s (read-only). */
  async checkMigrations({
    venv,
    dbUrl,
    timeoutS,
  }: {
    venv: string;
    dbUrl: string;
    timeoutS: number;
  }): Promise<CheckMigrationsOutcome> {
    checkDbUrl(dbUrl);
    if (!Number.isInteger(timeoutS) || timeoutS < 0) {
      throw new PermanentFault(`timeoutS: expected a whole number of seconds >= 0, got ${timeoutS}`);
    }
    const airflow = venvExecutable('venv', venv, 'airflow');
    const res = await this.withHome((home) =>
      this.run(airflow, ['db', 'check-migrations', '-t', String(timeoutS)], {
        env: { ...cliEnv(venv, home, dbUrl), PGOPTIONS: READ_ONLY_PG },
        timeoutMs: this.commandTimeoutMs + timeoutS * 1000,
      }),
    );
    const output = maskSecrets(`${res.stdout}\n${res.stderr}`, dbUrl);
    if (res.exitCode === 0) {
      const heads = (await this.readRevisions(venv, dbUrl)).revisions;
      return { ok: true, exitCode: 0, dbHeads: heads, sourceHeads: heads, error: null };
    }
    const heads = parseCheckMigrationsHeads(output);
    if (!heads) throw this.failure('airflow db check-migrations', res, dbUrl);
    return { ok: false, exitCode: res.exitCode, ...heads, error: extractCliError(output) };
  }

  /**
   * `airflow config lint` of the TARGET version over a component's live config: its AIRFLOW__*
   * variables and a copy of its airflow.cfg (AIRFLOW_CONFIG, else AIRFLOW_HOME/airflow.cfg), so
   * nothing the target's CLI writes lands in the component's AIRFLOW_HOME.
   */
  async configLint({
    targetVenv = this.options.targetVenv,
    env,
  }: {
    targetVenv?: string;
    env: Record<string, string>;
  }): Promise<ConfigLintResult> {
    const airflow = venvExecutable('targetVenv', targetVenv, 'airflow');
    if (!isRecord(env))
      throw new PermanentFault('env: expected the component environment as an object of strings');
    const source =
      env['AIRFLOW_CONFIG'] ?? (env['AIRFLOW_HOME'] ? path.join(env['AIRFLOW_HOME'], 'airflow.cfg') : null);
    const configFile = source !== null && existsSync(source) && statSync(source).isFile() ? source : null;
    const dbUrl = env['AIRFLOW__DATABASE__SQL_ALCHEMY_CONN'] ?? env['AIRFLOW__CORE__SQL_ALCHEMY_CONN'];
    const res = await this.withHome((home) => {
      const childEnv = lintEnv(targetVenv, home, env);
      if (configFile) {
        const copy = path.join(home, 'airflow.cfg');
        copyFileSync(configFile, copy);
        childEnv['AIRFLOW_CONFIG'] = copy;
      }
      return this.run(airflow, ['config', 'lint'], { env: childEnv, timeoutMs: this.commandTimeoutMs });
    });
    // lint_config exits 0 whether or not it finds issues: a non-zero exit means it could not lint.
    if (res.exitCode !== 0) throw this.failure('airflow config lint', res, dbUrl);
    const parsed = parseConfigLint(maskSecrets(res.stdout, dbUrl));
    if (!parsed.clean && parsed.findings.length === 0) {
      throw new Error(
        `airflow config lint printed neither findings nor "No issues found":\n${lastLines(maskSecrets(res.stdout, dbUrl))}`,
      );
    }
    return { findings: parsed.findings, clean: parsed.clean, configFile, targetVenv };
  }

  /** `ruff check --select AIR3` over a DAG folder: each finding as file:line, rule (read-only: no cache). */
  async ruffAirflow3({ dagsFolder, ruffBin }: { dagsFolder: string; ruffBin?: string }): Promise<RuffResult> {
    if (typeof dagsFolder !== 'string' || !existsSync(dagsFolder) || !statSync(dagsFolder).isDirectory()) {
      throw new PermanentFault(`dagsFolder: ${JSON.stringify(dagsFolder)} is not a folder`);
    }
    const ruff = ruffBin ?? this.options.ruffBin ?? 'ruff';
    const env: Record<string, string> = {
      PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin',
      HOME: process.env.HOME ?? tmpdir(),
      LANG: 'C.UTF-8',
    };
    const version = await this.run(ruff, ['--version'], { env, timeoutMs: this.commandTimeoutMs }).catch(
      (err: unknown) => {
        throw (err as NodeJS.ErrnoException).code === 'ENOENT'
          ? new PermanentFault(`ruffBin: no ruff at ${ruff} (install ruff, or pass its path)`)
          : err;
      },
    );
    // --isolated: the DAG repo's own ruff config cannot exclude files or rules from this check;
    // --exit-zero: findings are the answer, so only a ruff error exits non-zero.
    const res = await this.run(
      ruff,
      [
        'check',
        '--isolated',
        '--no-cache',
        '--exit-zero',
        '--select',
        'AIR3',
        '--output-format',
        'json',
        dagsFolder,
      ],
      { env, timeoutMs: this.commandTimeoutMs },
    );
    if (res.exitCode !== 0) throw this.failure('ruff check --select AIR3', res);
    const root = path.resolve(dagsFolder);
    const findings = parseRuffJson(res.stdout, (file) => path.relative(root, path.resolve(root, file)));
    findings.sort((a, b) => a.file.localeCompare(b.file) || a.line - b.line || a.column - b.column);
    return { findings, ruffVersion: version.stdout.trim().replace(/^ruff\s+/, ''), dagsFolder: root };
  }

  /**
   * The installed providers (from the inventory probe) against the target: a `Requires-Dist:
   * apache-airflow` that excludes the target version, a pin that differs in the target's
   * constraints, a provider the target venv lacks. PEP 440 is evaluated by the target venv's
   * own `packaging`.
   */
  async providerCompatibility({
    installed,
    targetVersion,
    targetConstraints,
    targetVenv = this.options.targetVenv,
  }: {
    installed: InstalledProvider[];
    targetVersion: string;
    targetConstraints: string;
    targetVenv?: string;
  }): Promise<ProviderCompatibility> {
    checkVersion('targetVersion', targetVersion);
    if (typeof targetConstraints !== 'string')
      throw new PermanentFault('targetConstraints: expected the constraints file text');
    if (!Array.isArray(installed)) throw new PermanentFault('installed: expected a list of providers');
    installed.forEach((p, i) => {
      if (
        !isRecord(p) ||
        typeof p.name !== 'string' ||
        p.name === '' ||
        typeof p.version !== 'string' ||
        p.version === ''
      ) {
        throw new PermanentFault(`installed[${i}]: expected {name, version, airflowRequirements}`);
      }
      if (
        !Array.isArray(p.airflowRequirements) ||
        !p.airflowRequirements.every((r) => typeof r === 'string')
      ) {
        throw new PermanentFault(
          `installed[${i}].airflowRequirements: expected a list of requirement strings`,
        );
      }
    });
    const python = venvExecutable('targetVenv', targetVenv, 'python');
    const doc = await this.python(
      python,
      'providers',
      null,
      JSON.stringify({ installed, targetVersion, targetConstraints }),
    );
    if (isRecord(doc['inputError'])) {
      throw new PermanentFault(`${str(doc['inputError']['field'])}: ${str(doc['inputError']['message'])}`);
    }
    const findings = Array.isArray(doc['findings'])
      ? doc['findings'].filter(isRecord).map(toProviderFinding)
      : [];
    return {
      targetVersion,
      findings,
      constraintsPinned: typeof doc['constraintsPinned'] === 'number' ? doc['constraintsPinned'] : 0,
    };
  }

  /** The DB's alembic_version rows, read with `venv`'s SQLAlchemy (no Airflow import: fast). */
  async readRevisions(venv: string, dbUrl: string): Promise<{ revisions: string[] }> {
    checkDbUrl(dbUrl);
    const python = venvExecutable('venv', venv, 'python');
    const doc = await this.python(python, 'revisions', dbUrl);
    return { revisions: strings(doc['revisions']) };
  }

  private async schemaCommand(
    what: string,
    venv: string,
    dbUrl: string,
    args: string[],
    heartbeat: Heartbeat | undefined,
    signal: AbortSignal | undefined,
  ): Promise<CommandOutcome> {
    checkDbUrl(dbUrl);
    const airflow = venvExecutable('venv', venv, 'airflow');
    const before = await this.readRevisions(venv, dbUrl);
    let lastStep: string | null = null;
    let beat: NodeJS.Timeout | undefined;
    const started = performance.now();
    const tick = () =>
      heartbeat?.({ command: what, lastStep, elapsedMs: Math.round(performance.now() - started) });
    if (heartbeat) {
      tick();
      beat = setInterval(tick, this.options.heartbeatEveryMs ?? 5000);
    }
    let res: RunResult;
    try {
      res = await this.withHome((home) =>
        this.run(airflow, args, {
          env: cliEnv(venv, home, dbUrl),
          timeoutMs: this.migrateTimeoutMs,
          ...(signal ? { signal } : {}),
          onLine: (line) => {
            const m = STEP_LINE.exec(line) ?? DOWNGRADE_LINE.exec(line);
            if (m) {
              lastStep = `${m[1]} -> ${m[2]}`;
              tick();
            }
          },
        }),
      );
    } finally {
      if (beat) clearInterval(beat);
    }
    const after = await this.readRevisions(venv, dbUrl);
    const output = maskSecrets(`${res.stdout}\n${res.stderr}`, dbUrl);
    return {
      ok: res.exitCode === 0,
      exitCode: res.exitCode,
      durationMs: res.durationMs,
      fromRevision: before.revisions.join(',') || null,
      toRevision: after.revisions.join(',') || null,
      stepsStarted: stepsIn(output),
      error: res.exitCode === 0 ? null : extractCliError(output),
      outputTail: lastLines(output),
    };
  }

  private async python(
    python: string,
    mode: 'revisions' | 'describe' | 'describe-given' | 'providers',
    dbUrl: string | null,
    stdin?: string,
  ): Promise<Record<string, unknown>> {
    const venv = path.dirname(path.dirname(python));
    const res = await this.withHome((home) =>
      this.run(python, ['-c', UPGRADE_PY, mode], {
        env: { ...cliEnv(venv, home, dbUrl), PGOPTIONS: READ_ONLY_PG },
        timeoutMs: this.commandTimeoutMs,
        ...(stdin !== undefined ? { stdin } : {}),
      }),
    );
    const line = res.stdout
      .split('\n')
      .reverse()
      .find((l) => l.startsWith(RESULT_MARK));
    if (res.exitCode !== 0 || line === undefined) {
      throw this.failure(`${python} -c <upgrade helper> ${mode}`, res, dbUrl ?? undefined);
    }
    const doc: unknown = JSON.parse(line.slice(RESULT_MARK.length));
    if (!isRecord(doc)) throw new Error(`${python} (${mode}) answered something that is not an object`);
    return doc;
  }

  private failure(what: string, res: RunResult, dbUrl?: string): Error {
    const output = maskSecrets(`${res.stdout}\n${res.stderr}`, dbUrl);
    return new Error(`${what} exited ${res.exitCode}: ${extractCliError(output)}`);
  }

  private async withHome<T>(fn: (home: string) => Promise<T>): Promise<T> {
    const home = mkdtempSync(path.join(tmpdir(), 'cutover-upgrade-home-'));
    try {
      return await fn(home);
    } finally {
      rmSync(home, { recursive: true, force: true });
    }
  }

  /** Runs a program in its own process group; a timeout or abort ends the whole group. */
  private run(program: string, args: string[], opts: RunOptions): Promise<RunResult> {
    const started = performance.now();
    return new Promise<RunResult>((resolve, reject) => {
      const child = spawn(program, args, { env: opts.env, detached: true, stdio: ['pipe', 'pipe', 'pipe'] });
      const out: Buffer[] = [];
      const err: Buffer[] = [];
      let bytes = 0;
      let settled = false;
      let partial = '';
      const killGroup = (sig: NodeJS.Signals) => {
        if (child.pid === undefined) return;
        try {
          process.kill(-child.pid, sig);
        } catch {
          // already gone
        }
      };
      const stop = (reason: Error) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        opts.signal?.removeEventListener('abort', onAbort);
        killGroup('SIGTERM');
        setTimeout(() => killGroup('SIGKILL'), 5000).unref();
        reject(reason);
      };
      const onAbort = () => {
        const e = new Error(`${path.basename(program)} ${args[0] ?? ''} was aborted`);
        e.name = 'AbortError';
        stop(e);
      };
      const timer = setTimeout(
        () =>
          stop(
            new Error(
              `${path.basename(program)} ${args.slice(0, 2).join(' ')} ran past ${opts.timeoutMs} ms and was stopped`,
            ),
          ),
        opts.timeoutMs,
      );
      if (opts.signal?.aborted) {
        onAbort();
        return;
      }
      opts.signal?.addEventListener('abort', onAbort, { once: true });
      const collect = (into: Buffer[]) => (chunk: Buffer) => {
        bytes += chunk.length;
        if (bytes > MAX_OUTPUT) {
          stop(new Error(`${path.basename(program)} printed more than ${MAX_OUTPUT} bytes`));
          return;
        }
        into.push(chunk);
        if (opts.onLine) {
          const text = partial + chunk.toString('utf8');
          const lines = text.split('\n');
          partial = lines.pop() ?? '';
          for (const l of lines) opts.onLine(l);
        }
      };
      child.stdout.on('data', collect(out));
      child.stderr.on('data', collect(err));
      child.on('error', (e) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        reject(e);
      });
      child.on('close', (code, signal) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        opts.signal?.removeEventListener('abort', onAbort);
        resolve({
          exitCode: code ?? (signal ? 128 : -1),
          stdout: Buffer.concat(out).toString('utf8'),
          stderr: Buffer.concat(err).toString('utf8'),
          durationMs: Math.round(performance.now() - started),
        });
      });
      child.stdin.on('error', () => undefined);
      child.stdin.end(opts.stdin ?? '');
    });
  }
}

/** The minimal env of `venv`'s CLI: as local/airflow-db.ts's airflowDbEnv, with this venv's PATH. */
function cliEnv(venv: string, home: string, dbUrl: string | null): Record<string, string> {
  return {
    PATH: `${path.join(venv, 'bin')}:/usr/local/bin:/usr/bin:/bin`,
    HOME: process.env.HOME ?? home,
    LANG: 'C.UTF-8',
    AIRFLOW_HOME: home,
    AIRFLOW__CORE__LOAD_EXAMPLES: 'False',
    ...(dbUrl
      ? {
          AIRFLOW__DATABASE__SQL_ALCHEMY_CONN: dbUrl,
          // Airflow 3 would derive a postgresql+asyncpg URL the venvs cannot load.
          AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC: '',
        }
      : {}),
  };
}

/** The target CLI's env for a lint: the component's AIRFLOW__* config, nothing else of it. */
function lintEnv(targetVenv: string, home: string, env: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {
    PATH: `${path.join(targetVenv, 'bin')}:/usr/local/bin:/usr/bin:/bin`,
    HOME: process.env.HOME ?? home,
    LANG: 'C.UTF-8',
    AIRFLOW_HOME: home,
  };
  for (const [k, v] of Object.entries(env))
    if (k.startsWith('AIRFLOW__') && typeof v === 'string') out[k] = v;
  // Airflow 3 would derive a postgresql+asyncpg URL the venvs cannot load; the lint's list has
  // no async option, so setting it changes no finding.
  if (
    out['AIRFLOW__DATABASE__SQL_ALCHEMY_CONN'] &&
    out['AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC'] === undefined
  ) {
    out['AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC'] = '';
  }
  return out;
}

/** A describe answer as a DbRevision (the revisions described: the DB's, or the one given). */
function revisionRecord(doc: Record<string, unknown>): DbRevision {
  const described = Array.isArray(doc['revisions']) ? doc['revisions'].filter(isRecord) : [];
  const revisions = described.map((r) => str(r['revision']) ?? '').filter((r) => r !== '');
  const first = described[0];
  const heads = strings(doc['heads']);
  const revision = revisions.length === 1 ? (revisions[0] ?? null) : null;
  return {
    revision,
    revisions,
    airflowVersion: first && revisions.length === 1 ? str(first['airflowVersion']) : null,
    releaseHeadOf: first && revisions.length === 1 ? str(first['releaseHeadOf']) : null,
    description: first && revisions.length === 1 ? str(first['doc']) : null,
    knownToVenv: described.length > 0 && described.every((r) => r['known'] === true),
    venvHeads: heads,
    atVenvHead:
      revisions.length > 0 && revisions.length === heads.length && revisions.every((r) => heads.includes(r)),
    venvAirflowVersion: str(doc['venvAirflowVersion']) ?? '',
  };
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

const str = (v: unknown): string | null => (typeof v === 'string' ? v : null);
const strings = (v: unknown): string[] =>
  Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];

const PROVIDER_KINDS: ReadonlySet<string> = new Set<ProviderFindingKind>([
  'requires-airflow-excludes-target',
  'requirement-unreadable',
  'constraint-differs',
  'not-in-target-constraints',
  'missing-in-target-venv',
  'target-venv-differs',
]);

function toProviderFinding(r: Record<string, unknown>): ProviderFinding {
  const kind = str(r['kind']) ?? '';
  if (!PROVIDER_KINDS.has(kind))
    throw new Error(`provider compatibility answered an unknown finding kind ${kind}`);
  return {
    provider: str(r['provider']) ?? '',
    installedVersion: str(r['installedVersion']) ?? '',
    kind: kind as ProviderFindingKind,
    blocking: r['blocking'] === true,
    detail: str(r['detail']) ?? '',
    ...(str(r['from']) !== null ? { from: str(r['from']) ?? '' } : {}),
    ...(str(r['to']) !== null ? { to: str(r['to']) ?? '' } : {}),
    ...(str(r['requirement']) !== null ? { requirement: str(r['requirement']) ?? '' } : {}),
  };
}
