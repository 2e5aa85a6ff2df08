/** `cutover report ID`: the run's evidence as a dossier: Markdown, one self-contained HTML page, or JSON. */
import { mkdir, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Option, type Command } from 'commander';
import type { CliContext } from '../context.js';
import { buildDossier, renderDossier, type DossierFormat } from '../dossier.js';
import { CliError, EXIT } from '../exit-codes.js';
import { loadRun } from '../run-status.js';

const EXTENSION: Record<DossierFormat, string> = { markdown: 'md', html: 'html', json: 'json' };

/** `--out` names a directory when it ends in a slash or already is one. */
async function isDirectory(out: string): Promise<boolean> {
  if (out.endsWith('/') || out.endsWith(path.sep)) return true;
  try {
    return (await stat(out)).isDirectory();
  } catch {
    return false;
  }
}

export function registerReport(program: Command, ctx: CliContext): void {
  program
    .command('report')
    .description(
      'the evidence of a run as a dossier (calibration, preflight, change, rehearsal, decision, deploy...)',
    )
    .argument('<id>', 'workflow id')
    .option(
      '--out <path>',
      'write to this file, or into this directory as dossier.md|html|json (Markdown: with its plots as SVG files beside it)',
    )
    .addOption(
      new Option(
        '--format <format>',
        'markdown (the dossier), html (one self-contained page with plots, printable) or json (status, evidence and RCA figures)',
      )
        .choices(['markdown', 'html', 'json'])
        .default('markdown'),
    )
    .action(async (id: string, opts: { out?: string; format: DossierFormat }) => {
      const client = await ctx.client();
      const view = await loadRun(client, id);
      if (!view.status) {
        throw new CliError(
          EXIT.UNREACHABLE,
          `no evidence available for ${id}: ${view.problem ?? view.execution.status}`,
        );
      }
      if (!opts.out) {
        ctx.io.stdout.write(renderDossier(view.status, opts.format));
        return;
      }
      const intoDir = await isDirectory(opts.out);
      const file = intoDir ? path.join(opts.out, `dossier.${EXTENSION[opts.format]}`) : opts.out;
      const built = intoDir && opts.format === 'markdown' ? buildDossier(view.status) : undefined;
      const plots = built?.plots ?? [];
      const text = renderDossier(view.status, opts.format, plots.length > 0, built);
      try {
        if (intoDir) await mkdir(opts.out, { recursive: true });
        await writeFile(file, text);
        for (const plot of plots) await writeFile(path.join(path.dirname(file), plot.file), `${plot.svg}\n`);
      } catch (err) {
        throw new CliError(
          EXIT.BAD_INPUT,
          `cannot write ${opts.out}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`,
        );
      }
      ctx.out(
        `wrote ${file} (${text.split('\n').length - 1} lines)` +
          (plots.length > 0 ? ` and ${plots.map((p) => p.file).join(', ')} beside it` : ''),
      );
    });
}
