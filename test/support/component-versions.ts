/**
 * What the version tests look at, from the inside of a local stack: the supervisor's view, each
 * component's live PATH and the python it leads to (run through LocalExecPort, as a probe would),
 * the worker's own exec env for the target, and the fixture DAG `component_versions`
 * (test/fixtures/airflow-versions), whose description names the Airflow that parsed it and whose
 * tasks return the versions of the executor's task process and of the triggerer.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { LocalExecPort } from '../../adapters/exec/local.js';
import { AirflowSession } from '../../adapters/airflow-http.js';
import { localComponentEnv, localPython, readEnvFileVars } from '../../worker/adapters-from-env.js';
import { airflowVenvFor, repoRoot } from '../../local/venv.js';

export const FIXTURE = path.join(repoRoot(), 'test', 'fixtures', 'airflow-versions');
export const DAGS = path.join(FIXTURE, 'dags');
export const PLUGINS = path.join(FIXTURE, 'plugins');
export const ALL = ['api-server', 'scheduler', 'dag-processor', 'triggerer'] as const;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls `probe` until it returns a value (not undefined) or the deadline; fails with `what` and the last answer. */
export async function until<T>(
  what: string,
  probe: () => Promise<T | undefined>,
  timeoutMs = 180_000,
  everyMs = 1_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown = null;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch (err) {
      last = err instanceof Error ? err.message : err;
    }
    if (Date.now() >= deadline) assert.fail(`${what}: not within ${timeoutMs} ms (last: ${String(last)})`);
    await sleep(everyMs);
  }
}

/** The env file of a local target on `AIRFLOW_VERSION` (absent when null). */
export function targetEnvFile(opts: {
  airflowHome: string;
  sqlalchemyUrl: string;
  airflowVersion: string | null;
}): string {
  return [
    '# A local Airflow target for the version tests.',
    `AIRFLOW_HOME=${opts.airflowHome}`,
    `AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=${opts.sqlalchemyUrl}`,
    'AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC=',
    'AIRFLOW__CORE__LOAD_EXAMPLES=False',
    `AIRFLOW__CORE__PLUGINS_FOLDER=${PLUGINS}`,
    ...(opts.airflowVersion ? [`AIRFLOW_VERSION=${opts.airflowVersion}`] : []),
    'LANG=C.UTF-8',
    '',
  ].join('\n');
}

interface ComponentEntry {
  name: string;
  state: string;
  pid: number | null;
  airflowVersion: string | null;
}

export async function components(controlUrl: string): Promise<ComponentEntry[]> {
  const res = await fetch(`${controlUrl}/components`);
  assert.equal(res.status, 200);
  return (await res.json()) as ComponentEntry[];
}

const PRINT_VERSION = 'import airflow, sys; print(airflow.__version__, sys.prefix)';

/** Runs PRINT_VERSION through LocalExecPort with `env`; returns [version, sys.prefix]. */
async function versionWith(env: Record<string, string>, python: string): Promise<[string, string]> {
  const exec = new LocalExecPort({ envFor: () => env });
  const r = await exec.exec({
    component: { name: 'probe' },
    command: [python, '-c', PRINT_VERSION],
    timeoutMs: 120_000,
  });
  assert.equal(r.exitCode, 0, r.stderr);
  const [version = '', prefix = ''] = r.stdout.trim().split(/\s+/);
  return [version, prefix];
}

/**
 * Every component runs Airflow `version`, as the supervisor says, as its live PATH leads to (the
 * `python` a probe run with the component's own env finds), and as the worker's exec env for the
 * target resolves it.
 */
export async function assertComponentVersions(opts: {
  controlUrl: string;
  envFile: string;
  version: string;
}): Promise<void> {
  const venv = airflowVenvFor(opts.version);
  const listed = await components(opts.controlUrl);
  assert.deepEqual(
    listed.map((c) => [c.name, c.state, c.airflowVersion]),
    ALL.map((n) => [n, 'running', opts.version]),
  );
  for (const name of ALL) {
    const q = new URLSearchParams({ component: name, keys: 'PATH,AIRFLOW_VERSION' });
    const res = await fetch(`${opts.controlUrl}/env?${q.toString()}`);
    const live = (await res.json()) as { env: { PATH: string | null; AIRFLOW_VERSION: string | null } };
    assert.equal(res.status, 200, JSON.stringify(live));
    assert.equal(live.env.AIRFLOW_VERSION, opts.version, `${name}: AIRFLOW_VERSION`);
    const first = live.env.PATH?.split(':')[0];
    assert.equal(first, path.join(venv, 'bin'), `${name}: the venv of ${opts.version} first on PATH`);
    const [v, prefix] = await versionWith({ PATH: live.env.PATH ?? '' }, 'python');
    assert.equal(v, opts.version, `${name}: python on its PATH runs Airflow ${opts.version}`);
    assert.equal(prefix, venv);
  }
  // The worker's probes of this target: the env file's AIRFLOW_VERSION picks the same venv.
  const vars = readEnvFileVars(opts.envFile);
  const [v] = await versionWith(localComponentEnv(vars, process.env), localPython(vars, process.env));
  assert.equal(v, opts.version, "the worker's exec env for the target");
}

