/**
 * The upgrade's own dossier sections: the deployment's health, the preflight (versions, providers,
 * the Airflow 3 findings, the DB's size), the SQL the approver reads, the rehearsal; after the go the
 * backup, the drain, the migration against its rehearsal, the switch and its verification, the
 * validation, the downtime; in a rollback the restore and why, the old release back, the runs run
 * again and the rollback time. Each record is rendered by one function here.
 */
import type { JudgedHealth } from '../../domain/assessment/judge.js';
import type { RunStatus } from '../../domain/engine/run.js';
import type {
  BackupRecord,
  ComponentsStarted,
  DrainRecord,
  MigrationSql,
  RestoreRecord,
  Retriggered,
  RunsSinceSwitch,
  UpgradeEvidence,
  UpgradePreflight,
  UpgradeRehearsal,
  UpgradeStatus,
  UpgradeValidation,
  VersionsRecord,
} from '../../domain/upgrade/run.js';
import {
  bytes,
  code,
  count,
  duration,
  gate,
  mdTable,
  NOT_REACHED,
  span,
  yes,
  type Put,
  type Section,
} from '../report-md.js';
import { deploySection, preflightSection, undoSection } from '../report-shared.js';
import {
  backupsTaken,
  dueInDowntime,
  migrationAgainstRehearsal,
  ratioText,
  rollbackDowntime,
  rollbackTime,
  switchDowntime,
} from './figures.js';
import {
  configLintGrid,
  dagFindingsGrid,
  healthComponentsGrid,
  healthSentence,
  largestTablesGrid,
  migrationSqlSentence,
  providersGrid,
  rehearsalFacts,
  revisionSentence,
  rowCountsGrid,
  targetInstallSentence,
  upgradeSentence,
  verifiedVersionsGrid,
  versionsGrid,
  type Grid,
} from './records.js';

const grid = (g: Grid): string[] => mdTable(g.headers, g.rows, g.align);
const facts = (pairs: [string, string][]): string[] => mdTable(['Field', 'Value'], pairs);

/** A missing record: the phase's failed steps say why, else it was never reached. */
function missing(status: RunStatus, phases: string[], p: Put): void {
  const failed = status.steps.filter((s) => phases.includes(s.phase) && s.status === 'failed');
  if (failed.length === 0) return p(NOT_REACHED, '');
  for (const s of failed) p(`**Failed**: ${s.step}: ${s.summary}`, '');
}

export function upgradeReportSections(s: RunStatus): {
  before: Section[];
  after: Section[];
  compensation(p: Put): void;
} {
  const status = s as UpgradeStatus;
  const ev = status.evidence;
  return {
    before: [
      {
        title: 'Deployment health before',
        render(p) {
          const h = ev.health?.before;
          if (!h) return missing(status, ['ASSESS'], p);
          healthReading('Before the upgrade', h, p);
        },
      },
      {
        title: 'Preflight',
        render(p) {
          if (!ev.preflight) return missing(status, ['PREFLIGHT'], p);
          preflightRecord(ev.preflight, p);
        },
      },
      {
        title: 'Migration SQL',
        render(p) {
          const pf = ev.preflight;
          if (!pf) return p(NOT_REACHED, '');
          if (!pf.migrationSql)
            return p(
              `No SQL rendered: \`airflow db migrate --show-sql-only\` of Airflow ${pf.to} did not run (see the preflight's "migration SQL" row).`,
              '',
            );
          migrationSqlRecord(pf.migrationSql, pf.to, p);
        },
      },
      {
        title: 'Rehearsal',
        render(p) {
          if (!ev.rehearsal) return missing(status, ['REHEARSE'], p);
          rehearsalRecord(ev.rehearsal, p);
        },
      },
    ],
    after: [
      {
        title: 'Backup',
        render(p) {
          if (!ev.backup) return missing(status, ['BACKUP'], p);
          backupRecord(ev.backup, backupsTaken(status), p);
        },
      },
      {
        title: 'Drain',
        render(p) {
          if (!ev.drain) return missing(status, ['DRAIN'], p);
          drainRecord(ev.drain, ev, p);
        },
      },
      {
        title: 'Migration',
        render(p) {
          if (!ev.migration) return missing(status, ['MIGRATE'], p);
          migrationRecord(ev, p);
        },
      },
      {
        title: 'Switch and verify',
        render(p) {
          if (ev.applies.length === 0 && !ev.started) return missing(status, ['SWITCH'], p);
          deploySection(ev.applies, ev.rollouts, p);
          if (ev.started) startedRecord(ev.started, p);
          else missing(status, ['SWITCH'], p);
          if (ev.versions) versionsRecord(ev.versions, p);
          else missing(status, ['VERIFY'], p);
        },
      },
      {
        title: 'Validation',
        render(p) {
          if (!ev.validation) return missing(status, ['VALIDATE'], p);
          validationRecord(ev.validation, p);
        },
      },
      { title: 'Downtime', render: (p) => downtimeRecord(ev, p) },
      {
        title: 'Deployment health after',
        render(p) {
          const after = ev.health?.afterChange;
          const rolledBack = ev.health?.afterRollback;
          if (!after && !rolledBack) return p(NOT_REACHED, '');
          if (after) healthReading('On the new release', after, p);
          if (rolledBack) healthReading('After the rollback, on the old release', rolledBack, p);
        },
      },
    ],
    compensation(p) {
      undoSection(ev, p);
      if (ev.runsSinceSwitch) runsSinceSwitchRecord(ev.runsSinceSwitch, p);
      if (ev.restore) restoreRecord(ev.restore, ev.backup, p);
      if (ev.restarted) restartedRecord(ev.restarted, ev.rolledBackVersions, p);
      if (ev.retriggered) retriggeredRecord(ev.retriggered, p);
      rollbackTimeRecord(status, p);
    },
  };
}

