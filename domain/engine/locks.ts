/**
 * What a run really changes, as lock keys: two cut-overs that share a key must never overlap,
 * whatever their plans are named. The names of things (a target's `name`, a kube context) are
 * not what is changed; the file, the cluster's release, the repository's values file and the
 * bucket's lifecycle configuration are. Pure: the caller resolves paths and clusters.
 */
import type { PlanEnvelope } from './plan.js';

export interface LockResolver {
  /** The canonical path of a file the change edits (symlinks and `..` resolved where it exists). */
  canonicalPath(file: string): string;
  /** The cluster a kube context points at (its API server URL), or the context name when unknown. */
  cluster(context: string | undefined): string;
  /** A git repository as one string: a local path canonical, a URL without credentials or `.git`. */
  repo(repo: string): string;
}

type Lockable = Pick<PlanEnvelope, 'target' | 'change'>;

export function lockKeys(plan: Lockable, resolve: LockResolver, extra: readonly string[] = []): string[] {
  const keys: string[] = [];
  const t = plan.target;
  if (t.kind === 'local') {
    keys.push(`env-file:${resolve.canonicalPath(t.envFile)}`);
  } else {
    const cluster = resolve.cluster(t.context);
    // The release's components restart whatever carries the change: one rollout at a time.
    keys.push(`release:${cluster}/${t.namespace}/${t.release}`);
    const c = plan.change;
    if (c.mode === 'configmap') keys.push(`configmap:${cluster}/${t.namespace}/${c.configMap}`);
    if (c.mode === 'gitops') keys.push(`values-file:${resolve.repo(c.repo)}#${c.valuesFile}`);
  }
  return [...new Set([...keys, ...extra])].sort();
}
