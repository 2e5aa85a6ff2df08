/**
 * Telling a dead rollout controller from a busy one. A controller that answers (even "503, restart
 * under way") is busy and worth the rollout timeout; one that refuses connections, cannot be
 * resolved or drops the socket is unreachable: after a short bounded retry the step fails with
 * ControllerUnreachable instead of heartbeating "busy" until the rollout timeout.
 */
import { ControllerUnreachable } from '../activities/engine/errors.js';

/** How often and how far apart a refused controller is tried again before the step gives up. */
export interface ReachRetry {
  /** Tries in all, the first included (default 3). */
  tries: number;
  /** Pause between two tries (default 15 s: 3 tries span 30 s). */
  intervalMs: number;
}

export const DEFAULT_REACH_RETRY: ReachRetry = { tries: 3, intervalMs: 15_000 };

/** Error codes that mean "nobody is listening there", as Node's net/dns and undici report them. */
const UNREACHABLE_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EPIPE',
  'UND_ERR_SOCKET',
  'UND_ERR_CONNECT_TIMEOUT',
]);

/**
 * The connection-level code in an error's cause chain (fetch wraps it as "fetch failed" with the
 * socket error as cause; node-fetch and the Kubernetes client carry `code`), or null when the
 * error is an answer or something else (a timeout of a reachable but slow server is not one).
 */
export function unreachableCode(err: unknown): string | null {
  let e: unknown = err;
  for (let depth = 0; depth < 8 && e !== null && typeof e === 'object'; depth++) {
    const { code, errors } = e as { code?: unknown; errors?: unknown };
    if (typeof code === 'string' && UNREACHABLE_CODES.has(code)) return code;
    // An AggregateError (happy eyeballs over IPv4 and IPv6) holds one error per address.
    if (Array.isArray(errors))
      for (const inner of errors) {
        const c = unreachableCode(inner);
        if (c) return c;
      }
    e = (e as { cause?: unknown }).cause;
  }
  return null;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Runs `attempt` until it does not fail with a connection error, at most `retry.tries` times;
 * then throws ControllerUnreachable with `describe(since, code, tries)`. Other errors pass through.
 */
export async function whileReachable<T>(
  attempt: () => Promise<T>,
  retry: ReachRetry,
  describe: (since: string, code: string, tries: number) => string,
  onRetry?: (code: string, tried: number) => void,
): Promise<T> {
  let since: string | null = null;
  for (let tried = 1; ; tried++) {
    try {
      return await attempt();
    } catch (err) {
      const code = unreachableCode(err);
      if (code === null) throw err;
      since ??= new Date().toISOString();
      if (tried >= retry.tries) throw new ControllerUnreachable(describe(since, code, tried));
      onRetry?.(code, tried);
      await sleep(retry.intervalMs);
    }
  }
}

/** "3 tries over 30 s" */
export function triesText(tries: number, retry: ReachRetry): string {
  return `${tries} tries over ${Math.round(((tries - 1) * retry.intervalMs) / 1000)} s`;
}