/** One health reading: its verdict and gate row, the component table and the findings. */
export function healthReading(when: string, h: JudgedHealth, p: Put): void {
  p(`${when} (${span(h)}): **${healthSentence(h)}**.`, '');
  if (h.components.length > 0) p(...grid(healthComponentsGrid(h)), '');
  if (h.findings.length > 0)
    p(...h.findings.map((f) => `- **${f.severity}** (${f.component}): ${f.title}`), '');
}

export function preflightRecord(pf: UpgradePreflight, p: Put): void {
  p(`${upgradeSentence(pf)}. Read ${span(pf)}.`, '');
  preflightSection(pf, p);
  p('### Versions per component', '', ...grid(versionsGrid(pf.components)), '');
  p(`${targetInstallSentence(pf)}; the metadata DB is at ${revisionSentence(pf)}.`, '');
  p('### Providers', '');
  if (pf.providers.length === 0)
    p(`Every installed provider is pinned at the same version by Airflow ${pf.to}'s constraints.`, '');
  else p(...grid(providersGrid(pf)), '');
  p('### Config lint (Airflow 3)', '');
  if (!pf.major) p('Not run: a minor upgrade keeps the config options.', '');
  else if (pf.configLint.length === 0) p(`\`airflow config lint\` of Airflow ${pf.to} finds nothing.`, '');
  else p(...grid(configLintGrid(pf)), '');
  p('### DAG findings (Airflow 3 rules)', '');
  if (!pf.major) p('Not run: a minor upgrade keeps the DAG authoring interface.', '');
  else if (pf.dagFindings.length === 0)
    p('`ruff check --select AIR3` over the DAG folder finds nothing.', '');
  else p(...grid(dagFindingsGrid(pf)), '');
  p('### Metadata DB', '', `Size: **${bytes(pf.db.sizeBytes)}**. Largest tables:`, '');
  p(...grid(largestTablesGrid(pf)), '');
}

/**
 * A line of nothing but backticks would close the fence in the dossier and its HTML page: one space
 * in front keeps it inside. Alembic's SQL for PostgreSQL has no such line; tool output might.
 */
const fenced = (text: string): string => text.replace(/\n$/, '').replace(/^(`{3,}\s*)$/gm, ' $1');

export function migrationSqlRecord(sql: MigrationSql, to: string, p: Put): void {
  p(
    `What \`airflow db migrate\` of Airflow ${to} runs on the metadata DB (\`--show-sql-only\`): **${migrationSqlSentence(sql)}**.`,
    '',
  );
  p('```sql', fenced(sql.text), '```', '');
  if (sql.truncated)
    p(
      `_Truncated: the first ${bytes(Buffer.byteLength(sql.text))} of ${bytes(sql.bytes)} are kept in the run's history; \`airflow db migrate --show-sql-only\` with Airflow ${to} prints it whole._`,
      '',
    );
}

export function rehearsalRecord(r: UpgradeRehearsal, p: Put): void {
  p(`On a copy of the metadata DB on the same server, ${span(r)}:`, '', ...facts(rehearsalFacts(r)), '');
  p('Rows of the history tables before and after the migration of the copy:', '');
  p(...grid(rowCountsGrid(r)), '', gate(r.gate), '');
}

