/** `cutover status ID`: where a cut-over stands, what it found, and what it waits for. */
import { approvalRequestLines } from '../../domain/engine/approval-request.js';
import type { RunStatus } from '../../domain/engine/run.js';
import type { CliContext } from '../context.js';
import { command, keyValues, table } from '../format.js';
import { loadRun, type RunView } from '../run-status.js';

/** The approval request and the exact commands to answer it (the Web UI shows the same lines). */
export function pendingApprovalLines(status: RunStatus): string[] {
  const a = status.pendingApproval;
  return a ? approvalRequestLines(status.workflowId, a) : [];
}

/** What is left when the kill-switch itself failed, and the two answers an operator can give. */
export function needsOperatorLines(status: RunStatus): string[] {
  const comp = status.compensation;
  if (status.phase !== 'NEEDS_OPERATOR' || !comp) return [];
  return [
    'needs an operator:',
    ...keyValues([
      ['trigger', `${comp.trigger.phase}: ${comp.trigger.error}`],
      [
        'failed step',
        comp.failed ? `${comp.failed.step} (attempt ${comp.failed.attempt}): ${comp.failed.error}` : null,
      ],
      ['done', comp.completed.join(', ') || 'nothing'],
      ['left to do', comp.remaining.join(', ') || 'nothing'],
    ]),
    '  to retry the compensation from the failed step:',
    `    ${command('cutover', 'retry-compensation', status.workflowId, '--operator', '<name>', '--reason', '"<why>"')}`,
    '  to take over by hand (the run ends OPERATOR_TOOK_OVER):',
    `    ${command('cutover', 'acknowledge', status.workflowId, '--operator', '<name>', '--reason', '"<why>"')}`,
  ];
}

export function statusLines(view: RunView, uiLink: string | null): string[] {
  const { execution: ex, status: s } = view;
  const lines = [`cut-over ${ex.workflowId} (run ${ex.runId}, ${ex.status})`];
  if (!s) {
    return [
      ...lines,
      ...keyValues([
        ['phase', ex.phase ? `${ex.phase} (from search attributes)` : 'unknown'],
        ['outcome', ex.outcome],
        ['problem', view.problem],
        ['Web UI', uiLink],
      ]),
    ];
  }
  lines.push(
    ...keyValues([
      ['plan', `${s.planName} (digest ${s.planDigest})`],
      ['target', s.target],
      ['started by', `${s.startedBy} at ${ex.startTime}`],
      ['phase', s.phase],
      // A finished run's details repeat its outcome, printed just below.
      ['details', s.outcome && s.details.startsWith(`${s.outcome}: `) ? null : s.details],
      ['outcome', s.outcome ? `${s.outcome}${view.result ? `: ${view.result.reason}` : ''}` : null],
      ['production', view.result ? (view.result.productionChanged ? 'CHANGED' : 'unchanged') : null],
      ['closed', ex.closeTime],
      ['note', view.problem],
      ['Web UI', uiLink],
    ]),
  );
  if (s.steps.length > 0) {
    lines.push(
      '',
      'steps:',
      ...table(
        ['PHASE', 'STEP', 'STATUS', 'SUMMARY'],
        s.steps.map((st) => [st.phase, st.step, st.status, st.summary]),
        '  ',
      ),
    );
  }
  const pending = pendingApprovalLines(s);
  if (pending.length > 0) lines.push('', ...pending);
  const needs = needsOperatorLines(s);
  if (needs.length > 0) lines.push('', ...needs);
  if (s.refusals.length > 0) {
    lines.push(
      '',
      'refused messages:',
      ...s.refusals.map((r) => `  - ${r.message} from ${r.operator || '?'} via ${r.via}: ${r.why}`),
    );
  }
  return lines;
}

export async function runStatus(ctx: CliContext, id: string, opts: { json?: boolean }): Promise<void> {
  const client = await ctx.client();
  const view = await loadRun(client, id);
  const uiLink = ctx.uiLink(view.execution.workflowId, view.execution.runId);
  if (opts.json) {
    ctx.json({
      ...(view.status ?? {}),
      execution: view.execution,
      result: view.result
        ? {
            outcome: view.result.outcome,
            reason: view.result.reason,
            productionChanged: view.result.productionChanged,
          }
        : null,
      problem: view.problem,
      uiLink,
    });
    return;
  }
  ctx.out(...statusLines(view, uiLink));
}
