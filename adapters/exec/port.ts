/**
 * The exec port: run one command "inside" an Airflow component and get its exit
 * code and output back. Implementations: a local subprocess (LocalExecPort) and,
 * later, a Kubernetes pod exec. The probes only need this much.
 */
import type { Component } from '../../domain/plan.js';

export interface ExecResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

export interface ExecArgs {
  component: Component;
  /** argv; the first element is the program. */
  command: string[];
  /** Written to the process's stdin, which is then closed (closed at once when absent). */
  stdin?: string;
  timeoutMs: number;
}

export interface ExecPort {
  /** Resolves with the exit status (non-zero included); rejects with ExecError when no status can be had. */
  exec(args: ExecArgs): Promise<ExecResult>;
}

export type ExecErrorKind =
  /** The command ran past its timeout and was killed. */
  | 'timeout'
  /** The program (or, for pods, the pod/container) does not exist. */
  | 'not-found'
  /** The process could not be started for another reason. */
  | 'spawn-failed'
  /** The stream ended without an exit status (connection dropped, pod went away). */
  | 'closed-without-status'
  /** The process wrote more output than the port is willing to hold. */
  | 'output-too-large'
  /** The transport itself failed (API server unreachable, WebSocket refused, ...). */
  | 'transport';

const HINTS: Record<ExecErrorKind, string> = {
  timeout: 'timed out',
  'not-found': 'not found',
  'spawn-failed': 'could not start',
  'closed-without-status': 'ended without an exit status',
  'output-too-large': 'wrote too much output',
  transport: 'transport failed',
};

/** Why an exec produced no exit status. `stderrTail` holds the last of what it wrote, if anything. */
export class ExecError extends Error {
  readonly kind: ExecErrorKind;
  readonly component: string;
  readonly command: string[];
  readonly stderrTail: string;

  constructor(
    kind: ExecErrorKind,
    args: { component: string; command: string[]; detail?: string; stderrTail?: string; cause?: unknown },
  ) {
    const program = args.command.slice(0, 2).join(' ') || '(empty command)';
    const tail = args.stderrTail?.trim();
    super(
      `exec in ${args.component} ${HINTS[kind]}: ${program}${args.detail ? ` (${args.detail})` : ''}` +
        (tail ? `; stderr ends with: ${tail}` : ''),
      args.cause === undefined ? undefined : { cause: args.cause },
    );
    this.name = 'ExecError';
    this.kind = kind;
    this.component = args.component;
    this.command = args.command;
    this.stderrTail = args.stderrTail ?? '';
  }
}

/** The last `max` characters of a text, cut at a line start when one is near. */
export function tail(text: string, max = 2000): string {
  if (text.length <= max) return text;
  const cut = text.slice(-max);
  const nl = cut.indexOf('\n');
  return nl >= 0 && nl < 200 ? cut.slice(nl + 1) : cut;
}
