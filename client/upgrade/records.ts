/**
 * The upgrade's evidence records as grids and sentences, each built here once: the dossier lays a
 * grid out as a Markdown table, the dry run as aligned columns, so both show the same figures in
 * the same words.
 */
import type { JudgedHealth } from '../../domain/assessment/judge.js';
import { formatBytes, formatCount, formatDuration } from '../../domain/figures.js';
import type {
  ComponentInventory,
  MigrationSql,
  UpgradePreflight,
  UpgradeRehearsal,
  VersionsRecord,
} from '../../domain/upgrade/run.js';

export interface Grid {
  headers: string[];
  rows: string[][];
  /** Right-aligned columns in the dossier (figures). */
  align?: ('l' | 'r')[];
}

/** One health reading in a sentence: its gate row, whose detail carries the verdict. */
export function healthSentence(h: JudgedHealth): string {
  return `${h.row.name}: ${h.row.status} (${h.row.detail})`;
}

export function healthComponentsGrid(h: JudgedHealth): Grid {
  return {
    headers: ['Component', 'State', 'Details'],
    rows: h.components.map((c) => [c.component, c.state, c.details]),
  };
}

export function upgradeSentence(pf: UpgradePreflight): string {
  return `Airflow ${pf.from} -> ${pf.to}: ${pf.major ? 'a major upgrade (the Airflow 3 config lint and DAG rules apply)' : 'a minor upgrade'}`;
}

const providerCount = (c: ComponentInventory) => (c.providers.length === 0 ? '–' : `${c.providers.length}`);

/** The release, Python and providers each component reported from inside itself. */
export function versionsGrid(components: ComponentInventory[]): Grid {
  return {
    headers: ['Component', 'Airflow', 'Python', 'Providers', 'Error'],
    rows: components.map((c) => [
      c.component,
      c.airflowVersion ?? '?',
      c.python ?? '?',
      providerCount(c),
      c.error ?? '',
    ]),
    align: ['l', 'l', 'l', 'r', 'l'],
  };
}

/** The release each component reported after a start (VERIFY, or the rollback's check). */
export function verifiedVersionsGrid(v: VersionsRecord): Grid {
  return {
    headers: ['Component', 'Airflow', `Expected ${v.expected}`, 'Error'],
    rows: v.components.map((c) => [
      c.component,
      c.airflowVersion ?? '?',
      c.airflowVersion === v.expected ? 'yes' : 'NO',
      c.error ?? '',
    ]),
  };
}

export function targetInstallSentence(pf: UpgradePreflight): string {
  return pf.targetInstall
    ? `Airflow ${pf.to} is installed at ${pf.targetInstall}`
    : `Airflow ${pf.to} is NOT installed for this target`;
}

export function revisionSentence(pf: UpgradePreflight): string {
  return `schema revision ${pf.dbRevision.revision} (${pf.dbRevision.version ? `Airflow ${pf.dbRevision.version}` : `not in ${pf.to}'s migration map`})`;
}

export function providersGrid(pf: UpgradePreflight): Grid {
  return {
    headers: ['Provider', 'Installed -> target', 'Blocks the upgrade', 'Problem'],
    rows: pf.providers.map((x) => [
      x.name,
      `${x.installed} -> ${x.target ?? '(not in the target install)'}`,
      x.blocking ? 'yes' : 'no',
      x.problem,
    ]),
  };
}

export function configLintGrid(pf: UpgradePreflight): Grid {
  return {
    headers: ['Section', 'Option', 'Finding'],
    rows: pf.configLint.map((f) => [`[${f.section}]`, f.option, f.message]),
  };
}

/** file:line rule message, the way ruff prints a finding. */
export function dagFindingsGrid(pf: UpgradePreflight): Grid {
  return {
    headers: ['Where', 'Rule', 'Message'],
    rows: pf.dagFindings.map((f) => [`${f.file}:${f.line}`, f.rule, f.message]),
  };
}

export function largestTablesGrid(pf: UpgradePreflight): Grid {
  return {
    headers: ['Table', 'Rows', 'Size'],
    rows: pf.db.largestTables.map((t) => [t.table, formatCount(t.rows), formatBytes(t.bytes)]),
    align: ['l', 'r', 'r'],
  };
}

export function migrationSqlSentence(sql: MigrationSql): string {
  return `${formatCount(sql.statements)} statement(s), ${formatBytes(sql.bytes)}, from revision ${sql.fromRevision}`;
}

/** The rehearsal's figures, label and value. */
export function rehearsalFacts(r: UpgradeRehearsal): [string, string][] {
  return [
    ['Copy', r.database],
    ['Copy time', formatDuration(r.copyMs)],
    ['Migration time (the downtime it predicts)', formatDuration(r.migrateMs)],
    ['Revisions', `${r.fromRevision || '?'} -> ${r.toRevision || '?'}`],
    ['Schema at head (db check-migrations)', r.migrationsCurrent ? 'yes' : 'NO'],
    ['Copy dropped', r.dropped ? 'yes' : 'NO (drop it by hand)'],
  ];
}

/** Rows before and after the migration of the copy: history kept when they are equal. */
export function rowCountsGrid(r: UpgradeRehearsal): Grid {
  return {
    headers: ['Table', 'Before', 'After', 'Kept'],
    rows: r.rowCounts.map((c) => [
      c.table,
      formatCount(c.before),
      formatCount(c.after),
      c.before === c.after ? 'yes' : 'NO',
    ]),
    align: ['l', 'r', 'r', 'l'],
  };
}
