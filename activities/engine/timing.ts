import { Context } from '@temporalio/activity';
import type { Timed } from '../../domain/evidence.js';
import { toActivityFailure } from './errors.js';

/** Often enough that a 20 s heartbeat timeout notices a dead worker, rarely enough to cost nothing. */
const HEARTBEAT_EVERY_MS = 5_000;

function activityContext(): Context | null {
  try {
    return Context.current();
  } catch {
    // Called outside an activity (a test calling the function directly): nothing to heartbeat to.
    return null;
  }
}

/**
 * Runs one step and stamps its evidence with the worker's clock. While it runs
 * it heartbeats, so a worker that dies mid-step is noticed within the step's
 * heartbeat timeout instead of its (much longer) start-to-close timeout.
 */
export async function timed<T>(fn: () => Promise<T>): Promise<T & Timed> {
  const startedAt = new Date().toISOString();
  const ctx = activityContext();
  const beat = ctx ? setInterval(() => ctx.heartbeat(), HEARTBEAT_EVERY_MS) : undefined;
  try {
    const value = await fn();
    return { ...value, startedAt, finishedAt: new Date().toISOString() };
  } catch (err) {
    throw toActivityFailure(err);
  } finally {
    clearInterval(beat);
  }
}

export function gate(reasons: string[]): { passed: boolean; reasons: string[] } {
  return { passed: reasons.length === 0, reasons };
}
