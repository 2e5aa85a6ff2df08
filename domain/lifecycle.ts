/**
 * The bucket lifecycle rule a backend flip owns: the plan field, the merge into whatever
 * configuration the bucket already has, the conflicts an approver must see, and the diff.
 *
 * S3's PutBucketLifecycleConfiguration replaces the whole configuration (every implementation:
 * AWS, MinIO, Ceph, moto), so the rule cannot simply be "added": the configuration is read,
 * every existing rule is kept exactly as it was (order, IDs, filters, transitions, noncurrent and
 * abort-multipart rules), and only the rule with this runbook's ID is added or replaced in place.
 *
 * Pure: the plan schema, the activities and the reports use these; no I/O and no clock here.
 */
import { z } from 'zod';
import type { Timed } from './engine/evidence.js';

export const LIFECYCLE_WHEN = ['after-verify', 'before-flip'] as const;
export type LifecycleWhen = (typeof LIFECYCLE_WHEN)[number];

export const lifecycleSchema = z
  .object({
    /** Objects under the backend's prefix are deleted this many days after they were written. */
    days: z.number().int().positive(),
    /**
     * When the rule is put: after VERIFY proved every component resolves the new backend (the
     * default: nothing is deleted for a flip that never took), or before the flip.
     */
    when: z.enum(LIFECYCLE_WHEN).default('after-verify'),
  })
  .strict();

export type LifecyclePlan = z.infer<typeof lifecycleSchema>;

/** The plan check: a rule is only owned on an s3:// path with a prefix (field-named error otherwise). */
export function checkLifecycle(
  path: string,
  lifecycle: LifecyclePlan | undefined,
  ctx: z.RefinementCtx,
): void {
  if (!lifecycle) return;
  const why = lifecycleRefusal(path);
  if (why) ctx.addIssue({ code: 'custom', path: ['spec', 'lifecycle'], message: why });
}

/**
 * One lifecycle rule as JSON (the S3 API's field names, dates as ISO strings so it travels through
 * workflow history). Only the fields the merge and the conflict check read are typed; the rest is
 * carried untouched.
 */
export interface LifecycleRule {
  ID?: string;
  Status?: string;
  /** The legacy rule-level prefix (before Filter existed); still returned for rules written so. */
  Prefix?: string;
  Filter?: {
    Prefix?: string;
    Tag?: { Key?: string; Value?: string };
    ObjectSizeGreaterThan?: number;
    ObjectSizeLessThan?: number;
    And?: { Prefix?: string; Tags?: { Key?: string; Value?: string }[] } & Record<string, unknown>;
  } & Record<string, unknown>;
  Expiration?: { Days?: number; Date?: string; ExpiredObjectDeleteMarker?: boolean };
  [field: string]: unknown;
}

/** null: the bucket has no lifecycle configuration at all (NoSuchLifecycleConfiguration). */
export type LifecycleConfig = LifecycleRule[] | null;

/** `s3://conn@bucket/a/b` -> { bucket, keyPrefix: 'a/b/' }; the root ('') for a path without one. */
export function objectLocation(path: string): { scheme: string; bucket: string; keyPrefix: string } {
  const m = /^([a-z0-9]+):\/\/(?:[^@/]+@)?([^/]+)(?:\/(.*))?$/.exec(path.trim());
  if (!m) throw new Error(`"${path}" is not a URL like s3://<conn_id>@<bucket>/<prefix>`);
  const [, scheme = '', bucket = '', rest = ''] = m;
  const trimmed = rest.replace(/^\/+|\/+$/g, '');
  return { scheme, bucket, keyPrefix: trimmed === '' ? '' : `${trimmed}/` };
}

/**
 * Why a lifecycle rule cannot be owned for this path, or null. Checked in the plan (a field-named
 * error) and again by the activities.
 */
export function lifecycleRefusal(path: string): string | null {
  let loc: ReturnType<typeof objectLocation>;
  try {
    loc = objectLocation(path);
  } catch (err) {
    return (err as Error).message;
  }
  if (loc.scheme !== 's3')
    return `a lifecycle rule is put through the S3 API: the path must be s3://, not ${loc.scheme}://`;
  if (loc.keyPrefix === '')
    return 'the path has no prefix, so the rule would expire every object in the bucket: give the backend a prefix (s3://conn@bucket/xcom)';
  return null;
}

