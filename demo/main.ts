/**
 * `npm run demo`: the main job on the embedded local default. Brings up real components on this
 * machine (the Temporal dev server with its Web UI, a PostgreSQL database migrated by Airflow and,
 * for the XCom runbook, seeded with the reference dossier's XCom history, moto's S3 server, Airflow 3
 * under the cutover supervisor, a cut-over worker in this process), runs the chosen runbook's
 * cut-over for real (or only its dry run with --dry-run), prints the evidence, the decision and its consequences, and stops
 * everything it started (see USAGE in options.ts).
 */
import { appendFileSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { cloneDatabaseName, rehearsalDatabase } from '../activities/upgrade/names.js';
import { UPGRADE_KIND } from '../domain/upgrade/kind.js';
import { localTargetEnvFile } from '../local/airflow-env.js';
import { databaseExists } from '../local/postgres.js';
import { loadPlan } from '../domain/plan-file.js';
import { PHASE } from '../workflows/engine/search-attributes.js';
import { cliCommand, cliEnvFor, type DemoContext } from './context.js';
import { planDags, repoDags, waitForDagsSerialized } from './dags.js';
import { runAssessment } from './assess-run.js';
import { runCutover } from './cutover-run.js';
import { demoPlan, planBucket, planStackRelease } from './demo-plan.js';
import { runDryRun } from './dry-run.js';
import { Interrupted, Lifecycle, ORDER } from './lifecycle.js';
import { DEFAULT_AIRFLOW_PORT, USAGE, UsageError, parseOptions, type Options } from './options.js';
import { DEMO_RUNBOOKS } from './runbooks.js';
import { errorText, say, setupWallMs, shown, since, timingLines, warn, type Timing } from './output.js';
import { childProcesses, descendantProcesses, killChildren, shortCommand } from './processes.js';
import { choosePort, created, startStack } from './stack.js';
import { lockStateDir } from './state-dir.js';
import { startServices } from './services.js';
import { installWorkerLogging } from './worker.js';
import { ensureReleaseVenv } from './release-venv.js';
import { dropScratchDatabasesAtEnd, prepareBackups, releaseEnvLines } from './upgrade-stack.js';

// The AWS SDK warns at its first client that its releases after January 2027 will need Node 22:
// noise in a newcomer's terminal (the SDK is pinned here). Its own switch turns that one off.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

interface RunOutcome {
  code: number;
  workflowId: string | null;
}

/**
 * Phases before any change: every runbook's evidence phases and the wait for the go. A run in any
 * other phase may have changed its Airflow (an upgrade's DRAIN stops it, its BACKUP may come after
 * that stop), so its undo may still be owed: an unknown phase counts as changed.
 */
const UNCHANGED_PHASES = new Set([
  ...Object.values(DEMO_RUNBOOKS).flatMap((r) => r.evidencePhases),
  'AWAIT_GO',
]);

/**
 * What an earlier demo left running on this state dir's server (it was killed, or its run waits at
 * NEEDS_OPERATOR). Before the demo rewrites the env file or recreates the database:
 * - a run that provably changed nothing (a dry run, an assessment, a run before its change) is
 *   terminated, as nothing is owed;
 * - a run that may have changed production is never terminated, and the demo refuses to go on.
 *   Cancelling it and serving it with this demo's worker was the alternative, but its undo would
 *   act on the files this demo is about to rewrite, and its Airflow and database would be the new
 *   ones: the outcome would claim a roll-back of something else. The person decides instead.
 */
async function endLeftovers(opts: Options, address: string): Promise<void> {
  const connection = await Connection.connect({ address });
  try {
    const client = new Client({ connection });
    const ended: string[] = [];
    const owed: string[] = [];
    for await (const wf of client.workflow.list({ query: 'ExecutionStatus = "Running"' })) {
      const phase = wf.typedSearchAttributes.get(PHASE);
      const readOnly = wf.workflowId.startsWith('cutover-plan/') || wf.type === 'deploymentAssessment';
      if (!readOnly && (phase === undefined || !UNCHANGED_PHASES.has(phase))) {
        owed.push(`${wf.workflowId} (${phase ?? 'phase unknown'})`);
        continue;
      }
      await client.workflow
        .getHandle(wf.workflowId, wf.runId)
        .terminate(`left over by an interrupted demo in ${phase ?? 'its first phase'}: nothing was changed`);
      ended.push(wf.workflowId);
    }
    if (ended.length > 0)
      say(
        `  [note] terminated ${ended.length} run(s) an interrupted demo left before any change: ${ended.join(', ')}`,
      );
    if (owed.length > 0)
      throw new Error(
        `an earlier demo left ${owed.join(', ')} open: it may have changed its Airflow, and its undo is owed. ` +
          `The demo does not end such a run, nor overwrite the env file ${shown(path.join(opts.dir, 'airflow.env'))} ` +
          `or the database ${opts.db} it would undo. Read what is left in that env file; then, to let the run go, ` +
          `remove ${shown(path.join(opts.dir, 'temporal.db'))} (its history goes with it), or run the demo with another --dir.`,
      );
  } finally {
    await connection.close();
  }
}

/** --keep: what to try meanwhile, the wall times so far, then wait for Ctrl-C. */
async function keepRunning(ctx: DemoContext, workflowId: string | null): Promise<void> {
  say('');
  say('--keep: everything keeps running until Ctrl-C. Meanwhile, in another shell:');
  if (workflowId) {
    say(`  ${cliCommand(ctx, 'status', workflowId)}`);
    say(`  ${cliCommand(ctx, 'report', workflowId)}`);
    say(`  ${cliCommand(ctx, 'replay', workflowId)}`);
  }
  say(`  ${cliCommand(ctx, 'plan', shown(ctx.plan.file))}        (a dry run, served by this worker)`);
  say('');
  say('Wall times');
  for (const line of timingLines(ctx.timings)) say(line);
  ctx.timings.length = 0;
  say('');
  say('Running until Ctrl-C...');
  try {
    await ctx.life.guard(ctx.fatal);
  } catch (err) {
    if (!(err instanceof Interrupted)) warn(errorText(err));
  }
}

async function runDemo(opts: Options, life: Lifecycle, timings: Timing[]): Promise<RunOutcome> {
  const dir = opts.dir;
  const logs = path.join(dir, 'logs');
  const airflowHome = path.join(dir, 'airflow-home');
  const envFile = path.join(dir, 'airflow.env');
  mkdirSync(logs, { recursive: true });
  mkdirSync(airflowHome, { recursive: true });
  lockStateDir(dir);
  installWorkerLogging(path.join(logs, 'worker.log'));

  const { runbook } = opts;
  say(
    opts.dryRun
      ? `cutover demo: the dry run of ${runbook.title} on real components`
      : `cutover demo: ${runbook.title}, for real, on real components${opts.inject ? ` (drill: --break ${opts.inject})` : ''}`,
  );
  say(`  state and logs in ${shown(dir)}/   (npm run demo -- --help explains every step)`);
  say('');
  // The release the stack starts on, when not the default venv's (the upgrade's "from"): its venv first.
  const release = planStackRelease(runbook);
  if (release !== null) await ensureReleaseVenv(release, life, timings);
  say(
    `Starting the stack: Temporal dev server, PostgreSQL database (Airflow${release === null ? '' : ` ${release}`} schema${runbook.seedsXComHistory ? ' + XCom history' : ''}), moto S3`,
  );
  const stack = await startStack(opts, life, timings, { dir, logs }, planBucket(runbook), release, (server) =>
    endLeftovers(opts, server.address),
  );
  const { server, db, moto } = stack;
  const serverState = { exited: false };
  void server.exited.then(() => (serverState.exited = true));

  const envText = `${localTargetEnvFile({
    airflowHome,
    sqlalchemyUrl: db.sqlalchemyUrl,
    s3Endpoint: moto.endpoint,
    title:
      'The local Airflow target of `npm run demo` (rewritten at every run): components read this file at start.',
  })}${release === null ? '' : releaseEnvLines(release)}`;
  writeFileSync(envFile, envText);
  // Past the leftovers check (startStack): an earlier run's undo no longer needs its dumps.
  const backups = runbook.keepsBackups ? prepareBackups(life, dir, opts.keepDb) : null;
  const notes: string[] = [];
  const withAirflow = !opts.dryRun || runbook.dryRunNeedsAirflow;
  const airflowPort = withAirflow
    ? await choosePort(opts.airflowPort, DEFAULT_AIRFLOW_PORT, 'Airflow REST API port', notes)
    : null;
  for (const n of notes) say(`  [note] ${n}`);
  const apiUrl = airflowPort === null ? null : `http://127.0.0.1:${airflowPort}`;
  const plan = demoPlan(runbook, dir, envFile, apiUrl, backups);
  const loaded = await loadPlan(plan.file);
  if (loaded.kind === UPGRADE_KIND)
    dropScratchDatabasesAtEnd(life, opts.db, [
      rehearsalDatabase(loaded, opts.db),
      cloneDatabaseName(loaded, opts.db),
    ]);
  const dagIds = runbook.dagIds(loaded);
  const dags = dagIds === null ? repoDags() : planDags(dir, dagIds);
  const access = loaded.airflow.metadataDb;
  const urlEnv = access.access === 'direct' ? access.urlEnv : null;
  const api = loaded.airflow.api;
  say(
    `  [ok] env file ${shown(envFile)}; plan ${shown(plan.file)}${plan.edits ? ` (${runbook.planFile} ${plan.edits})` : ''}`,
  );

  // A client for the run.
  const client = await life.acquire(
    'the Temporal client',
    ORDER.CLIENT,
    Connection.connect({ address: server.address }).then((connection) => new Client({ connection })),
    (c) => c.connection.close(),
    null,
  );

  const { airflow, fatal, carrierGone } = await startServices({
    life,
    timings,
    server,
    serverGone: () => serverState.exited,
    envFile,
    logs,
    airflowPort,
    release,
    dags,
    metadataDb: urlEnv ? { env: urlEnv, url: db.url } : null,
    api: api ? { usernameEnv: api.usernameEnv, passwordEnv: api.passwordEnv } : null,
    s3Endpoint: moto.endpoint,
  });

  // Probes still running (the run was interrupted mid-step) would hold the worker's shutdown. The
  // dev server, moto and the supervisor lead process groups too (a terminal's Ctrl-C must not reach
  // them): they are stopped in their turn, only the probes are killed here.
  const stackPids = new Set([server.pid, moto.pid, airflow?.supervisorPid]);
  life.add(
    'probe processes',
    ORDER.PROBES,
    async () => {
      const probes = killChildren(childProcesses().filter((c) => c.groupLeader && !stackPids.has(c.pid)));
      for (const p of probes) warn(`killed the running probe (pid ${p.pid})`);
    },
    null,
  );

  const ctx: DemoContext = {
    opts,
    life,
    timings,
    dir,
    logs,
    envFile,
    envText,
    metadbUrl: db.url,
    plan,
    dags,
    server,
    port: stack.port,
    client,
    cliEnv: cliEnvFor(server),
    fatal,
    carrierGone,
    serverGone: () => serverState.exited,
    logNames: [
      'temporal.log',
      'worker.log',
      'moto.log',
      'airflow-db-migrate.log',
      'shutdown.log',
      ...(airflow ? ['supervisor.log', 'airflow/<component>.log', 'airflow/tasks/'] : []),
    ],
  };
  // The plan's own DAGs (the upgrade's critical and validation DAGs) are run through the REST API:
  // its evidence reads a deployment that has parsed them, as it would in production.
  if (airflow && dagIds !== null) await waitForDagsSerialized(life, timings, db.url, dags);
  const outcome = opts.dryRun
    ? { code: await runDryRun(ctx), workflowId: null }
    : runbook.name === 'assess'
      ? await runAssessment(ctx)
      : await runCutover(ctx);

  if (opts.keep) await keepRunning(ctx, outcome.workflowId);
  return outcome;
}

interface DemoResult {
  exitCode: number;
  /** Printed after the shutdown (the keep mode prints them before waiting). */
  timings: Timing[];
}

async function demo(argv: string[]): Promise<DemoResult> {
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
      if (life.whatIsLeft)
        warn(`${signal}: still waiting for the cut-over's kill-switch (${signal} again stops waiting)...`);
      else warn(`${signal}: stopping everything the demo started (${signal} again to kill it at once)...`);
    } else {
      warn(`${signal} again: killing what is left`);
      for (const line of life.whatIsLeft?.() ?? []) warn(line);
      process.exit(life.interruptionExitCode); // the exit hooks SIGKILL every descendant
    }
  };
  // Whatever way this process ends, nothing it started outlives it: the whole tree below it,
  // including the Airflow components in their own process groups under the supervisor.
  process.on('exit', () => killChildren(descendantProcesses()));
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  let exitCode: number;
  try {
    exitCode = (await runDemo(opts, life, timings)).code;
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
  // What each stop took, beside the other logs: a slow shutdown names its culprit there.
  const stopTimes = path.join(opts.dir, 'logs', 'shutdown.log');
  const stopped = await life.disposeAll(warn, 120_000, (name, ms) => {
    try {
      mkdirSync(path.dirname(stopTimes), { recursive: true });
      appendFileSync(stopTimes, `${new Date().toISOString()} ${name}: stopped in ${ms} ms\n`);
    } catch {
      // a state dir that cannot be written to has been reported already
    }
  });
  const leftovers = killChildren(descendantProcesses());
  for (const c of leftovers) warn(`killed a leftover process: pid ${c.pid} ${shortCommand(c.command)}`);
  timings.push({
    label: 'shutdown',
    ms: since(tStop),
    note: stopped.length > 0 ? `(${stopped.join(', ')})` : '',
  });
  timings.push({ label: 'total (this process)', ms: since(started) });
  if (!opts.keepDb && created.database && (await databaseExists(opts.db).catch(() => false)))
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
