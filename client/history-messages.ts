/**
 * Who said what to a run, as Temporal's history records it: the start and every signal and update
 * (the ones that passed validation: Temporal drops updates refused by their validator), each with
 * the Temporal client identity that sent it beside the operator it claims to be. The workflow never
 * sees the caller's identity; the history does, so the dossier and `report --verify` read it here.
 * Pure: history in, records out.
 */
import type { temporal } from '@temporalio/proto';
import type { Decision } from '../domain/engine/evidence.js';
import type { RunInput } from '../domain/engine/run.js';
import type { LoadablePlan } from '../domain/runbooks.js';
import { firstArg, isoTime, num } from './timeline.js';

type History = temporal.api.history.v1.IHistory;

export interface RunStart {
  workflowId: string | null;
  /** The run's first execution run id: what a signed decision names. */
  runId: string;
  input: RunInput<LoadablePlan> | null;
  /** The Temporal client identity that started the run. */
  identity: string;
  time: string;
}

export interface ReceivedMessage {
  eventId: number;
  time: string;
  via: 'signal' | 'update';
  /** The signal or update name (approve, approveUpdate, retryCompensation...). */
  name: string;
  /** approve / reject for decisions (from either name), else the name. */
  action: string;
  /** The Temporal client identity that sent it (`identity` in the event). */
  identity: string;
  /** The operator the message says it comes from. */
  claimedOperator: string | null;
  /** The decision it carried, for approve and reject. */
  decision: Decision | null;
  /** Updates only: how the handler answered (null while it runs; signals have no answer in history). */
  outcome: { accepted: boolean; text: string } | null;
}

const ACTIONS: Record<string, string> = {
  approveUpdate: 'approve',
  rejectUpdate: 'reject',
  retryCompensationUpdate: 'retryCompensation',
  acknowledgeUpdate: 'acknowledge',
};

function asDecision(action: string, arg: unknown): Decision | null {
  if (action !== 'approve' && action !== 'reject') return null;
  if (!arg || typeof arg !== 'object') return null;
  const a = arg as Record<string, unknown>;
  return {
    operator: String(a['operator'] ?? ''),
    reason: String(a['reason'] ?? ''),
    digest: String(a['digest'] ?? ''),
    ...(typeof a['signature'] === 'string' ? { signature: a['signature'] } : {}),
  };
}

function operatorOf(arg: unknown): string | null {
  const op = (arg as { operator?: unknown } | null | undefined)?.operator;
  return typeof op === 'string' ? op : null;
}

export function runStart(history: History): RunStart | null {
  const first = history.events?.[0];
  const started = first?.workflowExecutionStartedEventAttributes;
  if (!first || !started) return null;
  return {
    workflowId: null,
    runId: started.firstExecutionRunId || started.originalExecutionRunId || '',
    input: firstArg<RunInput<LoadablePlan>>(started.input) ?? null,
    identity: started.identity || '?',
    time: isoTime(first.eventTime),
  };
}

export function receivedMessages(history: History): ReceivedMessage[] {
  const out: ReceivedMessage[] = [];
  const byUpdateId = new Map<string, ReceivedMessage>();
  for (const e of history.events ?? []) {
    const signal = e.workflowExecutionSignaledEventAttributes;
    if (signal) {
      const name = signal.signalName ?? '?';
      const arg = firstArg<unknown>(signal.input);
      out.push({
        eventId: num(e.eventId),
        time: isoTime(e.eventTime),
        via: 'signal',
        name,
        action: name,
        identity: signal.identity || '?',
        claimedOperator: operatorOf(arg),
        decision: asDecision(name, arg),
        outcome: null,
      });
      continue;
    }
    const accepted = e.workflowExecutionUpdateAcceptedEventAttributes;
    if (accepted) {
      const request = accepted.acceptedRequest;
      const name = request?.input?.name ?? '?';
      const action = ACTIONS[name] ?? name;
      const arg = firstArg<unknown>(request?.input?.args);
      const m: ReceivedMessage = {
        eventId: num(e.eventId),
        time: isoTime(e.eventTime),
        via: 'update',
        name,
        action,
        identity: request?.meta?.identity || '?',
        claimedOperator: operatorOf(arg),
        decision: asDecision(action, arg),
        outcome: null,
      };
      byUpdateId.set(request?.meta?.updateId ?? accepted.protocolInstanceId ?? '', m);
      out.push(m);
      continue;
    }
    const done = e.workflowExecutionUpdateCompletedEventAttributes;
    if (done) {
      const m = byUpdateId.get(done.meta?.updateId ?? '');
      if (!m) continue;
      const failure = done.outcome?.failure;
      m.outcome = failure
        ? { accepted: false, text: failure.message ?? 'refused' }
        : { accepted: true, text: String(firstArg<unknown>(done.outcome?.success) ?? 'ok') };
    }
  }
  return out;
}
