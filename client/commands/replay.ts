/**
 * `cutover replay ID | --file HISTORY.json`: replay a run's history with the
 * current workflow code (is the code still deterministic for it?) and print
 * the decision timeline, for RCA.
 */
import type { Command } from 'commander';
import type { CliContext } from '../context.js';
import type { ReplayOptions } from './replay-run.js';

export function registerReplay(program: Command, ctx: CliContext): void {
  program
    .command('replay')
    .description(
      'replay a run with the current workflow code (exit 1 if nondeterministic) and print its decision timeline',
    )
    .argument('[id]', 'workflow id (the history is downloaded from Temporal)')
    .option(
      '--file <history.json>',
      'replay a history file instead (temporal workflow show --output json, or --export)',
    )
    .option('--run-id <runId>', 'a specific run of the workflow id (default: the latest)')
    .option('--export <file>', 'also write the history JSON to this file')
    .option(
      '--bundle <dir>',
      'also write an incident bundle there: history.json, plan.yaml and a README on how to replay it',
    )
    .option('--json', 'print {workflowId, events, deterministic, error, timeline} as JSON')
    .action(async (id: string | undefined, opts: ReplayOptions) =>
      (await import('./replay-run.js')).runReplay(ctx, id, opts),
    );
}
