/**
 * `cutover watch ID`: live, phase-by-phase progress until the run finishes or
 * stops to wait for a person (then it says who and prints the command to run).
 */
import type { Command } from 'commander';
import type { CliContext } from '../context.js';

export function registerWatch(program: Command, ctx: CliContext): void {
  program
    .command('watch')
    .description('follow a cut-over live; returns when it finishes or waits for an approval or an operator')
    .argument('<id>', 'workflow id')
    .option('--timeout <duration>', 'give up after this long (e.g. 30m); exit 1')
    .action(async (id: string, opts: { timeout?: string }) =>
      (await import('./watch-run.js')).runWatch(ctx, id, opts),
    );
}