export function backupRecord(b: BackupRecord, taken: number, p: Put): void {
  const rows: [string, string][] = [
    [
      'Strategy',
      b.strategy === 'pg-dump'
        ? 'pg-dump (`pg_dump -Fc`, taken while Airflow still ran)'
        : 'clone (`CREATE DATABASE ... TEMPLATE`, taken with the components stopped)',
    ],
    ['Location', code(b.location)],
    ['Size', bytes(b.bytes)],
    ['sha256', b.sha256 ? code(b.sha256) : '–'],
    ['TOC entries (`pg_restore --list`)', b.tocEntries === null ? '–' : count(b.tocEntries)],
    ['Time', duration(b.durationMs)],
    ['Taken', span(b)],
  ];
  p(...facts(rows), '');
  if (taken > 1)
    p(
      `Taken ${taken} times: the metadata DB changed between the dump and the stop, so it was dumped again once nothing wrote; this one is what a rollback restores.`,
      '',
    );
  p(
    'The history tables as backed up (a restore must give these back):',
    '',
    ...mdTable(
      ['Table', 'Rows', 'Checksum'],
      b.rowCounts.map((c) => [
        c.table,
        count(c.rows),
        b.checksums[c.table] ? code(b.checksums[c.table] ?? '') : '–',
      ]),
      ['l', 'r', 'l'],
    ),
    '',
  );
}

export function drainRecord(d: DrainRecord, ev: UpgradeEvidence, p: Put): void {
  p(`Every component stopped at **${d.stoppedAt}** (${d.components.join(', ')}): the downtime starts.`, '');
  if (d.schedule.length === 0) return p('No unpaused DAG had a next run due.', '');
  p(
    'Unpaused DAGs and when each was next due (the ones due during the downtime must be scheduled after the switch):',
    '',
    ...mdTable(
      ['DAG', 'Next run due at', 'Due during the downtime'],
      d.schedule.map((x) => {
        const due = dueInDowntime(ev, x);
        return [x.dagId, x.dueAt, due === null ? '–' : due ? 'yes' : 'no'];
      }),
    ),
    '',
  );
}

export function migrationRecord(ev: UpgradeEvidence, p: Put): void {
  const m = ev.migration;
  const vs = migrationAgainstRehearsal(ev);
  if (!m || !vs) return;
  p(
    ...facts([
      ['Revisions', `${code(m.fromRevision)} -> ${code(m.toRevision)}`],
      ['Time', duration(vs.realMs)],
      ['Rehearsed', vs.rehearsedMs === null ? 'not rehearsed' : duration(vs.rehearsedMs)],
      ['Against the rehearsal', vs.ratio === null ? '–' : `${ratioText(vs.ratio)} the rehearsed time`],
      ['Ran', span(m)],
    ]),
    '',
  );
  if (vs.ratio !== null)
    p(
      `The migration took **${duration(vs.realMs)}**, **${ratioText(vs.ratio)}** the ${duration(vs.rehearsedMs)} the rehearsal predicted.`,
      '',
    );
  if (m.outputTail.trim() !== '')
    p('Last lines of its output:', '', '```text', fenced(m.outputTail.trimEnd()), '```', '');
}

export function startedRecord(st: ComponentsStarted, p: Put): void {
  p(
    `Started on Airflow ${st.version} (${span(st)}); every component answered healthy at **${st.healthyAt}**.`,
    '',
    ...mdTable(
      ['Component', 'PID', 'Started'],
      st.components.map((c) => [c.name, String(c.pid), c.startedAt]),
    ),
    '',
  );
}

export function versionsRecord(v: VersionsRecord, p: Put): void {
  p(
    `The release inside every component (${span(v)}):`,
    '',
    ...grid(verifiedVersionsGrid(v)),
    '',
    `Schema at Airflow ${v.expected}'s head (\`airflow db check-migrations\`): ${yes(v.migrationsCurrent)}.`,
    '',
    gate(v.gate),
    '',
  );
}

export function validationRecord(v: UpgradeValidation, p: Put): void {
  const critical = v.runs.filter((r) => r.critical);
  p(
    `${critical.length > 0 ? `${critical.length} critical DAG(s) first, then the validation DAG` : 'The validation DAG'}, in the order they ran (${span(v)}):`,
    '',
    ...mdTable(
      ['#', 'DAG', 'Run', 'Kind', 'State', 'Duration'],
      v.runs.map((r, i) => [
        String(i + 1),
        r.dagId,
        code(r.runId),
        r.critical ? 'critical' : 'validation',
        r.state === 'success' ? r.state : `**${r.state}**`,
        duration(r.durationMs),
      ]),
      ['r', 'l', 'l', 'l', 'l', 'r'],
    ),
    '',
  );
  if (v.schedule.length === 0) p('No DAG fell due during the downtime.', '');
  else
    p(
      `DAGs due during the downtime, scheduled on the new release: ${v.schedule.filter((x) => x.scheduled).length}/${v.schedule.length}.`,
      '',
      ...mdTable(
        ['DAG', 'Due at', 'Scheduled'],
        v.schedule.map((x) => [x.dagId, x.dueAt, yes(x.scheduled)]),
      ),
      '',
    );
  p(gate(v.gate), '');
}

