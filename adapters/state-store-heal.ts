/**
 * The state store heal (COMPENSATE's data step for the task/asset state store flip) over an
 * ExecPort: probes/state_store_heal.py runs inside an Airflow component, through
 * probes/bootstrap.py, because it needs Airflow's own DB engine and connections (the object
 * store's credentials never reach the worker). See the probe's docstring for what it rewrites
 * and how the journal makes it exact, resumable and idempotent. It runs through the same runner
 * as the other probes (adapters/probe-runner.ts).
 */
import type { Heartbeat } from '../activities/heartbeat.js';
import { PermanentFault } from '../activities/engine/errors.js';
import type { Component } from '../domain/plan.js';
import type { ExecPort } from './exec/port.js';
import { ProbeRunner } from './probe-runner.js';
import type {
  HealMode,
  HealReport,
  HealRequest,
  StateStoreHealPort,
  StoreCounts,
  UnreadableRow,
} from '../activities/state-store-ports.js';

export type { HealMode, HealReport, HealRequest, StateStoreHealPort, StoreCounts, UnreadableRow };

export interface ExecStateStoreHealOptions {
  /** The python to run in a component (default ['python']). */
  python?: (component: Component) => string[];
  /** Default 30 min: a big window is rewritten in one exec (the journal makes a retry resume). */
  timeoutMs?: number;
  probesDir?: string;
  heartbeatEveryMs?: number;
  /** As ExecAirflowProbesOptions.secretsContext (default 'server'). */
  secretsContext?: 'server' | 'inherit';
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Python exceptions the heal raises that a retry cannot cure. Narrower than the other probes' list
 * (PERMANENT_PY_ERRORS in probe-runner.ts): this is a compensation step, and its retry policy is
 * kept as it was settled, not widened by sharing the runner.
 */
const HEAL_PERMANENT_PY_ERRORS: ReadonlySet<string> = new Set([
  'ValueError',
  'TypeError',
  'ModuleNotFoundError',
  'ImportError',
  'SyntaxError',
]);

export class ExecStateStoreHeal implements StateStoreHealPort {
  private readonly runner: ProbeRunner;

  constructor(
    execPort: ExecPort,
    private readonly options: ExecStateStoreHealOptions = {},
  ) {
    this.runner = new ProbeRunner(execPort, options);
  }

  async heal({
    component,
    heartbeat,
    ...req
  }: HealRequest & { component: Component; heartbeat?: Heartbeat }): Promise<HealReport> {
    if (Number.isNaN(req.since.getTime())) throw new PermanentFault('the heal needs a valid "since" time');
    if (!req.changeId.trim()) throw new PermanentFault('the heal needs a change id');
    const what = `the state store heal in ${component.name}`;
    // A killed heal (exit 137) fails retryable: whatever it committed is journaled, a rerun resumes.
    const result = await this.runner.run({
      probe: 'state_store_heal',
      libs: ['store_errors'],
      component,
      request: {
        mode: req.mode ?? 'heal',
        change_id: req.changeId,
        since: req.since.toISOString(),
        path: req.path,
        compression: req.compression,
        batch_size: req.batchSize ?? 500,
        max_reported: req.maxReported ?? 200,
        read_threads: req.readThreads ?? 8,
        secrets_context: this.options.secretsContext ?? 'server',
      },
      timeoutMs: this.options.timeoutMs ?? 30 * 60_000,
      heartbeat,
      what,
      permanentPyErrors: HEAL_PERMANENT_PY_ERRORS,
    });
    return parseReport(result, what);
  }
}

/** Checks the fields the runbook decides on; the rest is evidence passed through as sent. */
export function parseReport(result: unknown, what = 'the state store heal'): HealReport {
  const bad = (field: string) => new Error(`${what} returned a malformed report (${field})`);
  if (!isRecord(result)) throw bad('not an object');
  for (const k of ['rewritten', 'batches', 'pid'] as const) if (typeof result[k] !== 'number') throw bad(k);
  for (const k of ['healed', 'accountedFor', 'nothingToDo'] as const)
    if (typeof result[k] !== 'boolean') throw bad(k);
  if (!Array.isArray(result['unreadable'])) throw bad('unreadable');
  const stores = result['stores'];
  if (!isRecord(stores) || !isRecord(stores['task']) || !isRecord(stores['asset'])) throw bad('stores');
  const remaining = result['markerRowsRemaining'];
  if (!isRecord(remaining) || !isRecord(remaining['sinceApply'])) throw bad('markerRowsRemaining');
  // The checks above cover every field a caller branches on; the shape is the probe's contract.
  return result as unknown as HealReport;
}
