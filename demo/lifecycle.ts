/**
 * What the demo started and how to stop it: every resource registers its disposer as soon as it
 * exists (also when it comes up after an interruption), and disposeAll stops them in a fixed order
 * whatever happened: success, error, SIGINT or SIGTERM.
 */
import { constants } from 'node:os';

/** The demo was asked to stop (SIGINT / SIGTERM). */
export class Interrupted extends Error {
  constructor(readonly signal: NodeJS.Signals) {
    super(`interrupted by ${signal}`);
    this.name = 'Interrupted';
  }
}

/**
 * Disposal order: lower first. The run is ended while the worker still serves it; Airflow stops
 * before its database is dropped and before moto, which its tasks may still call; etc.
 */
export const ORDER = {
  RUN: 0,
  PROBES: 1,
  WORKER: 2,
  CLIENT: 3,
  AIRFLOW: 4,
  MOTO: 5,
  DATABASE: 6,
  BACKUPS: 7,
  SERVER: 8,
} as const;

interface Disposer {
  name: string;
  order: number;
  seq: number;
  /** Resolves `false` when it could not finish (then it is not listed as done). */
  fn: () => Promise<unknown>;
  /** How disposeAll's list tells it was done ("moto stopped"); null: not listed. */
  listed: string | null;
}

/** Resolves with `p`'s value, or with `fallback` after `ms` (the timer never holds the process). */
export function within<T, F>(p: Promise<T>, ms: number, fallback: F): Promise<T | F> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => resolve(fallback), ms);
    timer.unref();
    p.then(
      (v) => {
        clearTimeout(timer);
        resolve(v);
      },
      (err: unknown) => {
        clearTimeout(timer);
        reject(err instanceof Error ? err : new Error(String(err)));
      },
    );
  });
}

const noop = (): void => undefined;

export class Lifecycle {
  private readonly controller = new AbortController();
  private readonly abortedPromise: Promise<never>;
  private readonly disposers: Disposer[] = [];
  private readonly pending: Promise<unknown>[] = [];
  private seq = 0;
  private by: NodeJS.Signals | null = null;
  /**
   * What a second Ctrl-C leaves behind, told before the process exits: set while the demo waits for
   * a run's kill-switch after the first one.
   */
  whatIsLeft: (() => string[]) | null = null;

  constructor() {
    this.abortedPromise = new Promise<never>((_, reject) => {
      this.controller.signal.addEventListener('abort', () => reject(new Interrupted(this.by ?? 'SIGINT')));
    });
    this.abortedPromise.catch(noop);
  }

  /** Aborted at the first interruption: pass it to anything that can stop early. */
  get signal(): AbortSignal {
    return this.controller.signal;
  }

  /** The signal that interrupted the demo, or null. */
  get interruption(): NodeJS.Signals | null {
    return this.by;
  }

  /** The conventional exit code of a process ended by the interrupting signal (130 for SIGINT). */
  get interruptionExitCode(): number {
    return 128 + (this.by ? (constants.signals[this.by] ?? 2) : 2);
  }

  /** Returns true on the first call only. */
  interrupt(signal: NodeJS.Signals): boolean {
    if (this.by !== null) return false;
    this.by = signal;
    this.controller.abort();
    return true;
  }

  /** `p`, or a rejection with Interrupted as soon as the demo is interrupted. */
  guard<T>(p: Promise<T>): Promise<T> {
    return Promise.race([p, this.abortedPromise]);
  }

  /**
   * Registers a disposer for something that now exists. `listed` is how the list of what was
   * done tells it (default "<name> stopped"); null leaves it out.
   */
  add(
    name: string,
    order: number,
    fn: () => Promise<unknown>,
    listed: string | null = `${name} stopped`,
  ): void {
    this.disposers.push({ name, order, seq: this.seq++, fn, listed });
  }

  /**
   * Waits for `creating` (or the interruption) and registers `dispose` for its value as soon as it
   * exists, even when that happens after an interruption, so nothing it started is left behind.
   */
  acquire<T>(
    name: string,
    order: number,
    creating: Promise<T>,
    dispose: (value: T) => Promise<unknown>,
    listed: string | null = `${name} stopped`,
  ): Promise<T> {
    const tracked = creating.then((value) => {
      this.add(name, order, () => dispose(value), listed);
      return value;
    });
    this.pending.push(tracked.catch(noop));
    return this.guard(tracked);
  }

  /**
   * Waits (bounded) for resources still coming up, then runs every disposer once, in ORDER (the
   * last registered first within one order), each bounded by `timeoutMs`. Never throws: problems
   * are reported through `report`. Returns the names of the listed resources it stopped.
   */
  async disposeAll(
    report: (line: string) => void,
    timeoutMs = 30_000,
    timed: (name: string, ms: number) => void = () => undefined,
  ): Promise<string[]> {
    const settled = await within(Promise.all(this.pending), timeoutMs, 'timeout' as const);
    if (settled === 'timeout') report(`some resources were still starting after ${timeoutMs / 1000}s`);
    const todo = this.disposers.splice(0).sort((a, b) => a.order - b.order || b.seq - a.seq);
    const done: string[] = [];
    const debug = process.env.CUTOVER_DEMO_DEBUG === '1';
    for (const d of todo) {
      const t = performance.now();
      try {
        const r = await within(d.fn(), timeoutMs, 'timeout' as const);
        const ms = Math.round(performance.now() - t);
        timed(d.name, ms);
        if (debug) report(`(debug) ${d.name}: ${ms} ms`);
        if (r === 'timeout') report(`stopping ${d.name} did not finish within ${timeoutMs / 1000}s`);
        else if (r !== false && d.listed !== null) done.push(d.listed);
      } catch (err) {
        report(`stopping ${d.name} failed: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
    return done;
  }
}
