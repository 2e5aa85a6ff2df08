/**
 * `npm run demo`: the main job on the embedded local default. Brings up real components on this
 * machine (the Temporal dev server with its Web UI, a PostgreSQL database migrated by Airflow and
 * seeded with the reference dossier's XCom history, moto's S3 server, a cut-over worker in this
 * process), runs the dry run of the reference cut-over (`cutover plan plans/local.yaml`:
 * CALIBRATE -> PREFLIGHT -> RENDER -> REHEARSE), prints its evidence, the Web UI link and the
 * wall time of every phase, and stops everything it started (see USAGE).
 */
import { execFileSync } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { Client, Connection } from '@temporalio/client';
import { DefaultLogger, NativeConnection, Runtime, type LogEntry } from '@temporalio/worker';
import { parse, stringify } from 'yaml';
import { main as cutoverCli } from '../client/cli.js';
import { temporalSettings, workflowUiLink } from '../client/connection.js';
import { freePort, startDevServer, type DevServer } from '../client/devserver.js';
import { DEFAULT_TASK_QUEUE, type CutoverResult } from '../domain/cutover.js';
import { loadPlan } from '../domain/plan-file.js';
import type { PlanInput } from '../domain/plan.js';
import { migrateAirflowDb } from '../local/airflow-db.js';
import { localTargetEnvFile } from '../local/airflow-env.js';
import { startMoto, type MotoServer } from '../local/moto.js';
import {
  createDatabase,
  databaseExists,
  describeServer,
  isValidDatabaseName,
  pgServerUrl,
  type LocalDatabase,
} from '../local/postgres.js';
import { repoRoot, venvDir } from '../local/venv.js';
import { seedReferenceHistory } from '../local/xcom-history.js';
import { DRY_RUN_ID_PREFIX } from '../client/visibility.js';
import { adaptersFromEnv } from '../worker/adapters-from-env.js';
import { createCutoverWorker } from '../worker/create-worker.js';
import { Interrupted, Lifecycle, ORDER, within } from './lifecycle.js';
import { childProcesses, killChildren, shortCommand } from './processes.js';

// The AWS SDK warns at its first client that its releases after January 2027 will need Node 22:
// noise in a newcomer's terminal (the SDK is pinned here). Its own switch turns that one off.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

const ROOT = repoRoot();
const DEFAULT_DIR = path.join(ROOT, '.cutover', 'demo');
const LOCAL_PLAN = path.join(ROOT, 'plans', 'local.yaml');
const DEFAULT_DB = 'cutover_demo';
const DEFAULT_PORT = 7233;

