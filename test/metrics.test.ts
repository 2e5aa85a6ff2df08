/**
 * Worker metrics: three cut-overs (DONE, ROLLED_BACK, OPERATOR_TOOK_OVER) with
 * scripted decisions and the real notify activity feeding one real registry,
 * scraped over HTTP; and the worker entry point (worker/main.ts) serving the
 * runbook's metrics merged with the Temporal SDK's own on CUTOVER_METRICS_PORT.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { ApplicationFailure } from '@temporalio/common';
import { CutoverMetrics } from '../activities/engine/metrics.js';
import { WORKFLOW_BUNDLE_PATH } from '../domain/workflow-bundle.js';
import { notifyActivities } from '../activities/engine/notify.js';
import type { CutoverResult } from '../domain/cutover.js';
import { startMetricsServer, type MetricsServer } from '../worker/metrics-server.js';
import { acknowledgeUpdate, approveUpdate } from '../workflows/engine/messages.js';
import {
  inputFor,
  startCutover,
  startCutoverEnv,
  waitForPhase,
  type CutoverEnv,
  type RunningCutover,
} from './support/cutover-env.js';
import { REPO_ROOT, testPlan } from './support/plans.js';
import { greenScript, red, scriptedActivities, type Script } from './support/scripted-activities.js';
import { freePort } from './support/temporal.js';

const singleStage = testPlan((p) => {
  delete p.spec.xcom.ramp;
});

const verifyFails: Script['verifyConfig'] = async (input, attempt) => ({
  ...(await greenScript.verifyConfig(input, attempt)),
  gate: red('scheduler: ImportError: XComObjectStorageBackend'),
});

async function approve(run: RunningCutover): Promise<void> {
  const waiting = await waitForPhase(run.handle, 'AWAIT_GO', 60_000);
  await run.handle.executeUpdate(approveUpdate, {
    args: [{ operator: 'dococeven', reason: 'evidence reviewed', digest: waiting.planDigest }],
  });
}

async function scrape(url: string): Promise<string> {
  const res = await fetch(url);
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
  return res.text();
}

/** The value of one sample line, e.g. `name{labels}`; undefined when absent. */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

let env: CutoverEnv;
let sdk: http.Server;
let server: MetricsServer;
const metrics = new CutoverMetrics();

before(async () => {
  env = await startCutoverEnv();
  // Stands in for Core's Prometheus page: the endpoint must append it as it is.
  sdk = http.createServer((_req, res) => {
    res
      .writeHead(200, { 'content-type': 'text/plain' })
      .end('# TYPE temporal_fake_total counter\ntemporal_fake_total 7\n');
  });
  await new Promise<void>((resolve) => sdk.listen(0, '127.0.0.1', resolve));
  const sdkPort = (sdk.address() as AddressInfo).port;
  server = await startMetricsServer({
    metrics,
    port: 0,
    host: '127.0.0.1',
    sdkMetricsUrl: `http://127.0.0.1:${sdkPort}/metrics`,
  });
});

after(async () => {
  await server?.close();
  sdk?.closeAllConnections();
  await new Promise((resolve) => sdk?.close(resolve));
  await env?.close();
});

