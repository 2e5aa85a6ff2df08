/**
 * What every command needs: where to write, the environment it reads its
 * settings from, one lazily opened Temporal client, and the translation of SDK
 * errors into the CLI's exit codes.
 */
import type * as TemporalClientSdk from '@temporalio/client';
import type { Client } from '@temporalio/client';
import { durationMs } from '../domain/duration.js';
import { PlanError } from '../domain/plan-error.js';
import { temporalSettings, workflowUiLink, type TemporalSettings } from '../adapters/temporal-connection.js';
import { CliError, EXIT } from './exit-codes.js';

export interface CliIo {
  stdout: { write(chunk: string): unknown };
  stderr: { write(chunk: string): unknown };
  env: NodeJS.ProcessEnv;
}

/** How long `cutover` waits for the Temporal frontend before giving up (CUTOVER_CONNECT_TIMEOUT overrides). */
export const DEFAULT_CONNECT_TIMEOUT = '5s';

/**
 * The Temporal client SDK, loaded by the first connection: commands that never connect (help,
 * validate, replay --file) do without its ~0.2 s of start-up. An SDK error cannot exist before it is
 * loaded, so classify() and grpcCode() need it only once it is here.
 */
let sdk: typeof TemporalClientSdk | null = null;

/** The client SDK, loaded on first use. */
export async function temporalClientSdk(): Promise<typeof TemporalClientSdk> {
  sdk ??= await import('@temporalio/client');
  return sdk;
}

/** The search attributes the dev server must know, named in the error when it does not. */
let searchAttributeNames = 'CutoverPhase, CutoverTarget, ...';

/** gRPC status codes the CLI tells apart. */
const GRPC_INVALID_ARGUMENT = 3;
const GRPC_DEADLINE_EXCEEDED = 4;
const GRPC_NOT_FOUND = 5;
const GRPC_UNAVAILABLE = 14;

export class CliContext {
  private clientPromise: Promise<Client> | null = null;
  private cachedSettings: TemporalSettings | null = null;
  /** What `main` returns when the command finishes without throwing. */
  exitCode: number = EXIT.OK;

  constructor(readonly io: CliIo) {}

  /** Writes lines to stdout (a trailing newline is added). */
  out(...lines: string[]): void {
    for (const line of lines) this.io.stdout.write(`${line}\n`);
  }

  json(value: unknown): void {
    this.out(JSON.stringify(value, null, 2));
  }

  /** A one-line note on stderr, for progress that must not pollute data on stdout. */
  note(line: string): void {
    this.io.stderr.write(`${line}\n`);
  }

  get settings(): TemporalSettings {
    if (this.cachedSettings === null) {
      try {
        this.cachedSettings = temporalSettings(this.io.env);
      } catch (err) {
        throw new CliError(EXIT.BAD_INPUT, `cannot read the Temporal connection settings: ${messageOf(err)}`);
      }
    }
    return this.cachedSettings;
  }

  get operatorFromEnv(): string | undefined {
    const name = this.io.env.CUTOVER_OPERATOR || this.io.env.USER || this.io.env.LOGNAME;
    return name && name.trim() !== '' ? name.trim() : undefined;
  }

  uiLink(workflowId: string, runId?: string): string | null {
    return workflowUiLink(this.settings, workflowId, runId);
  }

  /** The Temporal client, connected on first use; a server that does not answer in time is exit 5. */
  client(): Promise<Client> {
    this.clientPromise ??= this.connect();
    return this.clientPromise;
  }

  private async connect(): Promise<Client> {
    const settings = this.settings;
    const timeout = this.io.env.CUTOVER_CONNECT_TIMEOUT || DEFAULT_CONNECT_TIMEOUT;
    let timeoutMs: number;
    try {
      timeoutMs = durationMs(timeout);
    } catch {
      throw new CliError(EXIT.BAD_INPUT, `CUTOVER_CONNECT_TIMEOUT=${timeout} is not a duration like 5s`);
    }
    const { Client, Connection } = await temporalClientSdk();
    const { SEARCH_ATTRIBUTES } = await import('../workflows/engine/search-attributes.js');
    searchAttributeNames = SEARCH_ATTRIBUTES.map((k) => k.name).join(', ');
    try {
      // Same options as connectClient (adapters/temporal-connection.ts), plus a bound on how long to wait for the server.
      const connection = await Connection.connect({
        ...settings.connectConfig.connectionOptions,
        connectTimeout: timeoutMs,
      });
      return new Client({ connection, namespace: settings.namespace });
    } catch (err) {
      throw new CliError(
        EXIT.UNREACHABLE,
        `cannot reach Temporal at ${settings.address}: ${messageOf(err)} (waited ${timeout}; set TEMPORAL_ADDRESS, or start a dev server with npm run server)`,
      );
    }
  }