const USAGE = `usage: npm run demo [-- OPTIONS]      (or: node dist/demo/main.js [OPTIONS])

The main job on the embedded local default: the dry run of the reference XCom-backend cut-over
(\`cutover plan plans/local.yaml\`: CALIBRATE -> PREFLIGHT -> RENDER -> REHEARSE) on real components
started on this machine, with nothing to install by hand but Node, Python and PostgreSQL
(\`npm run demo\` runs scripts/setup.sh first: npm packages, the Python venv, the build).

What it does, in order:
  1. starts the Temporal dev server with its Web UI (127.0.0.1:7233, UI on 8233; when a default
     port is taken it uses free ports and says so), its state in <dir>/temporal.db;
  2. meanwhile: creates a fresh PostgreSQL database cutover_demo (dropping a leftover one first),
     migrates it with Airflow (\`airflow db migrate\` from the venv) and seeds an XCom history shaped
     like the reference dossier's (7,175 rows: p50 15 B ... max 1.99 MB); and starts moto's S3
     server on a free port with the plan's bucket (cutover-demo);
  3. writes the local target's env file <dir>/airflow.env (AIRFLOW_HOME, the metadata DB, the
     aws_default connection to moto, test credentials): plans/local.yaml points at it;
  4. runs a cut-over worker in this process (adapters from its environment; the metadata DB URL in
     CUTOVER_METADB_URL, the variable the plan names) on the default task queue "cutover";
  5. runs \`cutover plan plans/local.yaml\` and prints its evidence: the calibration table and the
     threshold it proposes, the preflight rows, the change and its diff, the rehearsal verdict;
  6. prints the Web UI link to the dry run, where the logs are and the wall time of every phase,
     then stops the worker, moto and the dev server and drops the database.
Nothing of the production kind is changed: a dry run never reaches APPLY, and the env file is
left byte for byte as written.

Options:
  --keep                keep the dev server, the worker and moto running after the dry run (browse
                        the Web UI; run \`npx cutover status|report|replay <id>\` or another
                        \`npx cutover plan plans/local.yaml\`) until Ctrl-C, then clean up
  --keep-db             do not drop the database at the end
  --db NAME             database name (default ${DEFAULT_DB}); replaced if it exists
  --temporal-port N     the dev server's gRPC port (default ${DEFAULT_PORT}; a free one if the default is taken)
  --ui-port N           its Web UI port (default: gRPC port + 1000)
  --dir DIR             state and logs (default .cutover/demo): temporal.db, airflow.env, airflow-home/,
                        logs/; one demo at a time per DIR; with another DIR than the default the
                        plan is written there as plan.yaml (plans/local.yaml pointed at its env file)
  -h, --help            this text

Environment:
  CUTOVER_PG_URL        the PostgreSQL server, as an admin URL on its maintenance database
                        (default postgresql://postgres@127.0.0.1:5432/postgres, trust auth)
  CUTOVER_VENV          the Python venv with Airflow, moto and temporal (default .venv)
  TEMPORAL_CLI_PATH     a temporal CLI to use instead of the one on PATH / in the venv
  CUTOVER_OPERATOR      who runs the dry run (default $USER)

Exit code: the dry run's (0 PLANNED, 1 otherwise; see \`npx cutover --help\`), 1 when the stack
could not be started, 130 / 143 when interrupted by SIGINT / SIGTERM. Ctrl-C at any time stops
everything that was started and drops the database; a second Ctrl-C kills what is left at once
(a database left that way is dropped by the next run).`;

interface Options {
  keep: boolean;
  keepDb: boolean;
  db: string;
  port: number | null;
  uiPort: number | null;
  dir: string;
}

class UsageError extends Error {}

function parsePort(value: string, flag: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 65535)
    throw new UsageError(`${flag} must be a port number, got "${value}"`);
  return n;
}

function parseOptions(argv: string[]): Options | 'help' {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        keep: { type: 'boolean', default: false },
        'keep-db': { type: 'boolean', default: false },
        db: { type: 'string', default: DEFAULT_DB },
        'temporal-port': { type: 'string' },
        'ui-port': { type: 'string' },
        dir: { type: 'string' },
        help: { type: 'boolean', short: 'h', default: false },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  if (values.help) return 'help';
  if (!isValidDatabaseName(values.db))
    throw new UsageError(`--db ${values.db}: use lower-case letters, digits and _ (at most 63)`);
  return {
    keep: values.keep,
    keepDb: values['keep-db'],
    db: values.db,
    port:
      values['temporal-port'] === undefined ? null : parsePort(values['temporal-port'], '--temporal-port'),
    uiPort: values['ui-port'] === undefined ? null : parsePort(values['ui-port'], '--ui-port'),
    dir: values.dir === undefined ? DEFAULT_DIR : path.resolve(values.dir),
  };
}

// ---- output -----------------------------------------------------------------------------------

const say = (line = ''): void => {
  process.stdout.write(`${line}\n`);
};
const warn = (line: string): void => {
  process.stderr.write(`demo: ${line}\n`);
};
/** A path as the user would type it: relative to the working directory when inside it. */
const shown = (p: string): string => {
  const rel = path.relative(process.cwd(), p);
  return rel !== '' && !rel.startsWith('..') && !path.isAbsolute(rel) ? rel : p;
};
const seconds = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;
const since = (t: number): number => performance.now() - t;
const errorText = (err: unknown): string => (err instanceof Error ? err.message : String(err));

interface Timing {
  label: string;
  ms: number | null;
  note?: string;
}

function timingLines(timings: Timing[]): string[] {
  const width = Math.max(...timings.map((t) => t.label.length));
  return timings.map((t) =>
    `  ${t.label.padEnd(width)}  ${t.ms === null ? '     -' : seconds(t.ms).padStart(7)}${t.note ? `  ${t.note}` : ''}`.trimEnd(),
  );
}

