/**
 * `cutover assess --plan FILE`: the deployment health assessment, read-only. Starts the plan's
 * DeploymentAssessment run under `cutover-assess/<target>/<plan>/<random>` (never "the cut-over"
 * of the target: it neither blocks nor waits for one), follows it, prints the verdict, the
 * component table and the findings. Exit 0 for OPERATIONAL, 1 for DEGRADED or DOWN.
 */
import type { Command } from 'commander';
import type { CliContext } from '../context.js';
import type { AssessOptions } from './assess-run.js';

export function registerAssess(program: Command, ctx: CliContext): void {
  program
    .command('assess')
    .description('assess a deployment read-only (kind DeploymentAssessment): verdict, components, findings')
    .requiredOption('--plan <file>', 'a DeploymentAssessment plan (YAML); checked before anything starts')
    .option(
      '--out <file>',
      'also write the assessment document to this file: Markdown, or one self-contained HTML page when it ends in .html',
    )
    .option('--json', 'print the result record {outcome, reason, status}')
    .option('--operator <name>', 'who asks (default: $CUTOVER_OPERATOR, then $USER)')
    .option('--timeout <duration>', 'give up after this long and cancel the assessment (exit 1)', '10m')
    .option(
      '--every <duration>',
      'assess on a Temporal Schedule (one now, then every DURATION); a message only when the verdict or the findings change',
    )
    .option('--unschedule', "delete the plan's assessment Schedule")
    .action(async (opts: AssessOptions) => (await import('./assess-run.js')).runAssess(ctx, opts));
}
