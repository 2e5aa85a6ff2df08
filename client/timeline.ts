/**
 * The decision timeline of one run, read from its Temporal history: what the
 * workflow decided and when, in words, for RCA. Pure: history in, lines out.
 *
 * Refusals of an update by its validator never reach the history (Temporal
 * drops rejected updates); refused signals do, and their verdict comes from the
 * run's status (`refusals`), taken from the completion result when the run has
 * one or passed in by the caller.
 */
import { defaultPayloadConverter } from '@temporalio/common';
import protos from '@temporalio/proto';
import type { temporal } from '@temporalio/proto';
import type { CutoverInput, CutoverResult, CutoverStatus } from '../domain/cutover.js';
import type { GateVerdict, Refusal } from '../domain/evidence.js';
import { targetKey } from '../domain/plan-key.js';
import { formatDuration } from './format.js';

// @temporalio/proto is CommonJS: its namespaces come through the default import.
const enums = protos.temporal.api.enums.v1;

type History = temporal.api.history.v1.IHistory;
type HistoryEvent = temporal.api.history.v1.IHistoryEvent;
type Payload = temporal.api.common.v1.IPayload;
type Failure = temporal.api.failure.v1.IFailure;

export type TimelineKind =
  'workflow' | 'phase' | 'activity' | 'timer' | 'signal' | 'update' | 'task' | 'marker' | 'other';

export interface TimelineEntry {
  eventId: number;
  /** ISO 8601, from the event's own timestamp (server time). */
  time: string;
  kind: TimelineKind;
  text: string;
}

/** Long, number or string (protobuf JSON) to number. */
export function num(value: unknown): number {
  if (value === null || value === undefined) return 0;
  if (typeof value === 'number') return value;
  return Number(String(value));
}

export function isoTime(ts: { seconds?: unknown; nanos?: number | null } | null | undefined): string {
  if (!ts) return '';
  const ms = num(ts.seconds) * 1000 + Math.floor((ts.nanos ?? 0) / 1e6);
  return new Date(ms).toISOString();
}

function durationOf(d: { seconds?: unknown; nanos?: number | null } | null | undefined): string {
  if (!d) return '?';
  return formatDuration(num(d.seconds) * 1000 + Math.floor((d.nanos ?? 0) / 1e6));
}

function decode<T>(payload: Payload | null | undefined): T | undefined {
  if (!payload) return undefined;
  try {
    return defaultPayloadConverter.fromPayload<T>(payload);
  } catch {
    return undefined;
  }
}

export function firstArg<T>(payloads: { payloads?: Payload[] | null } | null | undefined): T | undefined {
  return decode<T>(payloads?.payloads?.[0]);
}

function enumName(names: Record<number, string>, value: number | null | undefined, prefix: string): string {
  const name = value === null || value === undefined ? undefined : names[value];
  return (name ?? String(value)).replace(prefix, '').toLowerCase().replace(/_/g, ' ');
}

/** The failure's own message, then its causes': what actually went wrong. */
function failureText(f: Failure | null | undefined): string {
  const parts: string[] = [];
  for (let cur = f, depth = 0; cur && depth < 5; cur = cur.cause, depth += 1) {
    // A plain Error says nothing its message does not; a named failure type does.
    const type = cur.applicationFailureInfo?.type;
    const msg = `${cur.message ?? ''}${type && type !== 'Error' ? ` [${type}]` : ''}`.trim();
    if (msg && !parts.includes(msg)) parts.push(msg);
  }
  return parts.join(': ') || 'no message';
}

const quote = (s: unknown): string => JSON.stringify(String(s ?? ''));

interface OperatorArg {
  operator?: unknown;
  reason?: unknown;
  digest?: unknown;
}

function operatorWords(arg: OperatorArg | undefined): string {
  if (!arg || typeof arg !== 'object') return 'with no readable argument';
  const parts = [`from ${String(arg.operator ?? '?')}`, `reason ${quote(arg.reason)}`];
  if (arg.digest !== undefined) parts.push(`digest ${String(arg.digest)}`);
  return parts.join(', ');
}