/**
 * How long scripts/setup.sh took before this process started, when run by `npm run demo` (the
 * script is `bash scripts/setup.sh && node dist/demo/main.js`): this process's start time minus
 * its parent shell's, from /proc. Null elsewhere.
 */
function setupWallMs(): number | null {
  if (process.platform !== 'linux') return null;
  try {
    const parentCmd = readFileSync(`/proc/${process.ppid}/cmdline`, 'utf8');
    if (!parentCmd.includes('scripts/setup.sh')) return null;
    const startTicks = (pid: number | 'self'): number => {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      return Number(fields[19]); // field 22 of proc(5), counted from field 3
    };
    let hz = 100;
    try {
      hz = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      // 100 on every common Linux
    }
    const ms = ((startTicks('self') - startTicks(process.ppid)) * 1000) / hz;
    return Number.isFinite(ms) && ms >= 0 ? ms : null;
  } catch {
    return null;
  }
}

// ---- the stack --------------------------------------------------------------------------------

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.unref();
    srv.once('error', () => resolve(false));
    srv.listen({ host: '127.0.0.1', port, exclusive: true }, () => srv.close(() => resolve(true)));
  });
}

/** The ports to start the dev server on: the requested ones, else the defaults, else free ones. */
async function choosePorts(opts: Options): Promise<{ port: number; uiPort: number; note: string | null }> {
  let port = opts.port ?? DEFAULT_PORT;
  const notes: string[] = [];
  if (opts.port === null && !(await portFree(port))) {
    const free = await freePort();
    notes.push(`port ${port} is taken, using ${free}`);
    port = free;
  }
  let uiPort = opts.uiPort ?? port + 1000;
  if (opts.uiPort === null && (uiPort > 65535 || !(await portFree(uiPort)))) {
    const free = await freePort();
    notes.push(
      `Web UI port ${uiPort > 65535 ? '(port + 1000)' : uiPort} is ${uiPort > 65535 ? 'out of range' : 'taken'}, using ${free}`,
    );
    uiPort = free;
  }
  return { port, uiPort, note: notes.length > 0 ? notes.join('; ') : null };
}

/** The bucket of an s3://[conn@]bucket/prefix path. */
function bucketOf(objectPath: string): string {
  const m = /^s3:\/\/(?:[^@/]+@)?([^/]+)/.exec(objectPath);
  if (!m?.[1]) throw new Error(`the plan's xcom.path ${objectPath} is not an s3:// path`);
  return m[1];
}

interface DemoPlan {
  file: string;
  /** True when plans/local.yaml itself is the demo's plan. */
  checkedIn: boolean;
  bucket: string;
}

/** plans/local.yaml when it points at this demo's env file, else a copy pointed at it in the state dir. */
function demoPlan(dir: string, envFile: string): DemoPlan {
  const raw = parse(readFileSync(LOCAL_PLAN, 'utf8')) as PlanInput;
  if (raw.target.kind !== 'local') throw new Error(`${shown(LOCAL_PLAN)} is not a local target`);
  const bucket = bucketOf(raw.xcom.path);
  if (path.resolve(ROOT, raw.target.envFile) === envFile)
    return { file: LOCAL_PLAN, checkedIn: true, bucket };
  raw.target.envFile = envFile;
  const file = path.join(dir, 'plan.yaml');
  writeFileSync(
    file,
    `# plans/local.yaml with the env file of this demo's state directory (written by the demo).\n${stringify(raw)}`,
  );
  return { file, checkedIn: false, bucket };
}

function demoRunningAs(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ESRCH') return false;
  }
  if (process.platform !== 'linux') return true;
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('demo/main');
  } catch {
    return false;
  }
}

/**
 * One demo per state directory: two would share the dev server's database file, the env file and
 * (with the default --db) the database. <dir>/demo.pid holds the running demo's pid; a stale one is
 * replaced; the file goes when this process exits.
 */
