/**
 * Benchmark: what a command costs through Kubernetes pod exec. The median wall time of N runs of
 * `python3 -c pass` through KubeExecPort (pod list + exec WebSocket, v5 framing, stdin closed,
 * status on channel 3) into a pod of the in-repo Kubernetes API test server, whose containers are
 * local processes, against spawning the same process directly. Both loops alternate in rounds so
 * a noisy neighbour hits both alike.
 *
 *   node dist/bench/kube-exec-latency.js [--n 100] [--tls]
 *
 * Prints the medians, p90s, the difference and the ratio, and last one JSON line.
 */
import { spawn } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { KubeExecPort } from '../adapters/kube/exec.js';
import type { Component } from '../domain/plan.js';
import { startKubeApiServer } from '../test/support/kube-api-server.js';

const { values } = parseArgs({
  options: { n: { type: 'string', default: '100' }, tls: { type: 'boolean', default: false } },
});
const N = Number(values.n);
if (!Number.isInteger(N) || N < 1) throw new Error(`--n wants a positive integer, got ${values.n}`);

const quantile = (xs: number[], q: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))] ?? NaN;
};

async function main(): Promise<void> {
  const env = { PATH: process.env.PATH ?? '/usr/bin:/bin' };
  const server = await startKubeApiServer({
    tls: values.tls,
    pods: [
      {
        namespace: 'bench',
        name: 'af-scheduler-0',
        labels: { tier: 'airflow', component: 'scheduler', release: 'af' },
        containers: [{ name: 'scheduler', env: [{ name: 'PATH', value: env.PATH }] }],
      },
    ],
  });
  const port = new KubeExecPort({ kubeconfigPath: server.kubeconfigPath, namespace: 'bench', release: 'af' });
  const scheduler: Component = { name: 'scheduler' };
  const direct: number[] = [];
  const viaKube: number[] = [];
  try {
    for (let i = 0; i < N; i++) {
      let t0 = performance.now();
      await new Promise<void>((resolve, reject) => {
        const c = spawn('python3', ['-c', 'pass'], { env, stdio: 'ignore' });
        c.on('error', reject);
        c.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`python3 exited ${code}`))));
      });
      direct.push(performance.now() - t0);
      t0 = performance.now();
      const r = await port.exec({
        component: scheduler,
        command: ['python3', '-c', 'pass'],
        timeoutMs: 10_000,
      });
      if (r.exitCode !== 0) throw new Error(`exec exited ${r.exitCode}: ${r.stderr}`);
      viaKube.push(performance.now() - t0);
    }
  } finally {
    await server.close();
  }
  const d = quantile(direct, 0.5);
  const k = quantile(viaKube, 0.5);
  const fmt = (x: number) => `${x.toFixed(1)} ms`;
  console.log(`kube exec latency, N=${N}${values.tls ? ', TLS' : ''} (python3 -c pass)`);
  console.log(`  spawned directly:    median ${fmt(d)}, p90 ${fmt(quantile(direct, 0.9))}`);
  console.log(`  through KubeExecPort: median ${fmt(k)}, p90 ${fmt(quantile(viaKube, 0.9))}`);
  console.log(`  added by pod exec:   ${fmt(k - d)} (ratio ${(k / d).toFixed(2)}x)`);
  console.log(
    JSON.stringify({
      bench: 'kube-exec-latency',
      n: N,
      tls: values.tls,
      directMedianMs: d,
      kubeMedianMs: k,
      ratio: k / d,
    }),
  );
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
