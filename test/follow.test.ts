/**
 * client/follow.ts on a real dev server: following a run that stays open (no worker serves its
 * task queue) and stopping early must end the result's long poll, CANCELLED, before the caller
 * closes its connection. Left in flight, the poll fails UNAVAILABLE at the close and the client's
 * retry throws "Channel has been shut down" from a timer: an uncaught stack trace seen when the demo
 * was interrupted while its run waited in NEEDS_OPERATOR.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, test } from 'node:test';
import { InterceptingCall, type Interceptor } from '@grpc/grpc-js';
import { Client, Connection, defaultGrpcRetryOptions, makeGrpcRetryInterceptor } from '@temporalio/client';
import { followRun } from '../client/follow.js';
import { startTestServer, type DevServer } from './support/temporal.js';

let server: DevServer;

before(async () => {
  server = await startTestServer();
});

after(async () => {
  await server?.stop();
});

/** Every gRPC call's method and, once it ended, its status code. */
function recordingInterceptor(calls: { method: string; code: number | null }[]): Interceptor {
  return (options, nextCall): InterceptingCall => {
    const call = { method: options.method_definition.path, code: null as number | null };
    calls.push(call);
    return new InterceptingCall(nextCall(options), {
      start(metadata, _listener, next) {
        next(metadata, {
          onReceiveStatus(status, nextStatus) {
            call.code = status.code;
            nextStatus(status);
          },
        });
      },
    });
  };
}

test(
  'stopping early cancels the result long poll before the connection closes',
  { timeout: 60_000 },
  async () => {
    const calls: { method: string; code: number | null }[] = [];
    const connection = await Connection.connect({
      address: server.address,
      // The client's own retry (which a list of interceptors replaces) stays, outermost as by default.
      interceptors: [makeGrpcRetryInterceptor(defaultGrpcRetryOptions()), recordingInterceptor(calls)],
    });
    const client = new Client({ connection });
    const uncaught: unknown[] = [];
    const onUncaught = (err: unknown) => uncaught.push(err);
    process.on('uncaughtException', onUncaught);
    try {
      const handle = await client.workflow.start('noWorkerServesThis', {
        taskQueue: `follow-test-${randomUUID()}`,
        workflowId: `follow-test-${randomUUID()}`,
      });
      const history = () => calls.filter((c) => c.method.endsWith('/GetWorkflowExecutionHistory'));
      let polls = 0;
      const settled = await followRun(handle, {
        pollMs: 50,
        deadline: Infinity,
        // Stop once the result's long poll is in flight.
        poll: () => Promise.resolve(history().length > 0 && ++polls > 1 ? 'stop' : undefined),
      });
      assert.equal(settled, null, 'the run is still open');
      // The condition, not a clock: the poll ends CANCELLED (1); without the abort it would stay open.
      while (history().some((c) => c.code === null)) await new Promise((r) => setTimeout(r, 20));
      assert.ok(
        history().every((c) => c.code === 1),
        `every history poll ended CANCELLED: ${JSON.stringify(history())}`,
      );
      await handle.terminate('test over');
    } finally {
      await connection.close();
      process.off('uncaughtException', onUncaught);
    }
    assert.deepEqual(uncaught, []);
  },
);
