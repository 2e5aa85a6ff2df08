/**
 * A plan file as the CLI loads it: the plan itself (domain/plan-file.ts), then what can be checked
 * on this machine before anything starts. A local target's env file, when it is readable here, must
 * parse as an env file: a plan pointing at /etc/passwd is refused naming the first bad line. An
 * upgrade's target release must exist on the package index.
 */
import { readFile } from 'node:fs/promises';
import { EnvFileError, parseEnvFile } from '../adapters/env-file.js';
import { loadPlanWithNotices, PlanError, type LoadedPlan } from '../domain/plan-file.js';
import { UPGRADE_KIND } from '../domain/upgrade/kind.js';
import { airflowReleaseOnIndex } from './release-index.js';

export async function loadPlanChecked(file: string): Promise<LoadedPlan> {
  const loaded = await loadPlanWithNotices(file);
  if (loaded.plan.kind === UPGRADE_KIND) {
    const to = loaded.plan.spec.upgrade.toVersion;
    const onIndex = await airflowReleaseOnIndex(to);
    if ('unknown' in onIndex)
      loaded.notices.push(
        `could not check that Airflow ${to} exists on the package index (${onIndex.unknown})`,
      );
    else if (!onIndex.found)
      throw new PlanError(file, [
        `spec.upgrade.toVersion: Airflow ${to} is not a release on the package index (${onIndex.url} does not list it)`,
      ]);
  }
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