test(
  'phase durations, offloaded values and compensations, scraped over HTTP',
  { timeout: 180_000 },
  async () => {
    const activities = (script: Script) => ({
      ...scriptedActivities(script),
      ...notifyActivities({ metrics }),
    });
    const permanentRevertFault: Script['revertChange'] = async () => {
      throw ApplicationFailure.create({
        type: 'PermanentFault',
        message: 'git push rejected',
        nonRetryable: true,
      });
    };

    const runs: Promise<CutoverResult>[] = [
      (async () => {
        const run = await startCutover(
          env,
          inputFor(singleStage),
          activities({
            validateRun: async (input, attempt) => ({
              ...(await greenScript.validateRun(input, attempt)),
              offloadedCount: 3,
            }),
          }),
        );
        await approve(run);
        return run.result;
      })(),
      (async () => {
        const run = await startCutover(env, inputFor(singleStage), activities({ verifyConfig: verifyFails }));
        await approve(run);
        return run.result;
      })(),
      (async () => {
        const run = await startCutover(
          env,
          inputFor(singleStage),
          activities({ verifyConfig: verifyFails, revertChange: permanentRevertFault }),
        );
        await approve(run);
        await waitForPhase(run.handle, 'NEEDS_OPERATOR', 60_000);
        await run.handle.executeUpdate(acknowledgeUpdate, {
          args: [{ operator: 'dococeven', reason: 'reverting by hand' }],
        });
        return run.result;
      })(),
    ];
    assert.deepEqual(
      (await Promise.all(runs)).map((r) => r.outcome),
      ['DONE', 'ROLLED_BACK', 'OPERATOR_TOOK_OVER'],
    );

    const text = await scrape(server.url);
    const count = (phase: string) => sample(text, `cutover_phase_duration_seconds_count{phase="${phase}"}`);
    const sum = (phase: string) => sample(text, `cutover_phase_duration_seconds_sum{phase="${phase}"}`);
    // The evidence and deploy phases ran in all three runs, VALIDATE in the green one, COMPENSATE's steps
    // only in the roll-back (in the take-over its one step failed: no duration to report).
    for (const phase of ['CALIBRATE', 'PREFLIGHT', 'RENDER', 'REHEARSE', 'APPLY', 'VERIFY'])
      assert.equal(count(phase), 3, `${phase} count\n${text}`);
    assert.equal(count('VALIDATE'), 1);
    assert.equal(count('COMPENSATE'), 1);
    assert.equal(count('AWAIT_GO'), undefined, 'a phase without steps has no samples');
    // Scripted steps take exactly 1 s each (their stamps); CALIBRATE is the calibration + the orphan
    // report, PREFLIGHT the checks + the health gate's two reads (its judgement is the real, pure
    // activity: its own few ms), APPLY apply + rollout, COMPENSATE five steps (the rule was never put:
    // VERIFY failed) + the health reading after the kill-switch.
    assert.equal(Math.floor(sum('PREFLIGHT') ?? 0), 9);
    assert.equal(sum('CALIBRATE'), 6);
    assert.equal(sum('APPLY'), 6);
    assert.equal(Math.floor(sum('COMPENSATE') ?? 0), 7);
    assert.equal(sample(text, 'cutover_phase_duration_seconds_bucket{phase="PREFLIGHT",le="1"}'), 0);
    assert.equal(sample(text, 'cutover_phase_duration_seconds_bucket{phase="PREFLIGHT",le="5"}'), 3);
    assert.equal(sample(text, 'cutover_phase_duration_seconds_bucket{phase="CALIBRATE",le="1"}'), 0);
    assert.equal(sample(text, 'cutover_phase_duration_seconds_bucket{phase="APPLY",le="1"}'), 0);
    assert.equal(sample(text, 'cutover_phase_duration_seconds_bucket{phase="APPLY",le="5"}'), 3);
    assert.equal(sample(text, 'cutover_phase_duration_seconds_bucket{phase="APPLY",le="+Inf"}'), 3);
    assert.match(text, /^# TYPE cutover_phase_duration_seconds histogram$/m);

    assert.equal(sample(text, 'cutover_validation_offloaded_values_total'), 3);
    assert.match(text, /^# TYPE cutover_compensations_total counter$/m);
    assert.equal(sample(text, 'cutover_compensations_total{outcome="rolled_back"}'), 1);
    assert.equal(sample(text, 'cutover_compensations_total{outcome="operator_took_over"}'), 1);

    assert.equal(sample(text, 'temporal_fake_total'), 7, 'the SDK page is appended');
    assert.equal((await fetch(server.url.replace('/metrics', '/'))).status, 404);
  },
);

test(
  'worker/main.ts serves /metrics on CUTOVER_METRICS_PORT with the SDK metrics merged in',
  { timeout: 120_000 },
  async () => {
    const port = await freePort();
    const child = spawn(process.execPath, [path.join(REPO_ROOT, 'dist', 'worker', 'main.js')], {
      env: {
        PATH: process.env.PATH ?? '',
        HOME: process.env.HOME ?? '',
        TEMPORAL_ADDRESS: env.server.address,
        CUTOVER_TASK_QUEUE: 'metrics-test',
        CUTOVER_METRICS_PORT: String(port),
        CUTOVER_WEBHOOK_URL: 'http://127.0.0.1:9/services/T0/B0/secret-token-xyz',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (c: Buffer) => (output += c.toString()));
    child.stderr.on('data', (c: Buffer) => (output += c.toString()));
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    try {
      const deadline = Date.now() + 60_000;
      while (!output.includes('workflow code:')) {
        if (Date.now() > deadline || child.exitCode !== null) assert.fail(`worker did not start:\n${output}`);
        await new Promise((r) => setTimeout(r, 100));
      }
      assert.match(output, /notifications: webhook configured/);
      assert.match(output, /metrics: http/);
      // The build's bundle is current (npm run build made it): the worker starts without webpack.
      assert.ok(
        output.includes(`workflow code: ${WORKFLOW_BUNDLE_PATH} (npm run build)`),
        `the prebuilt bundle is used:\n${output}`,
      );
      assert.ok(!output.includes('Workflow bundle created'), 'nothing was bundled at start');
      assert.ok(!output.includes('secret-token-xyz'), 'the webhook URL is never printed');
      // Core publishes its worker metrics once the pollers run; give it a few scrapes.
      let text = '';
      for (let i = 0; i < 50 && !/^temporal_\w+/m.test(text); i++) {
        text = await scrape(`http://127.0.0.1:${port}/metrics`);
        await new Promise((r) => setTimeout(r, 200));
      }
      assert.match(text, /^cutover_compensations_total\{outcome="rolled_back"\} 0$/m);
      assert.match(text, /^temporal_\w+/m, `SDK metrics in the page:\n${text.slice(0, 2000)}`);
    } finally {
      child.kill('SIGTERM');
      await exited;
    }
  },
);
