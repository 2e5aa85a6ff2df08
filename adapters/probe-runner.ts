/**
 * Runs one Python probe from probes/ inside an Airflow component over an ExecPort: the component's
 * own Python (a local process or a pod) runs `python -c <probes/bootstrap.py>` with one JSON
 * document on stdin (probe source, shared modules, extra_env, request) and answers with one
 * sentinel-prefixed JSON line on stdout (Airflow's own logging goes to stderr, see bootstrap.py).
 *
 * Every probe adapter (XCom probes, state-store probes, state-store heal) goes through here, so the
 * protocol and the retry-or-not verdict on a failure live in one place.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { Heartbeat } from '../activities/heartbeat.js';
import { PermanentFault } from '../activities/engine/errors.js';
import type { Component } from '../domain/plan.js';
import { repoRoot } from '../local/venv.js';
import { ExecError, tail, type ExecPort, type ExecResult } from './exec/port.js';

export const RESULT_PREFIX = '@@cutover-probe-result@@ ';

/** Python exception types whose cause a retry cannot remove (config, code, missing things). */
export const PERMANENT_PY_ERRORS: ReadonlySet<string> = new Set([
  'ModuleNotFoundError',
  'ImportError',
  'SyntaxError',
  'NameError',
  'AttributeError',
  'TypeError',
  'ValueError',
  'KeyError',
  // state_store_rehearse.py raises it for a sentinel it wrote and cannot find again.
  'LookupError',
  'JSONDecodeError',
  'NotImplementedError',
  'AirflowConfigException',
  'AirflowNotFoundException',
  'PermissionError',
  'FileNotFoundError',
  'NotADirectoryError',
  'IsADirectoryError',
]);

/**
 * Object-store error codes (as the probes report them from botocore) that a retry cannot remove:
 * credentials the store does not know or cannot verify, a refusal by policy, a missing bucket.
 * ExpiredToken is left out on purpose: a new attempt starts a new process that fetches fresh
 * credentials. Connection failures carry no code (EndpointConnectionError) and stay retryable.
 */
export const PERMANENT_STORE_CODES: ReadonlySet<string> = new Set([
  'InvalidAccessKeyId',
  'SignatureDoesNotMatch',
  'InvalidToken',
  'InvalidClientTokenId',
  'UnrecognizedClientException',
  'AccessDenied',
  'AllAccessDisabled',
  'AccountProblem',
  'NoSuchBucket',
  'InvalidBucketName',
]);

/** Whether an error a probe reports in its result (type, store code) would survive a retry. */
export function isPermanentProbeError(type: string, code: string | null): boolean {
  return PERMANENT_PY_ERRORS.has(type) || (code !== null && PERMANENT_STORE_CODES.has(code));
}

/** <repo>/probes (the same folder whether this runs from dist/ or from source). */
export function defaultProbesDir(): string {
  return path.join(repoRoot(), 'probes');
}

export interface ProbeRunnerOptions {
  /** The python to run in a component (default ['python'], found on the component's PATH). */
  python?: (component: Component) => string[];
  /** Where the probe sources live (default: <repo>/probes). */
  probesDir?: string;
  /** How often a long probe heartbeats while it runs (default 5 s). */
  heartbeatEveryMs?: number;
}

export interface ProbeRun {
  /** The probe's file name under the probes dir, without `.py`; also its name in heartbeats. */
  probe: string;
  /** Shared modules (file names without `.py`) the probe imports; the bootstrap registers them first. */
  libs: readonly string[];
  component: Component;
  /** Put into the probe process's environment before anything imports Airflow. */
  extraEnv?: Record<string, string>;
  request: Record<string, unknown>;
  timeoutMs: number;
  heartbeat?: Heartbeat;
  /** How failure messages name this run (default `the <probe> probe in <component>`). */
  what?: string;
  /**
   * Python exception types treated as permanent when the probe raises (default PERMANENT_PY_ERRORS),
   * for a caller whose retry policy was settled on a different list.
   */
  permanentPyErrors?: ReadonlySet<string>;
}

