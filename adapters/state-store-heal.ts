/**
 * The state store heal (COMPENSATE's data step for the task/asset state store flip) over an
 * ExecPort: probes/state_store_heal.py runs inside an Airflow component, through
 * probes/bootstrap.py, because it needs Airflow's own DB engine and connections (the object
 * store's credentials never reach the worker). See the probe's docstring for what it rewrites
 * and how the journal makes it exact, resumable and idempotent.
 *
 * It is not sent through ExecAirflowProbes.run (adapters/airflow-probes.ts): that method only
 * takes the closed `ProbeName` union with a per-name timeout table, and its envelope parser,
 * probe-source loader and shared-lib list are module-private. What is exported is reused
 * (RESULT_PREFIX, and ExecError / tail from the exec port); the rest is the minimum to read one
 * envelope.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Heartbeat } from '../activities/adapters.js';
import { PermanentFault } from '../activities/engine/errors.js';
import type { Component } from '../domain/plan.js';
import { RESULT_PREFIX } from './airflow-probes.js';
import { ExecError, tail, type ExecPort, type ExecResult } from './exec/port.js';

export type HealMode = 'heal' | 'restore' | 'status';

export interface HealRequest {
  /** The change the flip belonged to: the journal's key, so reruns of the same change resume. */
  changeId: string;
  /** When APPLY started: rows updated at or after it are the ones the backend may have wrapped. */
  since: Date;
  /** The base path the flip used ([common.io] state_store_objectstorage_path). */
  path: string;
  /** The compression the flip used ('' = none); objects are read by their suffix first. */
  compression: string;
  batchSize?: number;
  /** Object reads in flight at once (default 8): each is one round trip to the store. */
  readThreads?: number;
  mode?: HealMode;
  /** How many unreadable rows are listed one by one (all are counted). Default 200. */
  maxReported?: number;
}

export interface StoreCounts {
  examined: number;
  rewritten: number;
  inlineRefs: number;
  objectRefs: number;
  unreadable: number;
  alreadyJournaled: number;
  changedConcurrently: number;
  notMarkers: number;
  restored?: number;
}

export interface UnreadableRow {
  store: 'task' | 'asset';
  reason: string;
  detail: string;
  path: string | null;
  key: string;
  /** task rows */
  id?: number;
  dagId?: string;
  runId?: string;
  taskId?: string;
  mapIndex?: number;
  /** asset rows */
  assetId?: number;
  assetName?: string | null;
}

export interface HealReport {
  mode: HealMode;
  changeId: string;
  since: string;
  dialect: string;
  host: string;
  pid: number;
  journalTable: string;
  stores: { task: StoreCounts; asset: StoreCounts };
  rewritten: number;
  unreadable: UnreadableRow[];
  unreadableTruncated: boolean;
  batches: number;
  bytesRead?: number;
  compressionFallbacks?: number;
  journal: { before: { task: number; asset: number }; after: { task: number; asset: number } };
  markerRowsRemaining: {
    sinceApply: { task: number; asset: number };
    beforeApply: { task: number; asset: number };
  };
  /** Every marker row left since APPLY is one this run reported. */
  accountedFor: boolean;
  /** No marker row left since APPLY. */
  healed: boolean;
  /** A heal that rewrote nothing: everything was already plain (or unreadable). */
  nothingToDo: boolean;
  durationsMs: { select: number; resolve: number; write: number; total: number };
}

/** The port COMPENSATE uses. */
export interface StateStoreHealPort {
  heal(args: HealRequest & { component: Component; heartbeat?: Heartbeat }): Promise<HealReport>;
}

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

/** <repo>/probes from dist/adapters or adapters/. */
function probesDirFromHere(): string {
  const here = path.dirname(fileURLToPath(import.meta.url));
  const found = [path.resolve(here, '..', '..', 'probes'), path.resolve(here, '..', 'probes')].find((c) =>
    existsSync(path.join(c, 'bootstrap.py')),
  );
  return found ?? path.resolve(here, '..', '..', 'probes');
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Python exceptions the bootstrap reports that a retry cannot cure. */
const PERMANENT_PY_ERRORS = new Set([
  'ValueError',
  'TypeError',
  'ModuleNotFoundError',
  'ImportError',
  'SyntaxError',
]);

export class ExecStateStoreHeal implements StateStoreHealPort {
  private readonly probesDir: string;

  constructor(
    private readonly execPort: ExecPort,
    private readonly options: ExecStateStoreHealOptions = {},
  ) {
    this.probesDir = options.probesDir ?? probesDirFromHere();
  }

  async heal({
    component,
    heartbeat,
    ...req
  }: HealRequest & { component: Component; heartbeat?: Heartbeat }): Promise<HealReport> {
    if (Number.isNaN(req.since.getTime())) throw new PermanentFault('the heal needs a valid "since" time');
    if (!req.changeId.trim()) throw new PermanentFault('the heal needs a change id');
    const stdin = JSON.stringify({
      name: 'state_store_heal.py',
      probe: this.source('state_store_heal.py'),
      libs: { store_errors: this.source('store_errors.py') },
      extra_env: {},
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
    });
    const what = `the state store heal in ${component.name}`;
    const command = [...(this.options.python?.(component) ?? ['python']), '-c', this.source('bootstrap.py')];
    let beat: NodeJS.Timeout | undefined;
    if (heartbeat) {
      heartbeat({ probe: 'state_store_heal', phase: 'started' });
      beat = setInterval(
        () => heartbeat({ probe: 'state_store_heal', phase: 'running' }),
        this.options.heartbeatEveryMs ?? 5000,
      );
    }
    let res: ExecResult;
    try {
      res = await this.execPort.exec({
        component,
        command,
        stdin,
        timeoutMs: this.options.timeoutMs ?? 30 * 60_000,
      });
    } catch (err) {
      if (err instanceof ExecError) {
        const message = `${what} did not complete: ${err.message}`;
        if (err.kind === 'not-found' || err.kind === 'spawn-failed') throw new PermanentFault(message);
        throw new Error(message, { cause: err });
      }
      throw err;
    } finally {
      if (beat) clearInterval(beat);
    }

    const line = res.stdout
      .split('\n')
      .reverse()
      .find((l) => l.startsWith(RESULT_PREFIX));
    let doc: unknown;
    try {
      doc = line === undefined ? undefined : JSON.parse(line.slice(RESULT_PREFIX.length));
    } catch {
      doc = undefined;
    }
    const stderrTail = tail(res.stderr.trim(), 1500);
    if (!isRecord(doc)) {
      // A killed heal lands here (exit 137): whatever it committed is journaled, a rerun resumes.
      const message = `${what} exited ${res.exitCode} without a result${stderrTail ? `; stderr ends with:\n${stderrTail}` : ''}`;
      throw [2, 126, 127].includes(res.exitCode) ? new PermanentFault(message) : new Error(message);
    }
    if (doc['ok'] !== true) {
      const e = isRecord(doc['error']) ? doc['error'] : {};
      const type = String(e['type'] ?? 'Error');
      const message = `${what} raised ${type}: ${String(e['message'] ?? '')}`;
      throw PERMANENT_PY_ERRORS.has(type) || res.exitCode === 2
        ? new PermanentFault(message)
        : new Error(message);
    }
    return parseReport(doc['result'], what);
  }

  private source(file: string): string {
    const full = path.join(this.probesDir, file);
    try {
      return readFileSync(full, 'utf8');
    } catch (err) {
      throw new PermanentFault(`cannot read the probe source ${full}: ${(err as Error).message}`);
    }
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
