/**
 * `cutover plan FILE`: the dry run. Validates the plan, runs the workflow with
 * `dryRun: true` (CALIBRATE, PREFLIGHT, RENDER + diff, REHEARSE; never AWAIT_GO
 * or APPLY), waits for it and prints the evidence. Exit 0 for PLANNED, 1 otherwise.
 *
 * A dry run has its own workflow id, `cutover-plan/<target>/<plan>/<random>`: it never
 * collides with `cutover/<target>/<plan>`, and `start`'s one-cut-over-per-target
 * check leaves it out (client/visibility.ts), so a dry run neither blocks nor is
 * blocked by a real cut-over.
 */
import type { Command } from 'commander';
import type { CliContext } from '../context.js';
import { SAMPLE_OPTION_HELP } from '../sample-option.js';
import type { PlanOptions } from './plan-run.js';

export function registerPlan(program: Command, ctx: CliContext): void {
  program
    .command('plan')
    .description(
      'dry run: calibrate, preflight, render + diff and rehearse a plan, print the evidence, change nothing',
    )
    .argument('<file>', 'plan file (YAML); checked before anything starts')
    .option('--json', 'print the result record {outcome, reason, productionChanged, status}')
    .option('--no-rehearsal', 'skip the kill-switch rehearsal (it writes and deletes one sentinel object)')
    .option('--operator <name>', 'who runs the dry run (default: $CUTOVER_OPERATOR, then $USER)')
    .option('--timeout <duration>', 'give up after this long and cancel the dry run (exit 1)', '30m')
    .option('--sample <pct>', SAMPLE_OPTION_HELP)
    .action(async (file: string, opts: PlanOptions) =>
      (await import('./plan-run.js')).runPlan(ctx, file, opts),
    );
}
