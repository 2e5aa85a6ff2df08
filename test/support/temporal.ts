/**
 * Test helpers around the real Temporal dev server (the venv's `temporal` CLI; scripts/test.sh puts
 * .venv/bin on PATH).
 */
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { startDevServer } from '../../client/devserver.js';
import { freePort } from '../../local/ports.js';
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
