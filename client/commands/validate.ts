/** `cutover validate FILE` and `cutover schema`: the plan file, checked and described, with no server. */
import type { Command } from 'commander';
import { z } from 'zod';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { planDigest } from '../../domain/plan-file.js';
import { loadPlanChecked } from '../plan-load.js';
import { targetKey } from '../../domain/plan-key.js';
import { KINDS, RUNBOOKS, runbookOf, workflowIdShown } from '../../domain/runbooks.js';
import { CliError, EXIT } from '../exit-codes.js';
import type { CliContext } from '../context.js';
import { keyValues } from '../format.js';

/** The JSON Schema editors use for one kind's plan files (what a person writes: defaults are optional). */
export function planJsonSchema(kind: string): Record<string, unknown> {
  const runbook = runbookOf(kind);
  if (!runbook) throw new CliError(EXIT.BAD_INPUT, `unknown kind ${kind}: use one of ${KINDS.join(', ')}`);
  return {
    ...z.toJSONSchema(runbook.planSchema, { io: 'input' }),
    title: `cutover plan (apiVersion cutover/v1, kind ${kind}): ${runbook.title}`,
  };
}

/** Where `npm run schema` writes a kind's schema. */
export const schemaFileName = (kind: string): string => `${kind}.schema.json`;

export function registerValidate(program: Command, ctx: CliContext): void {
  program
    .command('validate')
    .description('check a plan file and print its digest and workflow id (no server needed)')
    .argument('<file>', 'plan file (YAML)')
    .option('--json', 'print {file, workflowId, target, planDigest, plan} as JSON')
    .action(async (file: string, opts: { json?: boolean }) => {
      const { plan, notices } = await loadPlanChecked(file);
      const digest = planDigest(plan);
      for (const notice of notices) ctx.note(`${file}: notice: ${notice}`);
      if (opts.json) {
        ctx.json({
          file,
          kind: plan.kind,
          workflowId: workflowIdShown(plan),
          target: targetKey(plan),
          planDigest: digest,
          plan,
        });
        return;
      }
      ctx.out(
        `${file}: valid plan ${plan.name}`,
        ...keyValues([
          ['runbook', `${plan.kind}: ${runbookOf(plan.kind)?.title ?? ''}`],
          ['workflow id', workflowIdShown(plan)],
          ['target', targetKey(plan)],
          ['digest', digest],
        ]),
      );
    });

  program
    .command('schema')
    .description(
      'print the JSON Schema of one kind of plan file (for editors); --out DIR writes one file per kind (npm run schema)',
    )
    .option('--kind <kind>', `the plan kind (${KINDS.join(', ')})`, KINDS[0])
    .option('--out <dir>', 'write <dir>/<kind>.schema.json for every kind instead')
    .action(async (opts: { kind: string; out?: string }) => {
      if (!opts.out) {
        ctx.json(planJsonSchema(opts.kind));
        return;
      }
      await mkdir(opts.out, { recursive: true });
      for (const { kind } of RUNBOOKS) {
        const file = path.join(opts.out, schemaFileName(kind));
        await writeFile(file, `${JSON.stringify(planJsonSchema(kind), null, 2)}\n`);
        ctx.out(`wrote ${file}`);
      }
    });
}