function lockStateDir(dir: string): void {
  const file = path.join(dir, 'demo.pid');
  for (let attempt = 0; ; attempt++) {
    try {
      writeFileSync(file, `${process.pid}\n`, { flag: 'wx' });
      process.once('exit', () => {
        try {
          if (readFileSync(file, 'utf8').trim() === String(process.pid)) rmSync(file);
        } catch {
          // already gone
        }
      });
      return;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST' || attempt > 0) throw err;
      const pid = Number(readFileSync(file, 'utf8').trim());
      if (Number.isInteger(pid) && pid > 0 && demoRunningAs(pid))
        throw new Error(
          `another demo (pid ${pid}) is running with ${shown(dir)}: stop it (Ctrl-C), or give this one its own --dir and --db`,
        );
      rmSync(file, { force: true }); // left by a demo that was killed
    }
  }
}

/** The worker's and the SDK's log lines go to a file, not the terminal. */
function fileLogger(file: string): DefaultLogger {
  mkdirSync(path.dirname(file), { recursive: true });
  const fd = openSync(file, 'a');
  process.once('exit', () => closeSync(fd));
  writeSync(fd, `=== ${new Date().toISOString()} cutover demo worker\n`);
  return new DefaultLogger('INFO', (entry: LogEntry) => {
    const when = new Date(Number(entry.timestampNanos / 1_000_000n)).toISOString();
    const meta = entry.meta && Object.keys(entry.meta).length > 0 ? ` ${JSON.stringify(entry.meta)}` : '';
    writeSync(fd, `${when} ${entry.level} ${entry.message}${meta}\n`);
  });
}

/** An env for the in-process CLI: the caller's, with the Temporal settings of the demo's server only. */
function cliEnv(server: DevServer): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('TEMPORAL_')) env[k] = v;
  return {
    ...env,
    TEMPORAL_ADDRESS: server.address,
    TEMPORAL_NAMESPACE: 'default',
    CUTOVER_TASK_QUEUE: DEFAULT_TASK_QUEUE,
    ...(server.uiUrl ? { CUTOVER_UI_URL: server.uiUrl } : {}),
    CUTOVER_OPERATOR: process.env.CUTOVER_OPERATOR || process.env.USER || 'demo',
  };
}

/** Phases of the dry run in order, each from its first step's start to its last step's end. */
function phaseTimings(result: CutoverResult): Timing[] {
  const spans = new Map<string, { start: number; end: number }>();
  for (const s of result.status.steps) {
    if (!s.startedAt || !s.finishedAt) continue;
    const start = Date.parse(s.startedAt);
    const end = Date.parse(s.finishedAt);
    const span = spans.get(s.phase);
    if (!span) spans.set(s.phase, { start, end });
    else {
      span.start = Math.min(span.start, start);
      span.end = Math.max(span.end, end);
    }
  }
  return [...spans].map(([phase, { start, end }]) => ({ label: `  ${phase}`, ms: end - start }));
}

/** Set once this run has created its database (the end checks that it is gone again). */
let databaseCreated = false;

interface Outcome {
  exitCode: number;
  /** Printed after the shutdown (the keep mode prints them before waiting). */
  timings: Timing[];
}

