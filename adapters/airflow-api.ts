/**
 * Airflow's REST API as the cut-over needs it: trigger the validation DAG and read back what its
 * XComs really hold, find the runs that ran under the new backend, clear and re-run them, and check
 * that a run reads data (not object-storage path strings) after a revert.
 *
 * What it relies on, read from the installed Airflow 3.3.2 source (api_fastapi/...):
 * - `POST /auth/token` {username, password} -> 201 {access_token} (SimpleAuthManager; other auth
 *   managers serve the same route). 401 on a wrong password.
 * - `GET /api/v2/dags/{dag}/dagRuns/{run}/taskInstances/{task}/xcomEntries/{key}` reads the row
 *   straight from the xcom table, bypassing the XCom backend: without `deserialize` the `value` is
 *   the stored JSON as is, so an offloaded value comes back as the reference string
 *   (`s3://<conn>@<bucket>/<prefix>/<dag>/<run>/<task>/<uuid>`) and an inline one as the data.
 *   `deserialize=true` would run `stringify()` for display; we never ask for it.
 * - `POST .../dagRuns` with an existing dag_run_id fails (409); the adapter looks the run up first.
 * - `POST .../dagRuns/{run}/clear` defaults to dry_run=true: the adapter always sends false.
 * - `GET /api/v2/dags/~/dagRuns?start_date_gte=` spans all DAGs; start_date's filter also matches
 *   runs that have not started yet (NULL start_date), which are affected runs too.
 * - Task instances carry no error text in Airflow 3; the reason a task failed is only in its log
 *   (`GET .../taskInstances/{task}/logs/{try}`, JSON: {content: [structured lines]}).
 *
 * Object layout (providers/common/io/xcom/backend.py, 1.11.0, `serialize_value`):
 * `<xcom path>/<dag_id>/<run_id>/<task_id>/<uuid4>[<compression suffix>]`, no `.json` (that suffix
 * belongs to the provider's `store_value`, which Airflow 3.3 does not call for task XComs).
 */
import { ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import type { DagRunResult, Heartbeat, UpgradeDagRunsPort } from '../activities/adapters.js';
import { PermanentFault } from '../activities/engine/errors.js';
import { AirflowSession, isPermanent, safeJson } from './airflow-http.js';
import type { AffectedRun } from '../domain/evidence.js';

export interface AirflowRestApiOptions {
  baseUrl: string; // e.g. http://127.0.0.1:8080
  apiVersion: 'v2' | 'v1'; // Airflow 3 /api/v2 with a token from POST /auth/token; Airflow 2 /api/v1 with basic auth
  username: string;
  password: string; // never logged, never in errors
  /**
   * The plan's xcom.path, e.g. s3://aws_default@bucket/xcom : a value is "offloaded" when the XCom holds a
   * reference under it. Absent for a plan that routes nothing to object storage (an upgrade): no value is
   * offloaded and no bucket is listed.
   */
  xcomPath?: string;
  /** For counting objects under <path>/<dag_id>/<run_id>/ with @aws-sdk/client-s3. */
  s3: {
    endpoint?: string;
    region: string;
    credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
  };
  fetch?: typeof fetch; // default globalThis.fetch
  /**
   * How often a DAG run's state is read while waiting for it to end (default 500 ms). A wait ends
   * up to one interval after the run did: the heal's re-runs and VALIDATE wait on it, and one GET
   * of a run is cheap for the api-server.
   */
  pollIntervalMs?: number;
  /** One request's timeout (default 60 s). */
  requestTimeoutMs?: number;
}

const TERMINAL_RUN_STATES = new Set(['success', 'failed']);

/** Words in a task's error (exception type and message) that make it an XCom / backend / config failure. */
const XCOM_ERROR =
  /xcom|objectstorage|object storage|common\.io|common_io|AirflowConfigException|compression|NoSuchBucket|AccessDenied|s3fs|serializ|path string/i;
/** Code an exception raised inside is XCom machinery, whatever its message says. */
const XCOM_CODE =
  /common\/io\/xcom\/|sdk\/bases\/xcom\.py|execution_time\/xcom\.py|\/serde\/|\/s3fs\/|\/fsspec\//;

interface ErrorDetail {
  exc_type?: unknown;
  exc_value?: unknown;
  frames?: { filename?: unknown }[];
  exceptions?: ErrorDetail[];
}

/**
 * Whether a task log shows it failed on XCom, the backend or its configuration. Only the error
 * entries count (level error/critical, their exception types, messages and the frame that raised):
 * ordinary lines mention XComs all the time ("Done. Returned value was ...", a dag id with "xcom"
 * in it), so matching the whole log would count every failure.
 *
 * Airflow 3 returns structured entries ({event, level, error_detail: [{exc_type, exc_value,
 * frames}]}); Airflow 2 returns text, where lines that look like errors are checked.
 */
export function logShowsXComFailure(content: unknown): boolean {
  if (typeof content === 'string') {
    return content
      .split('\n')
      .filter((l) => /ERROR|CRITICAL|Error:|Exception:/.test(l))
      .some((l) => XCOM_ERROR.test(l));
  }
  if (!Array.isArray(content)) return false;
  const details = (d: ErrorDetail): boolean => {
    const text = `${String(d.exc_type ?? '')}: ${String(d.exc_value ?? '')}`;
    const raisedIn = d.frames?.at(-1)?.filename;
    return (
      XCOM_ERROR.test(text) ||
      (typeof raisedIn === 'string' && XCOM_CODE.test(raisedIn)) ||
      (d.exceptions ?? []).some(details)
    );
  };
  return content.some((entry) => {
    if (typeof entry === 'string') return logShowsXComFailure(entry);
    if (typeof entry !== 'object' || entry === null) return false;
    const e = entry as { level?: unknown; event?: unknown; error_detail?: unknown };
    const level = typeof e.level === 'string' ? e.level.toLowerCase() : '';
    const isError =
      ['error', 'critical', 'fatal', 'exception'].includes(level) || e.error_detail !== undefined;
    if (!isError) return false;
    if (typeof e.event === 'string' && XCOM_ERROR.test(e.event)) return true;
    return Array.isArray(e.error_detail) && (e.error_detail as ErrorDetail[]).some(details);
  });
}

interface ObjectStorageLocation {
  scheme: string;
  bucket: string;
  /** Without leading or trailing slash; '' for the bucket root. */
  prefix: string;
  /** The prefixes a stored reference may start with: with and without the conn id. */
  referencePrefixes: string[];
}

export function parseXComPath(xcomPath: string): ObjectStorageLocation {
  const m = /^([a-z0-9]+):\/\/(?:([^@/]+)@)?([^/]+)(?:\/(.*))?$/.exec(xcomPath.trim());
  if (!m)
    throw new PermanentFault(`xcom path "${xcomPath}" is not a URL like s3://<conn_id>@<bucket>/<prefix>`);
  const [, scheme = '', conn, bucket = '', rawPrefix = ''] = m;
  const prefix = rawPrefix.replace(/^\/+|\/+$/g, '');
  const tail = prefix === '' ? '' : `/${prefix}`;
  const referencePrefixes = [`${scheme}://${bucket}${tail}/`];
  if (conn) referencePrefixes.unshift(`${scheme}://${conn}@${bucket}${tail}/`);
  return { scheme, bucket, prefix, referencePrefixes };
}

/**
 * The size the object-storage backend compares with its threshold: Python's
 * `json.dumps(value).encode()` (separators ", " and ": ", non-ASCII escaped as \uXXXX). Floats may
 * differ by a byte from Python's repr (1e-07 vs 1e-7); everything else matches.
 */
export function pythonJsonBytes(value: unknown): number {
  const asciiString = (s: string) =>
    JSON.stringify(s).replace(
      /[\u007f-\uffff]/g,
      (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
    );
  const enc = (v: unknown): string => {
    if (v === null || v === undefined) return 'null';
    if (typeof v === 'string') return asciiString(v);
    if (typeof v === 'number')
      return Number.isFinite(v) ? String(v) : v > 0 ? 'Infinity' : v < 0 ? '-Infinity' : 'NaN';
    if (typeof v === 'boolean') return v ? 'true' : 'false';
    if (Array.isArray(v)) return `[${v.map(enc).join(', ')}]`;
    if (typeof v === 'object') {
      return `{${Object.entries(v as Record<string, unknown>)
        .map(([k, x]) => `${asciiString(k)}: ${enc(x)}`)
        .join(', ')}}`;
    }
    return asciiString(String(v));
  };
  return Buffer.byteLength(enc(value), 'utf8');
}

interface DagRunBody {
  dag_id: string;
  dag_run_id?: string;
  run_id?: string;
  state: string;
  start_date?: string | null;
  logical_date?: string | null;
  conf?: Record<string, unknown> | null;
}

/** Runs cutover itself triggers carry this prefix in their run id (validation, critical DAGs, drills). */
export const CUTOVER_RUN_PREFIX = 'cutover__';

interface TaskInstanceBody {
  task_id: string;
  map_index: number;
  state: string | null;
  try_number: number;
}

interface XComEntryBody {
  key: string;
  task_id: string;
  map_index: number;
  value?: unknown;
}

export class AirflowRestApi implements UpgradeDagRunsPort {
  private readonly opts: AirflowRestApiOptions;
  private readonly pollMs: number;
  private readonly location: ObjectStorageLocation | null;
  private readonly session: AirflowSession;
  private s3Client: S3Client | undefined;

  constructor(opts: AirflowRestApiOptions) {
    this.opts = opts;
    this.pollMs = opts.pollIntervalMs ?? 500;
    this.location = opts.xcomPath === undefined ? null : parseXComPath(opts.xcomPath);
    this.session = new AirflowSession(opts);
  }

  /** Releases the S3 client's sockets. */
  close(): void {
    this.s3Client?.destroy();
    this.s3Client = undefined;
  }

  // --- the port ------------------------------------------------------------------------------

  async runValidationDag(args: {
    dagId: string;
    runId: string;
    unpause: boolean;
    timeoutMs: number;
    heartbeat: Heartbeat;
    conf?: Record<string, unknown>;
  }): Promise<DagRunResult> {
    const { dagId, runId } = args;
    const dag = await this.session.request<{ is_paused: boolean }>('GET', `/dags/${enc(dagId)}`, {
      label: '/dags/{dag_id}',
      accept: [404],
    });
    if (dag.status === 404) {
      throw new PermanentFault(
        `DAG ${dagId} not found by the Airflow API at ${this.opts.baseUrl} (is its file in the dags folder, and parsed without import errors?)`,
      );
    }
    if (dag.body.is_paused) {
      if (!args.unpause) {
        throw new PermanentFault(
          `DAG ${dagId} is paused and the plan does not allow unpausing it (validation.unpause: false): its run would never start`,
        );
      }
      await this.session.request('PATCH', `/dags/${enc(dagId)}`, {
        label: '/dags/{dag_id}',
        query: { update_mask: 'is_paused' },
        body: { is_paused: false },
      });
    }
    await this.ensureRun(dagId, runId, args.conf ?? {});
    const state = await this.waitTerminal(dagId, runId, args.timeoutMs, args.heartbeat);
    if (!TERMINAL_RUN_STATES.has(state)) {
      throw new Error(`validation run ${dagId}/${runId} is still ${state} after ${args.timeoutMs} ms`);
    }
    args.heartbeat({ phase: 'reading back', dagId, runId, state });
    const tis = await this.taskInstances(dagId, runId);
    const taskStates: Record<string, string> = {};
    for (const ti of tis) taskStates[tiName(ti)] = ti.state ?? 'none';

    let xcomErrors = 0;
    for (const ti of tis.filter((t) => t.state === 'failed')) {
      if (await this.failedOnXCom(dagId, runId, ti)) xcomErrors += 1;
    }

    const objects = await this.objectsUnder(dagId, runId);
    const entries = await this.xcomValues(dagId, runId);
    const xcoms = entries.map((e) => {
      const ref = this.reference(e.value);
      const size = ref === null ? undefined : objects.get(this.keyOf(ref));
      return {
        taskId: e.task_id,
        key: e.map_index >= 0 ? `${e.key}[${e.map_index}]` : e.key,
        // An offloaded value weighs what its object weighs (the encoded JSON, compressed if so).
        bytes: size ?? pythonJsonBytes(e.value),
        offloaded: ref !== null,
      };
    });
    return { dagId, runId, state, taskStates, xcomErrors, xcoms, objectCount: objects.size };
  }

  async runsSince({ since }: { since: string }): Promise<AffectedRun[]> {
    if (Number.isNaN(Date.parse(since))) throw new PermanentFault(`runsSince: "${since}" is not an ISO time`);
    const runs: AffectedRun[] = [];
    const limit = 100;
    for (let offset = 0; ; offset += limit) {
      const page = await this.session.request<{ dag_runs: DagRunBody[]; total_entries: number }>(
        'GET',
        '/dags/~/dagRuns',
        {
          query: { start_date_gte: since, order_by: 'id', limit, offset },
        },
      );
      for (const r of page.body.dag_runs) {
        runs.push({ dagId: r.dag_id, runId: runIdOf(r), state: r.state });
      }
      if (page.body.dag_runs.length < limit || offset + limit >= page.body.total_entries) break;
    }
    return runs;
  }

  /** The runs started since `since`, with the logical date and conf that running each again needs. */
  async runsSinceWithConf({
    since,
  }: {
    since: string;
  }): Promise<
    (AffectedRun & { cutover: boolean; logicalDate: string | null; conf: Record<string, unknown> })[]
  > {
    if (Number.isNaN(Date.parse(since))) throw new PermanentFault(`runsSince: "${since}" is not an ISO time`);
    const runs: (AffectedRun & {
      cutover: boolean;
      logicalDate: string | null;
      conf: Record<string, unknown>;
    })[] = [];
    const limit = 100;
    for (let offset = 0; ; offset += limit) {
      const page = await this.session.request<{ dag_runs: DagRunBody[]; total_entries: number }>(
        'GET',
        '/dags/~/dagRuns',
        { query: { start_date_gte: since, order_by: 'id', limit, offset } },
      );
      for (const r of page.body.dag_runs) {
        const runId = runIdOf(r);
        runs.push({
          dagId: r.dag_id,
          runId,
          state: r.state,
          cutover: runId.startsWith(CUTOVER_RUN_PREFIX),
          logicalDate: r.logical_date ?? null,
          conf: r.conf ?? {},
        });
      }
      if (page.body.dag_runs.length < limit || offset + limit >= page.body.total_entries) break;
    }
    return runs;
  }

  async unpause(dagId: string): Promise<boolean> {
    const dag = await this.session.request<{ is_paused: boolean }>('GET', `/dags/${enc(dagId)}`, {
      label: '/dags/{dag_id}',
      accept: [404],
    });
    if (dag.status === 404)
      throw new PermanentFault(`DAG ${dagId} not found by the Airflow API at ${this.opts.baseUrl}`);
    if (!dag.body.is_paused) return false;
    await this.session.request('PATCH', `/dags/${enc(dagId)}`, {
      label: '/dags/{dag_id}',
      query: { update_mask: 'is_paused' },
      body: { is_paused: false },
    });
    return true;
  }

  /**
   * Triggers `runId` again with its logical date and conf (a restored DB no longer has it), or finds it
   * (an earlier attempt made it), and waits until it ends.
   */
  async retrigger(args: {
    dagId: string;
    runId: string;
    logicalDate: string | null;
    conf: Record<string, unknown>;
    timeoutMs: number;
    heartbeat: Heartbeat;
  }): Promise<string> {
    const { dagId, runId } = args;
    const path = `/dags/${enc(dagId)}/dagRuns/${enc(runId)}`;
    const existing = await this.session.request('GET', path, {
      label: '/dags/{dag_id}/dagRuns/{run_id}',
      accept: [404],
    });
    if (existing.status === 404) {
      const body =
        this.opts.apiVersion === 'v2'
          ? { dag_run_id: runId, logical_date: args.logicalDate, conf: args.conf }
          : {
              dag_run_id: runId,
              conf: args.conf,
              ...(args.logicalDate ? { logical_date: args.logicalDate } : {}),
            };
      await this.session.request('POST', `/dags/${enc(dagId)}/dagRuns`, {
        label: '/dags/{dag_id}/dagRuns',
        body,
        accept: [409],
      });
    }
    return this.waitTerminal(dagId, runId, args.timeoutMs, args.heartbeat);
  }

  async clearAndWait(args: {
    runs: AffectedRun[];
    timeoutMs: number;
    heartbeat: Heartbeat;
  }): Promise<(AffectedRun & { finalState: string })[]> {
    for (const run of args.runs) {
      // On an activity retry a run may be cleared twice: that re-runs it once more, which is harmless.
      await this.session.request('POST', `/dags/${enc(run.dagId)}/dagRuns/${enc(run.runId)}/clear`, {
        label: '/dags/{dag_id}/dagRuns/{run_id}/clear',
        body: { dry_run: false, only_failed: false },
      });
      args.heartbeat({ phase: 'cleared', dagId: run.dagId, runId: run.runId });
    }
    const deadline = Date.now() + args.timeoutMs;
    const out: (AffectedRun & { finalState: string })[] = [];
    for (const run of args.runs) {
      const left = Math.max(0, deadline - Date.now());
      const finalState = await this.waitTerminal(run.dagId, run.runId, left, args.heartbeat);
      out.push({ ...run, finalState });
    }
    return out;
  }

  async readsData({ run }: { run: AffectedRun }): Promise<{ readsData: boolean; detail: string }> {
    const r = await this.session.request<DagRunBody>(
      'GET',
      `/dags/${enc(run.dagId)}/dagRuns/${enc(run.runId)}`,
      {
        label: '/dags/{dag_id}/dagRuns/{run_id}',
        accept: [404],
      },
    );
    if (r.status === 404)
      return { readsData: false, detail: `run ${run.dagId}/${run.runId} no longer exists` };
    const tis = await this.taskInstances(run.dagId, run.runId);
    const entries = await this.xcomValues(run.dagId, run.runId);
    const pathStrings = entries.filter((e) => this.reference(e.value) !== null);
    // Downstream tasks are the ones that read XComs: any task with an upstream in the run. The API
    // gives no edges per run, so every task that did not succeed counts against the run.
    const notOk = tis.filter((t) => t.state !== 'success' && t.state !== 'skipped');
    const problems: string[] = [];
    if (r.body.state !== 'success') problems.push(`the run is ${r.body.state}`);
    if (notOk.length > 0)
      problems.push(`task(s) ${notOk.map((t) => `${tiName(t)}=${t.state ?? 'none'}`).join(', ')}`);
    if (pathStrings.length > 0) {
      problems.push(
        `${pathStrings.length} XCom(s) hold object-storage path strings that BaseXCom hands out as-is (${pathStrings
          .map((e) => `${e.task_id}.${e.key}`)
          .join(', ')})`,
      );
    }
    if (problems.length > 0) return { readsData: false, detail: problems.join('; ') };
    return {
      readsData: true,
      detail: `run succeeded (${tis.length} task(s) success) and its ${entries.length} XCom(s) hold data inline, no path strings`,
    };
  }

  // --- runs ----------------------------------------------------------------------------------

  /** The run with this id, triggered only if it does not exist yet (an activity retry reuses it). */
  private async ensureRun(dagId: string, runId: string, conf: Record<string, unknown>): Promise<void> {
    const path = `/dags/${enc(dagId)}/dagRuns/${enc(runId)}`;
    const existing = await this.session.request('GET', path, {
      label: '/dags/{dag_id}/dagRuns/{run_id}',
      accept: [404],
    });
    if (existing.status === 200) return;
    const body =
      this.opts.apiVersion === 'v2'
        ? { dag_run_id: runId, logical_date: null, conf }
        : { dag_run_id: runId, conf };
    const created = await this.session.request('POST', `/dags/${enc(dagId)}/dagRuns`, {
      label: '/dags/{dag_id}/dagRuns',
      body,
      accept: [409],
    });
    if (created.status === 409) {
      // Someone (an earlier attempt whose answer was lost) created it meanwhile: that is our run.
      await this.session.request('GET', path, { label: '/dags/{dag_id}/dagRuns/{run_id}' });
    }
  }

  private async waitTerminal(
    dagId: string,
    runId: string,
    timeoutMs: number,
    heartbeat: Heartbeat,
  ): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    const started = Date.now();
    for (;;) {
      const r = await this.session.request<DagRunBody>('GET', `/dags/${enc(dagId)}/dagRuns/${enc(runId)}`, {
        label: '/dags/{dag_id}/dagRuns/{run_id}',
      });
      heartbeat({ dagId, runId, state: r.body.state, waitedMs: Date.now() - started });
      if (TERMINAL_RUN_STATES.has(r.body.state) || Date.now() >= deadline) return r.body.state;
      await new Promise((res) => setTimeout(res, Math.min(this.pollMs, Math.max(0, deadline - Date.now()))));
    }
  }

  private async taskInstances(dagId: string, runId: string): Promise<TaskInstanceBody[]> {
    const out: TaskInstanceBody[] = [];
    const limit = 100;
    for (let offset = 0; ; offset += limit) {
      const page = await this.session.request<{ task_instances: TaskInstanceBody[]; total_entries: number }>(
        'GET',
        `/dags/${enc(dagId)}/dagRuns/${enc(runId)}/taskInstances`,
        { label: '/dags/{dag_id}/dagRuns/{run_id}/taskInstances', query: { limit, offset } },
      );
      out.push(...page.body.task_instances);
      if (page.body.task_instances.length < limit || out.length >= page.body.total_entries) return out;
    }
  }

  /** Whether the task's last try failed on something XCom-, backend- or config-shaped, per its log (the only place Airflow 3 keeps the error). */
  private async failedOnXCom(dagId: string, runId: string, ti: TaskInstanceBody): Promise<boolean> {
    const res = await this.session.request<{ content?: unknown }>(
      'GET',
      `/dags/${enc(dagId)}/dagRuns/${enc(runId)}/taskInstances/${enc(ti.task_id)}/logs/${Math.max(1, ti.try_number)}`,
      {
        label: '/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/logs/{try}',
        query: { full_content: true, map_index: ti.map_index },
        accept: [404],
      },
    );
    if (res.status === 404) return false;
    const text =
      typeof res.body.content === 'string' ? res.body.content : JSON.stringify(res.body.content ?? '');
    return XCOM_ERROR.test(text);
  }

  // --- XComs and objects ---------------------------------------------------------------------

  /** Every XCom of the run with its raw stored value (what the xcom table holds, not resolved). */
  private async xcomValues(dagId: string, runId: string): Promise<XComEntryBody[]> {
    const entries: XComEntryBody[] = [];
    const limit = 100;
    for (let offset = 0; ; offset += limit) {
      const page = await this.session.request<{ xcom_entries: XComEntryBody[]; total_entries: number }>(
        'GET',
        `/dags/${enc(dagId)}/dagRuns/${enc(runId)}/taskInstances/~/xcomEntries`,
        { label: '/dags/{dag_id}/dagRuns/{run_id}/taskInstances/~/xcomEntries', query: { limit, offset } },
      );
      entries.push(...page.body.xcom_entries);
      if (page.body.xcom_entries.length < limit || entries.length >= page.body.total_entries) break;
    }
    const out: XComEntryBody[] = [];
    for (const e of entries) {
      const one = await this.session.request<XComEntryBody>(
        'GET',
        `/dags/${enc(dagId)}/dagRuns/${enc(runId)}/taskInstances/${enc(e.task_id)}/xcomEntries/${enc(e.key)}`,
        {
          label: '/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/xcomEntries/{key}',
          query:
            this.opts.apiVersion === 'v2'
              ? { map_index: e.map_index, deserialize: false, stringify: false }
              : { map_index: e.map_index },
          accept: [404],
        },
      );
      // 404: cleared between the listing and the read (a re-run in progress); nothing to classify.
      if (one.status !== 404) out.push({ ...e, value: one.body.value });
    }
    return out;
  }

  /** The reference a stored value holds when it was offloaded under the plan's path, else null. */
  private reference(value: unknown): string | null {
    if (typeof value !== 'string') return null;
    // Airflow 2's API hands the stored JSON back as text, quotes included.
    const s = this.opts.apiVersion === 'v1' && value.startsWith('"') ? safeJsonString(value) : value;
    if (!this.location) return null;
    return this.location.referencePrefixes.some((p) => s.startsWith(p)) ? s : null;
  }

  /** The object key of a reference (what ListObjectsV2 returns). */
  private keyOf(reference: string): string {
    if (!this.location) return reference;
    const p = this.location.referencePrefixes.find((x) => reference.startsWith(x)) ?? '';
    const rest = reference.slice(p.length);
    return this.location.prefix === '' ? rest : `${this.location.prefix}/${rest}`;
  }

  /** Objects under <prefix>/<dag_id>/<run_id>/ (the backend's layout), key -> size in bytes. */
  private async objectsUnder(dagId: string, runId: string): Promise<Map<string, number>> {
    if (!this.location) return new Map();
    if (this.location.scheme !== 's3') {
      throw new PermanentFault(
        `xcom path scheme ${this.location.scheme}:// is not S3: this adapter counts offloaded objects with the S3 API only`,
      );
    }
    this.s3Client ??= new S3Client({
      region: this.opts.s3.region,
      ...(this.opts.s3.endpoint ? { endpoint: this.opts.s3.endpoint, forcePathStyle: true } : {}),
      ...(this.opts.s3.credentials ? { credentials: { ...this.opts.s3.credentials } } : {}),
    });
    const head = this.location.prefix === '' ? '' : `${this.location.prefix}/`;
    const prefix = `${head}${dagId}/${runId}/`;
    const out = new Map<string, number>();
    let token: string | undefined;
    do {
      let res;
      try {
        res = await this.s3Client.send(
          new ListObjectsV2Command({
            Bucket: this.location.bucket,
            Prefix: prefix,
            ContinuationToken: token,
          }),
        );
      } catch (err) {
        const e = err as { name?: string; message?: string; $metadata?: { httpStatusCode?: number } };
        const msg = `listing s3://${this.location.bucket}/${prefix} failed: ${e.name ?? 'Error'}: ${e.message ?? String(err)}`;
        const status = e.$metadata?.httpStatusCode;
        if (e.name === 'NoSuchBucket' || (status !== undefined && isPermanent(status)))
          throw new PermanentFault(msg);
        throw new Error(msg);
      }
      for (const o of res.Contents ?? []) if (o.Key) out.set(o.Key, o.Size ?? 0);
      token = res.IsTruncated ? res.NextContinuationToken : undefined;
    } while (token);
    return out;
  }
}

function enc(s: string): string {
  return encodeURIComponent(s);
}

function tiName(ti: TaskInstanceBody): string {
  return ti.map_index >= 0 ? `${ti.task_id}[${ti.map_index}]` : ti.task_id;
}

function runIdOf(r: DagRunBody): string {
  return r.dag_run_id ?? r.run_id ?? '';
}

function safeJsonString(text: string): string {
  const v = safeJson(text);
  return typeof v === 'string' ? v : text;
}
