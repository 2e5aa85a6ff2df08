/**
 * Resolves what a plan changes into lock keys (domain/engine/locks.ts) on the operator's machine:
 * real paths, the kube context's cluster, a repository without credentials. The start refuses a
 * plan while a running cut-over holds any of its keys (the CutoverLocks search attribute).
 */
import { realpathSync } from 'node:fs';
import path from 'node:path';
import { lockKeys, type LockResolver } from '../domain/engine/locks.js';
import { runbookOf, type AnyPlan } from '../domain/runbooks.js';

function canonicalPath(file: string): string {
  const absolute = path.resolve(file);
  try {
    return realpathSync(absolute);
  } catch {
    // Not there yet: the absolute path is what the change would create and edit.
    return absolute;
  }
}

function repo(r: string): string {
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(r) || /^[^/]+@[^/:]+:/.test(r)) {
    // URL or scp-like: no user/password in a lock key (it lands in search attributes), no trailing .git.
    return r.replace(/\/\/[^@/]*@/, '//').replace(/\.git\/?$/, '');
  }
  return canonicalPath(r);
}

/** kube context -> the API server URL of its cluster, read from the kubeconfig this machine uses. */
async function clusterResolver(): Promise<(context: string | undefined) => string> {
  try {
    const { KubeConfig } = await import('@kubernetes/client-node');
    const kc = new KubeConfig();
    kc.loadFromDefault();
    return (context) => {
      const name = context ?? kc.getCurrentContext();
      const clusterName = kc.getContextObject(name)?.cluster;
      const server = clusterName ? kc.getCluster(clusterName)?.server : undefined;
      return server ?? name ?? 'current';
    };
  } catch {
    return (context) => context ?? 'current';
  }
}

/** A changing runbook's plan -> its lock keys (read-only runbooks take none). */
export async function planLockKeys(plan: AnyPlan): Promise<string[]> {
  const resolver: LockResolver = {
    canonicalPath,
    repo,
    cluster: plan.target.kind === 'kubernetes' ? await clusterResolver() : () => 'current',
  };
  return lockKeys(plan, resolver, runbookOf(plan.kind)?.locks?.(plan) ?? []);
}
