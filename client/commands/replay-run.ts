/**
 * `cutover replay ID | --file HISTORY.json`: replay a run's history with the
 * current workflow code (is the code still deterministic for it?) and print
 * the decision timeline, for RCA.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { defaultPayloadConverter } from '@temporalio/common';
import { DefaultLogger, ReplayError, Runtime, Worker } from '@temporalio/worker';
import { DeterminismViolationError } from '@temporalio/workflow';
import type { CutoverInput } from '../../domain/cutover.js';
import { workflowIdFor } from '../../domain/plan-key.js';
import { workflowCode } from '../../domain/workflow-bundle.js';
import { messageOf, type CliContext } from '../context.js';
import { CliError, EXIT } from '../exit-codes.js';
import { readInputFile } from '../input-file.js';
import { historyFromJson, historyToJson, type History } from '../history-json.js';
import { formatTimeline, timeline } from '../timeline.js';

export interface ReplayOptions {
  file?: string;
  runId?: string;
  export?: string;
  bundle?: string;
  json?: boolean;
}

/** The plan the run was started with, from its start event (the bundle's plan.yaml). */
function inputOf(history: History): CutoverInput | undefined {
  const payload = history.events?.[0]?.workflowExecutionStartedEventAttributes?.input?.payloads?.[0];
  if (!payload) return undefined;
  try {
    return defaultPayloadConverter.fromPayload<CutoverInput>(payload);
  } catch {
    return undefined;
  }
}

/**
 * An incident bundle: the history, the plan it ran, and how to replay it, in one folder that can be
 * attached to a ticket and replayed on any machine with this repository (`cutover replay --file`).
 * Nothing secret is in it: plans name env vars, never values, and history holds no secret.
 */
async function writeBundle(dir: string, history: History, workflowId: string): Promise<string[]> {
  const input = inputOf(history);
  // yaml only for a bundle: a plain replay does without loading it.
  const { stringify } = await import('yaml');
  const files: [string, string][] = [
    ['history.json', `${historyToJson(history)}\n`],
    ...(input?.plan ? ([['plan.yaml', stringify(input.plan)]] as [string, string][]) : []),
    [
      'README.md',
      [
        `# Replay bundle: ${workflowId}`,
        '',
        `Exported with \`cutover replay --bundle\` (${history.events?.length ?? 0} events${input?.planDigest ? `, plan digest ${input.planDigest}` : ''}).`,
        '',
        'Replay it with the workflow code of a checkout of the cutover repository:',
        '',
        '    npx cutover replay --file history.json',
        '',
        '`plan.yaml` is the plan the run was started with (names of env vars only, never their values).',
        '',
      ].join('\n'),
    ],
  ];
  try {
    await mkdir(dir, { recursive: true });
    for (const [name, text] of files) await writeFile(path.join(dir, name), text);
  } catch (err) {
    throw new CliError(
      EXIT.BAD_INPUT,
      `cannot write the bundle in ${dir}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`,
    );
  }
  return files.map(([name]) => path.join(dir, name));
}

async function readHistoryFile(file: string): Promise<History> {
  const text = await readInputFile(file);
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new CliError(EXIT.BAD_INPUT, `${file} is not JSON: ${messageOf(err)}`);
  }
  try {
    return historyFromJson(json);
  } catch (err) {
    throw new CliError(
      EXIT.BAD_INPUT,
      `${file} is not a Temporal history (expected the JSON of temporal workflow show --output json): ${messageOf(err)}`,
    );
  }
}

/** Histories do not carry the workflow id; the plan in the start event gives it back. */
function workflowIdOf(history: History): string | undefined {
  const input = inputOf(history);
  return input?.plan ? workflowIdFor(input.plan) : undefined;
}

/** The replay worker logs through the SDK runtime; keep the terminal to warnings and worse. */
function quietRuntime(): void {
  try {
    Runtime.install({
      logger: new DefaultLogger('ERROR'),
      // Core reports the nondeterminism it finds as a WARN; the verdict below says it once, clearly.
      telemetryOptions: { logging: { filter: { core: 'ERROR', other: 'ERROR' }, forward: {} } },
    });
  } catch {
    // Already installed (a test, or a second replay in one process): keep it.
  }
}

