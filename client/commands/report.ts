/** `cutover report ID`: the run's evidence as a Markdown dossier. */
import { writeFile } from 'node:fs/promises';
import { Option, type Command } from 'commander';
import type { CliContext } from '../context.js';
import { CliError, EXIT } from '../exit-codes.js';
import { rcaFigures, renderReport } from '../report.js';
import { loadRun } from '../run-status.js';

export function registerReport(program: Command, ctx: CliContext): void {
  program
    .command('report')
    .description(
      'the evidence of a cut-over as Markdown (calibration, preflight, change, rehearsal, decision, deploy...)',
    )
    .argument('<id>', 'workflow id')
    .option('--out <file>', 'write the dossier to this file instead of stdout')
    .addOption(
      new Option('--format <format>', 'markdown (the dossier) or json (status, evidence and RCA figures)')
        .choices(['markdown', 'json'])
        .default('markdown'),
    )
    .action(async (id: string, opts: { out?: string; format: 'markdown' | 'json' }) => {
      const client = await ctx.client();
      const view = await loadRun(client, id);
      if (!view.status) {
        throw new CliError(
          EXIT.UNREACHABLE,
          `no evidence available for ${id}: ${view.problem ?? view.execution.status}`,
        );
      }
      const markdown =
        opts.format === 'json'
          ? `${JSON.stringify({ ...view.status, rca: rcaFigures(view.status) }, null, 2)}\n`
          : renderReport(view.status);
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
