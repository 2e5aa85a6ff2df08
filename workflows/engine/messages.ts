/**
 * Every message a runbook run accepts, defined once and shared by the workflow
 * and the CLI. approve/reject exist both as signals (so `temporal workflow
 * signal` and the Web UI's signal button work) and as updates (so the CLI learns
 * at once whether its go was accepted and why not).
 */
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { Decision } from '../../domain/engine/evidence.js';
import type { RunStatus } from '../../domain/engine/run.js';
import { STATUS_QUERY } from './query-names.js';

export interface OperatorAction {
  operator: string;
  reason: string;
}

export const approveSignal = defineSignal<[Decision]>('approve');
export const rejectSignal = defineSignal<[Decision]>('reject');
export const retryCompensationSignal = defineSignal<[OperatorAction]>('retryCompensation');
export const acknowledgeSignal = defineSignal<[OperatorAction]>('acknowledge');

/** Returns a one-line confirmation; the validator refuses with the reason. */
export const approveUpdate = defineUpdate<string, [Decision]>('approveUpdate');
export const rejectUpdate = defineUpdate<string, [Decision]>('rejectUpdate');
export const retryCompensationUpdate = defineUpdate<string, [OperatorAction]>('retryCompensationUpdate');
export const acknowledgeUpdate = defineUpdate<string, [OperatorAction]>('acknowledgeUpdate');

/** Each runbook's status carries its own evidence type; callers narrow it by `runbook`. */
export const statusQuery = defineQuery<RunStatus>(STATUS_QUERY);
