/**
 * Connection settings the Temporal way: TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE,
 * TEMPORAL_API_KEY, TLS variables and config-file profiles
 * (TEMPORAL_PROFILE / TEMPORAL_CONFIG_FILE), read by @temporalio/envconfig.
 * Defaults to the local dev server. Temporal is an external system to both the
 * CLI and the worker, so this lives with the other adapters and both import it.
 */
import { loadClientConnectConfig } from '@temporalio/envconfig';
import type { Client } from '@temporalio/client';
import type { NativeConnection } from '@temporalio/worker';
import { DEFAULT_TASK_QUEUE } from '../domain/cutover.js';

export interface TemporalSettings {
  address: string;
  namespace: string;
  taskQueue: string;
  /** The Web UI base URL, for links (CUTOVER_UI_URL, else derived for a local dev server). */
  uiUrl: string | null;
  connectConfig: ReturnType<typeof loadClientConnectConfig>;
}

export function temporalSettings(env: NodeJS.ProcessEnv = process.env): TemporalSettings {
  const connectConfig = loadClientConnectConfig({
    ...(env.TEMPORAL_PROFILE ? { profile: env.TEMPORAL_PROFILE } : {}),
    overrideEnvVars: Object.fromEntries(
      Object.entries(env).filter((e): e is [string, string] => e[1] !== undefined),
    ),
  });
  const address = connectConfig.connectionOptions.address ?? 'localhost:7233';
  connectConfig.connectionOptions.address = address;
  const namespace = connectConfig.namespace ?? 'default';
  return {
    address,
    namespace,
    taskQueue: env.CUTOVER_TASK_QUEUE ?? DEFAULT_TASK_QUEUE,
    uiUrl: env.CUTOVER_UI_URL ?? localUiUrl(address),
    connectConfig,
  };
}

/** The dev server serves its UI on port + 1000. */
function localUiUrl(address: string): string | null {
  const m = /^(localhost|127\.0\.0\.1|\[::1\]):(\d+)$/.exec(address);
  return m && m[2] ? `http://localhost:${Number(m[2]) + 1000}` : null;
}

export function workflowUiLink(
  settings: TemporalSettings,
  workflowId: string,
  runId?: string,
): string | null {
  if (!settings.uiUrl) return null;
  const base = `${settings.uiUrl}/namespaces/${encodeURIComponent(settings.namespace)}/workflows/${encodeURIComponent(workflowId)}`;
  return runId ? `${base}/${runId}/history` : base;
}

// The SDKs are loaded when a connection is made: the CLI reads these settings on every command,
// and @temporalio/worker alone costs ~0.3 s of start-up.
export async function connectClient(settings: TemporalSettings): Promise<Client> {
  const { Client, Connection } = await import('@temporalio/client');
  const connection = await Connection.connect(settings.connectConfig.connectionOptions);
  return new Client({ connection, namespace: settings.namespace });
}

export async function connectWorker(settings: TemporalSettings): Promise<NativeConnection> {
  const { NativeConnection } = await import('@temporalio/worker');
  return NativeConnection.connect(settings.connectConfig.connectionOptions);
}
