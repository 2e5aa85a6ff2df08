/**
 * What the Temporal Web UI shows at the top of a run's page, set once when the run starts: a
 * one-line summary (runbook, what changes, target) and Markdown details (plan digest, approvers and
 * deadline, the plan file, how to answer from the CLI, how to write the dossier). Every way of
 * starting a run (start, plan, assess, a schedule) takes its texts from here.
 */
import { durationMs } from '../domain/duration.js';
import { formatDuration } from '../domain/figures.js';
import { runbookOf, type LoadablePlan } from '../domain/runbooks.js';
import { targetKey } from '../domain/plan-key.js';
import { command } from '../domain/text.js';

export type RunMode = 'run' | 'dry-run' | 'scheduled';

export interface RunTextsInput {
  plan: LoadablePlan;
  planDigest: string;
  startedBy: string;
  /** The plan file as the operator named it. */
  planFile: string;
  /** The run's id; a schedule's runs get theirs from the server, shown as `<id>`. */
  workflowId: string;
  mode: RunMode;
  /** A drill's injected fault, said out loud. */
  inject?: string;
}

export interface RunTexts {
  staticSummary: string;
  staticDetails: string;
}

/** The Web UI shows the summary on one line; past this it is cut, so keep the target visible. */
const SUMMARY_MAX = 200;

export function runTexts(input: RunTextsInput): RunTexts {
  const { plan, planDigest, startedBy, planFile, mode } = input;
  const runbook = runbookOf(plan.kind);
  const target = targetKey(plan);
  const changes = runbook?.changes(plan) ?? plan.kind;
  const prefix = mode === 'dry-run' ? 'Dry run: ' : mode === 'scheduled' ? 'Scheduled: ' : '';
  const onTarget = ` on ${target}`;
  let summary = `${prefix}${changes}`;
  if (summary.length + onTarget.length > SUMMARY_MAX)
    summary = `${summary.slice(0, SUMMARY_MAX - onTarget.length - 1)}…`;

  const id = mode === 'scheduled' ? '<id>' : input.workflowId;
  const lines: string[] = [
    `**${runbook?.title ?? plan.kind}**`,
    '',
    `- Plan: **${plan.name}** from \`${planFile}\``,
    `- Plan digest: \`${planDigest}\``,
    `- Target: ${target}`,
    `- ${mode === 'scheduled' ? 'Schedule set up' : 'Started'} by: **${startedBy}**`,
  ];
  if (input.inject) lines.push(`- Drill: the fault \`${input.inject}\` is injected after the go`);
  if (runbook?.readOnly) {
    lines.push('- Read-only: reads the deployment, changes nothing; no approval.');
  } else if (mode === 'dry-run') {
    lines.push('- Dry run: gathers the evidence and ends PLANNED; it never reaches a change.');
  } else if ('approval' in plan) {
    const a = plan.approval;
    const self = a.allowSelfApproval ? 'self-approval allowed' : 'self-approval not allowed';
    lines.push(
      `- Approvers: ${a.approvers.join(', ')} (${self})`,
      `- Deadline: ${formatDuration(durationMs(a.timeout))} after the evidence is complete (AWAIT_GO), then the run ends TIMED_OUT with nothing changed`,
      '',
      'To approve once it waits at AWAIT_GO (or reject with `reject`):',
      '',
      '```',
      command(
        'cutover',
        'approve',
        id,
        '--operator',
        '<name>',
        '--reason',
        '"<why>"',
        '--digest',
        planDigest,
      ),
      '```',
    );
  }
  lines.push(
    '',
    'The dossier (Markdown, or one self-contained HTML page):',
    '',
    '```',
    command('cutover', 'report', id, '--out', 'dossier.md'),
    command('cutover', 'report', id, '--format', 'html', '--out', 'dossier.html'),
    '```',
  );
  return { staticSummary: `${summary}${onTarget}`, staticDetails: lines.join('\n') };
}
