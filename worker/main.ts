/**
 * `npm run worker`: connects to Temporal (TEMPORAL_ADDRESS etc.), builds the
 * adapters this machine can offer, and serves the cut-over task queue until
 * SIGINT/SIGTERM.
 */
import { connectWorker, temporalSettings } from '../client/connection.js';
import { adaptersFromEnv } from './adapters-from-env.js';
import { createCutoverWorker } from './create-worker.js';

async function main(): Promise<void> {
  const settings = temporalSettings();
  const connection = await connectWorker(settings);
  const { adapters, missing, available, close } = adaptersFromEnv(process.env);
  const worker = await createCutoverWorker({
    connection,
    namespace: settings.namespace,
    taskQueue: settings.taskQueue,
    adapters,
  });
  console.log(
    `cutover worker: ${settings.address} namespace=${settings.namespace} task queue=${settings.taskQueue}`,
  );
  for (const a of available) console.log(`  can: ${a}`);
  for (const m of missing)
    console.log(
      `  no ${m.adapter} adapter (${m.targets.join(' and ')} targets): steps that ${m.needs} will fail with AdapterMissing`,
    );
  try {
    await worker.run();
  } finally {
    await close();
    await connection.close();
  }
}

main().catch((err: unknown) => {
  console.error(`cutover worker: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
