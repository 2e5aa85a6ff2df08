/** The plan the demo runs: the runbook's checked-in plan itself, or a copy pointed at this demo's stack. */
import type { UpgradePlanInput } from '../domain/upgrade/plan.js';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parse, stringify } from 'yaml';
import { ROOT } from './options.js';
import { shown } from './output.js';
import type { DemoRunbook, RawPlan } from './runbooks.js';

export interface DemoPlan {
  file: string;
  /** True when the runbook's checked-in plan itself is the demo's plan. */
  checkedIn: boolean;
  /** Why a copy was written ("pointed at ..."), or null. */
  edits: string | null;
  bucket: string;
}

/** The bucket of an s3://[conn@]bucket/prefix path. */
function bucketOf(objectPath: string): string {
  const m = /^s3:\/\/(?:[^@/]+@)?([^/]+)/.exec(objectPath);
  if (!m?.[1]) throw new Error(`the plan's object-storage path ${objectPath} is not an s3:// path`);
  return m[1];
}

function readPlan(runbook: DemoRunbook): RawPlan {
  return parse(readFileSync(path.join(ROOT, runbook.planFile), 'utf8')) as RawPlan;
}

/** The bucket the runbook's plan names: moto creates it before the plan copy can be written. */
export function planBucket(runbook: DemoRunbook): string {
  return bucketOf(runbook.objectPath(readPlan(runbook)));
}

/** The Airflow release the runbook's stack starts on (DemoRunbook.stackRelease), from its checked-in plan. */
export function planStackRelease(runbook: DemoRunbook): string | null {
  return runbook.stackRelease(readPlan(runbook));
}

/**
 * The runbook's checked-in plan when it already points at this demo's env file (and, when `apiUrl`
 * is given, at its REST API; when `backups` is, its dumps at that directory), else a copy with
 * those fields replaced, written to <dir>/plan.yaml.
 */
export function demoPlan(
  runbook: DemoRunbook,
  dir: string,
  envFile: string,
  apiUrl: string | null,
  backups: string | null = null,
): DemoPlan {
  const checkedIn = path.join(ROOT, runbook.planFile);
  const raw = readPlan(runbook);
  if (raw.target.kind !== 'local') throw new Error(`${shown(checkedIn)} is not a local target`);
  const bucket = bucketOf(runbook.objectPath(raw));
  const edits: string[] = [];
  if (path.resolve(ROOT, raw.target.envFile) !== envFile) {
    raw.target.envFile = envFile;
    edits.push(`its env file ${shown(envFile)}`);
  }
  if (apiUrl !== null && raw.airflow.api && raw.airflow.api.url.replace(/\/+$/, '') !== apiUrl) {
    raw.airflow.api.url = apiUrl;
    edits.push(`its REST API ${apiUrl}`);
  }
  const spec = (raw as UpgradePlanInput).spec;
  if (
    backups !== null &&
    'backup' in spec &&
    spec.backup.strategy === 'pg-dump' &&
    spec.backup.to !== backups
  ) {
    spec.backup.to = backups;
    edits.push(`its dumps in ${shown(backups)}`);
  }
  if (edits.length === 0) return { file: checkedIn, checkedIn: true, edits: null, bucket };
  const file = path.join(dir, 'plan.yaml');
  const why = `pointed at ${edits.join(' and ')}`;
  writeFileSync(file, `# ${runbook.planFile} ${why} (written by the demo).\n${stringify(raw)}`);
  return { file, checkedIn: false, edits: why, bucket };
}
