/**
 * Builds a cut-over worker: the workflow bundle plus activities over the given
 * adapters. Tests use it with scripted activities; worker/main.ts with real ones.
 */
import {
  Worker,
  type NativeConnection,
  type WorkerOptions,
  type WorkflowBundleOption,
} from '@temporalio/worker';
import { createActivities, type Adapters } from '../activities/index.js';
import { DEFAULT_TASK_QUEUE } from '../domain/cutover.js';
import { workflowCode, type WorkflowCode } from '../domain/workflow-bundle.js';

export interface CutoverWorkerOptions {
  connection: NativeConnection;
  namespace?: string;
  taskQueue?: string;
  /** Real adapters; ignored when `activities` is given. */
  adapters?: Adapters;
  /** Replace the activities wholesale (scripted doubles in workflow decision tests). */
  activities?: object;
  identity?: string;
  /** The workflow code, bundled in memory or a file; default: the build's bundle when current (workflowCode). */
  workflowBundle?: WorkflowBundleOption;
  /** Told when the build's bundle is missing or stale and the code is bundled at start instead. */
  onBundleNote?: (line: string) => void;
  extra?: Partial<WorkerOptions>;
}

/** Where a worker built with these options takes its workflow code from. */
function workflowCodeFor(
  opts: Pick<CutoverWorkerOptions, 'workflowBundle' | 'onBundleNote'>,
): WorkflowCode | { workflowBundle: WorkflowBundleOption } {
  if (opts.workflowBundle) return { workflowBundle: opts.workflowBundle };
  return workflowCode(opts.onBundleNote ?? ((line) => console.warn(line)));
}

export async function createCutoverWorker(opts: CutoverWorkerOptions): Promise<Worker> {
  return Worker.create({
    connection: opts.connection,
    namespace: opts.namespace ?? 'default',
    taskQueue: opts.taskQueue ?? DEFAULT_TASK_QUEUE,
    ...workflowCodeFor(opts),
    activities: opts.activities ?? createActivities(opts.adapters ?? {}),
    ...(opts.identity ? { identity: opts.identity } : {}),
    ...opts.extra,
  });
}
