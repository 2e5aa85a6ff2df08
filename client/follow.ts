/**
 * Following a run until it settles: its result is awaited once, and a poll runs between waits that
 * wake early when the result arrives. `plan`, `watch` and the demo follow runs the same way.
 */
import type { WorkflowHandle } from '@temporalio/client';
import type { RunResult } from '../domain/engine/run.js';

export type Settled = { result: RunResult } | { error: unknown };

export interface FollowOptions {
  /** Between polls; a result that arrives cuts the wait short. */
  pollMs: number;
  /** Epoch ms after which following stops (Infinity: never). */
  deadline: number;
  /** Runs before each wait while the result is pending; 'stop' ends following at once. */
  poll(): Promise<'stop' | undefined>;
  /** Wraps each wait, e.g. to end it when the caller is interrupted (it may throw). */
  guard?(wait: Promise<void>): Promise<unknown>;
}

/** The settled result, or null when the deadline passed or `poll` said stop first. */
export async function followRun(handle: WorkflowHandle, opts: FollowOptions): Promise<Settled | null> {
  const state: { settled: Settled | null; wake: (() => void) | null } = { settled: null, wake: null };
  // The result is a long poll. Left in flight when following ends early, it fails UNAVAILABLE as the
  // caller closes its connection, and the client's retry then throws "Channel has been shut down"
  // from a timer, which nothing can catch: cancelled here instead, it is not retried.
  const resultCall = new AbortController();
  void handle.client
    .withAbortSignal(resultCall.signal, () => handle.result())
    .then(
      (result: RunResult) => {
        state.settled = { result };
        state.wake?.();
      },
      (error: unknown) => {
        state.settled = { error };
        state.wake?.();
      },
    );
  try {
    while (state.settled === null && Date.now() < opts.deadline) {
      if ((await opts.poll()) === 'stop') return state.settled;
      if (state.settled !== null) break;
      const wait = new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(opts.pollMs, Math.max(0, opts.deadline - Date.now())));
        state.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      await (opts.guard ? opts.guard(wait) : wait);
    }
    return state.settled;
  } finally {
    if (state.settled === null) resultCall.abort();
  }
}
