/**
 * Benchmark: a worker process's start, from spawn to a created worker, with the workflow code taken
 * from the bundle `npm run build` wrote against bundling it at start (webpack over workflows/ and
 * domain/, what every worker start did before), rounds interleaved against a local dev server. A
 * worker starts at every `npm run demo`, every redeploy, and after a crash, when a run waits for it.
 *
 *   node dist/bench/worker-startup.js [--rounds 7]
 *
 * Configs, each a fresh `node` process per round:
 *   shipped   dist/worker/main.js as deployed, to its "workflow code:" line (it is created by then)
 *   prebuilt  a child that creates the worker with createCutoverWorker's default (the build's bundle)
 *   bundle    the same child with `workflowsPath` (bundled at start): the baseline
 *   node      `node -e ''`: the floor of any node process
 * Prints medians and p90 of the wall time and the CPU time (the child's utime + stime from
 * /proc/<pid>/stat when it reports) per config, their ratio to `bundle`, and one JSON line.
 */
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { performance } from 'node:perf_hooks';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { NativeConnection } from '@temporalio/worker';
import { prebuiltBundleState, WORKFLOWS_PATH } from '../domain/workflow-bundle.js';
import { createCutoverWorker } from '../worker/create-worker.js';
import { startCutoverEnv } from '../test/support/cutover-env.js';
import { REPO_ROOT } from '../test/support/plans.js';
import { scriptedActivities } from '../test/support/scripted-activities.js';

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '7' },
    child: { type: 'string' },
    address: { type: 'string' },
  },
});

const SELF = fileURLToPath(import.meta.url);
const MAIN = path.join(REPO_ROOT, 'dist', 'worker', 'main.js');
const READY = 'WORKER-CREATED';

/** Child mode: connect, create the worker one way, say so, exit. */
async function child(mode: string, address: string): Promise<void> {
  const connection = await NativeConnection.connect({ address });
  const worker = await createCutoverWorker({
    connection,
    taskQueue: `worker-startup-${process.pid}`,
    activities: scriptedActivities(),
    onBundleNote: () => undefined,
    ...(mode === 'bundle' ? { extra: { workflowsPath: WORKFLOWS_PATH, workflowBundle: undefined } } : {}),
  });
  // Created is what a start costs: the bundle is loaded and the worker registered with the server.
  // The child then waits for the parent's SIGTERM, so that its /proc entry is there to be read.
  process.stdout.write(`${READY} ${worker.getState()}\n`);
  setInterval(() => undefined, 60_000);
}

const quantile = (xs: number[], q: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))] ?? NaN;
};

interface Sample {
  wallMs: number;
  cpuMs: number;
}

/** CPU time of one child: /proc/<pid>/stat's utime + stime, read just before it is stopped. */
async function cpuOf(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(f[11]) + Number(f[12])) * 1000) / 100;
}

/** Spawns args, waits for `marker` on stdout (or exit when null), returns wall and CPU time. */
function run(args: string[], env: NodeJS.ProcessEnv, marker: string | null): Promise<Sample> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const p = spawn(process.execPath, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let done = false;
    const finish = (wallMs: number, cpuMs: number): void => {
      done = true;
      resolve({ wallMs, cpuMs });
    };
    p.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (!done && marker !== null && out.includes(marker)) {
        const wallMs = performance.now() - t0;
        void cpuOf(p.pid ?? 0).then((cpuMs) => {
          p.kill('SIGTERM');
          finish(wallMs, cpuMs);
        }, reject);
      }
    });
    p.stderr.on('data', (d: Buffer) => (out += d.toString()));
    p.on('error', reject);
    p.on('exit', (code) => {
      if (done) return;
      // A process that ran to its end cannot be read in /proc any more: no CPU figure.
      if (marker === null && code === 0) finish(performance.now() - t0, NaN);
      else reject(new Error(`${args.join(' ')} exited ${code} before "${marker}":\n${out.slice(-2000)}`));
    });
  });
}

async function main(): Promise<void> {
  if (values.child !== undefined) return child(values.child, values.address ?? '');
  const rounds = Number(values.rounds);
  if (!Number.isInteger(rounds) || rounds < 1)
    throw new Error(`--rounds wants a positive integer, got ${values.rounds}`);
  const bundle = prebuiltBundleState();
  if (!bundle.fresh) throw new Error(`${bundle.why}: run npm run build first`);
  const env = await startCutoverEnv();
  const childEnv: NodeJS.ProcessEnv = {
    PATH: process.env.PATH ?? '',
    HOME: process.env.HOME ?? '',
    TEMPORAL_ADDRESS: env.server.address,
  };
  const configs: Record<string, () => Promise<Sample>> = {
    shipped: () =>
      run([MAIN], { ...childEnv, CUTOVER_TASK_QUEUE: `worker-startup-${Date.now()}` }, 'workflow code:'),
    prebuilt: () => run([SELF, '--child', 'prebuilt', '--address', env.server.address], childEnv, READY),
    bundle: () => run([SELF, '--child', 'bundle', '--address', env.server.address], childEnv, READY),
    node: () => run(['-e', ''], childEnv, null),
  };
  const samples: Record<string, Sample[]> = Object.fromEntries(Object.keys(configs).map((k) => [k, []]));
  try {
    for (let r = 0; r <= rounds; r++) {
      for (const [name, go] of Object.entries(configs)) {
        const s = await go();
        if (r > 0) samples[name]?.push(s); // round 0 warms the page cache
        process.stderr.write(
          `  round ${r}${r === 0 ? ' (warm-up)' : ''} ${name}: ${s.wallMs.toFixed(0)} ms wall, ${s.cpuMs.toFixed(0)} ms CPU\n`,
        );
      }
    }
  } finally {
    await env.close();
  }
  const base = quantile(
    (samples.bundle ?? []).map((s) => s.wallMs),
    0.5,
  );
  const table: Record<string, { wallMs: number; p90Ms: number; cpuMs: number; ratio: number }> = {};
  console.log(`| config | median wall ms | p90 wall ms | median CPU ms | wall / bundle |`);
  console.log(`| --- | ---: | ---: | ---: | ---: |`);
  for (const [name, xs] of Object.entries(samples)) {
    const wallMs = quantile(
      xs.map((s) => s.wallMs),
      0.5,
    );
    const p90Ms = quantile(
      xs.map((s) => s.wallMs),
      0.9,
    );
    const cpuMs = quantile(
      xs.map((s) => s.cpuMs),
      0.5,
    );
    table[name] = { wallMs, p90Ms, cpuMs, ratio: wallMs / base };
    console.log(
      `| ${name} | ${wallMs.toFixed(0)} | ${p90Ms.toFixed(0)} | ${Number.isNaN(cpuMs) ? '-' : cpuMs.toFixed(0)} | ${(wallMs / base).toFixed(2)} |`,
    );
  }
  console.log(JSON.stringify({ bench: 'worker-startup', rounds, configs: table }));
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? (err.stack ?? err.message) : String(err));
  process.exit(1);
});
