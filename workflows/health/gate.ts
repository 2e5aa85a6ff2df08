/**
 * The deployment health checks as a gate around a change, for the runbooks that change Airflow:
 * - PREFLIGHT: "deployment healthy" joins the preflight rows: red on a critical finding (never
 *   change a sick deployment), amber on a warning;
 * - after the change rolled out: "left healthy" against the assessment before; red (something
 *   critical is new or worse) fails the change's proof, so the kill-switch puts it back;
 * - after the kill-switch: "left healthy" again, recorded for the operator (nothing left to undo).
 *
 * The gate came after runs of the flips were recorded: `patched` keeps those histories replaying.
 */
import { patched } from '@temporalio/workflow';
import { DEFAULT_HEALTH_OPTIONS } from '../../domain/assessment/options.js';
import type { HealthGateEvidence } from '../../domain/assessment/run.js';
import type { CheckRow, GateVerdict } from '../../domain/engine/evidence.js';
import type { AnyPlan } from '../../domain/runbooks.js';
import type { CompensationStep } from '../engine/compensation.js';
import { GateFailed } from '../engine/errors.js';
import type { Run } from '../engine/run.js';
import { readHealth } from './steps.js';

export const HEALTH_GATE_PATCH = 'health-gate-v1';

type GatedRun = Run<AnyPlan, HealthGateEvidence>;

/** PREFLIGHT: reads the deployment and adds its row to the preflight's; a red row fails the gate. */
export async function healthBeforeChange(
  run: GatedRun,
  preflight: { checks: CheckRow[]; gate: GateVerdict },
): Promise<void> {
  if (!patched(HEALTH_GATE_PATCH)) return;
  const { assessment } = await readHealth(run, DEFAULT_HEALTH_OPTIONS, undefined, run.input.dryRun ?? false);
  run.evidence.health = { before: assessment, afterChange: null, afterRollback: null };
  preflight.checks.push(assessment.row);
  if (assessment.row.status === 'red')
    preflight.gate = {
      passed: false,
      reasons: [...preflight.gate.reasons, `${assessment.row.name}: ${assessment.row.detail}`],
    };
}

/**
 * After the change rolled out: anything critical that got worse fails the change in `phase`. A change
 * of release (an upgrade) reads Airflow as the new release serves it.
 */
export async function healthAfterChange(
  run: GatedRun,
  phase: string,
  release: AnyPlan['airflow'] = run.plan.airflow,
): Promise<void> {
  const before = run.evidence.health?.before;
  if (!run.evidence.health || !before) return;
  const { assessment } = await readHealth(run, DEFAULT_HEALTH_OPTIONS, before, false, release);
  run.evidence.health.afterChange = assessment;
  if (assessment.row.status === 'red')
    throw new GateFailed(phase, {
      passed: false,
      reasons: [`${assessment.row.name}: ${assessment.row.detail}`],
    });
}

/** The kill-switch's last step: how the deployment was left, against before the change (a record). */
export function healthAfterRollbackStep(run: GatedRun): CompensationStep[] {
  const health = run.evidence.health;
  const before = health?.before;
  if (!health || !before) return [];
  return [
    {
      name: 'leftHealthy',
      run: async () => {
        health.afterRollback = (await readHealth(run, DEFAULT_HEALTH_OPTIONS, before)).assessment;
      },
    },
  ];
}
