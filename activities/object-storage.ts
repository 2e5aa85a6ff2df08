/**
 * The object-storage steps both backend flips share: what lies under the backend's prefix against
 * what the metadata DB still references (orphans, read-only), the PREFLIGHT row for the lifecycle
 * permission, and the retention rule itself: rendered as a merge into the bucket's configuration,
 * put after the go, and reverted exactly.
 */
import type { CheckRow } from '../domain/engine/evidence.js';
import {
  lifecycleConflicts,
  lifecycleDiff,
  lifecycleRefusal,
  mergeLifecycle,
  objectLocation,
  ownedRule,
  sameLifecycle,
  withoutOwned,
  type LifecycleApplyRecord,
  type LifecycleRender,
  type LifecycleRevertRecord,
  type ObjectReport,
  type ObjectTally,
  AGE_CAP_DAYS,
  referencedAtLeast,
} from '../domain/lifecycle.js';
import { backendStorage, type BackendFlipPlan } from '../domain/runbooks.js';
import { requireAdapter, type Adapters } from './adapters.js';
import { PermanentFault } from './engine/errors.js';
import { timed } from './engine/timing.js';
import type { ListedObject, ObjectReferencesPort, ObjectStorePort } from './object-store-ports.js';

const DAY_MS = 86_400_000;

export const LIFECYCLE_CHECK = 'lifecycle';

