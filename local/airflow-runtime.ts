/**
 * Which Airflow a local stack runs and how each major version is launched. The env's
 * AIRFLOW_VERSION (the variable the official apache/airflow image sets) names the venv
 * (local/venv.ts); absent, the default venv runs. What differs between the majors, read from the
 * installed sources (2.11.2 and 3.3.2):
 *
 * - Airflow 3: `airflow api-server` (FastAPI, REST /api/v2 with a bearer token from /auth/token,
 *   health /api/v2/monitor/health), SimpleAuthManager with a passwords file, an execution API the
 *   task runners call back on, one JWT secret for every component; `[dag_processor]` options.
 * - Airflow 2: `airflow webserver` (gunicorn + Flask, REST /api/v1 with basic auth through the FAB
 *   auth manager's `[api] auth_backends`, health /health, public), users in the metadata DB
 *   (`airflow users create`, local/airflow2-admin.ts), `[webserver]` host/port/base_url/secret_key;
 *   the dag-processor runs only with `[scheduler] standalone_dag_processor = True`, which also
 *   stops the scheduler from parsing DAGs itself; the parsing options live under `[scheduler]`. No
 *   execution API, no JWT: a 2.x stack gets none of the Airflow-3-only settings.
 *
 * The health endpoints of both answer the same JSON (metadatabase, scheduler, triggerer,
 * dag_processor with their latest heartbeats): airflow/api/common/airflow_health.py in 2.11.2.
 */
import path from 'node:path';
import { airflowVenvFor, installedAirflowVersion, venvDir } from './venv.js';
import type { AirflowComponentName } from './component-names.js';

export interface AirflowRuntime {
  /** The apache-airflow version installed in the venv, e.g. 3.3.2. */
  version: string;
  major: 2 | 3;
  venv: string;
  /** <venv>/bin/airflow */
  airflow: string;
  /** The REST API: /api/v1 with basic auth (2.x) or /api/v2 with a token (3.x). */
  apiVersion: 'v1' | 'v2';
  /** Where the api-server (3.x) or webserver (2.x) answers its health JSON. */
  healthPath: string;
}

/** A launch the caller asked for that cannot be done: nothing was stopped or started. */
export class LaunchRefused extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'LaunchRefused';
  }
}

/**
 * The Airflow the env names: its AIRFLOW_VERSION's venv, else the default venv (CUTOVER_VENV or
 * <repo>/.venv, from `processEnv`). Throws LaunchRefused naming the fix when that version is not
 * installed or is not a major this launcher knows.
 */
export function airflowRuntimeFor(
  env: Record<string, string>,
  processEnv: NodeJS.ProcessEnv = process.env,
): AirflowRuntime {
  const wanted = env.AIRFLOW_VERSION?.trim();
  let venv: string;
  let version: string | null;
  try {
    venv = wanted ? airflowVenvFor(wanted, processEnv) : venvDir(processEnv);
    version = wanted ? wanted : installedAirflowVersion(venv);
  } catch (err) {
    throw new LaunchRefused(`AIRFLOW_VERSION=${wanted ?? ''}: ${(err as Error).message}`);
  }
  if (version === null) {
    throw new LaunchRefused(
      `no Airflow installed in the default venv ${venv}: run scripts/setup.sh (or set AIRFLOW_VERSION in the env file)`,
    );
  }
  const major = Number(version.split('.')[0]);
  if (major !== 2 && major !== 3) {
    throw new LaunchRefused(`Airflow ${version}: the local launcher runs Airflow 2 and 3 only`);
  }
  return {
    version,
    major,
    venv,
    airflow: path.join(venv, 'bin', 'airflow'),
    apiVersion: major === 2 ? 'v1' : 'v2',
    healthPath: major === 2 ? '/health' : '/api/v2/monitor/health',
  };
}

/** What the launcher knows when it builds a component's env. */
export interface LaunchContext {
  host: string;
  port: number;
  baseUrl: string;
  dagsFolder: string;
  taskLogs: string;
  workerLogPort: number;
  triggerLogPort: number;
  /** Shared by every component of the stack (the scheduler signs what the api-server checks). */
  jwtSecret: string;
  secretKey: string;
  username: string;
  /** 3.x: SimpleAuthManager's passwords file. */
  passwordsFile: string;
  /** Whether a dag-processor runs (2.x: then the scheduler must not parse DAGs itself). */
  dagProcessor: boolean;
}

export interface LaunchSettings {
  /** Sized for a two-core machine and fast test turnaround; the caller's env may override them. */
  defaults: Record<string, string>;
  /** What the stack cannot run without: always the launcher's, whatever the caller's env says. */
  forced: Record<string, string>;
}