async function runDemo(opts: Options, life: Lifecycle, timings: Timing[]): Promise<number> {
  const dir = opts.dir;
  const logs = path.join(dir, 'logs');
  const airflowHome = path.join(dir, 'airflow-home');
  const envFile = path.join(dir, 'airflow.env');
  mkdirSync(logs, { recursive: true });
  mkdirSync(airflowHome, { recursive: true });
  lockStateDir(dir);
  Runtime.install({
    logger: fileLogger(path.join(logs, 'worker.log')),
    // The SDK core's own lines (retries, heartbeats) go to the same file instead of the terminal.
    telemetryOptions: { logging: { filter: { core: 'WARN', other: 'ERROR' }, forward: {} } },
  });

  const plan = demoPlan(dir, envFile);
  const serverUrl = pgServerUrl();
  say('cutover demo: the dry run of the reference XCom-backend cut-over on real components');
  say(`  state and logs in ${shown(dir)}/   (npm run demo -- --help explains every step)`);
  say('');
  say(
    'Starting the stack: Temporal dev server, PostgreSQL database (Airflow schema + XCom history), moto S3',
  );

  // The dev server, the database and moto come up concurrently; each registers its disposer as
  // soon as it exists.
  const ports = await choosePorts(opts);
  if (ports.note) say(`  [note] ${ports.note}`);
  const serverStep = (async (): Promise<DevServer> => {
    const t = performance.now();
    const server = await life.acquire(
      'Temporal dev server',
      ORDER.SERVER,
      startDevServer({
        port: ports.port,
        uiPort: ports.uiPort,
        ui: true,
        dbFilename: path.join(dir, 'temporal.db'),
        logFile: path.join(logs, 'temporal.log'),
      }),
      (s) => s.stop(),
    );
    timings.push({ label: 'Temporal dev server start', ms: since(t) });
    say(
      `  [ok] Temporal dev server ${server.address}${server.pid === null ? '' : ` (pid ${server.pid})`}, Web UI ${server.uiUrl ?? '(none)'} [${seconds(since(t))}]`,
    );
    return server;
  })();

  const dbStep = (async (): Promise<LocalDatabase> => {
    let t = performance.now();
    const existed = await life.guard(databaseExists(opts.db, serverUrl));
    const db = await life.acquire(
      `database ${opts.db}`,
      ORDER.DATABASE,
      createDatabase(opts.db, { serverUrl, replace: true }),
      async (d) => {
        if (opts.keepDb) return;
        await d.drop();
      },
      `database ${opts.db} ${opts.keepDb ? 'kept (--keep-db)' : 'dropped'}`,
    );
    databaseCreated = true;
    timings.push({ label: `database ${opts.db} ${existed ? 'dropped + created' : 'created'}`, ms: since(t) });
    t = performance.now();
    const migrated = await life.guard(migrateAirflowDb(db.sqlalchemyUrl, { signal: life.signal }));
    writeFileSync(path.join(logs, 'airflow-db-migrate.log'), migrated.output);
    timings.push({ label: 'airflow db migrate', ms: migrated.durationMs });
    t = performance.now();
    const seeded = await life.guard(seedReferenceHistory(db.url));
    timings.push({ label: `seed ${seeded.rows.toLocaleString('en-US')} XCom rows`, ms: since(t) });
    say(
      `  [ok] PostgreSQL database ${opts.db} on ${describeServer(serverUrl)}${existed ? ' (the leftover one was dropped first)' : ''}: ` +
        `airflow db migrate [${seconds(migrated.durationMs)}], ${seeded.rows.toLocaleString('en-US')} XCom rows seeded [${seconds(since(t))}]`,
    );
    return db;
  })();

  const motoStep = (async (): Promise<MotoServer> => {
    const t = performance.now();
    const moto = await life.acquire(
      'moto',
      ORDER.MOTO,
      startMoto({ bucket: plan.bucket, logFile: path.join(logs, 'moto.log'), signal: life.signal }),
      (m) => m.stop(),
    );
    timings.push({ label: 'moto S3 start + bucket', ms: since(t) });
    say(`  [ok] moto S3 ${moto.endpoint} (pid ${moto.pid}), bucket ${moto.bucket} [${seconds(since(t))}]`);
    return moto;
  })();

  const tStack = performance.now();
  const settled = await Promise.allSettled([serverStep, dbStep, motoStep]);
  const failed = settled.filter((s): s is PromiseRejectedResult => s.status === 'rejected');
  if (failed.length > 0) {
    const interrupted = failed.find((f) => f.reason instanceof Interrupted);
    if (interrupted) throw interrupted.reason;
    throw failed.length === 1
      ? failed[0]?.reason
      : new Error(failed.map((f) => errorText(f.reason)).join('\n'));
  }
  const [server, db, moto] = await Promise.all([serverStep, dbStep, motoStep]);
  timings.push({ label: 'stack ready (the steps above ran concurrently)', ms: since(tStack) });

  const envText = localTargetEnvFile({
    airflowHome,
    sqlalchemyUrl: db.sqlalchemyUrl,
    s3Endpoint: moto.endpoint,
    title:
      'The local Airflow target of `npm run demo` (rewritten at every run): components read this file at start.',
  });
  writeFileSync(envFile, envText);
  const loaded = await loadPlan(plan.file);
  const access = loaded.airflow.metadataDb;
  const urlEnv = access.access === 'direct' ? access.urlEnv : null;
  say(
    `  [ok] env file ${shown(envFile)}; plan ${shown(plan.file)}${plan.checkedIn ? '' : ` (plans/local.yaml pointed at ${shown(envFile)})`}`,
  );

  // A client for the evidence and the leftovers of an interrupted earlier demo.
  const client = await life.acquire(
    'the Temporal client',
    ORDER.CLIENT,
    Connection.connect({ address: server.address }).then((connection) => new Client({ connection })),
    (c) => c.connection.close(),
    null,
  );
  const leftovers: string[] = [];
  try {
    const query = `ExecutionStatus = "Running" AND WorkflowId STARTS_WITH "${DRY_RUN_ID_PREFIX}"`;
    for await (const wf of client.workflow.list({ query })) {
      await client.workflow
        .getHandle(wf.workflowId, wf.runId)
        .terminate('left over from an interrupted demo run');
      leftovers.push(wf.workflowId);
    }
  } catch (err) {
    warn(`could not look for dry runs left over by an earlier demo: ${errorText(err)}`);
  }
  if (leftovers.length > 0)
    say(
      `  [note] terminated ${leftovers.length} dry run(s) left running by an interrupted demo: ${leftovers.join(', ')}`,
    );

  // The worker, in this process: the production adapters from an env holding the metadata DB URL.
  let t = performance.now();
  const workerEnv: NodeJS.ProcessEnv = {
    ...process.env,
    CUTOVER_VENV: venvDir(),
    ...(urlEnv ? { [urlEnv]: db.url } : {}),
  };
  // Set once the dev server has exited: nothing graceful can reach it any more.
  const serverState = { exited: false };
  void server.exited.then(() => (serverState.exited = true));
  let workerRun: Promise<void> | null = null;
  const workerState = { stopped: false };
  const wa = adaptersFromEnv(workerEnv, { cwd: ROOT });
  life.add('the worker adapters', ORDER.WORKER, () => wa.close(), null);
  const connection = await life.acquire(
    'the worker connection',
    ORDER.WORKER,
    NativeConnection.connect({ address: server.address }),
    // A worker that did not stop still holds the connection: the process exit closes both.
    async (c) => {
      if (workerRun !== null && !workerState.stopped) return;
      await c.close().catch(() => undefined);
    },
    null,
  );
  const worker = await life.acquire(
    'worker',
    ORDER.WORKER,
    createCutoverWorker({
      connection,
      taskQueue: DEFAULT_TASK_QUEUE,
      adapters: wa.adapters,
      identity: `cutover-demo@${process.pid}`,
      extra: { shutdownForceTime: '20s' },
    }),
    async (w) => {
      if (workerRun === null) return; // created, never run: nothing polls
      if (w.getState() === 'RUNNING') w.shutdown();
      const stopped = await within(
        workerRun.then(
          () => true,
          (err: unknown) => {
            warn(`worker: ${errorText(err)}`);
            return true;
          },
        ),
        // Interrupted (the dev server may be going down with the same Ctrl-C) or without a server,
        // the worker has nothing left to finish: do not make the user wait for its retries.
        serverState.exited || life.interruption !== null ? 3_000 : 25_000,
        false,
      );
      if (!stopped) {
        if (life.interruption === null)
          throw new Error('it did not stop within 25 s; it ends with this process');
        warn('the worker ends with this process (the dev server went down with the same Ctrl-C)');
        return false;
      }
      workerState.stopped = true;
    },
  );
  const run = worker.run();
  workerRun = run;
  run.catch(() => undefined);
  timings.push({ label: 'worker start (workflow bundle)', ms: since(t) });
  say(
    `  [ok] worker in this process on task queue ${DEFAULT_TASK_QUEUE}${urlEnv ? `, metadata DB URL in ${urlEnv}` : ''} [${seconds(since(t))}]`,
  );
  say('');

  // Something that dies under the dry run ends the demo instead of leaving it waiting.
  const fatal = new Promise<never>((_, reject) => {
    void server.exited.then((e) =>
      reject(
        new Error(
          `the Temporal dev server exited (code ${e.code}, signal ${e.signal}); see ${shown(server.logFile ?? 'its log')}`,
        ),
      ),
    );
    run.then(
      () => reject(new Error('the worker stopped')),
      (err: unknown) => reject(new Error(`the worker failed: ${errorText(err)}`)),
    );
  });
  fatal.catch(() => undefined);

  // The dry run: the CLI in-process, printing to this terminal.
  const planArg = shown(plan.file);
  say(`$ cutover plan ${planArg}`);
  const env = cliEnv(server);
  let workflowId: string | null = null;
  let stderrText = '';
  t = performance.now();
  const cliDone = cutoverCli(['plan', planArg], {
    // After an interruption the CLI only has connection errors to tell: the demo speaks instead.
    stdout: { write: (s: string) => life.interruption !== null || process.stdout.write(s) },
    stderr: {
      write: (s: string) => {
        stderrText += s;
        workflowId ??= /dry run (\S+) started/.exec(stderrText)?.[1] ?? null;
        return life.interruption !== null || process.stderr.write(s);
      },
    },
    env,
  });
  let cliSettled = false;
  void cliDone.finally(() => (cliSettled = true)).catch(() => undefined);
  life.add(
    'the dry run',
    ORDER.DRY_RUN,
    async () => {
      if (cliSettled || workflowId === null || serverState.exited) return;
      // Interrupted mid-run: end it now, so that the server's history does not keep it running
      // (a dry run has nothing to undo; cancelling would wait for the step in flight).
      const handle = client.workflow.getHandle(workflowId);
      // The dev server may be going down with the same Ctrl-C: no point waiting for it then.
      const ended = await within(
        Promise.race([
          handle.terminate('the demo was interrupted').then(
            () => true,
            (err: unknown) => {
              if (process.env.CUTOVER_DEMO_DEBUG === '1') warn(`(debug) terminate: ${errorText(err)}`);
              return false;
            },
          ),
          server.exited.then(() => false),
        ]),
        3_000,
        false,
      );
      if (ended) warn(`terminated the dry run ${workflowId} (the demo was interrupted)`);
    },
    null,
  );
  // Probes still running (the dry run was interrupted mid-step) would hold the worker's shutdown.
  life.add(
    'probe processes',
    ORDER.PROBES,
    async () => {
      const probes = killChildren(childProcesses().filter((c) => c.groupLeader));
      for (const p of probes) warn(`killed the running probe (pid ${p.pid})`);
    },
    null,
  );
  const code = await life.guard(Promise.race([cliDone, fatal]));
  const dryRunMs = since(t);
  say('');

  if (workflowId === null) {
    timings.push({ label: 'dry run (cutover plan)', ms: dryRunMs, note: 'did not start' });
    return code;
  }
  const handle = client.workflow.getHandle(workflowId);
  let result: CutoverResult | null = null;
  let runId: string | undefined;
  try {
    result = (await within(handle.result() as Promise<CutoverResult>, 10_000, null)) ?? null;
    runId = (await handle.describe()).runId;
  } catch (err) {
    warn(`could not read the dry run's record: ${errorText(err)}`);
  }
  timings.push({ label: `dry run (cutover plan)${result ? `: ${result.outcome}` : ''}`, ms: dryRunMs });
  if (result) timings.push(...phaseTimings(result));

  const link = workflowUiLink(temporalSettings(env), workflowId, runId);
  // The CLI's defaults are localhost:7233 and a Web UI on port + 1000: name what differs.
  const cliPrefix = [
    server.address === `127.0.0.1:${DEFAULT_PORT}` ? '' : `TEMPORAL_ADDRESS=${server.address} `,
    server.uiUrl === null || server.uiUrl === `http://127.0.0.1:${ports.port + 1000}`
      ? ''
      : `CUTOVER_UI_URL=${server.uiUrl} `,
  ].join('');
  const cli = (...args: string[]) => `${cliPrefix}npx cutover ${args.join(' ')}`;
  say(`Dry run ${workflowId}${result ? `: ${result.outcome}` : ''}`);
  if (link) say(`  Temporal Web UI: ${link}`);
  say(`  logs:            ${shown(logs)}/ (temporal.log, worker.log, moto.log, airflow-db-migrate.log)`);
  const envUnchanged = readFileSync(envFile, 'utf8') === envText;
  say(
    `  env file:        ${shown(envFile)} (${envUnchanged ? 'unchanged by the dry run, byte for byte' : 'CHANGED since the demo wrote it'})`,
  );
  if (opts.keep) {
    say('');
    say(
      '--keep: the dev server, the worker and moto keep running until Ctrl-C. Meanwhile, in another shell:',
    );
    say(`  ${cli('status', workflowId)}`);
    say(`  ${cli('report', workflowId)}`);
    say(`  ${cli('replay', workflowId)}`);
    say(`  ${cli('plan', planArg)}        (another dry run, served by this worker)`);
  } else {
    say(
      `  (the server's history stays in ${shown(path.join(dir, 'temporal.db'))}: npm run demo -- --keep keeps the Web UI up)`,
    );
  }
  if (opts.keep) {
    say('');
    say('Wall times');
    for (const line of timingLines(timings)) say(line);
    timings.length = 0;
    say('');
    say('Running until Ctrl-C...');
    try {
      await life.guard(fatal);
    } catch (err) {
      if (!(err instanceof Interrupted)) warn(errorText(err));
    }
  }
  return code;
}