export function downtimeRecord(ev: UpgradeEvidence, p: Put): void {
  const down = switchDowntime(ev);
  const back = rollbackDowntime(ev);
  if (!down && !back) return p(NOT_REACHED, '');
  if (down) {
    p(
      `Scheduler down -> healthy on Airflow ${ev.started?.version ?? ''}: **${duration(down.ms)}** (stopped at ${down.stoppedAt}, every component healthy at ${down.healthyAt}).`,
      '',
    );
    const parts: [string, string][] = [];
    if (ev.backup?.strategy === 'clone')
      parts.push(['the clone (taken stopped)', duration(ev.backup.durationMs)]);
    if (ev.migration) parts.push(['the migration', duration(ev.migration.durationMs)]);
    if (parts.length > 0)
      p(
        `Of which ${parts.map(([what, t]) => `${what} ${t}`).join(', ')}; the rest is stopping and starting the components.`,
        '',
      );
  }
  if (back)
    p(
      `With the rollback: from the stop (${back.stoppedAt}) until the old release answered healthy again (${back.healthyAt}): **${duration(back.ms)}**.`,
      '',
    );
}

export function runsSinceSwitchRecord(r: RunsSinceSwitch, p: Put): void {
  p(`DAG runs made on the new release since ${r.since}: ${r.runs.length}.`, '');
  if (r.runs.length > 0)
    p(
      ...mdTable(
        ['DAG', 'Run', 'State', 'Made by', 'Logical date'],
        r.runs.map((x) => [
          x.dagId,
          code(x.runId),
          x.state,
          x.cutover ? 'cutover' : 'Airflow / users',
          x.logicalDate ?? '–',
        ]),
      ),
      '',
    );
}

export function restoreRecord(r: RestoreRecord, backup: BackupRecord | null, p: Put): void {
  p(
    `### The metadata DB brought back: ${r.method === 'restore' ? 'restored from the backup' : '`airflow db downgrade`'}`,
    '',
    `**Why ${r.method}**: ${r.reason}.`,
    '',
  );
  p(
    ...facts([
      [
        'Method',
        r.method === 'restore'
          ? backup?.strategy === 'clone'
            ? `restore: the clone ${code(backup.location)} renamed back`
            : `restore: \`pg_restore\` of ${backup ? code(backup.location) : 'the backup'}`
          : 'downgrade: `airflow db downgrade` with the new release’s code, keeping what was written since the switch',
      ],
      ['Time', duration(r.durationMs)],
      [
        'History checksums equal to the backup’s',
        r.checksumsMatch === null
          ? 'not comparable (a downgrade keeps the runs since)'
          : yes(r.checksumsMatch),
      ],
      ['Ran', span(r)],
    ]),
    '',
  );
  p(
    ...mdTable(
      ['Table', 'At the backup', 'After'],
      r.rowCounts.map((c) => [
        c.table,
        count(backup?.rowCounts.find((b) => b.table === c.table)?.rows),
        count(c.rows),
      ]),
      ['l', 'r', 'r'],
    ),
    '',
  );
}

export function restartedRecord(st: ComponentsStarted, v: VersionsRecord | null, p: Put): void {
  p(`### Airflow ${st.version} started again`, '');
  startedRecord(st, p);
  if (v) versionsRecord(v, p);
  else p('_Its versions were not verified._', '');
}

export function retriggeredRecord(r: Retriggered, p: Put): void {
  p(
    '### Runs made on the new release, run again on the old one',
    '',
    ...mdTable(
      ['DAG', 'Run', 'How', 'Final state'],
      r.runs.map((x) => [
        x.dagId,
        code(x.runId),
        x.how === 'rerun'
          ? 're-run (cleared: the downgrade kept the run)'
          : 're-triggered (same run id, logical date and conf: the restore lost it)',
        x.finalState === 'success' ? x.finalState : `**${x.finalState}**`,
      ]),
    ),
    '',
  );
}

export function rollbackTimeRecord(status: UpgradeStatus, p: Put): void {
  const t = rollbackTime(status);
  if (!t) return;
  p(
    `Rollback time: **${duration(t.ms)}**, from the failure (${t.failedAt}, ${t.failedFrom}${t.failingStep ? `: ${t.failingStep}` : ''}) to Airflow ${status.evidence.restarted?.version ?? ''} healthy again (${t.healthyAt}).`,
    '',
  );
}