  async close(): Promise<void> {
    const pending = this.clientPromise;
    this.clientPromise = null;
    if (!pending) return;
    const client = await pending.catch(() => null);
    await client?.connection.close().catch(() => undefined);
  }

  /** Translates any error into the CLI's one-line message and exit code. */
  classify(err: unknown): CliError {
    if (err instanceof CliError) return err;
    if (err instanceof PlanError) {
      return new CliError(
        EXIT.BAD_INPUT,
        `${err.file}: invalid plan (${err.problems.length} problem${err.problems.length === 1 ? '' : 's'})`,
        err.problems.map((p) => `- ${p}`),
      );
    }
    if (sdk === null) return new CliError(EXIT.INTERNAL, messageOf(err));
    const { NamespaceNotFoundError, WorkflowNotFoundError, WorkflowUpdateFailedError } = sdk;
    if (err instanceof WorkflowNotFoundError) {
      return new CliError(
        EXIT.NOT_FOUND,
        `no cut-over with workflow id ${err.workflowId || '(unknown)'} in namespace ${this.cachedSettings?.namespace ?? 'default'}`,
      );
    }
    if (err instanceof NamespaceNotFoundError) {
      return new CliError(
        EXIT.NOT_FOUND,
        `namespace ${err.namespace} does not exist at ${this.cachedSettings?.address ?? 'the server'}`,
      );
    }
    if (err instanceof WorkflowUpdateFailedError) {
      return new CliError(EXIT.REFUSED, `refused: ${messageOf(err.cause ?? err)}`);
    }
    const code = grpcCode(err);
    if (code === GRPC_UNAVAILABLE) {
      return new CliError(
        EXIT.UNREACHABLE,
        `cannot reach Temporal at ${this.cachedSettings?.address ?? '?'}: ${messageOf(err)}`,
      );
    }
    // Some calls (fetchHistory, say) surface a missing workflow as the bare gRPC status, not as WorkflowNotFoundError.
    if (code === GRPC_NOT_FOUND) {
      return new CliError(
        EXIT.NOT_FOUND,
        `not found in namespace ${this.cachedSettings?.namespace ?? 'default'}: ${messageOf(err)}`,
      );
    }
    if (code === GRPC_INVALID_ARGUMENT && /search attribute/i.test(messageOf(err))) {
      const names = searchAttributeNames;
      return new CliError(
        EXIT.UNREACHABLE,
        `Temporal at ${this.cachedSettings?.address ?? '?'} is not set up for cut-overs (${messageOf(err)}): ` +
          `register the Keyword search attributes ${names} (temporal operator search-attribute create), or use npm run server`,
      );
    }
    if (code === GRPC_DEADLINE_EXCEEDED) {
      return new CliError(EXIT.UNREACHABLE, `Temporal did not answer in time: ${messageOf(err)}`);
    }
    return new CliError(EXIT.INTERNAL, messageOf(err));
  }
}

/** The gRPC status code of an SDK error, looking through ServiceError causes. */
export function grpcCode(err: unknown): number | undefined {
  let e: unknown = err;
  for (let depth = 0; depth < 4 && e; depth += 1) {
    if (sdk?.isGrpcServiceError(e)) return e.code;
    e = (e as { cause?: unknown }).cause;
  }
  return undefined;
}

/** One line: the message of an error and of its causes, without repetition. */
export function messageOf(err: unknown): string {
  const parts: string[] = [];
  let e: unknown = err;
  for (let depth = 0; depth < 5 && e; depth += 1) {
    const msg = e instanceof Error ? e.message : String(e);
    const clean = msg.replace(/\s+/g, ' ').trim();
    if (clean && !parts.some((p) => p.includes(clean))) parts.push(clean);
    e = e instanceof Error ? (e as Error & { cause?: unknown }).cause : undefined;
  }
  return parts.join(': ') || 'unknown error';
}
