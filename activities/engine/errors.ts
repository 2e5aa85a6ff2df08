/**
 * Failure types the workflow's retry policies know by name. A gate that is red
 * is not an error (the activity returns red evidence and the workflow stops);
 * these are for the cases where an activity cannot produce evidence at all.
 */
import { ApplicationFailure } from '@temporalio/common';

export { NON_RETRYABLE_TYPES } from '../../domain/failure-types.js';

/** The worker was built without the adapter this step needs: retrying cannot help. */
export function adapterMissing(adapter: string, needs: string): ApplicationFailure {
  return ApplicationFailure.create({
    type: 'AdapterMissing',
    nonRetryable: true,
    message: `this worker has no ${adapter} adapter configured, so it cannot ${needs}; start the worker with one (see README, "Worker configuration")`,
  });
}

/**
 * A fault retrying cannot fix (missing bucket, wrong credentials, table absent).
 * Adapters throw it; anything else they throw is treated as transient and retried.
 */
export class PermanentFault extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PermanentFault';
  }
}

/**
 * The controller that restarts the components (the local supervisor, the Kubernetes API server)
 * refused connections for a bounded retry: the rollout cannot be driven or watched, and waiting out
 * the rollout timeout would only delay NEEDS_OPERATOR. The message names the URL, since when, and
 * the components left in an unknown or stopped state.
 */
export class ControllerUnreachable extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ControllerUnreachable';
  }
}

export function toActivityFailure(err: unknown): unknown {
  if (err instanceof ControllerUnreachable) {
    return ApplicationFailure.create({
      type: 'ControllerUnreachable',
      nonRetryable: true,
      message: err.message,
    });
  }
  if (err instanceof PermanentFault) {
    return ApplicationFailure.create({ type: 'PermanentFault', nonRetryable: true, message: err.message });
  }
  return err;
}
