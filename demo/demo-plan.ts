/** The plan the demo runs: plans/local.yaml itself, or a copy pointed at this demo's stack. */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parse, stringify } from 'yaml';
import type { PlanInput } from '../domain/plan.js';
import { LOCAL_PLAN, ROOT } from './options.js';
import { shown } from './output.js';

export interface DemoPlan {
  file: string;
  /** True when plans/local.yaml itself is the demo's plan. */
  checkedIn: boolean;
  /** Why a copy was written ("pointed at ..."), or null. */
  edits: string | null;
  bucket: string;
}

/** The bucket of an s3://[conn@]bucket/prefix path. */
function bucketOf(objectPath: string): string {
  const m = /^s3:\/\/(?:[^@/]+@)?([^/]+)/.exec(objectPath);
  if (!m?.[1]) throw new Error(`the plan's xcom.path ${objectPath} is not an s3:// path`);
  return m[1];
}

/** The bucket plans/local.yaml names: moto creates it before the plan copy can be written. */
export function localPlanBucket(): string {
  const raw = parse(readFileSync(LOCAL_PLAN, 'utf8')) as PlanInput;
  return bucketOf(raw.spec.xcom.path);
}

/**
 * plans/local.yaml when it already points at this demo's env file (and, when `apiUrl` is given, at
 * its REST API), else a copy with those two fields replaced, written to <dir>/plan.yaml.
 */
export function demoPlan(dir: string, envFile: string, apiUrl: string | null): DemoPlan {
  const raw = parse(readFileSync(LOCAL_PLAN, 'utf8')) as PlanInput;
  if (raw.target.kind !== 'local') throw new Error(`${shown(LOCAL_PLAN)} is not a local target`);
  const bucket = bucketOf(raw.spec.xcom.path);
  const edits: string[] = [];
  if (path.resolve(ROOT, raw.target.envFile) !== envFile) {
    raw.target.envFile = envFile;
    edits.push(`its env file ${shown(envFile)}`);
  }
  if (apiUrl !== null && raw.airflow.api && raw.airflow.api.url.replace(/\/+$/, '') !== apiUrl) {
    raw.airflow.api.url = apiUrl;
    edits.push(`its REST API ${apiUrl}`);
  }
  if (edits.length === 0) return { file: LOCAL_PLAN, checkedIn: true, edits: null, bucket };
  const file = path.join(dir, 'plan.yaml');
  const why = `pointed at ${edits.join(' and ')}`;
  writeFileSync(file, `# plans/local.yaml ${why} (written by the demo).\n${stringify(raw)}`);
  return { file, checkedIn: false, edits: why, bucket };
}
