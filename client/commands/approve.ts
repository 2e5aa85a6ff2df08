/**
 * `cutover approve|reject ID`: the operator's go or no-go, sent as an update so
 * the answer (accepted, or refused and why) comes back at once.
 */
import type { Command } from 'commander';
import type { Decision } from '../../domain/evidence.js';
import { approveUpdate, rejectUpdate } from '../../workflows/engine/messages.js';
import type { CliContext } from '../context.js';
import { CliError, EXIT } from '../exit-codes.js';
import { executionInfo, queryStatus } from '../run-status.js';
import { sendUpdate } from '../updates.js';

interface DecisionOptions {
  operator: string;
  reason: string;
  digest?: string;
}

const KINDS = [
  {
    name: 'approve',
    verb: 'approving',
    update: approveUpdate,
    help: 'say go: APPLY starts once the workflow accepts it',
  },
  {
    name: 'reject',
    verb: 'rejecting',
    update: rejectUpdate,
    help: 'say no-go: the run ends REJECTED, nothing changed',
  },
] as const;

export function registerApprove(program: Command, ctx: CliContext): void {
  for (const kind of KINDS) {
    program
      .command(kind.name)
      .description(`${kind.help} (refused unless the run waits in AWAIT_GO and the digest matches)`)
      .argument('<id>', 'workflow id (cutover/<target>/<plan>)')
      .requiredOption('--operator <name>', 'who decides (must be one of the plan approvers to approve)')
      .requiredOption('--reason <text>', 'why, in words; recorded in the evidence')
      .option(
        '--digest <digest>',
        'digest of the plan you reviewed (default: the one pending approval, printed)',
      )
      .action(async (id: string, opts: DecisionOptions) => {
        const client = await ctx.client();
        const handle = client.workflow.getHandle(id);
        let digest = opts.digest;
        if (!digest) {
          const execution = executionInfo(await handle.describe());
          if (execution.status !== 'RUNNING') {
            throw new CliError(
              EXIT.REFUSED,
              `no approval is pending: the run has ended (${execution.outcome ?? execution.status})`,
            );
          }
          const status = await queryStatus(client, handle, execution.taskQueue);
          if (!status.pendingApproval)
            throw new CliError(EXIT.REFUSED, `no approval is pending (phase ${status.phase})`);
          digest = status.pendingApproval.planDigest;
          ctx.out(`${kind.verb} digest ${digest} (the plan under review)`);
        }
        const decision: Decision = { operator: opts.operator, reason: opts.reason, digest };
        ctx.out(await sendUpdate(client, handle, kind.update, decision));
      });
  }
}
