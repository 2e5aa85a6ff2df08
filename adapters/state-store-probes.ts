/**
 * The state-store flip's probes (probes/state_store_resolve.py, probes/state_store_rehearse.py) over an
 * ExecPort, through the same runner as the XCom probes (adapters/probe-runner.ts).
 */
import type { Heartbeat } from '../activities/heartbeat.js';
import { PermanentFault } from '../activities/engine/errors.js';
import type { Component } from '../domain/plan.js';
import type { ExecPort } from './exec/port.js';
import { isPermanentProbeError, ProbeRunner } from './probe-runner.js';
import type {
  DraftName,
  StateStoreConfig,
  StateStoreProbesPort,
  StateStoreRehearsal,
  StateStoreRehearsalChecks,
} from '../activities/state-store-ports.js';

export type { DraftName, StateStoreConfig, StateStoreRehearsal, StateStoreRehearsalChecks };

export type StateStoreProbeName = 'state_store_resolve' | 'state_store_rehearse';

/** Shared modules each probe imports; the bootstrap registers them before the probe runs. */
const LIBS = ['state_store_common', 'store_errors'] as const;

const DEFAULT_TIMEOUTS: Record<StateStoreProbeName, number> = {
  state_store_resolve: 120_000,
  state_store_rehearse: 600_000,
};

export interface StateStoreProbesOptions {
  /** The python to run in a component (default ['python'], from the component's PATH). */
  python?: (component: Component) => string[];
  timeoutsMs?: Partial<Record<StateStoreProbeName, number>>;
  /** Where the probe sources live (default: <repo>/probes). */
  probesDir?: string;
  heartbeatEveryMs?: number;
  /** As in ExecAirflowProbesOptions: 'server' looks connections up as the scheduler does. */
  secretsContext?: 'server' | 'inherit';
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

const str = (v: unknown): string | null => (typeof v === 'string' ? v : null);
const num = (v: unknown): number | null => (typeof v === 'number' ? v : null);

function numbers(v: unknown): Record<string, number> {
  const out: Record<string, number> = {};
  if (isRecord(v)) for (const [k, x] of Object.entries(v)) if (typeof x === 'number') out[k] = x;
  return out;
}

export class StateStoreProbes implements StateStoreProbesPort {
  private readonly timeouts: Record<StateStoreProbeName, number>;
  private readonly runner: ProbeRunner;

  constructor(
    execPort: ExecPort,
    private readonly options: StateStoreProbesOptions = {},
  ) {
    this.timeouts = { ...DEFAULT_TIMEOUTS, ...options.timeoutsMs };
    this.runner = new ProbeRunner(execPort, options);
  }

  /** VERIFY: what the component resolves with its env plus `extraEnv` (the rendered change). */
  async resolve({
    component,
    extraEnv,
  }: {
    component: Component;
    extraEnv?: Record<string, string>;
  }): Promise<StateStoreConfig> {
    const r = await this.runProbe('state_store_resolve', component, extraEnv ?? {}, {});
    if (!isRecord(r)) throw new Error('the state_store_resolve probe returned no object');
    const drafts = Array.isArray(r['drafts']) ? r['drafts'].filter(isRecord) : [];
    const versions: Record<string, string | null> = {};
    if (isRecord(r['versions'])) for (const [k, v] of Object.entries(r['versions'])) versions[k] = str(v);
    return {
      component: component.name,
      host: str(r['host']) ?? component.name,
      workerBackend: str(r['workerBackend']),
      serverBackend: str(r['serverBackend']),
      path: str(r['path']),
      threshold: num(r['threshold']),
      compression: str(r['compression']),
      workerBackendClass: str(r['workerBackendClass']),
      serverBackendClass: str(r['serverBackendClass']),
      versions,
      drafts: drafts.map((d) => ({
        variable: String(d['variable']),
        problem: String(d['problem']),
        use: String(d['use']),
      })),
      problems: Array.isArray(r['problems']) ? r['problems'].map(String) : [],
      error: str(r['error']),
    };
  }

  /**
   * REHEARSE: values below and above the threshold through the SDK's accessors with `env` as it would
   * be deployed; the marker in the DB, the break on revert and the heal. Throws (PermanentFault when a
   * retry cannot help) when the rehearsal could not complete; a completed one returns its checks,
   * which the caller judges.
   */
  async rehearse({
    component,
    runId,
    env,
    heartbeat,
    largeBytes,
    smallBytes,
  }: {
    component: Component;
    runId: string;
    env: Record<string, string>;
    heartbeat?: Heartbeat;
    largeBytes?: number;
    smallBytes?: number;
  }): Promise<StateStoreRehearsal> {
    const request: Record<string, unknown> = {
      run_id: runId,
      secrets_context: this.options.secretsContext ?? 'server',
    };
    if (largeBytes !== undefined) request['large_bytes'] = largeBytes;
    if (smallBytes !== undefined) request['small_bytes'] = smallBytes;
    const r = await this.runProbe('state_store_rehearse', component, env, request, heartbeat);
    if (!isRecord(r)) throw new Error('the state_store_rehearse probe returned no object');
    const checks = isRecord(r['checks']) ? r['checks'] : {};
    const err = r['error'];
    if (isRecord(err)) {
      const type = String(err['type']);
      const code = str(err['code']);
      const message =
        `state-store rehearsal in ${component.name} failed at "${String(err['step'])}": ${type}: ${String(err['message'])}` +
        (r['sentinelWritten'] === false
          ? ' (nothing was written)'
          : checks['cleaned'] === true
            ? ' (sentinel rows and objects cleaned up)'
            : ' (sentinel rows or objects may remain)');
      throw isPermanentProbeError(type, code) ? new PermanentFault(message) : new Error(message);
    }
    const bytes = isRecord(r['valueBytes']) ? r['valueBytes'] : {};
    const rows: StateStoreRehearsal['rows'] = {};
    if (isRecord(r['rows'])) {
      for (const [k, v] of Object.entries(r['rows'])) {
        if (!isRecord(v)) continue;
        rows[k] = {
          marker: v['marker'] === true,
          storedBytes: num(v['storedBytes']) ?? 0,
          ref: String(v['ref']),
        };
      }
    }
    const expectInline: Record<string, boolean> = {};
    if (isRecord(r['expectInline']))
      for (const [k, v] of Object.entries(r['expectInline'])) expectInline[k] = v === true;
    const bool = (k: keyof StateStoreRehearsalChecks) => checks[k] === true;
    return {
      component: component.name,
      host: str(r['host']) ?? component.name,
      valueBytes: { small: num(bytes['small']) ?? 0, large: num(bytes['large']) ?? 0 },
      threshold: num(r['threshold']),
      expectInline,
      objectPaths: Array.isArray(r['objectPaths']) ? r['objectPaths'].map(String) : [],
      rows,
      checks: {
        offloaded: bool('offloaded'),
        markerInDb: bool('markerInDb'),
        roundTripIntact: bool('roundTripIntact'),
        breakConfirmed: bool('breakConfirmed'),
        healConfirmed: bool('healConfirmed'),
        readableAfterReflip: bool('readableAfterReflip'),
        cleaned: bool('cleaned'),
      },
      timingsMs: numbers(r['timingsMs']),
    };
  }

  private runProbe(
    probe: StateStoreProbeName,
    component: Component,
    extraEnv: Record<string, string>,
    request: Record<string, unknown>,
    heartbeat?: Heartbeat,
  ): Promise<unknown> {
    return this.runner.run({
      probe,
      libs: LIBS,
      component,
      extraEnv,
      request,
      timeoutMs: this.timeouts[probe],
      heartbeat,
    });
  }
}
