/**
 * `npm run airflow-local -- --env-file FILE [--dags DIR] [--components a,b,...] [--control-host H]
 * [--control-port N] [--api-host H] [--api-port N] [--exit-with-parent] [--groups-file FILE] [--username U] [--password-env VAR] [--log-dir DIR]`:
 * runs the Airflow components of a `local` target under the supervisor (supervisor.ts) until SIGINT
 * or SIGTERM. The REST API password comes from the env var named by --password-env (default
 * CUTOVER_AIRFLOW_PASSWORD), never from the command line.
 */
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { AIRFLOW_COMPONENTS, recordGroupsIn } from './airflow-components.js';
import { parseComponents, startSupervisor } from './supervisor.js';
import { repoRoot } from './venv.js';

// A signal before the components are up: exit, and the launcher's exit hook kills what it started.
const early = () => process.exit(143);
process.on('SIGINT', early);
process.on('SIGTERM', early);

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      'env-file': { type: 'string' },
      dags: { type: 'string', default: path.join(repoRoot(), 'dags') },
      components: { type: 'string', default: AIRFLOW_COMPONENTS.join(',') },
      'control-host': { type: 'string', default: '127.0.0.1' },
      'control-port': { type: 'string', default: '0' },
      'api-port': { type: 'string' },
      'api-host': { type: 'string', default: '127.0.0.1' },
      username: { type: 'string', default: 'admin' },
      'password-env': { type: 'string', default: 'CUTOVER_AIRFLOW_PASSWORD' },
      'log-dir': { type: 'string' },
      'exit-with-parent': { type: 'boolean', default: false },
      'groups-file': { type: 'string' },
    },
    strict: true,
  });
  const envFile = values['env-file'];
  if (!envFile) throw new Error('--env-file is required (the local target env file the components read)');
  const passwordVar = values['password-env'];
  const password = process.env[passwordVar];
  if (!password) throw new Error(`${passwordVar} is not set: the REST API password comes from it`);
  const port = (flag: string, v: string | undefined) => {
    if (v === undefined) return undefined;
    const n = Number(v);
    if (!Number.isInteger(n) || n < 0 || n > 65535) throw new Error(`--${flag} must be a TCP port, not ${v}`);
    return n;
  };
  const absEnv = path.resolve(envFile);
  const logDir = path.resolve(values['log-dir'] ?? path.join(path.dirname(absEnv), 'logs'));
  mkdirSync(logDir, { recursive: true });
  // Before the first component starts: a supervisor killed outright leaves this list to its parent.
  if (values['groups-file']) recordGroupsIn(path.resolve(values['groups-file']));
  const sup = await startSupervisor({
    envFile: absEnv,
    dagsFolder: path.resolve(values.dags),
    logDir,
    components: parseComponents(values.components),
    username: values.username,
    password,
    controlHost: values['control-host'],
    controlPort: port('control-port', values['control-port']) ?? 0,
    apiHost: values['api-host'],
    ...(values['api-port'] ? { apiPort: port('api-port', values['api-port']) } : {}),
  });
  process.stdout.write(
    `supervisor: ${sup.components.join(', ')} running; control ${sup.controlUrl}, REST API ${sup.apiUrl}; state ${sup.stateFile}; logs ${logDir}\n`,
  );
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    process.stdout.write(`supervisor: ${signal}, stopping the components\n`);
    sup.close().then(
      () => process.exit(0),
      (err: unknown) => {
        process.stderr.write(`supervisor: stop failed: ${String(err)}\n`);
        process.exit(1);
      },
    );
  };
  if (values['exit-with-parent']) {
    // Started by a demo or a test: when that process dies without stopping us, do not outlive it.
    const parent = process.ppid;
    setInterval(() => {
      if (process.ppid !== parent) stop('parent gone');
    }, 1000).unref();
  }
  process.off('SIGINT', early);
  process.off('SIGTERM', early);
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
}

main().catch((err: unknown) => {
  process.stderr.write(`supervisor: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