function gateWords(result: unknown): string {
  const gate = (result as { gate?: GateVerdict } | undefined)?.gate;
  if (gate && typeof gate.passed === 'boolean') {
    return gate.passed ? '; gate green' : `; gate RED: ${gate.reasons.join('; ') || 'no reason given'}`;
  }
  const ref = (result as { ref?: unknown } | undefined)?.ref;
  return typeof ref === 'string' ? `; ref ${ref}` : '';
}

function summaryOf(event: HistoryEvent): string | undefined {
  return decode<string>(event.userMetadata?.summary);
}

const attempts = (n: number): string => `${n} attempt${n === 1 ? '' : 's'}`;

/**
 * The run's history as decision lines. `status` supplies the verdict of
 * signals (refused or accepted); by default the status inside the completion
 * result is used, when the run completed.
 */
export function timeline(history: History, status?: CutoverStatus | null): TimelineEntry[] {
  const events = history.events ?? [];
  let known = status ?? null;
  if (!known) {
    for (const e of events) {
      const result = firstArg<CutoverResult>(e.workflowExecutionCompletedEventAttributes?.result);
      if (result?.status) known = result.status;
    }
  }
  const refusals: (Refusal | null)[] = (known?.refusals ?? []).filter((r) => r.via === 'signal');

  const activities = new Map<number, { type: string; attempt: number; lastFailure: Failure | null }>();
  const updates = new Map<string, { name: string; arg: OperatorArg | undefined }>();
  const timers = new Map<string, string>();
  let phase = '';
  const out: TimelineEntry[] = [];
  const add = (e: HistoryEvent, kind: TimelineKind, text: string) =>
    out.push({ eventId: num(e.eventId), time: isoTime(e.eventTime), kind, text });

  for (const e of events) {
    const started = e.workflowExecutionStartedEventAttributes;
    if (started) {
      const input = firstArg<CutoverInput>(started.input);
      const plan = input?.plan;
      const who = input?.startedBy ? `started by ${input.startedBy}` : 'started';
      const what = plan
        ? `: plan ${plan.name} (digest ${input.planDigest}, target ${targetKey(plan)})${input.dryRun ? ', dry run' : ''}`
        : '';
      add(
        e,
        'workflow',
        `workflow ${started.workflowType?.name ?? '?'} ${who}${what}; task queue ${started.taskQueue?.name ?? '?'}, client ${started.identity || '?'}`,
      );
      continue;
    }
    const upsert = e.upsertWorkflowSearchAttributesEventAttributes;
    if (upsert) {
      const fields = upsert.searchAttributes?.indexedFields ?? {};
      const words: string[] = [];
      let kind: TimelineKind = 'other';
      for (const [key, payload] of Object.entries(fields)) {
        const raw = decode<unknown>(payload);
        const value = Array.isArray(raw) ? raw.join(',') : String(raw);
        if (key === 'CutoverPhase') {
          phase = value;
          words.unshift(`phase ${value}`);
          kind = 'phase';
        } else if (key === 'CutoverOutcome') words.push(`outcome ${value} recorded`);
        else if (key === 'CutoverApprover') words.push(`approver ${value} recorded`);
        else words.push(`${key}=${value}`);
      }
      if (words.length > 0)
        add(e, kind, kind === 'phase' ? words.join('; ') : `search attributes: ${words.join(', ')}`);
      continue;
    }
    const scheduled = e.activityTaskScheduledEventAttributes;
    if (scheduled) {
      const type = scheduled.activityType?.name ?? '?';
      activities.set(num(e.eventId), { type, attempt: 1, lastFailure: null });
      const summary = summaryOf(e);
      add(e, 'activity', `activity ${type} scheduled${summary ? `: ${summary}` : ''}`);
      continue;
    }
    const actStarted = e.activityTaskStartedEventAttributes;
    if (actStarted) {
      const a = activities.get(num(actStarted.scheduledEventId));
      if (a) {
        a.attempt = actStarted.attempt ?? 1;
        a.lastFailure = actStarted.lastFailure ?? null;
      }
      continue;
    }
    const completed = e.activityTaskCompletedEventAttributes;
    if (completed) {
      const a = activities.get(num(completed.scheduledEventId));
      const retried =
        a && a.attempt > 1
          ? ` after ${attempts(a.attempt)}${a.lastFailure ? ` (last failure: ${failureText(a.lastFailure)})` : ''}`
          : ' (attempt 1)';
      add(
        e,
        'activity',
        `activity ${a?.type ?? '?'} completed${retried}${gateWords(firstArg(completed.result))}`,
      );
      continue;
    }
    const failed = e.activityTaskFailedEventAttributes;
    if (failed) {
      const a = activities.get(num(failed.scheduledEventId));
      add(
        e,
        'activity',
        `activity ${a?.type ?? '?'} FAILED after ${attempts(a?.attempt ?? 1)}: ${failureText(failed.failure)} (${enumName(enums.RetryState, failed.retryState, 'RETRY_STATE_')})`,
      );
      continue;
    }
    const timedOut = e.activityTaskTimedOutEventAttributes;
    if (timedOut) {
      const a = activities.get(num(timedOut.scheduledEventId));
      add(
        e,
        'activity',
        `activity ${a?.type ?? '?'} TIMED OUT after ${attempts(a?.attempt ?? 1)}: ${failureText(timedOut.failure)}`,
      );
      continue;
    }
    const actCancelled = e.activityTaskCanceledEventAttributes;
    if (actCancelled) {
      add(
        e,
        'activity',
        `activity ${activities.get(num(actCancelled.scheduledEventId))?.type ?? '?'} cancelled`,
      );
      continue;
    }
    const timer = e.timerStartedEventAttributes;
    if (timer) {
      // The workflow's only timer without a summary is the approval deadline of AWAIT_GO.
      const summary = summaryOf(e) ?? (phase === 'AWAIT_GO' ? 'approval deadline' : undefined);
      const id = timer.timerId ?? '?';
      timers.set(id, summary ?? `timer ${id}`);
      add(
        e,
        'timer',
        `timer ${id} started: fires in ${durationOf(timer.startToFireTimeout)}${summary ? ` (${summary})` : ''}`,
      );
      continue;
    }
    if (e.timerFiredEventAttributes) {
      const id = e.timerFiredEventAttributes.timerId ?? '?';
      add(e, 'timer', `timer ${id} fired (${timers.get(id) ?? 'deadline reached'})`);
      continue;
    }
    if (e.timerCanceledEventAttributes) {
      add(
        e,
        'timer',
        `timer ${e.timerCanceledEventAttributes.timerId ?? '?'} cancelled (the wait ended first)`,
      );
      continue;
    }
    const signal = e.workflowExecutionSignaledEventAttributes;
    if (signal) {
      const name = signal.signalName ?? '?';
      const arg = firstArg<OperatorArg>(signal.input);
      let verdict = known ? 'accepted' : 'verdict not known yet (see cutover status)';
      const i = refusals.findIndex(
        (r) => r !== null && r.message === name && r.operator === String(arg?.operator ?? ''),
      );
      const refusal = i >= 0 ? refusals[i] : null;
      if (refusal) {
        verdict = `REFUSED: ${refusal.why}`;
        refusals[i] = null;
      }
      add(e, 'signal', `signal ${name} ${operatorWords(arg)} (client ${signal.identity || '?'}): ${verdict}`);
      continue;
    }
    const accepted = e.workflowExecutionUpdateAcceptedEventAttributes;
    if (accepted) {
      const request = accepted.acceptedRequest;
      const name = request?.input?.name ?? '?';
      const arg = firstArg<OperatorArg>(request?.input?.args);
      updates.set(request?.meta?.updateId ?? accepted.protocolInstanceId ?? '', { name, arg });
      add(
        e,
        'update',
        `update ${name} ${operatorWords(arg)} passed validation (client ${request?.meta?.identity || '?'})`,
      );
      continue;
    }
    const updDone = e.workflowExecutionUpdateCompletedEventAttributes;
    if (updDone) {
      const u = updates.get(updDone.meta?.updateId ?? '');
      const who = u ? `${u.name} from ${String(u.arg?.operator ?? '?')}` : (updDone.meta?.updateId ?? '?');
      const outcome = updDone.outcome;
      const text = outcome?.failure
        ? `REFUSED: ${failureText(outcome.failure)}`
        : `accepted: ${String(firstArg<unknown>(outcome?.success) ?? 'ok')}`;
      add(e, 'update', `update ${who} ${text}`);
      continue;
    }
    const wftFailed = e.workflowTaskFailedEventAttributes;
    if (wftFailed) {
      add(
        e,
        'task',
        `workflow task FAILED (${enumName(enums.WorkflowTaskFailedCause, wftFailed.cause, 'WORKFLOW_TASK_FAILED_CAUSE_')}): ${failureText(wftFailed.failure)}`,
      );
      continue;
    }
    if (e.workflowTaskTimedOutEventAttributes) {
      add(e, 'task', 'workflow task timed out (the worker was slow or went away)');
      continue;
    }
    const marker = e.markerRecordedEventAttributes;
    if (marker) {
      add(e, 'marker', `marker ${marker.markerName ?? '?'} recorded`);
      continue;
    }
    const done = e.workflowExecutionCompletedEventAttributes;
    if (done) {
      const result = firstArg<CutoverResult>(done.result);
      add(
        e,
        'workflow',
        result?.outcome
          ? `workflow completed: ${result.outcome}: ${result.reason} (production ${result.productionChanged ? 'CHANGED' : 'unchanged'})`
          : 'workflow completed',
      );
      continue;
    }
    if (e.workflowExecutionFailedEventAttributes) {
      add(e, 'workflow', `workflow FAILED: ${failureText(e.workflowExecutionFailedEventAttributes.failure)}`);
      continue;
    }
    if (e.workflowExecutionTimedOutEventAttributes) {
      add(e, 'workflow', 'workflow TIMED OUT (execution timeout)');
      continue;
    }
    const terminated = e.workflowExecutionTerminatedEventAttributes;
    if (terminated) {
      add(
        e,
        'workflow',
        `workflow TERMINATED by ${terminated.identity || '?'}: ${terminated.reason || 'no reason given'}`,
      );
      continue;
    }
    const cancelReq = e.workflowExecutionCancelRequestedEventAttributes;
    if (cancelReq) {
      add(
        e,
        'workflow',
        `cancellation requested by ${cancelReq.identity || '?'}${cancelReq.cause ? `: ${cancelReq.cause}` : ''}`,
      );
      continue;
    }
    if (e.workflowExecutionCanceledEventAttributes) {
      add(e, 'workflow', 'workflow cancelled');
      continue;
    }
    if (e.workflowExecutionContinuedAsNewEventAttributes) {
      add(
        e,
        'workflow',
        `workflow continued as new (run ${e.workflowExecutionContinuedAsNewEventAttributes.newExecutionRunId ?? '?'})`,
      );
    }
    // Workflow task scheduled/started/completed and the like are mechanics, not decisions.
  }
  return out;
}

/** One line per entry: time, event id, words. */
export function formatTimeline(entries: TimelineEntry[]): string[] {
  const width = Math.max(1, ...entries.map((e) => String(e.eventId).length));
  return entries.map((e) => `${e.time}  #${String(e.eventId).padStart(width)}  ${e.text}`);
}