interface PyError {
  type: string;
  message: string;
  traceback?: string;
}

type Envelope = { ok: true; result: unknown } | { ok: false; error: PyError };

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export class ProbeRunner {
  private readonly python: (component: Component) => string[];
  private readonly probesDir: string;
  private readonly sources = new Map<string, string>();

  constructor(
    private readonly execPort: ExecPort,
    private readonly options: ProbeRunnerOptions = {},
  ) {
    this.python = options.python ?? (() => ['python']);
    this.probesDir = options.probesDir ?? defaultProbesDir();
  }

  /** Runs one probe and returns its result; throws a readable Error (PermanentFault when retrying cannot help). */
  async run(r: ProbeRun): Promise<unknown> {
    const { probe, component, heartbeat } = r;
    const stdin = JSON.stringify({
      name: `${probe}.py`,
      probe: this.source(`${probe}.py`),
      libs: Object.fromEntries(r.libs.map((lib) => [lib, this.source(`${lib}.py`)])),
      extra_env: r.extraEnv ?? {},
      request: r.request,
    });
    const command = [...this.python(component), '-c', this.source('bootstrap.py')];
    const what = r.what ?? `the ${probe} probe in ${component.name}`;
    const permanentPyErrors = r.permanentPyErrors ?? PERMANENT_PY_ERRORS;

    let beat: NodeJS.Timeout | undefined;
    if (heartbeat) {
      heartbeat({ probe, phase: 'started' });
      beat = setInterval(() => heartbeat({ probe, phase: 'running' }), this.options.heartbeatEveryMs ?? 5000);
    }
    let res: ExecResult;
    try {
      res = await this.execPort.exec({ component, command, stdin, timeoutMs: r.timeoutMs });
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

    const envelope = parseEnvelope(res.stdout);
    const stderrTail = tail(res.stderr.trim(), 1500);
    if (!envelope) {
      const message =
        `${what} exited ${res.exitCode} without a result` +
        (stderrTail ? `; stderr ends with:\n${stderrTail}` : ' and wrote nothing on stderr') +
        (res.stdout.trim() ? `\nstdout ends with: ${tail(res.stdout.trim(), 500)}` : '');
      // Exit 2: the bootstrap rejected the request itself; 127/126: no python there.
      throw [2, 126, 127].includes(res.exitCode) ? new PermanentFault(message) : new Error(message);
    }
    if (!envelope.ok) {
      const e = envelope.error;
      const message =
        `${what} raised ${e.type}: ${e.message}` + (e.traceback ? `\n${tail(e.traceback.trim(), 1500)}` : '');
      throw permanentPyErrors.has(e.type) || res.exitCode === 2
        ? new PermanentFault(message)
        : new Error(message);
    }
    if (res.exitCode !== 0) {
      throw new Error(
        `${what} returned a result but exited ${res.exitCode}; stderr ends with:\n${stderrTail}`,
      );
    }
    return envelope.result;
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

function parseEnvelope(stdout: string): Envelope | null {
  const line = stdout
    .split('\n')
    .reverse()
    .find((l) => l.startsWith(RESULT_PREFIX));
  if (line === undefined) return null;
  let doc: unknown;
  try {
    doc = JSON.parse(line.slice(RESULT_PREFIX.length));
  } catch {
    return null;
  }
  if (!isRecord(doc) || typeof doc['ok'] !== 'boolean') return null;
  if (doc['ok']) return { ok: true, result: doc['result'] };
  const e = isRecord(doc['error']) ? doc['error'] : {};
  return {
    ok: false,
    error: {
      type: String(e['type'] ?? 'Error'),
      message: String(e['message'] ?? ''),
      ...(typeof e['traceback'] === 'string' ? { traceback: e['traceback'] } : {}),
    },
  };
}
