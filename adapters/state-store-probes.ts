/**
 * The state-store flip's probes (probes/state_store_resolve.py, probes/state_store_rehearse.py) over an
 * ExecPort, with the same protocol as adapters/airflow-probes.ts: `python -c <bootstrap.py>`, one JSON
 * document on stdin (probe source, shared modules, extra_env, request), one sentinel-prefixed JSON
 * line back on stdout.
 *
 * ExecAirflowProbes.run cannot carry these probes yet: its probe names, timeouts and shared-module
 * list (PROBE_LIBS) are closed, and its envelope parser is private. Until airflow-probes.ts exports a
 * generic runner, `runProbe` below is the minimal stand-in; it reuses what is exported (RESULT_PREFIX,
 * ExecError, tail, PermanentFault) and nothing more.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Heartbeat } from '../activities/adapters.js';
import { PermanentFault } from '../activities/engine/errors.js';
import type { Component } from '../domain/plan.js';
import { RESULT_PREFIX } from './airflow-probes.js';
import { ExecError, tail, type ExecPort, type ExecResult } from './exec/port.js';

export type StateStoreProbeName = 'state_store_resolve' | 'state_store_rehearse';

/** Shared modules each probe imports; the bootstrap registers them before the probe runs. */
const LIBS = ['state_store_common', 'store_errors'] as const;

const DEFAULT_TIMEOUTS: Record<StateStoreProbeName, number> = {
  state_store_resolve: 120_000,
  state_store_rehearse: 600_000,
};

/** Python exception types a retry cannot cure (config, code, missing things). */
const PERMANENT_PY_ERRORS = new Set([
  'ModuleNotFoundError',
  'ImportError',
  'SyntaxError',
  'NameError',
  'AttributeError',
  'TypeError',
  'ValueError',
  'KeyError',
  'LookupError',
  'JSONDecodeError',
  'NotImplementedError',
  'AirflowConfigException',
  'PermissionError',
  'FileNotFoundError',
]);

/** Store answers a retry cannot cure (see PERMANENT_STORE_CODES in airflow-probes.ts). */
const PERMANENT_STORE_CODES = new Set([
  'InvalidAccessKeyId',
  'SignatureDoesNotMatch',
  'InvalidToken',
  'InvalidClientTokenId',
  'AccessDenied',
  'AllAccessDisabled',
  'NoSuchBucket',
]);

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

/** A variable spelled so that Airflow never reads it, or a draft name that never shipped. */
export interface DraftName {
  variable: string;
  problem: string;
  /** What to set instead (`NAME` or `NAME=value`). */
  use: string;
}

/** The state-store config as a component resolves it through Airflow's own conf. */
export interface StateStoreConfig {
  component: string;
  host: string;
  /** `[workers] state_store_backend` ('' = none: values go to the DB as they are). */
  workerBackend: string | null;
  /** `[state_store] backend`: the server-side store, must stay the metastore. */
  serverBackend: string | null;
  path: string | null;
  threshold: number | null;
  compression: string | null;
  workerBackendClass: string | null;
  serverBackendClass: string | null;
  versions: Record<string, string | null>;
  drafts: DraftName[];
  /** Everything that would make the flip fail or silently do nothing; empty when fine. */
  problems: string[];
  /** "<Type> (<step>): <message>" when resolving raised. */
  error: string | null;
}

export interface StateStoreRehearsalChecks {
  offloaded: boolean;
  markerInDb: boolean;
  roundTripIntact: boolean;
  breakConfirmed: boolean;
  healConfirmed: boolean;
  readableAfterReflip: boolean;
  cleaned: boolean;
}

export interface StateStoreRehearsal {
  component: string;
  host: string;
  valueBytes: { small: number; large: number };
  threshold: number | null;
  expectInline: Record<string, boolean>;
  objectPaths: string[];
  /** 'task:<key>' | 'asset:<key>' -> what the DB row held. */
  rows: Record<string, { marker: boolean; storedBytes: number; ref: string }>;
  checks: StateStoreRehearsalChecks;
  timingsMs: Record<string, number>;
}

