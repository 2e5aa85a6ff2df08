/** The demo's command line: options, their checks, and the help text. */
import path from 'node:path';
import { parseArgs } from 'node:util';
import { isValidDatabaseName } from '../local/postgres.js';
import { repoRoot } from '../local/venv.js';
import { DEMO_RUNBOOK_NAMES, DEMO_RUNBOOKS, type DemoRunbook, type DemoRunbookName } from './runbooks.js';

export const ROOT = repoRoot();
export const DEFAULT_DIR = path.join(ROOT, '.cutover', 'demo');
export const DEFAULT_DB = 'cutover_demo';
export const DEFAULT_PORT = 7233;
/** The REST API port the local plans name. */
export const DEFAULT_AIRFLOW_PORT = 8080;
/** The approver the demo answers as (every local plan lists it). */
export const DEMO_APPROVER = 'demo';

export const USAGE = `usage: npm run demo [-- OPTIONS]      (or: node dist/demo/main.js [OPTIONS])

The main job on the embedded local default: the reference XCom-backend cut-over, for real
(\`cutover start\` of plans/local.yaml: CALIBRATE -> PREFLIGHT -> RENDER -> REHEARSE -> AWAIT_GO ->
APPLY -> VERIFY -> VALIDATE, or COMPENSATE), on real components started on this machine, with
nothing to install by hand but Node, Python and PostgreSQL (\`npm run demo\` runs scripts/setup.sh
first: npm packages, the Python venv, the build). It takes a few minutes: Airflow starts once and
restarts its four components at APPLY (and again at COMPENSATE).

What it does, in order:
  1. starts the Temporal dev server with its Web UI (127.0.0.1:7233, UI on 8233; when a default
     port is taken it uses free ports and says so), its state in <dir>/temporal.db;
  2. meanwhile: creates a fresh PostgreSQL database cutover_demo (dropping a leftover one first),
     migrates it with Airflow (\`airflow db migrate\` from the venv) and (xcom and upgrade runbooks) seeds an
     XCom history shaped like the reference dossier's (7,175 rows: p50 15 B ... max 1.99 MB); and
     starts moto's S3 server on a free port with the plan's bucket (cutover-demo);
  3. writes the local target's env file <dir>/airflow.env (AIRFLOW_HOME, the metadata DB, the
     aws_default connection to moto, test credentials): plans/local.yaml points at it;
  4. starts Airflow 3 (api-server, scheduler, dag-processor, triggerer) from the venv under the
     cutover supervisor, with that env file and the repo's dags/ (the validation DAGs
     xcom_backend_validation and state_store_backend_validation); the REST API on 127.0.0.1:8080
     (a free port when 8080 is taken: the plan is then copied to <dir>/plan.yaml with the real
     URL); the admin password is random per run and never printed;
  5. runs a cut-over worker in this process (adapters from its environment: the metadata DB URL in
     CUTOVER_METADB_URL, the REST API user and password in CUTOVER_AIRFLOW_USER/_PASSWORD, moto's
     endpoint and test credentials in AWS_*) on the default task queue "cutover";
  6. \`cutover start --plan plans/local.yaml\` (plans/state-store-local.yaml with --runbook
     state-store) as $CUTOVER_OPERATOR / $USER (never "demo"), printing the evidence as it comes:
     the calibration table and the threshold it proposes, the preflight rows, the change and its
     diff, the rehearsal verdict;
  7. at AWAIT_GO prints the approval request (review lines, digest, deadline) and the command to
     approve from another terminal; then --yes approves as "demo"; on a terminal it asks
     "approve? [y/N]" (y approves as "demo", anything else rejects); otherwise it waits for an
     approval from another terminal until the plan's approval timeout;
  8. follows APPLY (edit of the env file + restart of the components), VERIFY (the config as each
     running component resolves it), VALIDATE (a real DAG run that offloads a 2 MB value to S3),
     or COMPENSATE (revert, restart, re-run the affected DAG runs), and prints the outcome, the wall
     time of every phase, the validation run, the Web UI link, and writes the decision dossier
     (\`cutover report <id> --out <dir>/dossier.md\`);
  9. stops the worker, Airflow, moto and the dev server and drops the database.

With --runbook upgrade (plans/airflow-upgrade.yaml: the minor upgrade of Airflow 3.2.2 -> 3.3.2,
about three minutes) the stack starts on the release the plan upgrades from, and the steps differ:
  0. first, Airflow 3.2.2's own venv (.venvs/airflow-3.2.2): when it is missing or older than
     python/airflow-3.2.2/, the demo runs \`scripts/setup.sh --upgrade-venvs\` with its progress lines
     (about a minute the first time: it installs every extra venv, 2.11.2's too, then builds);
     otherwise it says the venv is up to date;
  2. the database is migrated by Airflow 3.2.2 (its \`airflow db migrate\`) and seeded with the same
     XCom history (7,175 DAG runs, task instances and XComs: the history the upgrade must keep);
  3. the env file also names the release, AIRFLOW_VERSION=3.2.2: the supervisor starts every
     component from that venv, and the switch is that one line; the plan is copied to
     <dir>/plan.yaml with its dumps in <dir>/backups (removed at the end, with the database, and
     so are the scratch databases an interrupted run leaves: the rehearsal's copy, a staging one);
  4. the DAG folder is <dir>/dags holding only the plan's DAGs, which run on both releases: the
     critical DAG xcom_backend_validation and the validation DAG upgrade_validation; the run starts
     once the dag processor has serialized them;
  6. the evidence: ASSESS (the deployment's health), PREFLIGHT (the release inside every component,
     the target installed, the schema revision, providers, the migration SQL the approver reads,
     the DB's size), REHEARSE (the migration on a copy of the DB, timed: the downtime it predicts;
     history rows counted before = after);
  8. BACKUP (pg_dump -Fc to <dir>/backups, listed by pg_restore --list, sha256), DRAIN (every
     component stopped: the downtime starts), MIGRATE (3.3.2's \`airflow db migrate\`), SWITCH
     (AIRFLOW_VERSION=3.3.2, every component started on it), VERIFY (3.3.2 inside every component,
     the schema at its head, the health), VALIDATE (the critical DAG first, then the validation DAG,
     and every DAG due during the downtime scheduled), or COMPENSATE (the env file back, the DB
     restored or downgraded, 3.2.2 started and verified, the runs made on 3.3.2 run again on it);
     then the outcome, the downtime (every component stopped -> healthy on 3.3.2), the migration
     time against the rehearsal's, the backup, and where the dossier is.
  With --dry-run Airflow 3.2.2 runs too (ASSESS and PREFLIGHT read the running release); the dry
  run changes nothing (the rehearsal's copy is dropped).

Options:
  --runbook xcom|state-store|assess|upgrade
                        which runbook to run on the same stack (default xcom): assess is the
                        read-only deployment health assessment of the demo's own stack
                        (plans/assess-local.yaml: verdict, findings, <dir>/assessment.md); xcom is the XCom flip
                        above (plans/local.yaml); state-store is the Airflow 3.3 task/asset state
                        store flip to the same bucket under the prefix state/
                        (plans/state-store-local.yaml: StateStoreObjectStorageBackend, a fixed 1000 B
                        threshold, the validation DAG state_store_backend_validation). The state-store
                        run seeds no XCom history: its tables start empty and calibration proposes
                        the plan's fixed threshold; upgrade is the Airflow version upgrade 3.2.2 ->
                        3.3.2 described above (plans/airflow-upgrade.yaml)
  --yes                 approve at AWAIT_GO without asking (as operator "demo")
  --break env-encoding  (xcom) the drill: deploy the flip with the reference incident's
                        AIRFLOW__COMMON.IO__ spelling (\`cutover start --break env-encoding\`): VERIFY
                        fails naming the variable, the workflow reverts the env file, restarts the
                        components, re-runs the affected DAG runs and ends ROLLED_BACK (the expected
                        outcome: exit 0)
  --break draft-backend-key
                        (state-store) the drill: deploy the PR text's draft key [state_store] backend
                        instead of [workers] state_store_backend: VERIFY fails, the workflow reverts
                        the env file, restarts the components, heals the state rows written under the
                        flip and ends ROLLED_BACK (exit 0)
  --break break-migration
                        (upgrade) the drill: after the backup, schema drift 3.3.2's migration
                        cannot take goes in (an index a DBA made by hand under the name a 3.3
                        migration creates): MIGRATE fails mid-way, the workflow restores the dump
                        (history checksums equal to the backup's), starts 3.2.2 again and ends
                        ROLLED_BACK (exit 0)
  --break fail-validation
                        (upgrade) the drill: the validation DAG fails on 3.3.2 on purpose (its run
                        conf asks it to): the workflow reverts the env file, brings the DB back
                        (restored, or downgraded when runs other than its own were made on 3.3.2:
                        the dossier says which and why), starts 3.2.2 again, re-runs the runs made
                        on 3.3.2 on it and ends ROLLED_BACK (exit 0)
  --dry-run             only the dry run (\`cutover plan plans/local.yaml\`, or the runbook's plan:
                        CALIBRATE -> PREFLIGHT -> RENDER -> REHEARSE; the upgrade's ASSESS ->
                        PREFLIGHT -> REHEARSE), without Airflow components (the upgrade's with
                        them); never reaches AWAIT_GO
  --keep                keep everything running after the run (browse the Web UI; run
                        \`npx cutover status|report|replay <id>\`) until Ctrl-C, then clean up
  --keep-db             do not drop the database at the end
  --db NAME             database name (default ${DEFAULT_DB}); replaced if it exists
  --temporal-port N     the dev server's gRPC port (default ${DEFAULT_PORT}; a free one if the default is taken)
  --ui-port N           its Web UI port (default: gRPC port + 1000)
  --airflow-port N      the Airflow REST API port (default ${DEFAULT_AIRFLOW_PORT}; a free one if the default is taken)
  --dir DIR             state and logs (default .cutover/demo): temporal.db, airflow.env, airflow-home/,
                        logs/, dossier.md; one demo at a time per DIR; with another DIR than the
                        default (or another REST API port than 8080) the plan is written there as
                        plan.yaml (the runbook's plan pointed at its env file and REST API)
  -h, --help            this text

Environment:
  CUTOVER_PG_URL        the PostgreSQL server, as an admin URL on its maintenance database
                        (default postgresql://postgres@127.0.0.1:5432/postgres, trust auth)
  CUTOVER_VENV          the Python venv with Airflow, moto and temporal (default .venv)
  TEMPORAL_CLI_PATH     a temporal CLI to use instead of the one on PATH / in the venv
  CUTOVER_OPERATOR      who starts the run (default $USER; "newcomer" if that is "demo", since nobody
                        approves their own cut-over)

Exit code: 0 when the run ends DONE (PLANNED with --dry-run; ROLLED_BACK with --break, the drill's
expected outcome), 1 otherwise or when the stack could not be started, 2 for a bad option, 130 / 143
when interrupted by SIGINT / SIGTERM. Ctrl-C at any time stops everything that was started (the run
in flight is terminated: its Airflow, env file and database go with the demo) and drops the
database; a second Ctrl-C kills what is left at once (a database left that way is dropped by the
next run).`;

