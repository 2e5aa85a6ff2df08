/**
 * Sending an operator's message as an update, so the operator learns at once
 * whether the workflow accepted it and, if not, why.
 */
import {
  WorkflowNotFoundError,
  WorkflowUpdateFailedError,
  WorkflowUpdateRPCTimeoutOrCancelledError,
  type Client,
  type WorkflowHandle,
} from '@temporalio/client';
import type { UpdateDefinition } from '@temporalio/common';
import { grpcCode, messageOf } from './context.js';
import { CliError, EXIT } from './exit-codes.js';
import { executionInfo } from './run-status.js';

/** How long a worker has to take and answer the update. */
export const UPDATE_TIMEOUT_MS = 30_000;

export async function sendUpdate<Arg>(
  client: Client,
  handle: WorkflowHandle,
  update: UpdateDefinition<string, [Arg]>,
  arg: Arg,
): Promise<string> {
  try {
    return await client.withDeadline(Date.now() + UPDATE_TIMEOUT_MS, () =>
      handle.executeUpdate(update, { args: [arg] }),
    );
  } catch (err) {
    if (err instanceof WorkflowUpdateFailedError) {
      // The validator (or the handler, re-judging) refused: its message is the reason.
      throw new CliError(EXIT.REFUSED, `refused: ${messageOf(err.cause ?? err)}`);
    }
    if (err instanceof WorkflowNotFoundError) {
      // Also what Temporal answers for a run that has already closed: tell the two apart.
      const described = await handle.describe().catch(() => null);
      if (described) {
        const info = executionInfo(described);
        throw new CliError(
          EXIT.REFUSED,
          `refused: the run has already ended (${info.status}${info.outcome ? `, outcome ${info.outcome}` : ''})`,
        );
      }
      throw err;
    }
    if (err instanceof WorkflowUpdateRPCTimeoutOrCancelledError || grpcCode(err) === 4) {
      const described = await handle.describe().catch(() => null);
      throw new CliError(
        EXIT.UNREACHABLE,
        `no worker answered the ${update.name} update within ${UPDATE_TIMEOUT_MS / 1000}s: is a worker polling task queue ${described?.taskQueue ?? '?'}? (npm run worker)`,
      );
    }
    throw err;
  }
}
