/**
 * AirflowProbePort over an ExecPort: the XCom flip's Python probes in probes/ run in the
 * component's own Python (a local process or a pod) through adapters/probe-runner.ts.
 */
import type { Heartbeat, AirflowProbePort, RehearsalOutcome } from '../activities/adapters.js';
import { PermanentFault } from '../activities/engine/errors.js';
import { airflowEnvVarName, xcomSettings } from '../domain/airflow-env.js';
import type { CheckRow, CheckStatus, ComponentConfig } from '../domain/evidence.js';
import type { Component, Plan } from '../domain/plan.js';
import type { ExecPort } from './exec/port.js';
import { isPermanentProbeError, ProbeRunner } from './probe-runner.js';

export { RESULT_PREFIX } from './probe-runner.js';

/** Modules shared by the probes, sent with each one (the bootstrap registers them before it runs). */
const PROBE_LIBS = ['store_errors'] as const;

export type ProbeName = 'preflight' | 'resolve_config' | 'rehearse' | 'calibrate';

/** One SQL statement for the calibrate probe: positional parameters $1..$n. */
export interface SqlStatement {
  sql: string;
  params?: unknown[];
}

/** What probes/calibrate.py answers: one list of rows per statement, or the database's refusal. */
export type CalibrateProbeResult =
  | {
      ok: true;
      dialect: string;
      driver: string;
      host: string;
      results: Record<string, unknown>[][];
      durationMs: number;
    }
  | {
      ok: false;
      dialect: string;
      driver: string;
      host: string;
      /** The DBAPI error: type, first line of its message (password scrubbed), SQLSTATE when the DB sent one. */
      error: { type: string; message: string; sqlstate: string | null; connectionInvalidated: boolean };
    };

/**
 * Read-only SQL through Airflow's own database engine inside a component
 * (probes/calibrate.py): for metadata DBs only the pods can reach.
 */
export interface MetadataDbProbe {
  calibrate(args: {
    component: Component;
    statements: SqlStatement[];
    heartbeat?: Heartbeat;
  }): Promise<CalibrateProbeResult>;
}

export interface ExecAirflowProbesOptions {
  /** The python to run in a component (default ['python'], found on the component's PATH). */
  python?: (component: Component) => string[];
  /** Per-probe exec timeouts (defaults: preflight 180 s, resolve_config 120 s, rehearse 600 s, calibrate 540 s). */
  timeoutsMs?: Partial<Record<ProbeName, number>>;
  /** Where the probe sources live (default: <repo>/probes). */
  probesDir?: string;
  /** Base paths used before this cut-over, for the preflight's prior-references hazard check. */
  previousPaths?: (plan: Plan) => string[];
  /** How often a long probe heartbeats while it runs (default 5 s). */
  heartbeatEveryMs?: number;
  /**
   * Where the preflight and rehearsal look connections up. 'server' (default): as the
   * scheduler and API server do, env vars then the metadata DB (what tasks get through the
   * API server); the probe sets _AIRFLOW_PROCESS_CONTEXT=server unless the component sets
   * it. 'inherit': whatever the component's env gives (outside a task, Airflow 3 then
   * searches env vars and custom backends only, so DB-stored connections look missing).
   */
  secretsContext?: 'server' | 'inherit';
}

const DEFAULT_TIMEOUTS: Record<ProbeName, number> = {
  preflight: 180_000,
  resolve_config: 120_000,
  rehearse: 600_000,
  // Inside the calibrate activity's 10 min start-to-close, with room for one retry's worth of warning.
  calibrate: 540_000,
};

