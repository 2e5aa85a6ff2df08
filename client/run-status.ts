/**
 * Reading one cut-over: where it stands (the status query while it runs, the
 * result once it completed) plus what Temporal itself says about the execution.
 */
import { normalizeStatus } from './status-shape.js';
import type { Client, WorkflowExecutionDescription, WorkflowHandle } from '@temporalio/client';
import type { RunResult, RunStatus } from '../domain/engine/run.js';
import { STATUS_QUERY } from '../workflows/engine/query-names.js';
import { OUTCOME, PHASE } from '../workflows/engine/search-attributes.js';
import { grpcCode, messageOf } from './context.js';
import { CliError, EXIT } from './exit-codes.js';

/** A query needs a worker to answer; this long without one means no worker polls the task queue. */
export const QUERY_TIMEOUT_MS = 10_000;

export interface ExecutionInfo {
  workflowId: string;
  runId: string;
  /** RUNNING, COMPLETED, FAILED, TERMINATED, CANCELLED, TIMED_OUT, CONTINUED_AS_NEW. */
  status: string;
  taskQueue: string;
  startTime: string;
  closeTime: string | null;
  /** From the search attributes, which exist even when no worker can answer a query. */
  phase: string | null;
  outcome: string | null;
}

export interface RunView {
  execution: ExecutionInfo;
  /** Null when the run is closed without a result and no worker could replay it. */
  status: RunStatus | null;
  result: RunResult | null;
  /** Why status is null, or how the run failed at the Temporal level. */
  problem: string | null;
}

export function executionInfo(d: WorkflowExecutionDescription): ExecutionInfo {
  const phase = d.typedSearchAttributes.get(PHASE);
  const outcome = d.typedSearchAttributes.get(OUTCOME);
  return {
    workflowId: d.workflowId,
    runId: d.runId,
    status: d.status.name,
    taskQueue: d.taskQueue,
    startTime: d.startTime.toISOString(),
    closeTime: d.closeTime ? d.closeTime.toISOString() : null,
    phase: phase ?? null,
    outcome: outcome ?? null,
  };
}

/** The status query with a deadline; a missing worker becomes exit 5 naming the task queue. */
export async function queryStatus(
  client: Client,
  handle: WorkflowHandle,
  taskQueue: string,
  timeoutMs = QUERY_TIMEOUT_MS,
): Promise<RunStatus> {
  try {
    const raw = await client.withDeadline(Date.now() + timeoutMs, () =>
      handle.query<RunStatus>(STATUS_QUERY),
    );
    return normalizeStatus(raw);
  } catch (err) {
    // DEADLINE_EXCEEDED, or CANCELLED when the deadline fires while grpc-js is still sending the call.
    if (grpcCode(err) === 4 || grpcCode(err) === 1) {
      throw new CliError(
        EXIT.UNREACHABLE,
        `no worker answered the status query within ${timeoutMs / 1000}s: is a worker polling task queue ${taskQueue}? (npm run worker)`,
      );
    }
    throw err;
  }
}

/** What Temporal says about the latest run of `workflowId`. */
export async function describeRun(client: Client, workflowId: string): Promise<ExecutionInfo> {
  return executionInfo(await client.workflow.getHandle(workflowId).describe());
}

export async function loadRun(client: Client, workflowId: string): Promise<RunView> {
  return viewOfRun(client, await describeRun(client, workflowId));
}

/** The status of the run `execution` describes (loadRun, for a caller that needs the run id early). */
export async function viewOfRun(client: Client, execution: ExecutionInfo): Promise<RunView> {
  const handle = client.workflow.getHandle(execution.workflowId, execution.runId, { followRuns: false });
  if (execution.status === 'RUNNING') {
    return {
      execution,
      status: await queryStatus(client, handle, execution.taskQueue),
      result: null,
      problem: null,
    };
  }
  if (execution.status === 'COMPLETED') {
    // The result carries the final status and needs no worker.
    const raw = (await handle.result()) as RunResult;
    const result = { ...raw, status: normalizeStatus(raw.status) };
    return { execution, status: result.status, result, problem: null };
  }
  // Closed without a result (terminated, failed, timed out): a worker can still replay it for the query.
  const failure = await handle.result().then(
    () => null,
    (err: unknown) => messageOf(err),
  );
  try {
    const status = await queryStatus(client, handle, execution.taskQueue, 5_000);
    return { execution, status, result: null, problem: failure };
  } catch (err) {
    return {
      execution,
      status: null,
      result: null,
      problem: `${failure ?? execution.status}; no status: ${messageOf(err)}`,
    };
  }
}

/** Finished means the workflow decided an outcome, or Temporal closed the run. */
export function isFinished(view: RunView): boolean {
  return view.execution.status !== 'RUNNING' || view.status?.outcome != null;
}
