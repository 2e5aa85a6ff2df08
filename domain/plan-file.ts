/**
 * Reading a plan file: YAML -> schema -> normalised plan + digest.
 * Errors name the field (`xcom.threshold.bytes: ...`) so an operator can fix
 * the file without reading code.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { parseDocument } from 'yaml';
import type { z } from 'zod';
import { KINDS, runbookOf, type LoadablePlan } from './runbooks.js';

export class PlanError extends Error {
  constructor(
    readonly file: string,
    readonly problems: string[],
  ) {
    super(`${file}: invalid plan\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'PlanError';
  }
}

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

export function parsePlanWithNotices(text: string, file = '<plan>'): LoadedPlan {
  const doc = parseDocument(text, { prettyErrors: true });
  if (doc.errors.length > 0) {
    throw new PlanError(
      file,
      doc.errors.map((e) => `YAML: ${e.message.split('\n')[0]}`),
    );
  }
  const raw: unknown = doc.toJS();
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
    text = await readFile(file, 'utf8');
  } catch (err) {
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
