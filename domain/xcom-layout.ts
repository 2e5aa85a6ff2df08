/**
 * XCom plans written before the runbook engine kept their own fields at the
 * top level (`xcom:`, `validation:`, `lifecycle:`); the engine's envelope puts
 * a runbook's fields under `spec:`. Such plans keep working: the loader moves
 * the fields and says so, and the workflow does the same to the plans in runs
 * recorded before (a pure function: safe in workflow code, no zod).
 */
const MOVED = ['xcom', 'validation', 'lifecycle'] as const;

export function isLegacyXComLayout(raw: unknown): raw is Record<string, unknown> {
  return (
    typeof raw === 'object' &&
    raw !== null &&
    !('spec' in raw) &&
    MOVED.some((k) => k in (raw as Record<string, unknown>))
  );
}

/** The plan with its XCom fields under `spec`; a plan already in that layout is returned as it is. */
export function withSpecLayout<T>(raw: T): T {
  if (!isLegacyXComLayout(raw)) return raw;
  const rest: Record<string, unknown> = {};
  const spec: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(raw)) {
    if ((MOVED as readonly string[]).includes(k)) spec[k] = v;
    else rest[k] = v;
  }
  return { ...rest, spec } as T;
}

export const LEGACY_LAYOUT_NOTICE =
  'this plan uses the layout from before the runbook engine: it still works, but move `xcom:`, `validation:` and `lifecycle:` under `spec:` (indented one level) to silence this notice';
