/**
 * Reading a plan file: YAML -> schema -> normalised plan + digest.
 * Errors name the field (`xcom.threshold.bytes: ...`) so an operator can fix
 * the file without reading code.
 */
import { createHash } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { parseDocument } from 'yaml';
import type { z } from 'zod';
import { formatBytes, formatCount } from './figures.js';
import { KINDS, runbookOf, type LoadablePlan } from './runbooks.js';

import { PlanError } from './plan-error.js';

export { PlanError };

function fieldPath(path: readonly PropertyKey[]): string {
  if (path.length === 0) return '(plan)';
  return path
    .map((p, i) => (typeof p === 'number' ? `[${p}]` : `${i === 0 ? '' : '.'}${String(p)}`))
    .join('');
}

export function describeIssues(issues: readonly z.core.$ZodIssue[]): string[] {
  return issues.map((issue) => {
    if (issue.code === 'unrecognized_keys') {
      return `${fieldPath(issue.path)}: unknown field(s) ${issue.keys.join(', ')}`;
    }
    return `${fieldPath(issue.path)}: ${issue.message}`;
  });
}

/** A parsed plan and what the operator should know about the file (an older layout, say). */
export interface LoadedPlan {
  plan: LoadablePlan;
  notices: string[];
}

/**
 * Bounds on what a plan may hold. A plan travels as the workflow input, so a huge one would pass
 * here and fail later at the server (gRPC RESOURCE_EXHAUSTED) after a long wait; the largest real
 * plan is a few KB, and no text field (a description, a URL, a key) needs more than a few KB.
 */
export const MAX_PLAN_BYTES = 256_000;
export const MAX_PLAN_TEXT_CHARS = 4_096;
const MAX_PLAN_DEPTH = 32;

/** The first text fields over the bound, and nesting no plan needs, each named by its path. */
function oversizedFields(value: unknown, at: PropertyKey[] = [], found: string[] = []): string[] {
  if (found.length >= 5) return found;
  if (at.length > MAX_PLAN_DEPTH) {
    found.push(`${fieldPath(at)}: nested more than ${MAX_PLAN_DEPTH} levels deep`);
  } else if (typeof value === 'string') {
    if (value.length > MAX_PLAN_TEXT_CHARS) {
      found.push(
        `${fieldPath(at)}: ${formatCount(value.length)} characters; a text field holds at most ${formatCount(MAX_PLAN_TEXT_CHARS)}`,
      );
    }
  } else if (Array.isArray(value)) {
    value.forEach((v, i) => oversizedFields(v, [...at, i], found));
  } else if (value && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) {
      if (k.length > MAX_PLAN_TEXT_CHARS)
        found.push(`${fieldPath(at)}: a field name of ${formatCount(k.length)} characters`);
      else oversizedFields(v, [...at, k], found);
    }
  }
  return found;
}

function tooLarge(bytes: number): string {
  return `(plan): the file is ${formatBytes(bytes)}; a plan is at most ${formatBytes(MAX_PLAN_BYTES)}`;
}

export function parsePlanWithNotices(text: string, file = '<plan>'): LoadedPlan {
  const bytes = Buffer.byteLength(text, 'utf8');
  if (bytes > MAX_PLAN_BYTES) throw new PlanError(file, [tooLarge(bytes)]);
  const doc = parseDocument(text, { prettyErrors: true });
  if (doc.errors.length > 0) {
    throw new PlanError(
      file,
      doc.errors.map((e) => `YAML: ${e.message.split('\n')[0]}`),
    );
  }
  const raw: unknown = doc.toJS();
  if (raw === null || raw === undefined) {
    throw new PlanError(file, ['(plan): the plan file is empty (no YAML mapping in it)']);
  }
  const oversized = oversizedFields(raw);
  if (oversized.length > 0) throw new PlanError(file, oversized);
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new PlanError(file, ['(plan): a plan is a YAML mapping with apiVersion, kind, name, ...']);
  }
  const record = raw as Record<string, unknown>;
  const runbook = runbookOf(record['kind']);
  if (!runbook) {
    const kind = record['kind'] === undefined ? 'missing' : JSON.stringify(record['kind']);
    throw new PlanError(file, [
      `kind: ${kind}; use one of the runbooks this cutover knows: ${KINDS.join(', ')}`,
    ]);
  }
  const migrated = runbook.migrate?.(record) ?? null;
  const result = runbook.planSchema.safeParse(migrated?.raw ?? record);
  if (!result.success) throw new PlanError(file, describeIssues(result.error.issues));
  return { plan: result.data as LoadablePlan, notices: migrated ? [migrated.notice] : [] };
}

export function parsePlan(text: string, file = '<plan>'): LoadablePlan {
  return parsePlanWithNotices(text, file).plan;
}

export async function loadPlanWithNotices(file: string): Promise<LoadedPlan> {
  let text: string;
  try {
    // Refuse a huge file before reading it all.
    const { size } = await stat(file);
    if (size > MAX_PLAN_BYTES) throw new PlanError(file, [tooLarge(size)]);
    text = await readFile(file, 'utf8');
  } catch (err) {
    if (err instanceof PlanError) throw err;
    throw new PlanError(file, [
      `cannot read the file: ${(err as NodeJS.ErrnoException).code ?? String(err)}`,
    ]);
  }
  return parsePlanWithNotices(text, file);
}

export async function loadPlan(file: string): Promise<LoadablePlan> {
  return (await loadPlanWithNotices(file)).plan;
}

/** JSON with keys sorted at every level, so equal plans give equal text. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

/**
 * The digest an approver quotes: it names the exact normalised plan they
 * reviewed, so formatting or comment edits do not change it but any value does.
 */
export function planDigest(plan: LoadablePlan): string {
  return `sha256:${createHash('sha256').update(canonicalJson(plan)).digest('hex').slice(0, 16)}`;
}
