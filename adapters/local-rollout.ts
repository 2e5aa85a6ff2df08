/**
 * RolloutPort for a `local` target: the components run under the cutover supervisor
 * (local/supervisor.ts), which restarts them with the env file as it is now, the local analogue of
 * a rollout. Per call:
 * 1. read the wanted variables from each running component's process (the supervisor reads
 *    /proc/<pid>/environ): if all carry them already (a retried step), nothing restarts;
 * 2. else ask the supervisor to restart the plan's components and wait until they are healthy;
 * 3. read the variables again: a component is ready only when its live process carries them.
 *
 * It also stops and starts components (`stop`, `start`): the Airflow upgrade stops them all, migrates
 * the metadata DB, writes the target AIRFLOW_VERSION into the env file and starts them on it. Both
 * are idempotent on the supervisor's side (a component stopped already stays stopped, one running
 * already is left running), so a retried step asks again safely. A supervisor busy with another
 * operation (409, or /health saying so) is waited out until the deadline; one that refuses
 * connections fails the step with ControllerUnreachable after the bounded retry.
 */
import { readFileSync } from 'node:fs';
import type { ProcessInspectorPort } from '../activities/deployment-health-ports.js';
import type { Heartbeat, RolloutPort } from '../activities/adapters.js';
import { ControllerUnreachable, PermanentFault } from '../activities/engine/errors.js';
import {
  DEFAULT_REACH_RETRY,
  triesText,
  unreachableCode,
  whileReachable,
  type ReachRetry,
} from './controller-reach.js';
import type { Component } from '../domain/plan.js';
import { envMismatches as mismatches } from '../domain/env-mismatch.js';

type Env = Record<string, string | null>;

/** Where the supervisor of a local target records its URLs: next to the env file. */
export const supervisorStateFile = (envFile: string) => `${envFile}.supervisor.json`;

/**
 * The settings the supervisor of `envFile` forces on its components beyond the env file (today the
 * DAG folder), as AIRFLOW__* variables; empty when no supervisor recorded any (not started yet, or
 * a state file from before it recorded them).
 */
export function supervisorForcedEnv(envFile: string): Record<string, string> {
  let doc: unknown;
  try {
    doc = JSON.parse(readFileSync(supervisorStateFile(envFile), 'utf8'));
  } catch {
    return {};
  }
  const dags = typeof doc === 'object' && doc !== null ? (doc as { dagsFolder?: unknown }).dagsFolder : null;
  return typeof dags === 'string' && dags !== '' ? { AIRFLOW__CORE__DAGS_FOLDER: dags } : {};
}

export interface LocalRolloutOptions {
  /** The plan's target.supervisor, if it names one. */
  supervisorUrl?: string;
  /** Where the supervisor records its URL (`<envFile>.supervisor.json`), read when no URL is given. */
  stateFile: string;
  fetch?: typeof fetch;
  /** The components the plan expects (for `inspect`); default: those the supervisor reports. */
  components?: string[];
  /** How a supervisor that refuses connections is tried again before the step fails (default 3 tries over 30 s). */
  reachRetry?: ReachRetry;
}

/** What one component went through in a stop or start (the supervisor's answer). */
export interface ComponentTransition {
  component: string;
  /** stopped / started by this call, or already so before it. */
  action: 'stopped' | 'already stopped' | 'started' | 'already running';
  /** The process stopped or started (null for one that was not running before a stop). */
  pid: number | null;
  startedAt: string | null;
  stoppedAt: string | null;
  /** The Airflow version of the venv the process was (or last was) launched from. */
  airflowVersion: string | null;
}

/** An entry of the supervisor's GET /components (older supervisors list running ones only, without state). */
interface ComponentEntry {
  name: string;
  pid: number | null;
  startedAt: string | null;
  state?: 'running' | 'stopped' | 'exited';
  stoppedAt?: string | null;
  airflowVersion?: string | null;
}

/** A 409 from the supervisor: another control operation is under way. */
class SupervisorBusy extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SupervisorBusy';
  }
}

const noBeat: Heartbeat = () => undefined;

interface LiveEnv {
  component: string;
  pid: number;
  startedAt: string;
  env: Record<string, string | null>;
}

export class LocalRollout implements RolloutPort, ProcessInspectorPort {
  private readonly fetchFn: typeof fetch;

  constructor(private readonly options: LocalRolloutOptions) {
    this.fetchFn = options.fetch ?? globalThis.fetch;
  }

  private url(): string {
    if (this.options.supervisorUrl) return this.options.supervisorUrl.replace(/\/+$/, '');
    let text: string;
    try {
      text = readFileSync(this.options.stateFile, 'utf8');
    } catch {
      // The supervisor may be (re)starting: worth another attempt, with the fix in the message.
      throw new Error(
        `no supervisor state at ${this.options.stateFile}: is the local target's supervisor running (npm run airflow-local)?`,
      );
    }
    const url = (JSON.parse(text) as { controlUrl?: unknown }).controlUrl;
    if (typeof url !== 'string') throw new PermanentFault(`${this.options.stateFile} names no controlUrl`);
    return url.replace(/\/+$/, '');
  }