export function launchSettings(rt: AirflowRuntime, ctx: LaunchContext): LaunchSettings {
  const common = {
    defaults: {
      AIRFLOW__CORE__LOAD_EXAMPLES: 'False',
      AIRFLOW__CORE__PARALLELISM: '4',
      AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC: '2',
      AIRFLOW__SCHEDULER__JOB_HEARTBEAT_SEC: '2',
      // A scheduler loop that found nothing to do sleeps this long (Airflow's default 1 s), and a
      // DAG run waits out one sleep at each of its steps (queue a task, see it end, end the run): a
      // two-task run took 2.5 to 3.2 s against 0.8 to 1.2 s at 0.2 s (bench/dag-run-latency.ts).
      // One idle loop is a few queries on the local DB, five times a second.
      AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME: '0.2',
      LANG: 'C.UTF-8',
    },
    forced: {
      AIRFLOW_VERSION: rt.version,
      AIRFLOW__CORE__EXECUTOR: 'LocalExecutor',
      AIRFLOW__CORE__DAGS_FOLDER: ctx.dagsFolder,
      AIRFLOW__LOGGING__BASE_LOG_FOLDER: ctx.taskLogs,
      AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT: String(ctx.workerLogPort),
      AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT: String(ctx.triggerLogPort),
    },
  };
  if (rt.major === 2) {
    return {
      defaults: {
        ...common.defaults,
        AIRFLOW__WEBSERVER__WORKERS: '1',
        AIRFLOW__SCHEDULER__PARSING_PROCESSES: '1',
        AIRFLOW__SCHEDULER__DAG_DIR_LIST_INTERVAL: '5',
        AIRFLOW__SCHEDULER__MIN_FILE_PROCESS_INTERVAL: '30',
        AIRFLOW__TRIGGERER__JOB_HEARTBEAT_SEC: '2',
      },
      forced: {
        ...common.forced,
        AIRFLOW__WEBSERVER__WEB_SERVER_HOST: ctx.host,
        AIRFLOW__WEBSERVER__WEB_SERVER_PORT: String(ctx.port),
        AIRFLOW__WEBSERVER__BASE_URL: ctx.baseUrl,
        // Signs the log server's requests between components, and the UI's sessions.
        AIRFLOW__WEBSERVER__SECRET_KEY: ctx.secretKey,
        // An airflow.cfg written by Airflow 3 in the same AIRFLOW_HOME names SimpleAuthManager.
        AIRFLOW__CORE__AUTH_MANAGER: 'airflow.providers.fab.auth_manager.fab_auth_manager.FabAuthManager',
        // Basic auth for the REST API; session for the UI's own calls (2.11 adds it when missing).
        AIRFLOW__API__AUTH_BACKENDS:
          'airflow.providers.fab.auth_manager.api.auth.backend.basic_auth,airflow.providers.fab.auth_manager.api.auth.backend.session',
        AIRFLOW__SCHEDULER__STANDALONE_DAG_PROCESSOR: ctx.dagProcessor ? 'True' : 'False',
      },
    };
  }
  return {
    defaults: {
      ...common.defaults,
      AIRFLOW__API__WORKERS: '1',
      AIRFLOW__DAG_PROCESSOR__PARSING_PROCESSES: '1',
      AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL: '5',
      AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL: '30',
      AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC: '',
      // A task's calls to the Execution API (its start among them) time out after 5 s by default. The
      // single api-server worker of a stack on two busy cores has answered later than that, and the
      // task was killed before it ran (an httpx ReadTimeout in the scheduler's log): seen at load 12.
      AIRFLOW__WORKERS__EXECUTION_API_TIMEOUT: '30',
    },
    forced: {
      ...common.forced,
      AIRFLOW__API__HOST: ctx.host,
      AIRFLOW__API__PORT: String(ctx.port),
      AIRFLOW__API__BASE_URL: ctx.baseUrl,
      AIRFLOW__CORE__EXECUTION_API_SERVER_URL: `${ctx.baseUrl}/execution/`,
      AIRFLOW__API_AUTH__JWT_SECRET: ctx.jwtSecret,
      AIRFLOW__API__SECRET_KEY: ctx.secretKey,
      AIRFLOW__CORE__AUTH_MANAGER:
        'airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager',
      AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS: `${ctx.username}:admin`,
      AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS: 'False',
      AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE: ctx.passwordsFile,
    },
  };
}

/** The `airflow` arguments that run a component. */
export function componentArgs(rt: AirflowRuntime, name: AirflowComponentName, pidDir: string): string[] {
  if (name !== 'api-server') return [name];
  if (rt.major === 3) return ['api-server'];
  // gunicorn writes a pid file and refuses to start while the pid in an old one is alive: a private
  // one per stack, not AIRFLOW_HOME's, where a reused pid could block the start.
  return ['webserver', '--pid', path.join(pidDir, 'webserver.pid')];
}
