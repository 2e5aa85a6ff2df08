/**
 * Airflow's own view of its health, read over the REST API for the deployment health checks.
 *
 * From the installed Airflow 3.3.2 source (api_fastapi/core_api/routes/public/__init__.py,
 * api/common/airflow_health.py):
 * - `GET /api/v2/monitor/health` and `GET /api/v2/version` are outside the authenticated router.
 *   The health body is always HTTP 200: read it. Each job's status is `healthy`/`unhealthy`, or
 *   null for the triggerer and dag processor when no such job ever ran; it reads only the MOST
 *   RECENT job of each type, so a dead HA scheduler hides behind a live one (the DB check sees it).
 * - `GET /api/v2/importErrors` ({import_errors: [{filename, stack_trace}]}) and
 *   `GET /api/v2/dagWarnings` ({dag_warnings: [{dag_id, warning_type, message}]}) need a user.
 * Airflow 2 serves the same shapes under /api/v1 (`/health`, `/version`, basic auth).
 */
import type { AirflowHealthPort } from '../activities/deployment-health-ports.js';
import type { HealthEntry } from '../domain/assessment/snapshot.js';
import { AirflowSession, networkMessage } from './airflow-http.js';

export interface AirflowHealthOptions {
  baseUrl: string;
  apiVersion: 'v2' | 'v1';
  /** Null when the worker has no credentials for the plan's API: the authenticated reads are skipped and noted. */
  credentials: { username: string; password: string } | null;
  /** Why there are no credentials (the env vars not set), for the note. */
  noCredentials?: string;
  fetch?: typeof fetch;
}

/** At most this many import errors and DAG warnings are read: the document lists the first ten anyway. */
const PAGE = 100;

export class AirflowHealthApi implements AirflowHealthPort {
  private readonly fetchFn: typeof fetch;
  private readonly base: string;
  private readonly session: AirflowSession | null;

  constructor(private readonly opts: AirflowHealthOptions) {
    this.fetchFn = opts.fetch ?? globalThis.fetch;
    this.base = opts.baseUrl.replace(/\/+$/, '');
    this.session = opts.credentials
      ? new AirflowSession({
          baseUrl: opts.baseUrl,
          apiVersion: opts.apiVersion,
          ...opts.credentials,
          ...(opts.fetch ? { fetch: opts.fetch } : {}),
        })
      : null;
  }

  async read() {
    const url = this.base;
    const notes: string[] = [];
    const healthPath = this.opts.apiVersion === 'v2' ? '/api/v2/monitor/health' : '/api/v1/health';
    let health: Record<string, HealthEntry>;
    try {
      health = parseHealth(await this.getOpen(healthPath));
    } catch (err) {
      return {
        url,
        health: null,
        version: null,
        importErrors: null,
        dagWarnings: null,
        error: `GET ${healthPath}: ${err instanceof Error ? err.message : String(err)}`,
        notes,
      };
    }
    const version = await this.getOpen(`/api/${this.opts.apiVersion}/version`).then(
      (b) =>
        typeof (b as { version?: unknown }).version === 'string' ? (b as { version: string }).version : null,
      (err: unknown) => {
        notes.push(
          `GET /api/${this.opts.apiVersion}/version: ${err instanceof Error ? err.message : String(err)}`,
        );
        return null;
      },
    );
    const importErrors = await this.authed('/importErrors', notes, (b) =>
      arrayOf(b, 'import_errors').map((e) => ({
        file: String(e['filename'] ?? '?'),
        error: lastLine(String(e['stack_trace'] ?? e['stacktrace'] ?? '')),
      })),
    );
    const dagWarnings = await this.authed('/dagWarnings', notes, (b) =>
      arrayOf(b, 'dag_warnings').map((w) => ({
        dagId: String(w['dag_id'] ?? '?'),
        type: String(w['warning_type'] ?? '?'),
        message: String(w['message'] ?? ''),
      })),
    );
    return { url, health, version, importErrors, dagWarnings, error: null, notes };
  }

  /** An unauthenticated GET; a body that is not JSON, a non-2xx or a network error throws. */
  private async getOpen(path: string): Promise<unknown> {
    let res: Response;
    try {
      res = await this.fetchFn(`${this.base}${path}`, {
        headers: { accept: 'application/json' },
        signal: AbortSignal.timeout(15_000),
      });
    } catch (err) {
      throw new Error(networkMessage(err));
    }
    const text = await res.text();
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    try {
      return JSON.parse(text) as unknown;
    } catch {
      throw new Error(
        `answered HTTP ${res.status} with a body that is not JSON (is this Airflow's API server?)`,
      );
    }
  }

  /** An authenticated read; what cannot be read becomes a note (the assessment goes on without it). */
  private async authed<T>(path: string, notes: string[], parse: (body: unknown) => T): Promise<T | null> {
    const label = `GET /api/${this.opts.apiVersion}${path}`;
    if (!this.session) {
      notes.push(`${label}: not read, ${this.opts.noCredentials ?? 'no API credentials on the worker'}`);
      return null;
    }
    try {
      const res = await this.session.request('GET', path, { query: { limit: PAGE } });
      return parse(res.body);
    } catch (err) {
      notes.push(err instanceof Error ? err.message : String(err));
      return null;
    }
  }
}

function parseHealth(body: unknown): Record<string, HealthEntry> {
  if (typeof body !== 'object' || body === null || !('metadatabase' in body))
    throw new Error("the health body has no metadatabase entry (is this Airflow's API server?)");
  const out: Record<string, HealthEntry> = {};
  for (const [key, raw] of Object.entries(body as Record<string, unknown>)) {
    if (typeof raw !== 'object' || raw === null) continue;
    const entry = raw as Record<string, unknown>;
    const beat = Object.entries(entry).find(
      ([k]) => k.startsWith('latest_') && k.endsWith('_heartbeat'),
    )?.[1];
    out[key] = {
      status: typeof entry['status'] === 'string' ? entry['status'] : null,
      latestHeartbeat: typeof beat === 'string' ? beat : null,
    };
  }
  return out;
}

function arrayOf(body: unknown, key: string): Record<string, unknown>[] {
  const list = typeof body === 'object' && body !== null ? (body as Record<string, unknown>)[key] : undefined;
  return Array.isArray(list)
    ? list.filter((x): x is Record<string, unknown> => typeof x === 'object' && x !== null)
    : [];
}

/** The exception line of a Python traceback (its last non-empty line), shortened. */
function lastLine(trace: string): string {
  const line =
    trace
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l !== '')
      .at(-1) ?? '';
  return line.length > 200 ? `${line.slice(0, 200)}...` : line;
}