/** The value Airflow would read for [section] key from `env`, also through a misspelled name. */
function intendedValue(env: Record<string, string>, section: string, key: string): string | undefined {
  const wanted = airflowEnvVarName(section, key);
  if (wanted in env) return env[wanted];
  const near = Object.keys(env).find((k) => k.replace(/\./g, '_').toUpperCase() === wanted);
  return near === undefined ? undefined : env[near];
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

const STATUSES: readonly CheckStatus[] = ['green', 'amber', 'red'];

function parseCheckRows(result: unknown): CheckRow[] {
  const checks = isRecord(result) ? result['checks'] : undefined;
  if (!Array.isArray(checks)) throw new Error('the preflight probe returned no "checks" list');
  return checks.map((row: unknown, i) => {
    if (
      !isRecord(row) ||
      typeof row['name'] !== 'string' ||
      typeof row['detail'] !== 'string' ||
      typeof row['durationMs'] !== 'number' ||
      !STATUSES.includes(row['status'] as CheckStatus)
    ) {
      throw new Error(
        `the preflight probe returned a malformed check row #${i}: ${JSON.stringify(row).slice(0, 300)}`,
      );
    }
    return {
      name: row['name'],
      status: row['status'] as CheckStatus,
      detail: row['detail'],
      durationMs: row['durationMs'],
    };
  });
}

function str(v: unknown): string | null {
  return typeof v === 'string' ? v : null;
}

export class ExecAirflowProbes implements AirflowProbePort, MetadataDbProbe {
  private readonly timeouts: Record<ProbeName, number>;
  private readonly runner: ProbeRunner;

  constructor(
    execPort: ExecPort,
    private readonly options: ExecAirflowProbesOptions = {},
  ) {
    this.timeouts = { ...DEFAULT_TIMEOUTS, ...options.timeoutsMs };
    this.runner = new ProbeRunner(execPort, options);
  }

  async preflight({
    component,
    plan,
    runId,
    env,
  }: {
    component: Component;
    plan: Plan;
    runId: string;
    env: Record<string, string>;
  }): Promise<CheckRow[]> {
    const rawThreshold = intendedValue(env, 'common.io', 'xcom_objectstorage_threshold');
    const parsed =
      rawThreshold !== undefined && /^-?\d+$/.test(rawThreshold.trim()) ? Number(rawThreshold) : null;
    const threshold =
      parsed ?? (plan.spec.xcom.threshold.strategy === 'fixed' ? plan.spec.xcom.threshold.bytes : null);
    const expected = xcomSettings({
      path: plan.spec.xcom.path,
      thresholdBytes: threshold ?? 0,
      compression: plan.spec.xcom.compression,
    }).filter(([, key]) => threshold !== null || key !== 'xcom_objectstorage_threshold');
    const result = await this.run('preflight', component, env, {
      min_version: plan.airflow.minCommonIoProvider,
      path: plan.spec.xcom.path,
      run_id: runId,
      compression: plan.spec.xcom.compression,
      expected,
      previous_paths: this.options.previousPaths?.(plan) ?? [],
      secrets_context: this.options.secretsContext ?? 'server',
    });
    return parseCheckRows(result);
  }

  async resolveConfig({
    component,
    extraEnv,
  }: {
    component: Component;
    extraEnv?: Record<string, string>;
  }): Promise<ComponentConfig> {
    const r = await this.run('resolve_config', component, extraEnv ?? {}, {});
    if (!isRecord(r)) throw new Error('the resolve_config probe returned no object');
    return {
      component: component.name,
      pod: str(r['host']) ?? component.name,
      path: str(r['path']),
      threshold: typeof r['threshold'] === 'number' ? r['threshold'] : null,
      compression: str(r['compression']),
      xcomClass: str(r['xcomClass']),
      error: str(r['error']),
    };
  }

  async rehearse({
    component,
    runId,
    env,
    heartbeat,
  }: {
    component: Component;
    plan: Plan;
    runId: string;
    env: Record<string, string>;
    heartbeat: Heartbeat;
  }): Promise<RehearsalOutcome> {
    const r = await this.run(
      'rehearse',
      component,
      env,
      { run_id: runId, secrets_context: this.options.secretsContext ?? 'server' },
      heartbeat,
    );
    if (!isRecord(r)) throw new Error('the rehearse probe returned no object');
    const err = r['error'];
    if (isRecord(err)) {
      const type = String(err['type']);
      const code = str(err['code']);
      const message =
        `rehearsal in ${component.name} failed at "${String(err['step'])}": ${type}: ${String(err['message'])}` +
        (r['sentinelCleaned'] === true
          ? ' (sentinel cleaned up)'
          : r['sentinelWritten'] === false
            ? ' (nothing was written: it failed before the sentinel)'
            : ` (sentinel object ${String(r['objectPath'] || 'unknown')} may remain)`);
      throw isPermanentProbeError(type, code) ? new PermanentFault(message) : new Error(message);
    }
    const bool = (k: string) => r[k] === true;
    const timings: Record<string, number> = {};
    if (isRecord(r['timingsMs'])) {
      for (const [k, v] of Object.entries(r['timingsMs'])) if (typeof v === 'number') timings[k] = v;
    }
    return {
      valueBytes: typeof r['valueBytes'] === 'number' ? r['valueBytes'] : 0,
      objectPath: str(r['objectPath']) ?? '',
      offloaded: bool('offloaded'),
      breakConfirmed: bool('breakConfirmed'),
      roundTripIntact: bool('roundTripIntact'),
      healConfirmed: bool('healConfirmed'),
      sentinelCleaned: bool('sentinelCleaned'),
      timingsMs: timings,
    };
  }

  /**
   * Runs read-only SQL through the component's own Airflow engine (probes/calibrate.py).
   * A database that refuses or cannot be reached is an answer (`ok: false` with the
   * SQLSTATE), so the caller decides what is permanent; a probe that cannot run throws.
   */
  async calibrate({
    component,
    statements,
    heartbeat,
  }: {
    component: Component;
    statements: SqlStatement[];
    heartbeat?: Heartbeat;
  }): Promise<CalibrateProbeResult> {
    const r = await this.run(
      'calibrate',
      component,
      {},
      { statements: statements.map((st) => ({ sql: st.sql, params: st.params ?? [] })) },
      heartbeat,
    );
    if (!isRecord(r)) throw new Error('the calibrate probe returned no object');
    const head = {
      dialect: str(r['dialect']) ?? '?',
      driver: str(r['driver']) ?? '?',
      host: str(r['host']) ?? '',
    };
    const err = r['error'];
    if (isRecord(err)) {
      return {
        ok: false,
        ...head,
        error: {
          type: String(err['type'] ?? 'Error'),
          message: String(err['message'] ?? ''),
          sqlstate: str(err['sqlstate']),
          connectionInvalidated: err['connectionInvalidated'] === true,
        },
      };
    }
    const results = r['results'];
    if (
      !Array.isArray(results) ||
      results.length !== statements.length ||
      !results.every((rows) => Array.isArray(rows) && rows.every(isRecord))
    ) {
      throw new Error(
        `the calibrate probe in ${component.name} returned ${Array.isArray(results) ? results.length : 'no'} result set(s) for ${statements.length} statement(s)`,
      );
    }
    return {
      ok: true,
      ...head,
      results: results as Record<string, unknown>[][],
      durationMs: typeof r['durationMs'] === 'number' ? r['durationMs'] : 0,
    };
  }

  /** Runs one probe and returns its result; throws a readable Error (PermanentFault when retrying cannot help). */
  async run(
    probe: ProbeName,
    component: Component,
    extraEnv: Record<string, string>,
    request: Record<string, unknown>,
    heartbeat?: Heartbeat,
  ): Promise<unknown> {
    return this.runner.run({
      probe,
      libs: PROBE_LIBS,
      component,
      extraEnv,
      request,
      timeoutMs: this.timeouts[probe],
      heartbeat,
    });
  }
}
