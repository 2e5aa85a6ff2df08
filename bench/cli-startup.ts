/**
 * Benchmark: what the `cutover` command costs to start, per command, as the warm wall time of a
 * whole process (`node bin/cutover.js ...`, spawned) against `node -e ''` measured in the same run,
 * rounds interleaved so that a noisy neighbour hits every command alike. The read-only commands run
 * against a local dev server (in memory, client/devserver.ts) holding one cut-over waiting for its
 * go, driven by a worker in this process with scripted activities (what the CLI reads is a real
 * run's status, history and visibility; what the activities did does not matter here).
 *
 *   node dist/bench/cli-startup.js [--rounds 7] [--compare /other/checkout/bin/cutover.js]
 *
 * --compare measures a second CLI (another checkout's bin/cutover.js, e.g. before a change) in the
 * same rounds. Prints, per command, the median and p90 wall time and the median's ratio to
 * `node -e ''`, and last one JSON line.
 */
import { spawn } from 'node:child_process';
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { WORKFLOW_BUNDLE_PATH, prebuiltBundleState } from '../domain/workflow-bundle.js';
import { createCutoverWorker } from '../worker/create-worker.js';
import { startCutoverEnv } from '../test/support/cutover-env.js';
import { REPO_ROOT } from '../test/support/plans.js';
import { scriptedActivities } from '../test/support/scripted-activities.js';

const { values } = parseArgs({
  options: { rounds: { type: 'string', default: '7' }, compare: { type: 'string' } },
});
const ROUNDS = Number(values.rounds);
if (!Number.isInteger(ROUNDS) || ROUNDS < 1)
  throw new Error(`--rounds wants a positive integer, got ${values.rounds}`);

const CLI = path.join(REPO_ROOT, 'bin', 'cutover.js');
const LONGEST_HISTORY = path.join(REPO_ROOT, 'test', 'histories', 'health-rolled-back.json');

const quantile = (xs: number[], q: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))] ?? NaN;
};

/** One process from spawn to exit, in ms; its exit code must be `want`. */
function timed(args: string[], env: NodeJS.ProcessEnv, want = 0): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(process.execPath, args, { env, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      const ms = performance.now() - t0;
      if (code === want) resolve(ms);
      else reject(new Error(`${args.join(' ')}: exit ${code}, wanted ${want}: ${stderr.trim()}`));
    });
  });
}

async function main(): Promise<void> {
  const bundle = prebuiltBundleState();
  if (!bundle.fresh) throw new Error(`${bundle.why}: run npm run build first`);
  const dir = mkdtempSync(path.join(tmpdir(), 'cutover-cli-bench-'));
  const planFile = path.join(dir, 'plan.yaml');
  copyFileSync(path.join(REPO_ROOT, 'plans', 'reference-dossier.yaml'), planFile);
  const env = await startCutoverEnv();
  const taskQueue = `cli-bench-${process.pid}`;
  const worker = await createCutoverWorker({
    connection: env.connection,
    taskQueue,
    activities: scriptedActivities(),
    extra: { workflowBundle: { codePath: WORKFLOW_BUNDLE_PATH }, workflowsPath: undefined },
  });
  const running = worker.run();
  const cliEnv: NodeJS.ProcessEnv = {
    ...process.env,
    TEMPORAL_ADDRESS: env.server.address,
    TEMPORAL_NAMESPACE: 'default',
    CUTOVER_TASK_QUEUE: taskQueue,
    CUTOVER_OPERATOR: 'bench',
  };
  try {
    // One cut-over that waits for its go: status and report read it, list lists it.
    const id = await new Promise<string>((resolve, reject) => {
      const c = spawn(process.execPath, [CLI, 'start', '--plan', planFile, '--id'], { env: cliEnv });
      let out = '';
      let err = '';
      c.stdout.on('data', (d: Buffer) => (out += d.toString()));
      c.stderr.on('data', (d: Buffer) => (err += d.toString()));
      c.on('close', (code) => (code === 0 ? resolve(out.trim()) : reject(new Error(`start: ${err}`))));
    });
    const handle = env.client.workflow.getHandle(id);
    for (let i = 0; i < 600; i++) {
      const s = await handle.query<{ phase: string }>('status').catch(() => null);
      if (s?.phase === 'AWAIT_GO') break;
      await new Promise((r) => setTimeout(r, 100));
    }

    const commands: [string, string[]][] = [
      ['--help', ['--help']],
      ['validate', ['validate', planFile]],
      ['status', ['status', id]],
      ['list', ['list']],
      ['report', ['report', id]],
      ['replay --file (longest history)', ['replay', '--file', LONGEST_HISTORY]],
    ];
    const clis: [string, string][] = [
      ['this', CLI],
      ...(values.compare ? [['compare', values.compare] as [string, string]] : []),
    ];
    const rows: { cli: string; command: string; args: string[] }[] = [];
    for (const [cli, bin] of clis)
      for (const [command, args] of commands) rows.push({ cli, command, args: [bin, ...args] });
    const baseline: number[] = [];
    const times = rows.map(() => [] as number[]);
    // Round 0 warms the file cache and the server; it is not counted.
    for (let round = 0; round <= ROUNDS; round++) {
      const b = await timed(['-e', ''], cliEnv);
      if (round > 0) baseline.push(b);
      for (const [i, row] of rows.entries()) {
        const ms = await timed(row.args, cliEnv);
        if (round > 0) times[i]?.push(ms);
      }
    }

    const base = quantile(baseline, 0.5);
    const result = rows.map((row, i) => {
      const t = times[i] ?? [];
      return {
        cli: row.cli,
        command: row.command,
        medianMs: Math.round(quantile(t, 0.5)),
        p90Ms: Math.round(quantile(t, 0.9)),
        ratio: Number((quantile(t, 0.5) / base).toFixed(1)),
      };
    });
    console.log(
      `cli startup: ${ROUNDS} rounds, node ${process.version}; node -e '' median ${Math.round(base)} ms`,
    );
    console.log(
      `${'cli'.padEnd(8)} ${'command'.padEnd(34)} ${'median'.padStart(8)} ${'p90'.padStart(8)} ${'x node'.padStart(8)}`,
    );
    for (const r of result)
      console.log(
        `${r.cli.padEnd(8)} ${r.command.padEnd(34)} ${`${r.medianMs} ms`.padStart(8)} ${`${r.p90Ms} ms`.padStart(8)} ${`${r.ratio}x`.padStart(8)}`,
      );
    console.log(
      JSON.stringify({ bench: 'cli-startup', rounds: ROUNDS, nodeMedianMs: Math.round(base), result }),
    );
    await handle.terminate('benchmark over').catch(() => undefined);
  } finally {
    worker.shutdown();
    await running;
    await env.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(`cli-startup: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
