/**
 * The kill-switch, as in Temporal's saga sample: every production change
 * pushes its undo onto a stack just BEFORE it is made (so a change whose reply
 * was lost is still undone), and on failure the stack is unwound newest first,
 * then the runbook's heal steps run (what a bare undo cannot repair: re-running
 * DAG runs, rewriting rows). If any step fails the run does not end: it waits
 * in NEEDS_OPERATOR, saying exactly what is left and whether production is
 * still changed, for retryCompensation or acknowledge.
 */
import { ApplicationFailure, condition, setHandler } from '@temporalio/workflow';
import type { EnginePlan } from '../../domain/engine/plan.js';
import type { CompensationState, RunResult } from '../../domain/engine/run.js';
import { describeError } from './errors.js';
import {
  acknowledgeSignal,
  acknowledgeUpdate,
  retryCompensationSignal,
  retryCompensationUpdate,
  type OperatorAction,
} from './messages.js';
import type { Run } from './run.js';

/** One named step of the kill-switch: an undo from the stack, or a heal step of the runbook. */
export interface CompensationStep {
  name: string;
  run: () => Promise<void>;
}

/** The undo of every change made so far; push before making the change. */
export class UndoStack {
  readonly entries: CompensationStep[] = [];

  push(name: string, undo: () => Promise<void>): void {
    this.entries.push({ name, run: undo });
  }

  get empty(): boolean {
    return this.entries.length === 0;
  }
}

type OperatorChoice = { action: 'retryCompensation' | 'acknowledge' } & OperatorAction;

/** Registers the NEEDS_OPERATOR messages; they are refused unless the run is waiting for them. */
export function handleOperatorActions(run: Run, choices: OperatorChoice[]): void {
  const refusal = (a: OperatorAction): string | null => {
    if (run.phase !== 'NEEDS_OPERATOR') return `the run is not waiting for an operator (phase ${run.phase})`;
    if (!a || typeof a.operator !== 'string' || a.operator.trim() === '')
      return 'an operator name is required';
    if (typeof a.reason !== 'string' || a.reason.trim() === '') return 'a reason is required';
    const allowed = [...(run.plan.approval?.approvers ?? []), run.input.startedBy];
    if (!allowed.includes(a.operator))
      return `${a.operator} is neither an approver nor the operator who started the run`;
    if (choices.length > 0) return 'an operator action is already being carried out';
    return null;
  };
  for (const [action, signal, update] of [
    ['retryCompensation', retryCompensationSignal, retryCompensationUpdate],
    ['acknowledge', acknowledgeSignal, acknowledgeUpdate],
  ] as const) {
    setHandler(signal, (a: OperatorAction) => {
      const why = refusal(a);
      if (why)
        run.refusals.push({ message: action, operator: String(a?.operator ?? ''), via: 'signal', why });
      else choices.push({ action, ...a });
    });
    setHandler(
      update,
      (a: OperatorAction) => {
        const why = refusal(a);
        if (why) throw ApplicationFailure.create({ type: 'Refused', message: why, nonRetryable: true });
        choices.push({ action, ...a });
        return action === 'acknowledge'
          ? `acknowledged by ${a.operator}: the run ends and the remaining steps are theirs`
          : `retrying compensation from step ${run.compensation?.failed?.step ?? '?'}`;
      },
      {
        validator: (a: OperatorAction) => {
          const why = refusal(a);
          if (why) throw new Error(why);
        },
      },
    );
  }
}

/** What the runbook says about a completed roll-back, in one sentence (after "<phase> failed (...); "). */
export type RolledBackSummary = () => string;

export async function compensate<P extends EnginePlan, E>(
  run: Run<P, E>,
  undo: UndoStack,
  heal: CompensationStep[],
  trigger: { phase: string; error: string },
  choices: OperatorChoice[],
  rolledBack: RolledBackSummary,
): Promise<RunResult<E>> {
  const undos = [...undo.entries].reverse();
  const steps = [...undos, ...heal];
  const state: CompensationState = {
    trigger,
    completed: [],
    failed: null,
    remaining: steps.map((s) => s.name),
    undoRemaining: undos.map((s) => s.name),
    operatorActions: [],
  };
  run.compensation = state;
  run.enter(
    'COMPENSATE',
    `${trigger.phase} failed (${trigger.error}); ${[
      undos.length ? `undoing ${undos.length} change(s)` : 'nothing was changed',
      ...(heal.length ? [`then ${heal.map((h) => h.name).join(', ')}`] : []),
    ].join(', ')}`,
  );
  let attempt = 1;
  const stillChanged = () => (state.undoRemaining.length > 0 ? 'STILL CHANGED' : 'reverted but not healed');

  for (const [i, step] of steps.entries()) {
    for (;;) {
      try {
        run.say(`step ${i + 1}/${steps.length}: ${step.name}`);
        await step.run();
        state.completed.push(step.name);
        state.remaining.shift();
        state.undoRemaining = state.undoRemaining.filter((n) => n !== step.name);
        state.failed = null;
        break;
      } catch (err) {
        state.failed = { step: step.name, error: describeError(err), attempt };
        run.enter(
          'NEEDS_OPERATOR',
          `compensation step "${step.name}" failed: ${state.failed.error}. Left to do: ${state.remaining.join(', ')}. ` +
            `Production is ${stillChanged()}. ` +
            'Send retryCompensation to try again from this step, or acknowledge to take over by hand.',
        );
        run.notifications?.needsOperator(state);
        await condition(() => choices.length > 0);
        const choice = choices.shift();
        if (!choice) continue;
        state.operatorActions.push({
          action: choice.action,
          operator: choice.operator,
          reason: choice.reason,
        });
        if (choice.action === 'acknowledge') {
          return run.finish(
            'OPERATOR_TOOK_OVER',
            `compensation stopped at "${step.name}" (${state.failed.error}); ${choice.operator} took over the remaining steps: ${state.remaining.join(', ')}`,
            state.undoRemaining.length > 0,
          );
        }
        attempt += 1;
        run.enter('COMPENSATE', `retrying from step "${step.name}" on ${choice.operator}'s request`);
      }
    }
  }
  return run.finish('ROLLED_BACK', `${trigger.phase} failed (${trigger.error}); ${rolledBack()}`);
}