  private async call<T>(
    method: 'GET' | 'POST',
    path: string,
    body?: unknown,
    timeoutMs = 30_000,
  ): Promise<T> {
    const base = this.url();
    let res: Response;
    try {
      res = await this.fetchFn(`${base}${path}`, {
        method,
        ...(body === undefined
          ? {}
          : { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } }),
        signal: AbortSignal.timeout(timeoutMs),
      });
    } catch (err) {
      throw new Error(
        `cannot reach the supervisor at ${base}: ${err instanceof Error ? err.message : String(err)}`,
        { cause: err },
      );
    }
    const text = await res.text();
    if (!res.ok) {
      const why = (() => {
        try {
          return String((JSON.parse(text) as { error?: unknown }).error ?? text);
        } catch {
          return text;
        }
      })();
      if (res.status === 400 || res.status === 404)
        throw new PermanentFault(`supervisor ${method} ${path}: ${why}`);
      if (res.status === 409) throw new SupervisorBusy(`supervisor ${method} ${path}: ${why}`);
      throw new Error(`supervisor ${method} ${path} answered ${res.status}: ${why}`);
    }
    return JSON.parse(text) as T;
  }

  /**
   * Which of the plan's components the supervisor runs now. An unreachable supervisor is an answer
   * (`error`), not a failure: the health checks report it as a finding.
   */
  async inspect() {
    let supervisor: string | null = null;
    try {
      supervisor = this.url();
      const listed = await this.call<ComponentEntry[]>('GET', '/components');
      const running = listed.filter((c) => (c.state ?? 'running') === 'running');
      const names = this.options.components ?? listed.map((c) => c.name);
      return {
        source: 'local' as const,
        supervisor,
        components: names.map((name) => {
          const c = running.find((r) => r.name === name);
          return { name, running: c !== undefined, pid: c?.pid ?? null, startedAt: c?.startedAt ?? null };
        }),
        error: null,
        notes: [],
      };
    } catch (err) {
      return {
        source: 'local' as const,
        supervisor,
        components: [],
        error: err instanceof Error ? err.message : String(err),
        notes: [],
      };
    }
  }

  /**
   * Runs `attempt` while the supervisor takes connections: one that refuses them for the bounded
   * retry (3 tries over 30 s) is dead, not busy, and the step fails with ControllerUnreachable
   * naming the components nothing can restart now and since when.
   */
  private reachable<T>(attempt: () => Promise<T>, components: string[], heartbeat: Heartbeat): Promise<T> {
    const retry = this.options.reachRetry ?? DEFAULT_REACH_RETRY;
    const names = components.join(', ');
    return whileReachable(
      attempt,
      retry,
      (since, code, tries) =>
        `supervisor unreachable at ${this.url()} (${code}, ${triesText(tries, retry)}): ` +
        `the Airflow components ${names} are down or unmanaged since ${since} at the latest; ` +
        'nothing can restart them or read their env until the supervisor runs again (npm run airflow-local)',
      (code, tried) =>
        heartbeat({ waiting: `supervisor unreachable (${code}), try ${tried}/${retry.tries}` }),
    );
  }

  /**
   * Polls /health until the supervisor has no control operation under way, or the deadline. Stopped
   * components are not "busy": a start is what they wait for. A connection error is thrown (the
   * caller tells busy from dead); an answer that cannot be read is "busy".
   */
  private async untilIdle(deadline: number, heartbeat: Heartbeat): Promise<void> {
    for (;;) {
      try {
        const res = await this.fetchFn(`${this.url()}/health`, { signal: AbortSignal.timeout(10_000) });
        const text = await res.text();
        if (res.ok) return;
        const body = (() => {
          try {
            return JSON.parse(text) as { busy?: unknown; restarting?: unknown };
          } catch {
            return null;
          }
        })();
        if (body !== null && (body.busy ?? null) === null && body.restarting !== true) return;
      } catch (err) {
        if (unreachableCode(err) !== null) throw err;
        // a slow answer: busy, like a 503
      }
      if (Date.now() >= deadline) return;
      heartbeat({ waiting: 'supervisor busy' });
      await new Promise((r) => setTimeout(r, 1000));
    }
  }

  private live(component: Component, keys: string[]): Promise<LiveEnv> {
    const q = new URLSearchParams({ component: component.name, keys: keys.join(',') });
    return this.call<LiveEnv>('GET', `/env?${q.toString()}`);
  }

  async restartAndWait(args: {
    components: Component[];
    expectEnv: Env;
    timeoutMs: number;
    heartbeat: Heartbeat;
  }): Promise<{ name: string; ready: boolean; detail: string }[]> {
    const keys = Object.keys(args.expectEnv);
    const deadline = Date.now() + args.timeoutMs;
    const reachable = <T>(attempt: () => Promise<T>) =>
      this.reachable(
        attempt,
        args.components.map((c) => c.name),
        args.heartbeat,
      );
    // A restart already under way (asked by an attempt of this step whose worker died) finishes first.
    await reachable(() => this.untilIdle(deadline, args.heartbeat));
    const read = async () =>
      Promise.all(
        args.components.map(async (c) => {
          try {
            const live = await this.live(c, keys);
            return { c, live, problems: mismatches(live.env, args.expectEnv) };
          } catch (err) {
            if (err instanceof PermanentFault || unreachableCode(err) !== null) throw err;
            const why = err instanceof Error ? err.message : String(err);
            return { c, live: null, problems: [why] };
          }
        }),
      );
    const check = () => reachable(read);
    const before = await check();
    if (before.every((x) => x.problems.length === 0))
      return before.map(({ c, live }) => ({
        name: c.name,
        ready: true,
        detail: `pid ${live?.pid} (started ${live?.startedAt}) carries the env (no restart needed)`,
      }));
    args.heartbeat({ restarting: args.components.map((c) => c.name) });
    let restartError: string | null = null;
    try {
      await this.control(
        '/restart',
        args.components.map((c) => c.name),
        deadline,
        args.heartbeat,
      );
    } catch (err) {
      if (err instanceof PermanentFault || err instanceof ControllerUnreachable) throw err;
      // A restart that failed or ran out of time is the verdict for the gate, not a reason to restart
      // again. A supervisor that died under it is not: the check below tells dead from back again.
      if (unreachableCode(err) === null) restartError = err instanceof Error ? err.message : String(err);
    }
    const after = await check();
    return after.map(({ c, live, problems }) => {
      // The gate prefixes the component's name: each problem once, the restart's error not repeated.
      const own = problems.filter((p) => p !== restartError);
      return {
        name: c.name,
        ready: problems.length === 0 && restartError === null,
        detail:
          problems.length === 0 && restartError === null
            ? `restarted: pid ${live?.pid} (started ${live?.startedAt}) carries the env`
            : [restartError, own.length ? `${live ? `pid ${live.pid}: ` : ''}${own.join('; ')}` : null]
                .filter(Boolean)
                .join('; '),
      };
    });
  }

  /**
   * POSTs a control operation and waits for its answer; a 409 (another operation under way) is
   * waited out and asked again until the deadline. Heartbeats while the supervisor works.
   */
  private async control<T>(
    path: '/restart' | '/stop' | '/start',
    components: string[],
    deadline: number,
    heartbeat: Heartbeat,
  ): Promise<T> {
    const started = Date.now();
    const beat = setInterval(
      () => heartbeat({ waiting: `supervisor ${path.slice(1)}`, components, waitedMs: Date.now() - started }),
      5_000,
    );
    try {
      for (;;) {
        try {
          return await this.call<T>('POST', path, { components }, Math.max(1_000, deadline - Date.now()));
        } catch (err) {
          if (!(err instanceof SupervisorBusy) || Date.now() >= deadline) throw err;
          await this.untilIdle(deadline, heartbeat);
        }
      }
    } finally {
      clearInterval(beat);
    }
  }

  /**
   * Stops the components (their whole process trees; the supervisor answers once they are gone).
   * Components stopped already are reported as such. Default timeout 3 min.
   */
  async stop(args: {
    components: string[];
    heartbeat?: Heartbeat;
    timeoutMs?: number;
  }): Promise<ComponentTransition[]> {
    const heartbeat = args.heartbeat ?? noBeat;
    const deadline = Date.now() + (args.timeoutMs ?? 180_000);
    heartbeat({ stopping: args.components });
    const res = await this.reachable(
      async () => {
        await this.untilIdle(deadline, heartbeat);
        return this.control<{ stopped: ComponentTransition[] }>(
          '/stop',
          args.components,
          deadline,
          heartbeat,
        );
      },
      args.components,
      heartbeat,
    );
    return res.stopped;
  }

  /**
   * Starts the components from the env file as it is now (its AIRFLOW_VERSION names the Airflow)
   * and waits until they are healthy; those running already are left alone. A version that is not
   * installed, or one that would run next to components on another version, is a PermanentFault.
   * Default timeout 10 min (four components importing Airflow on two cores).
   */
  async start(args: {
    components: string[];
    heartbeat?: Heartbeat;
    timeoutMs?: number;
  }): Promise<ComponentTransition[]> {
    const heartbeat = args.heartbeat ?? noBeat;
    const deadline = Date.now() + (args.timeoutMs ?? 600_000);
    heartbeat({ starting: args.components });
    const res = await this.reachable(
      async () => {
        await this.untilIdle(deadline, heartbeat);
        return this.control<{ started: ComponentTransition[] }>(
          '/start',
          args.components,
          deadline,
          heartbeat,
        );
      },
      args.components,
      heartbeat,
    );
    return res.started;
  }
}
