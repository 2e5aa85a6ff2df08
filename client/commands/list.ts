/** `cutover list`: runs of every runbook from Temporal visibility, filtered by runbook, target and phase. */
import { InvalidArgumentError, Option, type Command } from 'commander';
import { PHASES } from '../../domain/cutover.js';
import { RUNBOOK_KINDS as KINDS } from '../../domain/runbook-names.js';
import type { CliContext } from '../context.js';
import type { ListOptions } from './list-run.js';

function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('must be a positive whole number');
  return n;
}

export function registerList(program: Command, ctx: CliContext): void {
  program
    .command('list')
    .description('list cut-overs (running ones unless --all), newest first')
    .option(
      '--json',
      'print an array of {workflowId, runId, runbook, status, phase, outcome, target, plan, approver, startTime, closeTime}',
    )
    .option('--all', 'include finished runs')
    .option('--target <key>', 'only this target (the key in the workflow id, e.g. k8s-prod-airflow-airflow)')
    .addOption(new Option('--phase <phase>', 'only runs in this phase').choices(PHASES))
    .addOption(new Option('--runbook <kind>', 'only runs of this runbook (plan kind)').choices(KINDS))
    .option('--limit <n>', 'at most this many rows', positiveInt, 50)
    .action(async (opts: ListOptions) => (await import('./list-run.js')).runList(ctx, opts));
}
