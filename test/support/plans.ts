/** Plans for tests: the reference example, tweaked per test, and a minimal XCom plan for CALIBRATE. */
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

/**
 * A minimal XComBackendCutover plan for CALIBRATE on a local target: the threshold p99.9 rounded up
 * to `roundTo` bytes, at most `maxOffloadRows` rows offloaded, validated by `validationDag`.
 */
export function calibrationPlan(o: {
  name: string;
  roundTo: number;
  validationDag: string;
  maxOffloadRows: number;
  ramp?: { startBytes: number };
}): Plan {
  return planSchema.parse({
    apiVersion: 'cutover/v1',
    kind: 'XComBackendCutover',
    name: o.name,
    target: { kind: 'local', name: 't', envFile: '/tmp/x.env', components: [{ name: 'scheduler' }] },
    airflow: { version: '3.3', metadataDb: { access: 'direct', urlEnv: 'AIRFLOW_METADATA_DB_URL' } },
    change: { mode: 'env-file' },
    approval: { approvers: ['alice'] },
    spec: {
      xcom: {
        path: 's3://aws_default@bucket/xcom',
        threshold: { strategy: 'above-quantile', quantile: 'p99.9', roundTo: o.roundTo },
        maxOffloadRows: o.maxOffloadRows,
        ...(o.ramp ? { ramp: o.ramp } : {}),
      },
      validation: { dagId: o.validationDag },
    },
  });
}

/**
 * The XCom flip of a local target under the supervisor, as the local end-to-end file and the heal
 * bench run it: env-file change, the reference threshold rule (p99.9, rounded to 100 kB), the
 * validation DAG unpaused, `maxOffloadRows` 10. Secrets by env var name only.
 */
export function localXComPlanInput(o: {
  name: string;
  envFile: string;
  components: readonly string[];
  apiUrl: string;
  bucket: string;
  dagId: string;
  approver: string;
}): PlanInput {
  return {
    apiVersion: 'cutover/v1',
    kind: 'XComBackendCutover',
    name: o.name,
    target: {
      kind: 'local',
      name: 'e2e',
      envFile: o.envFile,
      components: o.components.map((name) => ({ name })),
    },
    airflow: {
      version: '3.3',
      metadataDb: { access: 'direct', urlEnv: 'CUTOVER_METADB_URL' },
      api: { url: o.apiUrl, usernameEnv: 'CUTOVER_AIRFLOW_USER', passwordEnv: 'CUTOVER_AIRFLOW_PASSWORD' },
    },
    change: { mode: 'env-file' },
    spec: {
      xcom: {
        path: `s3://aws_default@${o.bucket}/xcom`,
        threshold: { strategy: 'above-quantile', quantile: 'p99.9', roundTo: 100_000 },
        compression: '',
        maxOffloadRows: 10,
      },
      validation: { dagId: o.dagId, unpause: true, timeout: '5m' },
    },
    approval: { approvers: [o.approver], timeout: '1h' },
    rollout: { timeout: '5m' },
  };
}