function defaultProbesDir(): string {
  const here = path.dirname(fileURLToPath(import.meta.url));
  const fromDist = path.resolve(here, '..', '..', 'probes');
  const fromSource = path.resolve(here, '..', 'probes');
  return existsSync(path.join(fromDist, 'bootstrap.py')) ? fromDist : fromSource;
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

export class StateStoreProbes {
  private readonly python: (component: Component) => string[];
  private readonly timeouts: Record<StateStoreProbeName, number>;
  private readonly probesDir: string;
  private readonly sources = new Map<string, string>();

  constructor(
    private readonly execPort: ExecPort,
    private readonly options: StateStoreProbesOptions = {},
  ) {
    this.python = options.python ?? (() => ['python']);
    this.timeouts = { ...DEFAULT_TIMEOUTS, ...options.timeoutsMs };
    this.probesDir = options.probesDir ?? defaultProbesDir();
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
      throw PERMANENT_PY_ERRORS.has(type) || (code !== null && PERMANENT_STORE_CODES.has(code))
        ? new PermanentFault(message)
        : new Error(message);
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

  /** One probe run; throws a readable Error (PermanentFault when retrying cannot help). */
  private async runProbe(
    probe: StateStoreProbeName,
    component: Component,
    extraEnv: Record<string, string>,
    request: Record<string, unknown>,
    heartbeat?: Heartbeat,
  ): Promise<unknown> {
    const stdin = JSON.stringify({
      name: `${probe}.py`,
      probe: this.source(`${probe}.py`),
      libs: Object.fromEntries(LIBS.map((lib) => [lib, this.source(`${lib}.py`)])),
      extra_env: extraEnv,
      request,
    });
    const command = [...this.python(component), '-c', this.source('bootstrap.py')];
    const what = `the ${probe} probe in ${component.name}`;
    let beat: NodeJS.Timeout | undefined;
    if (heartbeat) {
      heartbeat({ probe, phase: 'started' });
      beat = setInterval(() => heartbeat({ probe, phase: 'running' }), this.options.heartbeatEveryMs ?? 5000);
    }
    let res: ExecResult;
    try {
      res = await this.execPort.exec({ component, command, stdin, timeoutMs: this.timeouts[probe] });
    } catch (err) {
      if (err instanceof ExecError) {
        const message = `${what} did not complete: ${err.message}`;
        if (err.kind === 'not-found' || err.kind === 'spawn-failed' || err.kind === 'output-too-large')
          throw new PermanentFault(message);
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
    let doc: unknown = null;
    try {
      doc = line === undefined ? null : JSON.parse(line.slice(RESULT_PREFIX.length));
    } catch {
      doc = null;
    }
    const stderrTail = tail(res.stderr.trim(), 1500);
    if (!isRecord(doc) || typeof doc['ok'] !== 'boolean') {
      const message =
        `${what} exited ${res.exitCode} without a result` +
        (stderrTail ? `; stderr ends with:\n${stderrTail}` : ' and wrote nothing on stderr');
      throw [2, 126, 127].includes(res.exitCode) ? new PermanentFault(message) : new Error(message);
    }
    if (!doc['ok']) {
      const e = isRecord(doc['error']) ? doc['error'] : {};
      const type = String(e['type'] ?? 'Error');
      const trace = typeof e['traceback'] === 'string' ? `\n${tail(e['traceback'].trim(), 1500)}` : '';
      const message = `${what} raised ${type}: ${String(e['message'] ?? '')}${trace}`;
      throw PERMANENT_PY_ERRORS.has(type) || res.exitCode === 2
        ? new PermanentFault(message)
        : new Error(message);
    }
    if (res.exitCode !== 0)
      throw new Error(
        `${what} returned a result but exited ${res.exitCode}; stderr ends with:\n${stderrTail}`,
      );
    return doc['result'];
  }

  private source(file: string): string {
    let text = this.sources.get(file);
    if (text === undefined) {
      const full = path.join(this.probesDir, file);
      try {
        text = readFileSync(full, 'utf8');
      } catch (err) {
        throw new PermanentFault(`cannot read the probe source ${full}: ${(err as Error).message}`);
      }
      this.sources.set(file, text);
    }
    return text;
  }
}
