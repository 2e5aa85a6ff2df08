/**
 * One HTTP session with Airflow's REST API: Airflow 3's /api/v2 with a bearer token from
 * `POST /auth/token` (renewed once on a 401), or Airflow 2's /api/v1 with basic auth. Errors name
 * the route and the status, never the password; 4xx other than 408/429 are PermanentFaults.
 * The adapters that speak to Airflow (the validation runs, the health checks) share it.
 */
import { PermanentFault } from '../activities/engine/errors.js';

export interface AirflowSessionOptions {
  baseUrl: string; // e.g. http://127.0.0.1:8080
  apiVersion: 'v2' | 'v1';
  username: string;
  password: string; // never logged, never in errors
  fetch?: typeof fetch; // default globalThis.fetch
  /** How long one request may take before it fails as a timeout (a retryable Error); default 60 s. */
  requestTimeoutMs?: number;
}

export interface RequestOptions {
  query?: Record<string, string | number | boolean | undefined>;
  body?: unknown;
  /** Statuses returned to the caller instead of thrown (e.g. 404 for "does not exist yet"). */
  accept?: number[];
  /** The path as messages name it, with {dag_id}-style names where the ids go (default: the real path). */
  label?: string;
}

export interface ApiResponse<T> {
  status: number;
  body: T;
}

export class AirflowSession {
  private readonly fetchFn: typeof fetch;
  private readonly apiRoot: string;
  private token: string | undefined;

  constructor(private readonly opts: AirflowSessionOptions) {
    this.fetchFn = opts.fetch ?? globalThis.fetch;
    this.apiRoot = `${opts.baseUrl.replace(/\/+$/, '')}/api/${opts.apiVersion}`;
  }

  get apiVersion(): 'v2' | 'v1' {
    return this.opts.apiVersion;
  }

  private async authHeader(refresh: boolean): Promise<string> {
    if (this.opts.apiVersion === 'v1') {
      return `Basic ${Buffer.from(`${this.opts.username}:${this.opts.password}`).toString('base64')}`;
    }
    if (refresh || this.token === undefined) this.token = await this.fetchToken();
    return `Bearer ${this.token}`;
  }

  private async fetchToken(): Promise<string> {
    const url = `${this.opts.baseUrl.replace(/\/+$/, '')}/auth/token`;
    let res: Response;
    try {
      res = await this.fetchFn(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/json' },
        body: JSON.stringify({ username: this.opts.username, password: this.opts.password }),
        signal: AbortSignal.timeout(30_000),
      });
    } catch (err) {
      throw new Error(`POST ${url} failed: ${this.scrub(networkMessage(err))}`);
    }
    const text = await res.text();
    if (res.status === 401 || res.status === 403) {
      throw new PermanentFault(
        `POST ${url} answered HTTP ${res.status}: Airflow refused the credentials of user "${this.opts.username}" (wrong username or password)`,
      );
    }
    if (!res.ok) {
      const msg = `POST ${url} answered HTTP ${res.status}: ${this.scrub(detailOf(text))}`;
      throw isPermanent(res.status) ? new PermanentFault(msg) : new Error(msg);
    }
    const token = (safeJson(text) as { access_token?: unknown } | undefined)?.access_token;
    if (typeof token !== 'string' || token === '')
      throw new Error(`POST ${url} answered without an access_token`);
    return token;
  }

  async request<T = unknown>(method: string, path: string, o: RequestOptions = {}): Promise<ApiResponse<T>> {
    const qs = new URLSearchParams();
    for (const [k, v] of Object.entries(o.query ?? {})) if (v !== undefined) qs.set(k, String(v));
    const url = `${this.apiRoot}${path}${qs.size > 0 ? `?${qs.toString()}` : ''}`;
    const label = `${method} /api/${this.opts.apiVersion}${o.label ?? path}`;
    for (let attempt = 0; ; attempt += 1) {
      const headers: Record<string, string> = {
        accept: 'application/json',
        authorization: await this.authHeader(attempt > 0),
      };
      if (o.body !== undefined) headers['content-type'] = 'application/json';
      let res: Response;
      try {
        res = await this.fetchFn(url, {
          method,
          headers,
          ...(o.body !== undefined ? { body: JSON.stringify(o.body) } : {}),
          signal: AbortSignal.timeout(this.opts.requestTimeoutMs ?? 60_000),
        });
      } catch (err) {
        throw new Error(`${label} failed: ${this.scrub(networkMessage(err))}`);
      }
      const text = await res.text();
      // A token expires (24 h by default) or the api-server restarted with another JWT secret: one fresh token.
      if (res.status === 401 && this.opts.apiVersion === 'v2' && attempt === 0) continue;
      if (res.ok || o.accept?.includes(res.status)) {
        return { status: res.status, body: (text === '' ? undefined : safeJson(text)) as T };
      }
      const msg = `${label} answered HTTP ${res.status}: ${this.scrub(detailOf(text))}`;
      throw isPermanent(res.status) ? new PermanentFault(msg) : new Error(msg);
    }
  }

  /** Error text never carries the password, whatever a server or a library put into it. */
  scrub(text: string): string {
    const pw = this.opts.password;
    return pw.length > 0 ? text.split(pw).join('***') : text;
  }
}

export /** HTTP statuses that a retry cannot change: the request, the credentials or the target are wrong. */
function isPermanent(status: number): boolean {
  return status >= 400 && status < 500 && status !== 408 && status !== 429;
}

export function safeJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

/** FastAPI's {"detail": ...} (a string or validation errors) or the first 300 characters of the body. */
export function detailOf(text: string): string {
  const parsed = safeJson(text);
  const detail =
    typeof parsed === 'object' && parsed !== null ? (parsed as { detail?: unknown }).detail : undefined;
  const s = detail === undefined ? text : typeof detail === 'string' ? detail : JSON.stringify(detail);
  return s.length > 300 ? `${s.slice(0, 300)}...` : s || '(empty body)';
}

export function networkMessage(err: unknown): string {
  const e = err as { message?: string; cause?: { code?: string; message?: string } };
  const cause = e.cause ? ` (${e.cause.code ?? e.cause.message ?? ''})` : '';
  return `${e.message ?? String(err)}${cause}`;
}
