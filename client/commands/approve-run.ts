/**
 * `cutover approve|reject ID`: the operator's go or no-go, sent as an update so
 * the answer (accepted, or refused and why) comes back at once. When the run's plan
 * lists approval.allowedSigners the decision is signed for this very run (its run id,
 * the digest, the operator and the reason) with the operator's SSH key.
 */
import type { Decision } from '../../domain/engine/evidence.js';
import { requiresSignatures } from '../../domain/engine/allowed-signers.js';
import { decisionMessage } from '../../domain/engine/signed-message.js';
import { approveUpdate, rejectUpdate } from '../../workflows/engine/messages.js';
import type { CliContext } from '../context.js';
import { CliError, EXIT } from '../exit-codes.js';
import { runStart } from '../history-messages.js';
import { executionInfo, queryStatus } from '../run-status.js';
import { signFor } from '../signing.js';
import { sendUpdate } from '../updates.js';

export interface DecisionOptions {
  operator: string;
  reason: string;
  digest?: string;
  key?: string;
}

const UPDATES = { approve: approveUpdate, reject: rejectUpdate } as const;

export async function runDecision(
  ctx: CliContext,
  kind: { name: 'approve' | 'reject'; verb: string },
  id: string,
  opts: DecisionOptions,
): Promise<void> {
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
  ctx.out(await sendUpdate(client, handle, UPDATES[kind.name], decision));
}
