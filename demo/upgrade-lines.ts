/**
 * What the demo says about an upgrade after the go, from its typed evidence and with the dossier's
 * own figures (client/upgrade/figures.ts), so the terminal and the dossier it writes tell the same
 * downtime, migration ratio and rollback time: the backup, the downtime, the migration against its
 * rehearsal, the release in every component, the validation, and for a rollback what brought the
 * old release back.
 */
import {
  migrationAgainstRehearsal,
  ratioText,
  rollbackDowntime,
  rollbackTime,
  switchDowntime,
} from '../client/upgrade/figures.js';
import { formatBytes, formatCount } from '../domain/figures.js';
import type { UpgradeEvidence, UpgradeStatus, VersionsRecord } from '../domain/upgrade/run.js';
import { seconds, shown, type Timing } from './output.js';

const clockOf = (iso: string | null | undefined): string => (iso ? iso.slice(11, 19) : '?');

function versionsText(v: VersionsRecord): string {
  const components = v.components
    .map((c) => `${c.component} ${c.airflowVersion ?? `? (${c.error ?? 'unread'})`}`)
    .join(', ');
  return `${components}; schema ${v.migrationsCurrent ? 'at its head' : 'NOT at its head'}`;
}

function backupText(ev: UpgradeEvidence): string | null {
  const b = ev.backup;
  if (!b) return null;
  const facts = [
    b.bytes === null ? null : formatBytes(b.bytes),
    b.sha256 === null ? null : `sha256 ${b.sha256.slice(0, 12)}…`,
    b.tocEntries === null ? null : `${formatCount(b.tocEntries)} entries read back by pg_restore --list`,
  ].filter((f): f is string => f !== null);
  const where = b.location.startsWith('/') ? shown(b.location) : b.location;
  return `${b.strategy} ${where}${facts.length > 0 ? ` (${facts.join(', ')})` : ''} in ${seconds(b.durationMs)}`;
}

/** The switch's figures and proof: what the upgrade did after the go, as far as it got. */
export function upgradeOutcomeLines(status: UpgradeStatus): string[] {
  const ev = status.evidence;
  const to = ev.preflight?.to;
  const lines: string[] = [];
  const backup = backupText(ev);
  if (backup) lines.push(`  backup:          ${backup}`);
  const down = switchDowntime(ev);
  if (down)
    lines.push(
      `  downtime:        ${seconds(down.ms)} (every component stopped at ${clockOf(down.stoppedAt)} UTC, healthy on ${to ?? 'the new release'} at ${clockOf(down.healthyAt)} UTC)`,
    );
  const m = migrationAgainstRehearsal(ev);
  if (m)
    lines.push(
      `  migration:       ${seconds(m.realMs)} against ${m.rehearsedMs === null ? 'no rehearsal' : `${seconds(m.rehearsedMs)} rehearsed`}${m.ratio === null ? '' : ` (${ratioText(m.ratio)})`}; ${ev.migration?.fromRevision ?? '?'} -> ${ev.migration?.toRevision ?? '?'}`,
    );
  if (ev.versions) lines.push(`  versions:        ${versionsText(ev.versions)}`);
  const v = ev.validation;
  if (v) {
    for (const r of v.runs)
      lines.push(
        `  validation run:  ${r.dagId}/${r.runId} ${r.state} in ${seconds(r.durationMs)}${r.critical ? ' (critical DAG, run first)' : ''}`,
      );
    const scheduled = v.schedule.filter((s) => s.scheduled).length;
    lines.push(
      `  schedule:        ${
        v.schedule.length === 0
          ? 'no unpaused DAG fell due while Airflow was down'
          : `${scheduled}/${v.schedule.length} DAG(s) due during the downtime scheduled (${v.schedule.map((s) => `${s.dagId} ${s.scheduled ? 'yes' : 'NO'}`).join(', ')})`
      }; gate ${v.gate.passed ? 'green' : `RED (${v.gate.reasons.join('; ')})`}`,
    );
  }
  return lines;
}

/** The compensation steps of a rolled-back upgrade after the env file's revert, in the order they ran. */
export function upgradeCompensationLines(status: UpgradeStatus): string[] {
  const ev = status.evidence;
  const from = ev.preflight?.from ?? 'the old release';
  const lines: string[] = [];
  const since = ev.runsSinceSwitch;
  if (since)
    lines.push(
      `    DAG runs made on the new release: ${since.runs.length === 0 ? 'none' : since.runs.map((r) => `${r.dagId}/${r.runId} (${r.state}${r.cutover ? ', cutover’s' : ''})`).join(', ')}`,
    );
  const r = ev.restore;
  if (r)
    lines.push(
      `    metadata DB: ${r.method === 'restore' ? 'restored from the backup' : 'downgraded (airflow db downgrade)'} in ${seconds(r.durationMs)}: ${r.reason}`,
      `      history: ${r.rowCounts.map((c) => `${c.table} ${formatCount(c.rows)}`).join(', ')}${r.checksumsMatch === null ? '' : `; checksums equal to the backup's: ${r.checksumsMatch ? 'yes' : 'NO'}`}`,
    );
  if (ev.restarted)
    lines.push(
      `    Airflow ${ev.restarted.version} started again: ${ev.restarted.components.length} component(s) healthy at ${clockOf(ev.restarted.healthyAt)} UTC`,
    );
  if (ev.rolledBackVersions)
    lines.push(
      `    verified: ${versionsText(ev.rolledBackVersions)}; gate ${ev.rolledBackVersions.gate.passed ? 'green' : 'RED'}`,
    );
  if (ev.retriggered)
    lines.push(
      `    run again on ${from}: ${ev.retriggered.runs.length === 0 ? 'none needed' : ev.retriggered.runs.map((x) => `${x.dagId}/${x.runId} (${x.how}) ${x.finalState}`).join(', ')}`,
    );
  const after = ev.health?.afterRollback;
  if (after) lines.push(`    left healthy: ${after.row.status} (${after.row.detail})`);
  const back = rollbackTime(status);
  if (back)
    lines.push(
      `  rollback time: ${seconds(back.ms)} (${back.failingStep ?? 'the failure'} at ${clockOf(back.failedAt)} UTC -> Airflow ${from} healthy at ${clockOf(back.healthyAt)} UTC)`,
    );
  const down = rollbackDowntime(ev);
  if (down)
    lines.push(
      `  downtime of the attempt: ${seconds(down.ms)} (every component stopped at ${clockOf(down.stoppedAt)} UTC until ${from} answered healthy again)`,
    );
  return lines;
}

/** The upgrade's own rows of the wall-time table: the downtime, the migration, the rollback. */
export function upgradeTimings(status: UpgradeStatus): Timing[] {
  const ev = status.evidence;
  const out: Timing[] = [];
  const down = switchDowntime(ev);
  if (down) out.push({ label: 'downtime (stopped -> healthy on the new release)', ms: down.ms });
  const m = migrationAgainstRehearsal(ev);
  if (m)
    out.push({
      label: 'migration (airflow db migrate)',
      ms: m.realMs,
      note:
        m.rehearsedMs === null
          ? 'not rehearsed'
          : `rehearsed ${seconds(m.rehearsedMs)}${m.ratio === null ? '' : `, ${ratioText(m.ratio)}`}`,
    });
  const back = rollbackTime(status);
  if (back) out.push({ label: 'rollback (failure -> old release healthy)', ms: back.ms });
  return out;
}
