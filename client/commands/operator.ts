/**
 * `cutover retry-compensation|acknowledge ID`: what an operator answers when a
 * run waits in NEEDS_OPERATOR because the kill-switch itself failed.
 */
import type { Command } from 'commander';
import type { OperatorAction } from '../../workflows/engine/messages.js';
import type { CliContext } from '../context.js';

const ACTIONS = [
  {
    name: 'retry-compensation',
    update: 'retryCompensationUpdate',
    help: 'retry the compensation from the step that failed (only in NEEDS_OPERATOR)',
  },
  {
    name: 'acknowledge',
    update: 'acknowledgeUpdate',
    help: 'take over by hand: the run ends OPERATOR_TOOK_OVER, the remaining steps are yours (only in NEEDS_OPERATOR)',
  },
] as const;

export function registerOperatorActions(program: Command, ctx: CliContext): void {
  for (const action of ACTIONS) {
    program
      .command(action.name)
      .description(action.help)
      .argument('<id>', 'workflow id')
      .requiredOption('--operator <name>', 'who acts (an approver or the operator who started the run)')
      .requiredOption('--reason <text>', 'why, in words; recorded in the evidence')
      .action(async (id: string, opts: OperatorAction) => {
        // The update definitions and the client are loaded when an action runs, not for --help.
        const messages = await import('../../workflows/engine/messages.js');
        const { sendUpdate } = await import('../updates.js');
        const client = await ctx.client();
        const handle = client.workflow.getHandle(id);
        ctx.out(
          await sendUpdate(client, handle, messages[action.update], {
            operator: opts.operator,
            reason: opts.reason,
          }),
        );
      });
  }
}
