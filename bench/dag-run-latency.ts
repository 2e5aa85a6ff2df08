/**
 * How long the local target's Airflow takes to run a small DAG, by scheduler setting (issue #14:
 * every validation run, every heal's re-run and most end-to-end tests wait on DAG runs).
 *
 *   npm run bench -- dag-run-latency
 *   node dist/bench/dag-run-latency.js [--rounds 3] [--runs 2]
 *
 * One stack of the local target (api-server, scheduler, dag-processor on Airflow 3.3.2 under
 * local/airflow-components.ts, a fresh metadata DB migrated by Airflow itself) runs
 * `xcom_backend_validation` (two tasks: produce, consume) through the shipped AirflowRestApi,
 * polling every 100 ms, from the trigger to the run's end. Each config is a restart of the stack
 * with its env; in every round each config runs once (one unmeasured run, then --runs measured
 * runs), their order alternating, so that noise hits both alike. Configs:
 *
 * - `airflow-default`: `[scheduler] scheduler_idle_sleep_time` 1 s, Airflow's own default;
 * - `local`: the local target's launcher default (local/airflow-runtime.ts, 0.2 s).
 */
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { AirflowRestApi } from '../adapters/airflow-api.js';
import { startAirflowComponents } from '../local/airflow-components.js';
import { repoRoot, venvDir } from '../local/venv.js';
import { createAirflowTestDatabase } from '../test/support/airflow-db.js';

const { values: args } = parseArgs({
  options: {
    rounds: { type: 'string', default: '3' },
    runs: { type: 'string', default: '2' },
  },
});
const ROUNDS = Math.max(1, Number(args.rounds));
const RUNS = Math.max(1, Number(args.runs));
const DAG = 'xcom_backend_validation';
const PASSWORD = `pw-${randomUUID()}`;

const CONFIGS: Record<string, Record<string, string>> = {
  'airflow-default': { AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME: '1' },
  local: {},
};

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? Number.NaN;
const fmt = (ms: number) => `${(ms / 1000).toFixed(2)} s`;

async function main(): Promise<void> {
  const dir = mkdtempSync(path.join(tmpdir(), 'cutover-bench-dagrun-'));
  const db = await createAirflowTestDatabase('bench_dagrun', { viaTemplate: false });
  const base = {
    AIRFLOW__DATABASE__SQL_ALCHEMY_CONN: db.sqlalchemyUrl,
    AIRFLOW_HOME: path.join(dir, 'home'),
  };
  const stack = await startAirflowComponents(['api-server', 'scheduler', 'dag-processor'], base, {
    dagsFolder: path.join(repoRoot(), 'dags'),
    logDir: path.join(dir, 'logs'),
    username: 'admin',
    password: PASSWORD,
  });
  // Nothing is offloaded here: the S3 client is never called.
  const api = new AirflowRestApi({
    baseUrl: stack.baseUrl,
    apiVersion: 'v2',
    username: 'admin',
    password: PASSWORD,
    s3: {
      endpoint: 'http://127.0.0.1:9',
      region: 'us-east-1',
      credentials: { accessKeyId: 'x', secretAccessKey: 'x' },
    },
    pollIntervalMs: 100,
  });
  const runOnce = async (label: string): Promise<number> => {
    const t = performance.now();
    const out = await api.runValidationDag({
      dagId: DAG,
      runId: `bench-${label}-${randomUUID().slice(0, 8)}`,
      unpause: true,
      timeoutMs: 300_000,
      heartbeat: () => undefined,
    });
    if (out.state !== 'success')
      throw new Error(`${DAG} ended ${out.state}: ${JSON.stringify(out.taskStates)}`);
    return performance.now() - t;
  };
  const times: Record<string, number[]> = Object.fromEntries(Object.keys(CONFIGS).map((c) => [c, []]));
  try {
    // The DAG is there once the dag-processor has parsed it: until then the API answers 404.
    for (let tries = 0; ; tries++) {
      try {
        await runOnce('warm-up');
        break;
      } catch (err) {
        if (tries >= 120) throw err;
        await new Promise((r) => setTimeout(r, 1000));
      }
    }
    const names = Object.keys(CONFIGS);
    for (let round = 0; round < ROUNDS; round++) {
      for (const name of round % 2 === 0 ? names : [...names].reverse()) {
        await stack.restart('all', { ...base, ...CONFIGS[name] });
        await runOnce(`${name}-unmeasured`);
        for (let i = 0; i < RUNS; i++) {
          const ms = await runOnce(name);
          times[name]?.push(ms);
          console.log(`round ${round + 1}/${ROUNDS} ${name}: ${fmt(ms)}`);
        }
      }
    }
  } finally {
    api.close();
    await stack.stop();
    await db.drop();
    rmSync(dir, { recursive: true, force: true });
  }
  const baseline = median(times['airflow-default'] ?? []);
  console.log(`\nconfig            median   runs   vs airflow-default`);
  for (const [name, xs] of Object.entries(times))
    console.log(
      `${name.padEnd(16)} ${fmt(median(xs)).padStart(7)} ${String(xs.length).padStart(6)}   ${(median(xs) / baseline).toFixed(2)}`,
    );
  console.log(
    JSON.stringify({
      bench: 'dag-run-latency',
      dag: DAG,
      rounds: ROUNDS,
      runs: RUNS,
      airflow: execFileSync(path.join(venvDir(), 'bin', 'airflow'), ['version'], {
        encoding: 'utf8',
      }).trim(),
      configs: Object.fromEntries(
        Object.entries(times).map(([n, xs]) => [n, { medianMs: median(xs), runsMs: xs }]),
      ),
    }),
  );
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
