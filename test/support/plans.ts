/** Plans for tests: the reference example, tweaked per test. */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import type { Plan, PlanInput } from '../../domain/plan.js';
import { planSchema } from '../../domain/plan.js';
import { repoRoot } from '../../local/venv.js';

export const REPO_ROOT = repoRoot();

export function referencePlanInput(): PlanInput {
  return parse(readFileSync(path.join(REPO_ROOT, 'plans', 'reference-dossier.yaml'), 'utf8')) as PlanInput;
}

/** The reference plan, edited by `patch`, parsed through the real schema. */
export function testPlan(patch: (raw: PlanInput) => void = () => {}): Plan {
  const raw = referencePlanInput();
  patch(raw);
  return planSchema.parse(raw);
}
