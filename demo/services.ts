/**
 * What a run needs beyond the base stack, started concurrently: Airflow under the supervisor (not
 * for a dry run) and the cut-over worker in this process, with the REST API password they share;
 * and the promise that fails as soon as one of them, or the dev server, dies under the run.
 */
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import type { DevServer } from '../client/devserver.js';
import { DEFAULT_TASK_QUEUE } from '../domain/cutover.js';
import { MOTO_CREDENTIALS, MOTO_REGION } from '../local/moto.js';
import { AIRFLOW_COMPONENTS } from '../local/airflow-components.js';
import { airflowVenvFor, venvDir } from '../local/venv.js';
import { startAirflow, type DemoAirflow } from './airflow.js';
import { REPO_DAGS, type DagsFolder } from './dags.js';
import { Interrupted, ORDER, type Lifecycle } from './lifecycle.js';
import { errorText, say, seconds, shown, since, type Timing } from './output.js';
import { startWorker } from './worker.js';

/** The REST API user the supervisor creates and the worker logs in as. */
const AIRFLOW_USER = 'admin';

export interface ServicesOptions {
  life: Lifecycle;
  timings: Timing[];
  server: DevServer;
  serverGone: () => boolean;
  envFile: string;
  logs: string;
  /** Null: no Airflow (a dry run does not need it). */
  airflowPort: number | null;
  /** The release the env file names (AIRFLOW_VERSION), null: the default venv's. */
  release: string | null;
  /** The DAG folder the components parse. */
  dags: DagsFolder;
  /** The env var the plan names for the metadata DB URL, and the URL. */
  metadataDb: { env: string; url: string } | null;
  /** The env vars the plan names for the REST API login. */
  api: { usernameEnv: string; passwordEnv: string } | null;
  s3Endpoint: string;
}

/** What died under the run: the dev server or the worker take the run's only way forward with them. */
export class ComponentDied extends Error {
  constructor(
    readonly component: 'server' | 'worker' | 'airflow',
    message: string,
  ) {
    super(message);
    this.name = 'ComponentDied';
  }
}

export interface Services {
  airflow: DemoAirflow | null;
  /** Rejects when the dev server, the worker or the Airflow supervisor stops under the run. */
  fatal: Promise<never>;
  /** Rejects when the dev server or the worker stops: nothing can carry a run on after that. */
  carrierGone: Promise<never>;
}

export async function startServices(o: ServicesOptions): Promise<Services> {
  const { life, timings, server, serverGone, envFile, logs, airflowPort, metadataDb, api, s3Endpoint } = o;
  const airflowName = `Airflow ${o.release ?? '3'}`;
  const venv = o.release === null ? venvDir() : airflowVenvFor(o.release);
  const dagsShown = `${shown(o.dags.folder)}/`;
  // Random per run, given only to the supervisor and the worker: it is never printed or written.
  const password = randomBytes(18).toString('base64url');
  const airflowStep =
    airflowPort === null
      ? Promise.resolve(null)
      : (async (): Promise<DemoAirflow> => {
          const t = performance.now();
          say(
            `  [..] ${airflowName} from ${shown(venv)}: ${AIRFLOW_COMPONENTS.join(', ')} under the supervisor...`,
          );
          const airflow = await life.acquire(
            'Airflow (supervisor + components)',
            ORDER.AIRFLOW,
            startAirflow({
              envFile,
              dagsFolder: o.dags.folder,
              apiPort: airflowPort,
              username: AIRFLOW_USER,
              password,
              logFile: path.join(logs, 'supervisor.log'),
              logDir: path.join(logs, 'airflow'),
              signal: life.signal,
            }),
            (a) => a.stop(),
            'Airflow stopped',
          );
          timings.push({ label: 'Airflow start (4 components)', ms: since(t) });
          say(
            `  [ok] ${airflowName} (supervisor pid ${airflow.supervisorPid}, control ${airflow.controlUrl}), REST API ${airflow.apiUrl}, DAGs from ${dagsShown}${o.dags.folder === REPO_DAGS ? '' : ` (${o.dags.files.join(', ')})`} [${seconds(since(t))}]`,
          );
          return airflow;
        })();

  // The worker's env: what the plan names, the REST API login, and moto as the S3 endpoint.
  const workerEnv: NodeJS.ProcessEnv = {
    ...process.env,
    CUTOVER_VENV: venvDir(),
    ...(metadataDb ? { [metadataDb.env]: metadataDb.url } : {}),
    ...(api ? { [api.usernameEnv]: AIRFLOW_USER, [api.passwordEnv]: password } : {}),
    AWS_ENDPOINT_URL: s3Endpoint,
    AWS_ACCESS_KEY_ID: MOTO_CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: MOTO_CREDENTIALS.secretAccessKey,
    AWS_REGION: MOTO_REGION,
  };
  // The worker's S3 client (counting offloaded objects) takes its credentials from the AWS SDK's
  // default chain, which reads this process's env, not the env given to adaptersFromEnv.
  for (const k of ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_REGION'] as const)
    process.env[k] = workerEnv[k];
  const workerStep = (async () => {
    const t = performance.now();
    const worker = await startWorker(life, server, serverGone, workerEnv);
    timings.push({ label: 'worker start', ms: since(t) });
    say(
      `  [ok] worker in this process on task queue ${DEFAULT_TASK_QUEUE}${metadataDb ? `, metadata DB URL in ${metadataDb.env}` : ''}${api ? `, REST API login in ${api.usernameEnv}/${api.passwordEnv}` : ''} [${seconds(since(t))}]`,
    );
    return worker;
  })();
  const settled = await Promise.allSettled([airflowStep, workerStep]);
  const failed = settled.filter((s): s is PromiseRejectedResult => s.status === 'rejected');
  if (failed.length > 0) {
    const interrupted = failed.find((f) => f.reason instanceof Interrupted);
    throw interrupted ? interrupted.reason : failed[0]?.reason;
  }
  const [airflow, worker] = await Promise.all([airflowStep, workerStep]);
  say('');

  // Something that dies under the run ends the demo instead of leaving it waiting.
  const fatal = new Promise<never>((_, reject) => {
    void server.exited.then((e) =>
      reject(
        new ComponentDied(
          'server',
          `the Temporal dev server exited (code ${e.code}, signal ${e.signal}); see ${shown(server.logFile ?? 'its log')}`,
        ),
      ),
    );
    worker.run.then(
      () => reject(new ComponentDied('worker', 'the worker stopped')),
      (err: unknown) => reject(new ComponentDied('worker', `the worker failed: ${errorText(err)}`)),
    );
    void airflow?.exited.then((e) =>
      reject(
        new ComponentDied(
          'airflow',
          `the Airflow supervisor exited (code ${e.code}, signal ${e.signal}); see ${shown(airflow.logFile)}`,
        ),
      ),
    );
  });
  fatal.catch(() => undefined);
  const carrierGone = new Promise<never>((_, reject) => {
    void server.exited.then(() => reject(new ComponentDied('server', 'the Temporal dev server exited')));
    worker.run.then(
      () => reject(new ComponentDied('worker', 'the worker stopped')),
      (err: unknown) => reject(new ComponentDied('worker', `the worker failed: ${errorText(err)}`)),
    );
  });
  carrierGone.catch(() => undefined);

  return { airflow, fatal, carrierGone };
}
