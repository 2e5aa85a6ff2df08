/**
 * Builds a cut-over worker: the workflow bundle plus activities over the given
 * adapters. Tests use it with scripted activities; worker/main.ts with real ones.
 */
import {
  Worker,
  type NativeConnection,
  type WorkerOptions,
  type WorkflowBundleWithSourceMap,
} from '@temporalio/worker';
import { createActivities, type Adapters } from '../activities/index.js';
import { DEFAULT_TASK_QUEUE } from '../domain/cutover.js';
import { WORKFLOWS_PATH } from '../domain/workflow-bundle.js';

export interface CutoverWorkerOptions {
  connection: NativeConnection;
  namespace?: string;
  taskQueue?: string;
  /** Real adapters; ignored when `activities` is given. */
  adapters?: Adapters;
  /** Replace the activities wholesale (scripted doubles in workflow decision tests). */
  activities?: object;
  identity?: string;
  /** A pre-built workflow bundle (tests build it once instead of once per worker). */
  workflowBundle?: WorkflowBundleWithSourceMap;
  extra?: Partial<WorkerOptions>;
}

export async function createCutoverWorker(opts: CutoverWorkerOptions): Promise<Worker> {
  return Worker.create({
    connection: opts.connection,
    namespace: opts.namespace ?? 'default',
    taskQueue: opts.taskQueue ?? DEFAULT_TASK_QUEUE,
    ...(opts.workflowBundle ? { workflowBundle: opts.workflowBundle } : { workflowsPath: WORKFLOWS_PATH }),
    activities: opts.activities ?? createActivities(opts.adapters ?? {}),
    ...(opts.identity ? { identity: opts.identity } : {}),
    ...opts.extra,
  });
}
