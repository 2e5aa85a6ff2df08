/** `cutover report ID`: the run's evidence as a Markdown dossier. */
import { writeFile } from 'node:fs/promises';
import type { Command } from 'commander';
import type { CliContext } from '../context.js';
import { CliError, EXIT } from '../exit-codes.js';
import { renderReport } from '../report.js';
import { loadRun } from '../run-status.js';

export function registerReport(program: Command, ctx: CliContext): void {
  program
    .command('report')
    .description(
      'the evidence of a cut-over as Markdown (calibration, preflight, change, rehearsal, decision, deploy...)',
    )
    .argument('<id>', 'workflow id')
    .option('--out <file>', 'write the Markdown to this file instead of stdout')
    .action(async (id: string, opts: { out?: string }) => {
      const client = await ctx.client();
      const view = await loadRun(client, id);
      if (!view.status) {
        throw new CliError(
          EXIT.UNREACHABLE,
          `no evidence available for ${id}: ${view.problem ?? view.execution.status}`,
        );
      }
      const markdown = renderReport(view.status);
      if (!opts.out) {
        ctx.io.stdout.write(markdown);
        return;
      }
      try {
        await writeFile(opts.out, markdown);
      } catch (err) {
        throw new CliError(
          EXIT.BAD_INPUT,
          `cannot write ${opts.out}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`,
        );
      }
      ctx.out(`wrote ${opts.out} (${markdown.split('\n').length - 1} lines)`);
    });
}