/** The ID of the rule a plan owns: stable across runs of the same plan, so a re-run replaces it. */
export function ownedRuleId(planName: string, keyPrefix: string): string {
  // S3 allows 255 characters; plan names are short, prefixes may not be.
  return `cutover:${planName}:${keyPrefix}`.slice(0, 255);
}

export function ownedRule(planName: string, path: string, days: number): LifecycleRule {
  const { keyPrefix } = objectLocation(path);
  return {
    ID: ownedRuleId(planName, keyPrefix),
    Status: 'Enabled',
    Filter: { Prefix: keyPrefix },
    Expiration: { Days: days },
  };
}

/** Every existing rule as it was, and ours added at the end or replacing the one with its ID in place. */
export function mergeLifecycle(existing: LifecycleConfig, owned: LifecycleRule): LifecycleRule[] {
  const rules = existing ?? [];
  const at = rules.findIndex((r) => r.ID === owned.ID);
  if (at < 0) return [...rules, owned];
  return rules.map((r, i) => (i === at ? owned : r));
}

/** Our rule taken out of `current`, everything else kept (null when nothing would be left). */
export function withoutOwned(current: LifecycleConfig, ruleId: string): LifecycleConfig {
  const rest = (current ?? []).filter((r) => r.ID !== ruleId);
  return rest.length === 0 ? null : rest;
}

/** Structural equality of two configurations as the S3 API returns them (key order ignored). */
export function sameLifecycle(a: LifecycleConfig, b: LifecycleConfig): boolean {
  return canonical(a) === canonical(b);
}

