/** `cutover report ID`: the run's evidence as a dossier: Markdown, one self-contained HTML page, or JSON. */
import { Option, type Command } from 'commander';
import type { CliContext } from '../context.js';
import type { DossierFormat } from '../dossier.js';

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
    .option(
      '--verify',
      're-check every SSH signature of the run (start, decisions) from its history with ssh-keygen, print each check, exit 1 if one the run relied on fails',
    )
    .option(
      '--allowed-signers <file>',
      "with --verify: check against this allowed_signers file instead of the plan's approval.allowedSigners",
    )
    .action(
      async (
        id: string,
        opts: { out?: string; format: DossierFormat; verify?: boolean; allowedSigners?: string },
      ) => (await import('./report-run.js')).runReport(ctx, id, opts),
    );
}
