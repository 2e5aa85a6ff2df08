/** The assessment for a terminal: verdict, component table and findings, most severe first. */
import type { AssessmentEvidence } from '../../domain/assessment/run.js';
import type { RunResult } from '../../domain/engine/run.js';
import type { DryRunSection } from '../dry-run-lines.js';
import { failedSteps } from '../dry-run-lines.js';
import { table } from '../format.js';

export function assessmentLines(result: RunResult): DryRunSection[] {
  const s = result.status;
  const a = (s.evidence as AssessmentEvidence).assessment;
  const out: string[] = [];
  if (!a) {
    const failed = failedSteps(s, 'ASSESS');
    return [{ phase: 'ASSESS', lines: ['ASSESS', ...(failed.length > 0 ? failed : ['   not reached'])] }];
  }
  out.push(
    `ASSESS: ${a.verdict} (${a.counts.critical} critical, ${a.counts.warnings} warnings, ${a.counts.recommendations} recommendations)`,
    ...table(
      ['component', 'state', 'details'],
      a.components.map((c) => [c.component, c.state, c.details]),
      '   ',
    ),
  );
  for (const f of a.findings) {
    out.push(`   [${f.severity === 'critical' ? 'CRITICAL' : 'warning'}] ${f.title}`);
    for (const e of f.evidence.slice(0, 3)) out.push(`      ${e}`);
  }
  return [{ phase: 'ASSESS', lines: out }];
}
