/** `cutover validate FILE` and `cutover schema`: the plan file, checked and described, with no server. */
import type { Command } from 'commander';
import { z } from 'zod';
import { loadPlan, planDigest } from '../../domain/plan-file.js';
import { targetKey, workflowIdFor } from '../../domain/plan-key.js';
import { planSchema } from '../../domain/plan.js';
import type { CliContext } from '../context.js';
import { keyValues } from '../format.js';

/** The JSON Schema editors use for plan files (what a person writes: defaults are optional). */
export function planJsonSchema(): Record<string, unknown> {
  return {
    ...z.toJSONSchema(planSchema, { io: 'input' }),
    title: 'cutover plan (apiVersion cutover/v1, kind XComBackendCutover)',
  };
}

export function registerValidate(program: Command, ctx: CliContext): void {
  program
    .command('validate')
    .description('check a plan file and print its digest and workflow id (no server needed)')
    .argument('<file>', 'plan file (YAML)')
    .option('--json', 'print {file, workflowId, target, planDigest, plan} as JSON')
    .action(async (file: string, opts: { json?: boolean }) => {
      const plan = await loadPlan(file);
      const digest = planDigest(plan);
      if (opts.json) {
        ctx.json({
          file,
          workflowId: workflowIdFor(plan),
          target: targetKey(plan),
          planDigest: digest,
          plan,
        });
        return;
      }
      ctx.out(
        `${file}: valid plan ${plan.name}`,
        ...keyValues([
          ['workflow id', workflowIdFor(plan)],
          ['target', targetKey(plan)],
          ['digest', digest],
        ]),
      );
    });

  program
    .command('schema')
    .description(
      'print the JSON Schema of plan files (for editors; npm run schema writes schema/plan.schema.json)',
    )
    .action(() => {
      ctx.json(planJsonSchema());
    });
}
