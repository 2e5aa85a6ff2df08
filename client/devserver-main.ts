/**
 * `npm run server`: a persistent Temporal dev server for local use (default 127.0.0.1:7233, Web UI on
 * 8233, state in .cutover/temporal.db), in the foreground until SIGINT/SIGTERM.
 */
import path from 'node:path';
import { parseArgs } from 'node:util';
import { repoRoot } from '../local/venv.js';
import { startDevServer } from './devserver.js';

const USAGE = `usage: npm run server -- [--ip IP] [--port N] [--ui-port N] [--headless] [--db-filename FILE]

Starts a Temporal dev server with the cutover search attributes registered and keeps it running
until Ctrl-C. Defaults: --ip 127.0.0.1 --port 7233 --ui-port 8233 --db-filename .cutover/temporal.db`;

function parsePort(value: string, flag: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 65535)
    throw new Error(`${flag} must be a port number, got "${value}"`);
  return n;
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      ip: { type: 'string', default: '127.0.0.1' },
      port: { type: 'string', default: '7233' },
      'ui-port': { type: 'string' },
      headless: { type: 'boolean', default: false },
      'db-filename': { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  });
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const port = parsePort(values.port, '--port');
  const uiPort = values['ui-port'] === undefined ? port + 1000 : parsePort(values['ui-port'], '--ui-port');
  const dbFilename =
    values['db-filename'] === undefined
      ? path.join(repoRoot(), '.cutover', 'temporal.db')
      : path.resolve(values['db-filename']);

  const server = await startDevServer({ ip: values.ip, port, uiPort, ui: !values.headless, dbFilename });
  const binary =
    server.binary.path === null
      ? 'downloaded by the Temporal SDK'
      : `${server.binary.path} (${server.binary.source})`;
  console.log(
    [
      'Temporal dev server ready',
      `  address:   ${server.address}`,
      `  web UI:    ${server.uiUrl ?? '(headless)'}`,
      `  database:  ${server.dbFilename ?? '(in memory)'}`,
      `  binary:    ${binary}`,
      `  log:       ${server.logFile ?? '(none)'}`,
      'Press Ctrl-C to stop.',
    ].join('\n'),
  );

  const signalled = new Promise<NodeJS.Signals>((resolve) => {
    process.once('SIGINT', () => resolve('SIGINT'));
    process.once('SIGTERM', () => resolve('SIGTERM'));
  });
  const outcome = await Promise.race([
    signalled.then((signal) => ({ kind: 'signal' as const, signal })),
    server.exited.then((exit) => ({ kind: 'exit' as const, exit })),
  ]);
  if (outcome.kind === 'exit') {
    console.error(
      `the Temporal server exited on its own (code ${outcome.exit.code}, signal ${outcome.exit.signal}); see ${server.logFile ?? 'its output'}`,
    );
    return 1;
  }
  console.log(`${outcome.signal}: stopping the Temporal server...`);
  await server.stop();
  console.log('stopped');
  return 0;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    console.error(`npm run server: ${err instanceof Error ? err.message : String(err)}`);
    process.exitCode = 1;
  },
);