export interface ReplayVerdict {
  deterministic: boolean;
  /** The SDK's full message. */
  error: string | null;
  /** Core's own sentence ("[TMPRL1100] Nondeterminism error: ...") and the event it points at, when found. */
  reason: string | null;
  eventId: number | null;
}

/** Core's message inside the SDK's wrapper, which repeats it in a Rust debug dump. */
function coreMessage(full: string): string {
  const m = /message: "((?:[^"\\]|\\.)*)"/.exec(full);
  return m?.[1] ? m[1].replace(/\\"/g, '"') : full;
}

/** The history event a nondeterminism message points at: by id, or the only activity of the named type. */
export function divergingEvent(history: History, message: string): number | null {
  const byId = /HistoryEvent\(id: (\d+)/.exec(message);
  if (byId?.[1]) return Number(byId[1]);
  const byType = /scheduled event '([^']+)'/.exec(message);
  if (!byType) return null;
  const matches = (history.events ?? []).filter(
    (e) => e.activityTaskScheduledEventAttributes?.activityType?.name === byType[1],
  );
  return matches.length === 1 && matches[0] ? Number(String(matches[0].eventId)) : null;
}

export async function replayHistory(
  history: History,
  workflowId: string,
  note?: (line: string) => void,
): Promise<ReplayVerdict> {
  quietRuntime();
  try {
    await Worker.runReplayHistory(
      { ...workflowCode(note), replayName: 'cutover-replay' },
      history,
      workflowId,
    );
    return { deterministic: true, error: null, reason: null, eventId: null };
  } catch (err) {
    if (err instanceof DeterminismViolationError || err instanceof ReplayError) {
      const error = messageOf(err);
      const reason = coreMessage(error);
      return { deterministic: false, error, reason, eventId: divergingEvent(history, reason) };
    }
    throw err;
  }
}

export async function runReplay(ctx: CliContext, id: string | undefined, opts: ReplayOptions): Promise<void> {
  if ((id === undefined) === (opts.file === undefined)) {
    throw new CliError(EXIT.BAD_INPUT, 'give a workflow id or --file HISTORY.json (one of the two)');
  }
  let history: History;
  if (opts.file !== undefined) history = await readHistoryFile(opts.file);
  else {
    const client = await ctx.client();
    history = await client.workflow
      .getHandle(id as string, opts.runId)
      .fetchHistory()
      .catch((err: unknown) => {
        // fetchHistory reports a missing run as the bare gRPC NOT_FOUND status.
        if ((err as { code?: unknown }).code === 5) {
          throw new CliError(
            EXIT.NOT_FOUND,
            `no run with workflow id ${String(id)}${opts.runId ? ` and run id ${opts.runId}` : ''}`,
          );
        }
        throw err;
      });
  }
  const events = history.events?.length ?? 0;
  if (events === 0) throw new CliError(EXIT.BAD_INPUT, 'the history has no events');
  if (opts.export) {
    await writeFile(opts.export, `${historyToJson(history)}\n`).catch((err: NodeJS.ErrnoException) => {
      throw new CliError(EXIT.BAD_INPUT, `cannot write ${opts.export}: ${err.code ?? String(err)}`);
    });
  }
  const workflowId = id ?? workflowIdOf(history) ?? 'replayed-history';
  const bundled = opts.bundle ? await writeBundle(opts.bundle, history, workflowId) : [];
  const verdict = await replayHistory(history, workflowId, (line) => ctx.note(line));
  const entries = timeline(history);
  ctx.exitCode = verdict.deterministic ? EXIT.OK : EXIT.NEGATIVE;

  if (opts.json) {
    ctx.json({ workflowId, events, ...verdict, timeline: entries });
    return;
  }
  const source = opts.file ?? `${workflowId}${opts.runId ? ` run ${opts.runId}` : ''}`;
  ctx.out(
    verdict.deterministic
      ? `replay of ${source} (${events} events): deterministic with the current workflow code`
      : `replay of ${source} (${events} events): NONDETERMINISTIC${verdict.eventId ? ` at event #${verdict.eventId}` : ''}: ${verdict.reason}`,
  );
  if (opts.export) ctx.out(`history written to ${opts.export}`);
  if (bundled.length > 0) ctx.out(`bundle written: ${bundled.join(', ')}`);
  ctx.out(
    '',
    'decision timeline (updates refused by a validator leave no event in the history):',
    ...formatTimeline(entries).map((l) => `  ${l}`),
  );
}
