/**
 * The upgrade's derived figures, computed from its evidence and step times only, so a run recorded
 * before a renderer changed reads the same: the migration against its rehearsal, the downtime of
 * the switch and of a rollback, the rollback time.
 */
import type { RunStatus } from '../../domain/engine/run.js';
import { downtimeMs, type DueDag, type UpgradeEvidence } from '../../domain/upgrade/run.js';
import { rcaFigures } from '../rca.js';

/** The real migration against the rehearsed one; the ratio is null when the rehearsal measured 0 ms. */
export interface MigrationAgainstRehearsal {
  realMs: number;
  rehearsedMs: number | null;
  ratio: number | null;
}

export function migrationAgainstRehearsal(ev: UpgradeEvidence): MigrationAgainstRehearsal | null {
  const m = ev.migration;
  if (!m) return null;
  const rehearsedMs = ev.rehearsal ? ev.rehearsal.migrateMs : null;
  return {
    realMs: m.durationMs,
    rehearsedMs,
    ratio: rehearsedMs !== null && rehearsedMs > 0 ? m.durationMs / rehearsedMs : null,
  };
}

/** 1.08 -> "1.08×": two decimals, so 0.97 and 1.03 stay apart. */
export function ratioText(ratio: number): string {
  return `${ratio.toFixed(2)}×`;
}

/** Scheduler down -> every component healthy on the new release (domain/upgrade/run.ts downtimeMs). */
export interface Downtime {
  stoppedAt: string;
  healthyAt: string;
  ms: number;
}

export function switchDowntime(ev: UpgradeEvidence): Downtime | null {
  const ms = downtimeMs(ev);
  const stoppedAt = ev.drain?.stoppedAt;
  const healthyAt = ev.started?.healthyAt;
  return ms !== null && stoppedAt && healthyAt ? { stoppedAt, healthyAt, ms } : null;
}

/**
 * After a rollback: from the stop before the migration until the OLD release answered healthy again.
 * A rollback after the switch had the new release up in between; this is the whole window the
 * upgrade's run kept Airflow away from its previous state.
 */
export function rollbackDowntime(ev: UpgradeEvidence): Downtime | null {
  const stoppedAt = ev.drain?.stoppedAt;
  const healthyAt = ev.restarted?.healthyAt;
  return stoppedAt && healthyAt
    ? { stoppedAt, healthyAt, ms: Date.parse(healthyAt) - Date.parse(stoppedAt) }
    : null;
}

/** The failure (as the RCA dates it) -> the old release healthy again. */
export interface RollbackTime {
  failedAt: string;
  /** Where failedAt comes from (client/rca.ts): the failing step's end, or the kill-switch's start. */
  failedFrom: string;
  failingStep: string | null;
  healthyAt: string;
  ms: number;
}

export function rollbackTime(status: RunStatus<UpgradeEvidence>): RollbackTime | null {
  const healthyAt = status.evidence.restarted?.healthyAt;
  const rca = rcaFigures(status);
  if (!healthyAt || !rca?.detectedAt || !rca.detectedFrom) return null;
  return {
    failedAt: rca.detectedAt,
    failedFrom: rca.detectedFrom,
    failingStep: rca.failingStep,
    healthyAt,
    ms: Date.parse(healthyAt) - Date.parse(rca.detectedAt),
  };
}

/**
 * Whether a DAG the drain listed fell due while Airflow was down: at or before the new release was
 * healthy (the ones VALIDATE checks got scheduled); null before the switch, when that is not known.
 */
export function dueInDowntime(ev: UpgradeEvidence, d: DueDag): boolean | null {
  return ev.started ? Date.parse(d.dueAt) <= Date.parse(ev.started.healthyAt) : null;
}

/** How many times the backup step ran: a pg-dump is taken again when the DB changed before the stop. */
export function backupsTaken(status: RunStatus): number {
  return status.steps.filter((s) => s.status === 'ok' && s.step.startsWith('back up (')).length;
}
