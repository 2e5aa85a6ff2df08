/**
 * `cutover approve|reject ID`: the operator's go or no-go, sent as an update so
 * the answer (accepted, or refused and why) comes back at once. When the run's plan
 * lists approval.allowedSigners the decision is signed for this very run (its run id,
 * the digest, the operator and the reason) with the operator's SSH key.
 */
import type { Command } from 'commander';
import { requiresSignatures } from '../../domain/engine/allowed-signers.js';
import type { Decision } from '../../domain/engine/evidence.js';
import { decisionMessage } from '../../domain/engine/signed-message.js';
import { approveUpdate, rejectUpdate } from '../../workflows/engine/messages.js';
import type { CliContext } from '../context.js';
import { CliError, EXIT } from '../exit-codes.js';
import { runStart } from '../history-messages.js';
import { executionInfo, queryStatus } from '../run-status.js';
import { signFor } from '../signing.js';
import { sendUpdate } from '../updates.js';

interface DecisionOptions {
  operator: string;
  reason: string;
  digest?: string;
  key?: string;
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
      .option(
        '--key <file>',
        "SSH key that signs the decision when the plan lists approval.allowedSigners (a private key, or its .pub with the key in ssh-agent; default: the agent's key listed for --operator)",
      )
      .action(async (id: string, opts: DecisionOptions) => {
        const client = await ctx.client();
        const latest = client.workflow.getHandle(id);
        const execution = executionInfo(await latest.describe());
        // The decision goes to the run it is meant for (and, signed, names): a later run of the
        // same workflow id never receives it.
        const handle = client.workflow.getHandle(id, execution.runId, { followRuns: false });
        let digest = opts.digest;
        if (!digest) {
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
        const first = await client.workflowService.getWorkflowExecutionHistory({
          namespace: client.options.namespace,
          execution: { workflowId: id, runId: execution.runId },
          maximumPageSize: 1,
        });
        const start = first.history ? runStart(first.history) : null;
        const plan = start?.input?.plan;
        const signers = plan && 'approval' in plan ? plan.approval?.allowedSigners : undefined;
        if (start && requiresSignatures(signers)) {
          decision.signature = await signFor({
            signers: signers ?? [],
            principal: opts.operator,
            message: decisionMessage({ action: kind.name, workflowId: id, runId: start.runId, decision }),
            keyFile: opts.key,
            env: ctx.io.env,
            what: `the ${kind.name === 'approve' ? 'approval' : 'rejection'}`,
          });
        } else if (opts.key) {
          ctx.note(
            `--key ignored: the plan of ${id} lists no approval.allowedSigners, so nothing checks a signature`,
          );
        }
        ctx.out(await sendUpdate(client, handle, kind.update, decision));
      });
  }
}