async function demo(argv: string[]): Promise<Outcome> {
  const started = performance.now();
  const timings: Timing[] = [];
  const setupMs = setupWallMs();
  timings.push({
    label: 'setup (scripts/setup.sh)',
    ms: setupMs,
    ...(setupMs === null ? { note: 'not run by npm run demo' } : {}),
  });

  const opts = parseOptions(argv);
  if (opts === 'help') {
    say(USAGE);
    return { exitCode: 0, timings: [] };
  }

  const life = new Lifecycle();
  const onSignal = (signal: NodeJS.Signals) => {
    if (life.interrupt(signal)) {
      warn(`${signal}: stopping everything the demo started (${signal} again to kill it at once)...`);
    } else {
      warn(`${signal} again: killing what is left`);
      process.exit(life.interruptionExitCode); // the exit hooks SIGKILL every child
    }
  };
  // Whatever way this process ends, no child of it outlives it (the dev server and moto have the
  // same hook in their launchers; this one also covers the worker's probes).
  process.on('exit', () => killChildren(childProcesses()));
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  let exitCode: number;
  try {
    exitCode = await runDemo(opts, life, timings);
  } catch (err) {
    if (err instanceof Interrupted || life.interruption !== null) {
      exitCode = life.interruptionExitCode;
    } else {
      process.stderr.write(`\ndemo: FAILED: ${errorText(err)}\n`);
      process.stderr.write(`demo: the logs are in ${shown(path.join(opts.dir, 'logs'))}/\n`);
      exitCode = 1;
    }
  }

  // Nothing ran (a bad state dir, a demo already running there): no wall times to tell.
  const ranSomething = timings.length > 1;
  const tStop = performance.now();
  const stopped = await life.disposeAll(warn);
  const leftovers = killChildren(childProcesses());
  for (const c of leftovers) warn(`killed a leftover process: pid ${c.pid} ${shortCommand(c.command)}`);
  timings.push({
    label: 'shutdown',
    ms: since(tStop),
    note: stopped.length > 0 ? `(${stopped.join(', ')})` : '',
  });
  timings.push({ label: 'total (this process)', ms: since(started) });
  if (!opts.keepDb && databaseCreated && (await databaseExists(opts.db).catch(() => false)))
    warn(`the database ${opts.db} still exists: drop it with DROP DATABASE ${opts.db}`);
  return { exitCode, timings: ranSomething ? timings : [] };
}

demo(process.argv.slice(2)).then(
  ({ exitCode, timings }) => {
    if (timings.length > 0) {
      say('');
      say('Wall times');
      for (const line of timingLines(timings)) say(line);
    }
    // Handles an SDK may keep open must not hold the process.
    process.exit(exitCode);
  },
  (err: unknown) => {
    process.stderr.write(
      `demo: ${err instanceof UsageError ? `${err.message} (see --help)` : errorText(err)}\n`,
    );
    process.exit(err instanceof UsageError ? 2 : 1);
  },
);
