import type { Timed } from '../domain/evidence.js';
import { toActivityFailure } from './errors.js';

/** Runs one step and stamps its evidence with the worker's clock. */
export async function timed<T>(fn: () => Promise<T>): Promise<T & Timed> {
  const startedAt = new Date().toISOString();
  try {
    const value = await fn();
    return { ...value, startedAt, finishedAt: new Date().toISOString() };
  } catch (err) {
    throw toActivityFailure(err);
  }
}

export function gate(reasons: string[]): { passed: boolean; reasons: string[] } {
  return { passed: reasons.length === 0, reasons };
}
