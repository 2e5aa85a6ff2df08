/** What an approver reads of a config change, the same for every runbook that makes one. */
import type { CheckRow } from '../../domain/engine/evidence.js';
import type { ChangePreview, RenderedChange } from '../../domain/evidence.js';

/** The preflight verdict (amber rows spelled out), each stage's variables, and where they land. */
export function changeReviewLines(ev: {
  preflight: { checks: CheckRow[] } | null;
  change: RenderedChange | null;
  preview: ChangePreview | null;
}): string[] {
  const lines: string[] = [];
  if (ev.preflight) {
    const amber = ev.preflight.checks.filter((x) => x.status === 'amber');
    lines.push(
      `preflight: ${ev.preflight.checks.length - amber.length}/${ev.preflight.checks.length} green` +
        (amber.length ? `; amber: ${amber.map((x) => `${x.name} (${x.detail})`).join('; ')}` : ''),
    );
  }
  for (const s of ev.change?.stages ?? []) {
    lines.push(
      `change ${s.label}: ${Object.entries(s.env)
        .map(([k, v]) => `${k}=${JSON.stringify(v)}`)
        .join(' ')}`,
    );
  }
  if (ev.preview)
    lines.push(
      `destination: ${ev.preview.destination}${ev.preview.diff ? '' : ' (already holds this change)'}`,
    );
  return lines;
}
