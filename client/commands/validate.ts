/** `cutover validate FILE` and `cutover schema`: the plan file, checked and described, with no server. */
import type { Command } from 'commander';
import { RUNBOOK_KINDS as KINDS } from '../../domain/runbook-names.js';
import type { CliContext } from '../context.js';

export function registerValidate(program: Command, ctx: CliContext): void {
  program
    .command('validate')
    .description('check a plan file and print its digest and workflow id (no server needed)')
    .argument('<file>', 'plan file (YAML)')
    .option('--json', 'print {file, workflowId, target, planDigest, plan} as JSON')
    .action(async (file: string, opts: { json?: boolean }) =>
      (await import('./validate-run.js')).runValidate(ctx, file, opts),
    );

  program
    .command('schema')
    .description(
      'print the JSON Schema of one kind of plan file (for editors); --out DIR writes one file per kind (npm run schema)',
    )
    .option('--kind <kind>', `the plan kind (${KINDS.join(', ')})`, KINDS[0])
    .option('--out <dir>', 'write <dir>/<kind>.schema.json for every kind instead')
    .action(async (opts: { kind: string; out?: string }) =>
      (await import('./validate-run.js')).runSchema(ctx, opts),
    );
}