export interface Options {
  yes: boolean;
  runbook: DemoRunbook;
  /** One of the runbook's drills, or null. */
  inject: string | null;
  dryRun: boolean;
  keep: boolean;
  keepDb: boolean;
  db: string;
  port: number | null;
  uiPort: number | null;
  airflowPort: number | null;
  dir: string;
}

export class UsageError extends Error {}

function parsePort(value: string, flag: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 65535)
    throw new UsageError(`${flag} must be a port number, got "${value}"`);
  return n;
}

export function parseOptions(argv: string[]): Options | 'help' {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        yes: { type: 'boolean', short: 'y', default: false },
        runbook: { type: 'string', default: 'xcom' },
        break: { type: 'string' },
        'dry-run': { type: 'boolean', default: false },
        keep: { type: 'boolean', default: false },
        'keep-db': { type: 'boolean', default: false },
        db: { type: 'string', default: DEFAULT_DB },
        'temporal-port': { type: 'string' },
        'ui-port': { type: 'string' },
        'airflow-port': { type: 'string' },
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
  const name = values.runbook;
  if (!(DEMO_RUNBOOK_NAMES as readonly string[]).includes(name))
    throw new UsageError(`--runbook ${name}: choose from ${DEMO_RUNBOOK_NAMES.join(', ')}`);
  const runbook = DEMO_RUNBOOKS[name as DemoRunbookName];
  const inject = values.break;
  // Each runbook has its own drills: the other one's would be refused by \`cutover start\` anyway.
  if (inject !== undefined && !runbook.drills.includes(inject))
    throw new UsageError(
      `--break ${inject}: the ${runbook.name} runbook's drills are ${runbook.drills.join(', ')}`,
    );
  if (runbook.name === 'assess' && (values['dry-run'] || values.yes))
    throw new UsageError('--runbook assess only reads: it takes neither --dry-run nor --yes');
  if (values['dry-run'] && (inject !== undefined || values.yes))
    throw new UsageError('--dry-run never reaches AWAIT_GO or APPLY: it takes neither --yes nor --break');
  const port = (flag: string, v: string | undefined) => (v === undefined ? null : parsePort(v, flag));
  return {
    yes: values.yes,
    runbook,
    inject: inject ?? null,
    dryRun: values['dry-run'],
    keep: values.keep,
    keepDb: values['keep-db'],
    db: values.db,
    port: port('--temporal-port', values['temporal-port']),
    uiPort: port('--ui-port', values['ui-port']),
    airflowPort: port('--airflow-port', values['airflow-port']),
    dir: values.dir === undefined ? DEFAULT_DIR : path.resolve(values.dir),
  };
}