export function objectStorageActivities(adapters: Adapters) {
  const store = (plan: BackendFlipPlan, needs: string) =>
    requireAdapter(adapters, 'objectStore', plan, needs);

  /** The rule this plan owns and where it goes; a plan that asks for none cannot render one. */
  const owned = (plan: BackendFlipPlan) => {
    const { path, lifecycle } = backendStorage(plan);
    if (!lifecycle) throw new PermanentFault('the plan asks for no lifecycle rule (spec.lifecycle)');
    const refusal = lifecycleRefusal(path);
    if (refusal) throw new PermanentFault(`spec.lifecycle: ${refusal}`);
    const { bucket, keyPrefix } = objectLocation(path);
    return { bucket, keyPrefix, lifecycle, rule: ownedRule(plan.name, path, lifecycle.days) };
  };

  return {
    /**
     * Objects under the backend's prefix against the keys the metadata DB references, in one merge
     * of two sorted streams (the bucket listing and a DB cursor): bounded memory at any size.
     */
    async reportObjects({ plan, now }: { plan: BackendFlipPlan; now?: string }): Promise<ObjectReport> {
      const { path, lifecycle } = backendStorage(plan);
      const { scheme, bucket, keyPrefix } = objectLocation(path);
      const retentionDays = lifecycle?.days ?? null;
      return timed(async () => {
        const empty = (skipped: string): Omit<ObjectReport, 'startedAt' | 'finishedAt'> => ({
          bucket,
          keyPrefix,
          skipped,
          listed: tally(),
          referenced: tally(),
          orphaned: tally(),
          dangling: 0,
          retentionDays,
          referencedOlderThanRetention: null,
          referencedByAgeDays: [],
        });
        if (scheme !== 's3') return empty(`${scheme}:// is not listed: only S3 buckets are`);
        let refs: ObjectReferencesPort;
        let s3: ObjectStorePort;
        try {
          s3 = store(plan, 'list the objects under the backend prefix');
          refs = requireAdapter(
            adapters,
            'objectReferences',
            plan,
            'compare the bucket with the metadata DB',
          );
        } catch (err) {
          // Read-only evidence: a worker that cannot build it says why instead of failing the run.
          return empty(err instanceof Error ? err.message : String(err));
        }
        const nowMs = Date.parse(now ?? new Date().toISOString());
        const byAge = new Array<number>(AGE_CAP_DAYS + 1).fill(0);
        const listed = tally();
        const referenced = tally();
        const orphaned = tally();
        let dangling = 0;
        const objects = pages(s3.listObjects(bucket, keyPrefix));
        const keys = pages(refs.referencedKeys(bucket, keyPrefix));
        let o: ListedObject | null;
        let k: string | null;
        try {
          o = await objects.next();
          k = await keys.next();
        } catch (err) {
          // No permission to list, no such table: evidence that says so, not a failed run.
          if (err instanceof PermanentFault) return empty(err.message);
          throw err;
        }
        while (o !== null || k !== null) {
          const cmp = o === null ? 1 : k === null ? -1 : byteOrder(o.key, k);
          if (cmp < 0 && o) {
            add(listed, o);
            add(orphaned, o);
            o = await objects.next();
          } else if (cmp > 0) {
            dangling++;
            k = await keys.next();
          } else if (o) {
            add(listed, o);
            add(referenced, o);
            const age = Math.min(
              AGE_CAP_DAYS,
              Math.max(0, Math.floor((nowMs - Date.parse(o.lastModified)) / DAY_MS)),
            );
            byAge[age] = (byAge[age] ?? 0) + 1;
            o = await objects.next();
            k = await keys.next();
          }
        }
        return {
          bucket,
          keyPrefix,
          skipped: null,
          listed,
          referenced,
          orphaned,
          dangling,
          retentionDays,
          referencedOlderThanRetention:
            retentionDays === null ? null : referencedAtLeast({ referencedByAgeDays: byAge }, retentionDays),
          // Trailing zeros carry nothing: the evidence stays small in history.
          referencedByAgeDays: trimZeros(byAge),
        };
      });
    },

    /** RENDER: the bucket's configuration now, the merged one, their diff and what an approver must weigh. */
    async renderLifecycle({
      plan,
      objects,
    }: {
      plan: BackendFlipPlan;
      objects?: ObjectReport | null;
    }): Promise<LifecycleRender> {
      const { bucket, keyPrefix, lifecycle, rule } = owned(plan);
      return timed(async () => {
        const before = await store(plan, 'read the bucket lifecycle configuration').getLifecycle(bucket);
        const after = mergeLifecycle(before, rule);
        const conflicts = lifecycleConflicts(before, rule);
        const warnings = conflicts.map(
          (c) =>
            `existing rule ${c.ruleId} ${c.why}: ${JSON.stringify(c.rule)} vs ours ${JSON.stringify(rule)}`,
        );
        // An existing rule with fewer days deletes first: what it would take of objects still in use.
        if (objects && !objects.skipped)
          for (const c of conflicts) {
            const days = c.rule.Expiration?.Days;
            if (days === undefined || days >= lifecycle.days) continue;
            const n = referencedAtLeast(objects, days);
            if (n > 0)
              warnings.push(
                `existing rule ${c.ruleId} expires objects under ${keyPrefix} after ${days} days, before this plan's ${lifecycle.days}: ${n} object(s) the metadata DB still references are ${days} days old or more, so their DAG runs lose those values although they are younger than the retention`,
              );
          }
        const older = objects?.referencedOlderThanRetention ?? 0;
        if (older > 0)
          warnings.push(
            `${older} object(s) under ${keyPrefix} are still referenced by the metadata DB and older than ${lifecycle.days} days: the rule deletes them at its next daily run, and reading those values then fails`,
          );
        return {
          bucket,
          keyPrefix,
          ruleId: rule.ID ?? '',
          days: lifecycle.days,
          when: lifecycle.when,
          before,
          after,
          changed: !sameLifecycle(before, after),
          diff: lifecycleDiff(before, after),
          conflicts,
          warnings,
        };
      });
    },

    /**
     * Puts the rendered configuration. Idempotent: a bucket already holding it is left alone. A
     * bucket whose configuration changed since RENDER is not overwritten: the approver saw another one.
     */
    async applyLifecycle({
      plan,
      render,
    }: {
      plan: BackendFlipPlan;
      render: LifecycleRender;
    }): Promise<LifecycleApplyRecord> {
      const { bucket } = render;
      const s3 = store(plan, 'put the bucket lifecycle configuration');
      return timed(async () => {
        const now = await s3.getLifecycle(bucket);
        if (sameLifecycle(now, render.after))
          return {
            changed: false,
            detail: `bucket ${bucket} already holds rule ${render.ruleId}: nothing to do`,
          };
        if (!sameLifecycle(now, render.before))
          throw new PermanentFault(
            `the lifecycle configuration of bucket ${bucket} changed after it was rendered and approved: not overwriting it (re-run the plan to render the new one)`,
          );
        await s3.putLifecycle(bucket, render.after);
        return {
          changed: true,
          detail: `rule ${render.ruleId} put on bucket ${bucket} (expire ${render.keyPrefix} after ${render.days} days; ${render.after.length - 1} other rule(s) kept)`,
        };
      });
    },

    /**
     * The undo: the exact configuration from before (deleted when there was none). If someone
     * changed the configuration since the apply, only our rule is taken out of theirs.
     */
    async revertLifecycle({
      plan,
      render,
    }: {
      plan: BackendFlipPlan;
      render: LifecycleRender;
    }): Promise<LifecycleRevertRecord> {
      const { bucket } = render;
      const s3 = store(plan, 'revert the bucket lifecycle configuration');
      return timed(async () => {
        const now = await s3.getLifecycle(bucket);
        if (sameLifecycle(now, render.before))
          return {
            outcome: 'unchanged',
            detail: `bucket ${bucket} holds its previous configuration: nothing to revert`,
          };
        if (sameLifecycle(now, render.after)) {
          if (render.before === null) {
            await s3.deleteLifecycle(bucket);
            return {
              outcome: 'deleted',
              detail: `bucket ${bucket} had no lifecycle configuration: deleted again`,
            };
          }
          await s3.putLifecycle(bucket, render.before);
          return {
            outcome: 'restored',
            detail: `bucket ${bucket}: the previous ${render.before.length} rule(s) restored exactly`,
          };
        }
        const rest = withoutOwned(now, render.ruleId);
        if (sameLifecycle(rest, now))
          return { outcome: 'unchanged', detail: `bucket ${bucket} no longer holds rule ${render.ruleId}` };
        if (rest === null) await s3.deleteLifecycle(bucket);
        else await s3.putLifecycle(bucket, rest);
        return {
          outcome: 'ours-removed',
          detail: `bucket ${bucket}'s configuration changed since the apply: only rule ${render.ruleId} was taken out, the other ${rest?.length ?? 0} rule(s) left as they are`,
        };
      });
    },
  };
}

