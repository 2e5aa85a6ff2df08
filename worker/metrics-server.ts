/**
 * GET /metrics for Prometheus: the runbook's own metrics (activities/metrics.ts)
 * followed by the Temporal SDK's, so one scrape target covers the worker. The
 * SDK serves its metrics from Core on a loopback address of its own; this
 * endpoint fetches that page on each scrape and appends it (the two sets of
 * names cannot collide: `cutover_` and `temporal_`).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { CutoverMetrics } from '../activities/engine/metrics.js';

export interface MetricsServerOptions {
  metrics: CutoverMetrics;
  port: number;
  host?: string;
  /** The SDK's Prometheus page (Runtime telemetry), e.g. http://127.0.0.1:9465/metrics. */
  sdkMetricsUrl?: string;
}

export interface MetricsServer {
  url: string;
  close(): Promise<void>;
}

async function sdkMetrics(url: string): Promise<string> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(5_000) });
    if (!res.ok) return `# temporal sdk metrics unavailable: HTTP ${res.status}\n`;
    const text = await res.text();
    return text.endsWith('\n') || text === '' ? text : `${text}\n`;
  } catch (err) {
    // The runbook's metrics are still worth a scrape when the SDK's page is not.
    return `# temporal sdk metrics unavailable: ${err instanceof Error ? err.message : String(err)}\n`;
  }
}

export async function startMetricsServer(opts: MetricsServerOptions): Promise<MetricsServer> {
  const server = http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' || path !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('try GET /metrics\n');
      return;
    }
    void (async () => {
      const own = opts.metrics.render();
      const sdk = opts.sdkMetricsUrl ? await sdkMetrics(opts.sdkMetricsUrl) : '';
      res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' }).end(own + sdk);
    })();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host ?? '0.0.0.0', () => resolve());
  });
  const { address, port } = server.address() as AddressInfo;
  return {
    url: `http://${address.includes(':') ? `[${address}]` : address}:${port}/metrics`,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((err) => (err ? reject(err) : resolve()));
      }),
  };
}
