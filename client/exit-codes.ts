/**
 * Exit codes of the `cutover` CLI, and the error that carries one. Scripts rely
 * on these numbers: change them only with the help text and the README.
 */
export const EXIT = {
  /** The operation succeeded (a run that finished DONE or PLANNED, an accepted approval...). */
  OK: 0,
  /** The operation ran but the answer is negative: replay nondeterministic, run ended other than DONE. */
  NEGATIVE: 1,
  /** Bad input: invalid plan, unknown flag, missing argument or option value. */
  BAD_INPUT: 2,
  /** Refused by the workflow or by the one-cut-over-per-target rule. */
  REFUSED: 3,
  /** No such workflow (or namespace). */
  NOT_FOUND: 4,
  /** Temporal cannot be reached, is not set up for cut-overs, or no worker answers. */
  UNREACHABLE: 5,
  /** A bug or an answer the CLI does not understand; the message says what happened. */
  INTERNAL: 70,
} as const;

export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

export const EXIT_CODES_HELP = `Exit codes:
  0   ok (with --wait / watch: the run finished DONE or PLANNED, or waits for a human)
  1   the operation ran but the answer is negative (replay nondeterministic, run ended not DONE)
  2   bad input (invalid plan, unknown flag, missing argument)
  3   refused (approval rejected by the workflow's validator, a cut-over already runs on the target)
  4   not found (no such workflow)
  5   cannot reach Temporal (or it lacks the cut-over search attributes, or no worker answered)
  70  internal error (a bug: the message says what happened)`;

/** An error the CLI reports as one line (`cutover: <message>`), plus optional indented detail lines. */
export class CliError extends Error {
  constructor(
    readonly exitCode: ExitCode,
    message: string,
    readonly detail: string[] = [],
  ) {
    super(message);
    this.name = 'CliError';
  }
}
