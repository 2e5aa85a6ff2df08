/** The upgrade's dry-run evidence for a terminal: ASSESS, PREFLIGHT (with the SQL) and REHEARSE. */
import type { RunResult } from '../../domain/engine/run.js';
import type { UpgradeResult, UpgradeStatus } from '../../domain/upgrade/run.js';
import { failedSteps, gateWord, preflightLines, type DryRunSection } from '../dry-run-lines.js';
import { formatBytes, keyValues, table } from '../format.js';
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
  versionsGrid,
  type Grid,
} from './records.js';

const INDENT = '   ';
/** The SQL's first lines in the terminal; the dossier (`cutover report`) has it whole. */
const SQL_LINES_SHOWN = 20;

const lines = (g: Grid, indent = INDENT): string[] =>
  table(
    g.headers.map((h) => h.toLowerCase()),
    g.rows,
    indent,
  );

function notReached(s: UpgradeStatus, phase: string): string[] {
  const failed = failedSteps(s, phase);
  return failed.length > 0 ? failed : [`${INDENT}not reached`];
}

export function upgradeDryRun(r0: RunResult): DryRunSection[] {
  const result = r0 as UpgradeResult;
  const s = result.status;
  return [
    { phase: 'ASSESS', lines: assessLines(s) },
    { phase: 'PREFLIGHT', lines: upgradePreflightLines(s) },
    { phase: 'REHEARSE', lines: rehearsalLines(result) },
  ];
}

function assessLines(s: UpgradeStatus): string[] {
  const h = s.evidence.health?.before;
  if (!h) return ['1. ASSESS', ...notReached(s, 'ASSESS')];
  const out = [
    `1. ASSESS ${h.row.status === 'green' ? 'green' : h.row.status.toUpperCase()}`,
    `${INDENT}${healthSentence(h)}`,
  ];
  if (h.components.length > 0) out.push(...lines(healthComponentsGrid(h)));
  for (const f of h.findings)
    out.push(`${INDENT}[${f.severity === 'critical' ? 'CRITICAL' : 'warning'}] ${f.title}`);
  return out;
}

function upgradePreflightLines(s: UpgradeStatus): string[] {
  const pf = s.evidence.preflight;
  const out = preflightLines(s, pf);
  if (!pf) return out;
  out.push(`${INDENT}${upgradeSentence(pf)}`, `${INDENT}versions per component:`);
  out.push(...lines(versionsGrid(pf.components), `${INDENT}  `));
  out.push(`${INDENT}${targetInstallSentence(pf)}; the metadata DB is at ${revisionSentence(pf)}`);
  if (pf.providers.length > 0) out.push(`${INDENT}providers:`, ...lines(providersGrid(pf), `${INDENT}  `));
  if (pf.configLint.length > 0)
    out.push(`${INDENT}config lint (Airflow 3):`, ...lines(configLintGrid(pf), `${INDENT}  `));
  if (pf.dagFindings.length > 0)
    out.push(`${INDENT}DAG findings (Airflow 3 rules):`, ...lines(dagFindingsGrid(pf), `${INDENT}  `));
  out.push(
    `${INDENT}metadata DB: ${formatBytes(pf.db.sizeBytes)}; largest tables:`,
    ...lines(largestTablesGrid(pf), `${INDENT}  `),
  );
  const sql = pf.migrationSql;
  if (!sql) out.push(`${INDENT}migration SQL: not rendered`);
  else {
    const text = sql.text.replace(/\n$/, '').split('\n');
    out.push(`${INDENT}migration SQL: ${migrationSqlSentence(sql)}`);
    out.push(...text.slice(0, SQL_LINES_SHOWN).map((l) => `${INDENT}  ${l}`.trimEnd()));
    if (text.length > SQL_LINES_SHOWN || sql.truncated)
      out.push(
        `${INDENT}  ... ${text.length > SQL_LINES_SHOWN ? `${text.length - SQL_LINES_SHOWN} more line(s)` : 'more'}: cutover report ${s.workflowId} shows it${sql.truncated ? ' up to 32 KB' : ' whole'}`,
      );
  }
  return out;
}

function rehearsalLines(result: UpgradeResult): string[] {
  const s = result.status;
  const r = s.evidence.rehearsal;
  const out = [`3. REHEARSAL ${r ? gateWord(r.gate) : ''}`.trimEnd()];
  if (!r) {
    const skipped = result.outcome === 'PLANNED' && !s.steps.some((x) => x.phase === 'REHEARSE');
    out.push(...(skipped ? [`${INDENT}skipped (--no-rehearsal)`] : notReached(s, 'REHEARSE')));
    return out;
  }
  out.push(
    ...keyValues(
      rehearsalFacts(r).map(([k, v]) => [k.toLowerCase(), v]),
      INDENT,
    ),
  );
  out.push(...lines(rowCountsGrid(r)));
  for (const reason of r.gate.reasons) out.push(`${INDENT}RED: ${reason}`);
  return out;
}
