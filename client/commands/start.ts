/**
 * `cutover start --plan FILE`: validate the plan, refuse a second cut-over of
 * the same target, start the workflow, and tell the operator what to run next.
 */
import { Option, type Command } from 'commander';
import { FAULT_INJECTION_NAMES } from '../../domain/runbook-names.js';
import type { CliContext } from '../context.js';
import { SAMPLE_OPTION_HELP } from '../sample-option.js';
import type { StartOptions } from './start-run.js';

export function registerStart(program: Command, ctx: CliContext): void {
  program
    .command('start')
    .description('start a cut-over from a plan file (it runs up to AWAIT_GO and waits for an approval)')
    .requiredOption('--plan <file>', 'plan file (YAML); checked before anything starts')
    .addOption(
      new Option('--id', 'print only the workflow id (for ID=$(cutover start --plan p.yaml --id))').conflicts(
        'json',
      ),
    )
    .option('--wait', 'wait until the run finishes; exit 0 only for DONE or PLANNED')
    .option('--operator <name>', 'who starts the run (default: $CUTOVER_OPERATOR, then $USER)')
    .option(
      '--key <file>',
      "SSH key that signs the start when the plan lists approval.allowedSigners (a private key, or its .pub with the key in ssh-agent; default: the agent's key listed for the operator)",
    )
    .option('--json', 'print {workflowId, runId, planDigest, uiLink} (and outcome, reason with --wait)')
    .option('--sample <pct>', SAMPLE_OPTION_HELP)
    .addOption(
      new Option(
        '--break <fault>',
        'drill: inject a fault after the go (env-encoding: deploy the AIRFLOW__COMMON.IO__ spelling, so VERIFY fails and the change is reverted)',
      ).choices(FAULT_INJECTION_NAMES),
    )
    .action(async (opts: StartOptions) => (await import('./start-run.js')).runStartCommand(ctx, opts));
}
