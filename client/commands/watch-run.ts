/**
 * `cutover watch ID`: live, phase-by-phase progress until the run finishes or
 * stops to wait for a person (then it says who and prints the command to run).
 */
import { WorkflowFailedError, type WorkflowHandle } from '@temporalio/client';
import type { RunResult, RunStatus, StepRecord } from '../../domain/engine/run.js';
import { durationMs } from '../../domain/duration.js';
import { messageOf, type CliContext } from '../context.js';
import { CliError, EXIT } from '../exit-codes.js';
import { clock } from '../format.js';
import type { History } from '../history-json.js';
import { timeline } from '../timeline.js';
import { followRun, type Settled } from '../follow.js';
import { executionInfo, queryStatus } from '../run-status.js';
import { GOOD_OUTCOMES } from './start-run.js';
import { needsOperatorLines, pendingApprovalLines } from './status-run.js';

const POLL_MS = 1000;

const MARK: Record<StepRecord['status'], string> = { running: '[..]', ok: '[ok]', failed: '[FAILED]' };

/** When each phase was entered, in order, as the run's history tells it (the phase search attribute). */
export type PhaseEntries = readonly { phase: string; at: string }[];

export function phaseEntries(history: History): PhaseEntries {
  return timeline(history)
    .filter((e) => e.kind === 'phase')
    .map((e) => ({ phase: /^phase ([^;\s]+)/.exec(e.text)?.[1] ?? '', at: e.time }))
    .filter((e) => e.phase !== '');
}

/**
 * Prints only what changed since the last status it saw. What the first status holds is the past
 * (a watch attached late, or a finished run): each line carries the time of its event (the step's
 * own times, else when its phase was entered or left, from history), not the time it is printed.
 * Later lines are news within one poll, stamped now.
 */
export class ProgressPrinter {
  private phase = '';
  private details = '';
  /** The phase whose header was printed last: steps are told under their own phase. */
  private header = '';
  private readonly steps: string[] = [];
  private past = true;

  constructor(
    private readonly write: (line: string) => void,
    private readonly entries: PhaseEntries = [],
    private readonly now: () => Date = () => new Date(),
  ) {}

  update(s: RunStatus): void {
    const stamp = (iso: string | undefined): string => {
      const t = this.past && iso !== undefined ? Date.parse(iso) : NaN;
      return clock(Number.isNaN(t) ? this.now() : new Date(t));
    };
    const phaseLine = (phase: string, details: string | null) => {
      this.header = phase;
      this.write(`${stamp(this.entered(phase))} ${phase.padEnd(14)} ${details ?? ''}`.trimEnd());
      if (details !== null) {
        this.phase = phase;
        this.details = details;
      }
    };
    s.steps.forEach((st, i) => {
      const key = `${st.status}|${st.summary}`;
      if (this.steps[i] === key) return;
      this.steps[i] = key;
      // A phase passed between two polls still gets its header (its details are gone by now).
      if (st.phase !== this.header) phaseLine(st.phase, st.phase === s.phase ? s.details : null);
      const at =
        st.status === 'ok'
          ? (st.finishedAt ?? st.startedAt)
          : st.status === 'failed'
            ? (st.finishedAt ?? this.left(st.phase) ?? this.entered(st.phase))
            : (st.startedAt ?? this.entered(st.phase));
      this.write(`${stamp(at)}   ${MARK[st.status]} ${st.step}${st.summary ? `: ${st.summary}` : ''}`);
    });
    if (s.phase !== this.phase || s.details !== this.details) phaseLine(s.phase, s.details);
    this.past = false;
  }

  /** When the run last entered this phase. */
  private entered(phase: string): string | undefined {
    return this.entries[this.lastEntry(phase)]?.at;
  }

  /** When the run moved on from this phase (a failed step ends its phase at once). */
  private left(phase: string): string | undefined {
    const i = this.lastEntry(phase);
    return i >= 0 ? this.entries[i + 1]?.at : undefined;
  }

  private lastEntry(phase: string): number {
    for (let i = this.entries.length - 1; i >= 0; i--) if (this.entries[i]?.phase === phase) return i;
    return -1;
  }
}

/** The run cannot move on until a person answers. */
export function waitsForHuman(s: RunStatus): boolean {
  return (
    (s.phase === 'AWAIT_GO' && s.pendingApproval !== null && s.decision === null) ||
    s.phase === 'NEEDS_OPERATOR'
  );
}

export async function runWatch(ctx: CliContext, id: string, opts: { timeout?: string }): Promise<void> {
  let timeoutMs = Infinity;
  if (opts.timeout !== undefined) {
    try {
      timeoutMs = durationMs(/^\d+$/.test(opts.timeout) ? Number(opts.timeout) : opts.timeout);
    } catch {
      throw new CliError(EXIT.BAD_INPUT, `--timeout ${opts.timeout} is not a duration like 90s, 15m or 2h`);
    }
  }
  const deadline = Date.now() + timeoutMs;
  const client = await ctx.client();
  const execution = executionInfo(await client.workflow.getHandle(id).describe());
  const handle = client.workflow.getHandle(id, execution.runId, { followRuns: false });
  ctx.out(
    `watching ${id} (run ${execution.runId})`,
    `  Web UI: ${ctx.uiLink(id, execution.runId) ?? '(set CUTOVER_UI_URL)'}`,
  );

  // The past this watch prints at once is stamped from history; it is read once, at attach.
  const entries = phaseEntries(await handle.fetchHistory());
  const progress = new ProgressPrinter((line) => ctx.out(line), entries);
  let last: RunStatus | null = null;
  let workerMissing = false;
  let waiting = false;
  // A closed run needs no polling: its result is already there.
  const end =
    execution.status !== 'RUNNING'
      ? await settle(handle)
      : await followRun(handle, {
          pollMs: POLL_MS,
          deadline,
          async poll() {
            try {
              last = await queryStatus(client, handle, execution.taskQueue, 5_000);
              workerMissing = false;
              progress.update(last);
              if (waitsForHuman(last)) {
                const lines =
                  last.phase === 'NEEDS_OPERATOR' ? needsOperatorLines(last) : pendingApprovalLines(last);
                ctx.out('', `${last.phase}: the run waits for a person.`, ...lines);
                waiting = true;
                return 'stop';
              }
            } catch (err) {
              const e = ctx.classify(err);
              // A worker restarting is not a reason to stop watching; anything else is.
              if (e.exitCode !== EXIT.UNREACHABLE) throw e;
              if (!workerMissing) ctx.note(`cutover: ${e.message} (still watching)`);
              workerMissing = true;
            }
          },
        });
  if (waiting) return;
  if (end === null) {
    throw new CliError(
      EXIT.NEGATIVE,
      `gave up after ${opts.timeout}: the run is still in ${(last as RunStatus | null)?.phase ?? 'an unknown phase'}`,
    );
  }
  if ('error' in end) {
    const why =
      end.error instanceof WorkflowFailedError ? messageOf(end.error) : ctx.classify(end.error).message;
    ctx.out(`${clock()} the run ended without an outcome: ${why}`);
    ctx.exitCode = EXIT.NEGATIVE;
    return;
  }
  progress.update(end.result.status);
  ctx.out(`outcome: ${end.result.outcome}: ${end.result.reason}`);
  ctx.exitCode = GOOD_OUTCOMES.includes(end.result.outcome) ? EXIT.OK : EXIT.NEGATIVE;
}

/** A closed run's result, as followRun would have settled it. */
function settle(handle: WorkflowHandle): Promise<Settled> {
  return handle.result().then(
    (result: RunResult) => ({ result }),
    (error: unknown) => ({ error }),
  );
}
