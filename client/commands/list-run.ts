/** `cutover list`: runs of every runbook from Temporal visibility, filtered by runbook, target and phase. */
import { APPROVER, OUTCOME, PHASE, PLAN, TARGET } from '../../workflows/engine/search-attributes.js';
import type { CliContext } from '../context.js';
import { table } from '../format.js';
import { kindOfWorkflowType, listQuery } from '../visibility.js';

export interface ListOptions {
  json?: boolean;
  all?: boolean;
  target?: string;
  phase?: string;
  runbook?: string;
  limit: number;
}

export interface ListedCutover {
  workflowId: string;
  runId: string;
  /** The plan kind (from the workflow type). */
  runbook: string | null;
  status: string;
  phase: string | null;
  outcome: string | null;
  target: string | null;
  plan: string | null;
  approver: string | null;
  startTime: string;
  closeTime: string | null;
}

export async function runList(ctx: CliContext, opts: ListOptions): Promise<void> {
  const client = await ctx.client();
  const query = listQuery(opts);
  const rows: ListedCutover[] = [];
  for await (const info of client.workflow.list({ query, pageSize: Math.min(opts.limit, 100) })) {
    const sa = info.typedSearchAttributes;
    rows.push({
      workflowId: info.workflowId,
      runId: info.runId,
      runbook: kindOfWorkflowType(info.type),
      status: info.status.name,
      phase: sa.get(PHASE) ?? null,
      outcome: sa.get(OUTCOME) ?? null,
      target: sa.get(TARGET) ?? null,
      plan: sa.get(PLAN) ?? null,
      approver: sa.get(APPROVER) ?? null,
      startTime: info.startTime.toISOString(),
      closeTime: info.closeTime ? info.closeTime.toISOString() : null,
    });
    if (rows.length >= opts.limit) break;
  }
  if (opts.json) {
    ctx.json(rows);
    return;
  }
  if (rows.length === 0) {
    ctx.out(opts.all ? 'no cut-overs found' : 'no cut-overs running (--all includes finished ones)');
    return;
  }
  ctx.out(
    ...table(
      ['WORKFLOW ID', 'RUNBOOK', 'STATUS', 'PHASE', 'OUTCOME', 'TARGET', 'PLAN', 'APPROVER', 'STARTED'],
      rows.map((r) => [
        r.workflowId,
        r.runbook,
        r.status,
        r.phase,
        r.outcome,
        r.target,
        r.plan,
        r.approver,
        r.startTime,
      ]),
    ),
  );
}