/** What a plan with a retention rule needs past the go (for the worker-can-deploy row). */
export function lifecycleNeeds(plan: BackendFlipPlan): [keyof Adapters, string][] {
  return backendStorage(plan).lifecycle ? [['objectStore', 'put and revert the bucket lifecycle rule']] : [];
}

/**
 * PREFLIGHT's lifecycle row: the worker can read the bucket's lifecycle configuration (and so will
 * see what it merges into). A state-store plan without a rule is amber: nothing else deletes its objects.
 */
export async function lifecyclePreflightRow(adapters: Adapters, plan: BackendFlipPlan): Promise<CheckRow> {
  const t0 = Date.now();
  const row = (status: CheckRow['status'], detail: string): CheckRow => ({
    id: LIFECYCLE_CHECK,
    name: 'lifecycle rule',
    status,
    detail,
    durationMs: Date.now() - t0,
  });
  const { path, lifecycle } = backendStorage(plan);
  if (!lifecycle) {
    return plan.kind === 'StateStoreBackendCutover'
      ? row(
          'amber',
          'no spec.lifecycle: offloaded state is never deleted (the backend ignores expires_at and `airflow state-store clean` skips worker-side backends)',
        )
      : row('green', 'no spec.lifecycle: objects are kept until something else deletes them');
  }
  const refusal = lifecycleRefusal(path);
  if (refusal) return row('red', refusal);
  const { bucket } = objectLocation(path);
  try {
    const config = await requireAdapter(
      adapters,
      'objectStore',
      plan,
      'read the bucket lifecycle configuration',
    ).getLifecycle(bucket);
    return row(
      'green',
      `s3:GetLifecycleConfiguration on ${bucket} works (${config === null ? 'no configuration yet' : `${config.length} rule(s) to keep`}); the apply needs s3:PutLifecycleConfiguration`,
    );
  } catch (err) {
    return row('red', err instanceof Error ? err.message : String(err));
  }
}

function trimZeros(counts: number[]): number[] {
  let end = counts.length;
  while (end > 0 && counts[end - 1] === 0) end--;
  return counts.slice(0, end);
}

function tally(): ObjectTally {
  return { objects: 0, bytes: 0, oldest: null };
}

function add(t: ObjectTally, o: ListedObject): void {
  t.objects++;
  t.bytes += o.size;
  if (t.oldest === null || o.lastModified < t.oldest) t.oldest = o.lastModified;
}

/** S3 lists keys in UTF-8 byte order; the DB sorts with COLLATE "C", the same order. */
function byteOrder(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

/** One item at a time out of an async source of pages (null at the end). */
function pages<T>(source: AsyncIterable<T[]>): { next(): Promise<T | null> } {
  const it = source[Symbol.asyncIterator]();
  let page: T[] = [];
  let i = 0;
  let done = false;
  return {
    async next() {
      while (i >= page.length) {
        if (done) return null;
        const r = await it.next();
        if (r.done) {
          done = true;
          return null;
        }
        page = r.value;
        i = 0;
      }
      return page[i++] ?? null;
    },
  };
}
