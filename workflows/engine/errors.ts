/** Failure words shared by the engine's modules (kept apart so none of them imports another for it). */
import type { GateVerdict } from '../../domain/engine/evidence.js';

/** The innermost message of a Temporal failure chain: what actually went wrong. */
export function describeError(err: unknown): string {
  let e: unknown = err;
  const parts: string[] = [];
  while (e instanceof Error) {
    if (e.message && !parts.includes(e.message)) parts.push(e.message);
    e = (e as Error & { cause?: unknown }).cause;
  }
  return parts.length > 0 ? (parts[parts.length - 1] ?? 'unknown error') : String(err);
}

/** A red gate after the first change: the trigger for the kill-switch. */
export class GateFailed extends Error {
  constructor(
    readonly phase: string,
    gate: GateVerdict,
  ) {
    super(gate.reasons.join('; ') || `${phase} gate failed`);
  }
}