function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (v !== null && typeof v === 'object') {
    const entries = Object.entries(v as Record<string, unknown>)
      .filter(([, x]) => x !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, x]) => `${JSON.stringify(k)}:${canonical(x)}`).join(',')}}`;
  }
  return JSON.stringify(v);
}

/** The key prefix a rule applies to; '' is the whole bucket. A tag- or size-only filter applies everywhere. */
export function rulePrefix(rule: LifecycleRule): string {
  return rule.Filter?.Prefix ?? rule.Filter?.And?.Prefix ?? rule.Prefix ?? '';
}

export interface LifecycleConflict {
  ruleId: string;
  /** The existing rule, as the bucket holds it. */
  rule: LifecycleRule;
  why: string;
}

/**
 * Existing enabled rules that also act on objects under our prefix: one on the bucket root or on a
 * parent prefix, one on the same prefix with other days, one inside our prefix. Both rules apply
 * (S3 takes the earliest expiration), so an approver must see them.
 */
export function lifecycleConflicts(existing: LifecycleConfig, owned: LifecycleRule): LifecycleConflict[] {
  const ours = rulePrefix(owned);
  const out: LifecycleConflict[] = [];
  for (const rule of existing ?? []) {
    if (rule.ID === owned.ID || rule.Status !== 'Enabled') continue;
    const theirs = rulePrefix(rule);
    if (!ours.startsWith(theirs) && !theirs.startsWith(ours)) continue;
    const where =
      theirs === ''
        ? 'applies to the whole bucket'
        : theirs === ours
          ? `applies to the same prefix ${theirs}`
          : ours.startsWith(theirs)
            ? `applies to ${theirs}, which contains ${ours}`
            : `applies to ${theirs}, inside ${ours}`;
    const acts = ruleActions(rule);
    out.push({
      ruleId: rule.ID ?? '(no ID)',
      rule,
      why: `${where} (${acts}); S3 applies both rules, the earliest expiration wins`,
    });
  }
  return out;
}

function ruleActions(rule: LifecycleRule): string {
  const acts: string[] = [];
  if (rule.Expiration?.Days !== undefined) acts.push(`expires after ${rule.Expiration.Days} days`);
  if (rule.Expiration?.Date !== undefined) acts.push(`expires on ${rule.Expiration.Date}`);
  if (Array.isArray(rule.Transitions) && rule.Transitions.length > 0) acts.push('transitions objects');
  if (rule.NoncurrentVersionExpiration !== undefined) acts.push('expires noncurrent versions');
  if (rule.AbortIncompleteMultipartUpload !== undefined) acts.push('aborts incomplete uploads');
  return acts.join(', ') || 'no action';
}

/** The configuration as an approver reads it: one rule per block, pretty JSON. */
export function lifecycleText(config: LifecycleConfig): string[] {
  if (config === null) return ['(no lifecycle configuration)'];
  return JSON.stringify({ Rules: config }, null, 2).split('\n');
}

/** A line diff of two configurations (`-`/`+`/` ` prefixes), '' when they are the same. */
export function lifecycleDiff(before: LifecycleConfig, after: LifecycleConfig): string {
  if (sameLifecycle(before, after)) return '';
  const a = lifecycleText(before);
  const b = lifecycleText(after);
  // Longest common subsequence over lines: configurations are a few hundred lines at most.
  const n = a.length;
  const m = b.length;
  const lcs = new Int32Array((n + 1) * (m + 1));
  const at = (i: number, j: number) => lcs[i * (m + 1) + j] ?? 0;
  for (let i = n - 1; i >= 0; i--)
    for (let j = m - 1; j >= 0; j--)
      lcs[i * (m + 1) + j] = a[i] === b[j] ? at(i + 1, j + 1) + 1 : Math.max(at(i + 1, j), at(i, j + 1));
  const out: string[] = [];
  let i = 0;
  let j = 0;
  while (i < n || j < m) {
    if (i < n && j < m && a[i] === b[j]) {
      out.push(`  ${a[i]}`);
      i++;
      j++;
    } else if (i < n && (j >= m || at(i + 1, j) >= at(i, j + 1))) {
      out.push(`- ${a[i]}`);
      i++;
    } else {
      out.push(`+ ${b[j]}`);
      j++;
    }
  }
  return out.join('\n');
}

// --- Evidence -----------------------------------------------------------------

/** What lies under the backend's prefix against what the metadata DB still references. */
export interface ObjectReport extends Timed {
  /** The bucket and key prefix listed. */
  bucket: string;
  keyPrefix: string;
  /** Why nothing was measured (e.g. the DB is only reachable inside a pod); null when measured. */
  skipped: string | null;
  listed: ObjectTally;
  referenced: ObjectTally;
  /** Objects no DB row references any more: what a retention rule may delete without harm. */
  orphaned: ObjectTally;
  /** References to keys that are not in the bucket (a value that can no longer be read). */
  dangling: number;
  /** The plan's retention, and how many referenced objects are already older than it. */
  retentionDays: number | null;
  referencedOlderThanRetention: number | null;
  /**
   * Referenced objects by age in whole days: entry d counts those d days old, the last entry
   * those AGE_CAP_DAYS or older. What any rule's `Days` would delete is read from it.
   */
  referencedByAgeDays: number[];
}

export const AGE_CAP_DAYS = 366;

/** How many referenced objects are `days` old or older (what a rule expiring after `days` deletes). */
export function referencedAtLeast(report: Pick<ObjectReport, 'referencedByAgeDays'>, days: number): number {
  const from = Math.min(Math.max(0, Math.floor(days)), AGE_CAP_DAYS);
  return (report.referencedByAgeDays ?? []).slice(from).reduce((a, b) => a + b, 0);
}

export interface ObjectTally {
  objects: number;
  bytes: number;
  /** ISO timestamp of the oldest, null when there are none. */
  oldest: string | null;
}

export interface LifecycleRender extends Timed {
  bucket: string;
  keyPrefix: string;
  ruleId: string;
  days: number;
  when: LifecycleWhen;
  before: LifecycleConfig;
  after: LifecycleRule[];
  /** False when the bucket already holds exactly `after`. */
  changed: boolean;
  diff: string;
  conflicts: LifecycleConflict[];
  /** Amber findings an approver must read (conflicts, referenced objects the rule would delete). */
  warnings: string[];
}

export interface LifecycleApplyRecord extends Timed {
  changed: boolean;
  detail: string;
}

export interface LifecycleRevertRecord extends Timed {
  /** restored: the configuration from before; deleted: there was none; ours-removed: only our rule taken out. */
  outcome: 'restored' | 'deleted' | 'ours-removed' | 'unchanged';
  detail: string;
}

/** The object-storage records both backend flips keep beside their change. */
export interface ObjectStorageEvidence {
  objects?: ObjectReport | null;
  lifecycle?: LifecycleRender | null;
  lifecycleApplied?: LifecycleApplyRecord | null;
  lifecycleReverted?: LifecycleRevertRecord | null;
}
