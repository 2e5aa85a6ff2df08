/**
 * A plan file as the CLI loads it: the plan itself (domain/plan-file.ts), then what can be checked
 * on this machine before anything starts. A local target's env file, when it is readable here, must
 * parse as an env file: a plan pointing at /etc/passwd is refused naming the first bad line.
 */
import { readFile } from 'node:fs/promises';
import { EnvFileError, parseEnvFile } from '../adapters/env-file-change.js';
import { loadPlanWithNotices, PlanError, type LoadedPlan } from '../domain/plan-file.js';

export async function loadPlanChecked(file: string): Promise<LoadedPlan> {
  const loaded = await loadPlanWithNotices(file);
  const target = loaded.plan.target;
  if (target.kind !== 'local') return loaded;
  let text: string;
  try {
    text = await readFile(target.envFile, 'utf8');
  } catch {
    // Not readable here (the worker may run elsewhere): the worker refuses it the same way.
    return loaded;
  }
  try {
    parseEnvFile(text, target.envFile);
  } catch (err) {
    if (err instanceof EnvFileError) throw new PlanError(file, [`target.envFile: ${err.message}`]);
    throw err;
  }
  return loaded;
}