export function session(apiUrl: string, apiVersion: 'v1' | 'v2', password: string): AirflowSession {
  return new AirflowSession({ baseUrl: apiUrl, apiVersion, username: 'admin', password });
}

/** Waits until the DAG is parsed by the Airflow `version` (its description says so). */
export async function waitParsedBy(s: AirflowSession, dagId: string, version: string): Promise<void> {
  await until(`${dagId} parsed by Airflow ${version}`, async () => {
    const r = await s.request<{ description?: string | null }>('GET', `/dags/${dagId}`, { accept: [404] });
    return r.status === 200 && r.body.description === `parsed by Airflow ${version}` ? true : undefined;
  });
}

/** Unpauses the DAG, triggers run `runId` and waits until it ends; returns its final state. */
export async function runDag(
  s: AirflowSession,
  dagId: string,
  runId: string,
  conf: Record<string, unknown> = {},
  timeoutMs = 300_000,
): Promise<string> {
  await s.request('PATCH', `/dags/${dagId}`, {
    query: { update_mask: 'is_paused' },
    body: { is_paused: false },
  });
  await s.request('POST', `/dags/${dagId}/dagRuns`, {
    body:
      s.apiVersion === 'v2' ? { dag_run_id: runId, logical_date: null, conf } : { dag_run_id: runId, conf },
  });
  return until(
    `run ${dagId}/${runId} to end`,
    async () => {
      const r = await s.request<{ state: string }>('GET', `/dags/${dagId}/dagRuns/${runId}`);
      return ['success', 'failed'].includes(r.body.state) ? r.body.state : undefined;
    },
    timeoutMs,
  );
}

/** The return value of a task as the REST API gives it (2.x hands it back as text). */
export async function returnValue(
  s: AirflowSession,
  dagId: string,
  runId: string,
  taskId: string,
): Promise<unknown> {
  const r = await s.request<{ value: unknown }>(
    'GET',
    `/dags/${dagId}/dagRuns/${runId}/taskInstances/${taskId}/xcomEntries/return_value`,
  );
  const v = r.body.value;
  if (typeof v === 'string' && v.startsWith('"')) return JSON.parse(v) as unknown;
  return v;
}

/**
 * Runs `component_versions` and checks what each component says from the inside: the dag-processor
 * parsed it, the executor's task process and the triggerer ran it, all on `version`.
 */
export async function assertDagSeesVersion(s: AirflowSession, runId: string, version: string): Promise<void> {
  await waitParsedBy(s, 'component_versions', version);
  const state = await runDag(s, 'component_versions', runId);
  assert.equal(state, 'success', `run ${runId} of component_versions`);
  assert.equal(await returnValue(s, 'component_versions', runId, 'worker'), version, 'the task process');
  assert.equal(await returnValue(s, 'component_versions', runId, 'triggerer'), version, 'the triggerer');
}

/**
 * Starts a `sleeper` run whose task writes its pid to a file; returns that pid once the task runs.
 * The task sleeps for an hour: only a stop that reaches the task runner ends it.
 */
export async function startSleeper(s: AirflowSession, runId: string, pidFile: string): Promise<number> {
  await s.request('PATCH', `/dags/sleeper`, {
    query: { update_mask: 'is_paused' },
    body: { is_paused: false },
  });
  const conf = { pid_file: pidFile };
  await s.request('POST', `/dags/sleeper/dagRuns`, {
    body:
      s.apiVersion === 'v2' ? { dag_run_id: runId, logical_date: null, conf } : { dag_run_id: runId, conf },
  });
  const pid = await until('the sleeper task to write its pid', async () =>
    existsSync(pidFile) ? Number(readFileSync(pidFile, 'utf8')) : undefined,
  );
  assert.ok(alive(pid), `the sleeper task (pid ${pid}) runs`);
  return pid;
}

export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  // A zombie has exited: only its parent's wait() is missing.
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/^\S+ \(.*\) [ZX] /.test(stat);
  } catch {
    return false;
  }
}

/** The process group of a live process (from /proc). */
export function pgidOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[2]);
}
