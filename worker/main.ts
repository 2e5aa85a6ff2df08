/**
 * `npm run worker`: connects to Temporal (TEMPORAL_ADDRESS etc.), builds the
 * adapters this machine can offer, and serves the cut-over task queue until
 * SIGINT/SIGTERM.
 *
 * Optional: CUTOVER_WEBHOOK_URL (state-change messages, activities/notify.ts)
 * and CUTOVER_METRICS_PORT (Prometheus /metrics, docs/observability.md).
 */
import { Runtime } from '@temporalio/worker';
import { createActivities } from '../activities/index.js';
import { CutoverMetrics } from '../activities/engine/metrics.js';
import { connectWorker, temporalSettings } from '../adapters/temporal-connection.js';
import { WORKFLOW_BUNDLE_PATH } from '../domain/workflow-bundle.js';
import { freePort } from '../local/ports.js';
import { adaptersFromEnv } from './adapters-from-env.js';
import { createCutoverWorker } from './create-worker.js';
import { startMetricsServer, type MetricsServer } from './metrics-server.js';

function metricsPort(raw: string | undefined): number | null {
  if (raw === undefined || raw === '') return null;
  const port = Number(raw);
  if (!Number.isInteger(port) || port < 1 || port > 65535)
    throw new Error(`CUTOVER_METRICS_PORT must be a port number (1-65535), got ${JSON.stringify(raw)}`);
  return port;
}

async function main(): Promise<void> {
  const port = metricsPort(process.env.CUTOVER_METRICS_PORT);
  let sdkMetricsUrl: string | undefined;
  if (port !== null) {
    // Core serves the SDK's metrics on its own address; the endpoint below appends them to the runbook's.
    // The Runtime must be installed before the first connection.
    const sdkPort = await freePort('127.0.0.1');
    Runtime.install({
      telemetryOptions: {
        metrics: { prometheus: { bindAddress: `127.0.0.1:${sdkPort}`, useSecondsForDurations: true } },
      },
    });
    sdkMetricsUrl = `http://127.0.0.1:${sdkPort}/metrics`;
  }
  const metrics = port === null ? undefined : new CutoverMetrics();
  const webhookUrl = process.env.CUTOVER_WEBHOOK_URL || undefined;

  const settings = temporalSettings();
  const connection = await connectWorker(settings);
  const { adapters, available, close } = adaptersFromEnv(process.env);
  let bundledAtStart = false;
  const worker = await createCutoverWorker({
    connection,
    namespace: settings.namespace,
    taskQueue: settings.taskQueue,
    activities: createActivities(adapters, { webhookUrl, metrics }),
    onBundleNote: (line) => {
      bundledAtStart = true;
      console.warn(line);
    },
  });
  let metricsServer: MetricsServer | null = null;
  if (port !== null && metrics)
    metricsServer = await startMetricsServer({ metrics, port, ...(sdkMetricsUrl ? { sdkMetricsUrl } : {}) });
  console.log(
    `cutover worker: ${settings.address} namespace=${settings.namespace} task queue=${settings.taskQueue}`,
  );
  // The URL itself is a credential: say whether there is one, never what it is.
  console.log(`  notifications: ${webhookUrl ? 'webhook configured (CUTOVER_WEBHOOK_URL)' : 'off'}`);
  console.log(`  metrics: ${metricsServer ? metricsServer.url : 'off'}`);
  console.log(
    `  workflow code: ${bundledAtStart ? 'bundled at start' : `${WORKFLOW_BUNDLE_PATH} (npm run build)`}`,
  );
  for (const a of available) console.log(`  can: ${a}`);
  try {
    await worker.run();
  } finally {
    await metricsServer?.close();
    await close();
    await connection.close();
  }
}

main().catch((err: unknown) => {
  console.error(`cutover worker: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
