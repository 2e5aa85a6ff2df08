/**
 * The CD half of GitOps for tests: what Argo CD or Flux does after "merge the branch, CI
 * deploys". It polls a branch of a real git repo, reads the Helm values at a dotted location
 * (e.g. extraConfigMaps.airflow-env.data) and, when they differ from what it last synced, hands
 * them to `apply` (a ConfigMap write on the Kubernetes API test server). Components still need a
 * restart to see it, as with the official chart's envFrom ConfigMaps.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { parse } from 'yaml';

const run = promisify(execFile);

export interface GitOpsSyncOptions {
  /** A repo path (bare or not) git can read the branch from. */
  repo: string;
  branch: string;
  valuesFile: string;
  location: string;
  apply(data: Record<string, string>): void | Promise<void>;
  intervalMs?: number;
}

export interface GitOpsSync {
  /** Syncs that changed something so far. */
  syncs(): number;
  stop(): Promise<void>;
}

function at(doc: unknown, location: string): Record<string, string> {
  let node: unknown = doc;
  for (const part of location.split('.')) {
    if (node === null || typeof node !== 'object') return {};
    node = (node as Record<string, unknown>)[part];
  }
  if (node === null || typeof node !== 'object') return {};
  return Object.fromEntries(Object.entries(node as Record<string, unknown>).map(([k, v]) => [k, String(v)]));
}

export function startGitOpsSync(opts: GitOpsSyncOptions): GitOpsSync {
  let last: string | null = null;
  let count = 0;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let inFlight: Promise<void> = Promise.resolve();

  const tick = async () => {
    const { stdout } = await run('git', ['-C', opts.repo, 'show', `${opts.branch}:${opts.valuesFile}`], {
      env: { ...process.env, GIT_CONFIG_GLOBAL: '/dev/null' },
    });
    const data = at(parse(stdout), opts.location);
    const key = JSON.stringify(data);
    if (key === last) return;
    await opts.apply(data);
    if (last !== null) count++;
    last = key;
  };
  const loop = () => {
    if (stopped) return;
    inFlight = tick()
      .catch(() => undefined) // a half-written repo is read again next time
      .finally(() => {
        if (!stopped) timer = setTimeout(loop, opts.intervalMs ?? 300);
      });
  };
  loop();
  return {
    syncs: () => count,
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await inFlight;
    },
  };
}
