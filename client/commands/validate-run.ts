/** The actions of `cutover validate FILE` and `cutover schema` (registered in validate.ts). */
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

export async function runValidate(ctx: CliContext, file: string, opts: { json?: boolean }): Promise<void> {
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
}

export async function runSchema(ctx: CliContext, opts: { kind: string; out?: string }): Promise<void> {
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
}
