/** `cutover status ID`: where a cut-over stands, what it found, and what it waits for. */
import type { Command } from 'commander';
import type { CliContext } from '../context.js';

export function registerStatus(program: Command, ctx: CliContext): void {
  program
    .command('status')
    .description('phase, steps, pending approval and refusals of a cut-over (running or finished)')
    .argument('<id>', 'workflow id')
    .option('--json', 'print the status record (the status query, or the final status of a finished run)')
    .action(async (id: string, opts: { json?: boolean }) =>
      (await import('./status-run.js')).runStatus(ctx, id, opts),
    );
}
