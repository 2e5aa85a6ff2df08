/** Pure rules the runbook depends on: env var encoding, threshold choice, plan identity. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { stringify } from 'yaml';
import { airflowEnvVarName, lintAirflowEnv, renderStage } from '../domain/airflow-env.js';
import { durationMs } from '../domain/duration.js';
import { parsePlan, planDigest } from '../domain/plan-file.js';
import { targetKey, workflowIdFor } from '../domain/plan-key.js';
import { offloads, proposeThreshold } from '../domain/threshold.js';
import { referencePlanInput, testPlan } from './support/plans.js';

const DOSSIER_SIZES = { p50: 15, p95: 73_000, p99: 307_000, p999: 1_520_000, max: 1_990_000 };

test('env var names follow Airflow: dots in the section become underscores', () => {
  assert.equal(
    airflowEnvVarName('common.io', 'xcom_objectstorage_path'),
    'AIRFLOW__COMMON_IO__XCOM_OBJECTSTORAGE_PATH',
  );
  assert.equal(airflowEnvVarName('core', 'xcom_backend'), 'AIRFLOW__CORE__XCOM_BACKEND');
});

test("the rendered flip is the dossier's four variables, lint-clean", () => {
  const stage = renderStage('target', {
    path: 's3://aws_default@cvntrade-artifacts/xcom',
    thresholdBytes: 1_600_000,
    compression: '',
  });
  assert.deepEqual(stage.env, {
    AIRFLOW__CORE__XCOM_BACKEND: 'airflow.providers.common.io.xcom.backend.XComObjectStorageBackend',
    AIRFLOW__COMMON_IO__XCOM_OBJECTSTORAGE_PATH: 's3://aws_default@cvntrade-artifacts/xcom',
    AIRFLOW__COMMON_IO__XCOM_OBJECTSTORAGE_THRESHOLD: '1600000',
    AIRFLOW__COMMON_IO__XCOM_OBJECTSTORAGE_COMPRESSION: '',
  });
  assert.deepEqual(lintAirflowEnv(Object.keys(stage.env)), []);
});

test("the lint names the dossier's footgun and suggests the spelling Airflow reads", () => {
  const findings = lintAirflowEnv([
    'AIRFLOW__CORE__XCOM_BACKEND',
    'AIRFLOW__COMMON.IO__XCOM_OBJECTSTORAGE_PATH',
    'airflow__core__load_examples',
    'PATH',
  ]);
  assert.equal(findings.length, 2);
  assert.equal(findings[0]?.variable, 'AIRFLOW__COMMON.IO__XCOM_OBJECTSTORAGE_PATH');
  assert.match(findings[0]?.problem ?? '', /contains a dot/);
  assert.equal(findings[0]?.suggestion, 'AIRFLOW__COMMON_IO__XCOM_OBJECTSTORAGE_PATH');
  assert.equal(findings[1]?.suggestion, 'AIRFLOW__CORE__LOAD_EXAMPLES');
});

test('threshold just above p99.9 on the dossier distribution is 1,600,000', () => {
  const p = proposeThreshold(DOSSIER_SIZES, {
    strategy: 'above-quantile',
    quantile: 'p99.9',
    roundTo: 100_000,
  });
  assert.equal(p.thresholdBytes, 1_600_000);
  // Strictly above: a quantile that is already round moves up one step.
  const exact = proposeThreshold(
    { ...DOSSIER_SIZES, p999: 1_500_000 },
    { strategy: 'above-quantile', quantile: 'p99.9', roundTo: 100_000 },
  );
  assert.equal(exact.thresholdBytes, 1_600_000);
  assert.equal(
    proposeThreshold(DOSSIER_SIZES, { strategy: 'fixed', bytes: 2_000_000 }).thresholdBytes,
    2_000_000,
  );
  assert.equal(
    proposeThreshold(DOSSIER_SIZES, { strategy: 'above-quantile', quantile: 'max', roundTo: 100_000 })
      .thresholdBytes,
    2_000_000,
  );
});

test('the backend offloads size >= threshold; negative never offloads; 0 offloads everything', () => {
  assert.equal(offloads(1_600_000, 1_600_000), true);
  assert.equal(offloads(1_599_999, 1_600_000), false);
  assert.equal(offloads(10, -1), false);
  assert.equal(offloads(0, 0), true);
});

test('durations', () => {
  assert.equal(durationMs('24h'), 86_400_000);
  assert.equal(durationMs('90s'), 90_000);
  assert.equal(durationMs(30), 30_000);
});

test('the digest ignores formatting and comments but not values', () => {
  const raw = referencePlanInput();
  const a = parsePlan(stringify(raw));
  const b = parsePlan(`# a comment\n${stringify(raw, { indent: 4 })}`);
  assert.equal(planDigest(a), planDigest(b));
  assert.match(planDigest(a), /^sha256:[0-9a-f]{16}$/);
  const c = testPlan((p) => {
    p.spec.xcom.maxOffloadRows = 11;
  });
  assert.notEqual(planDigest(a), planDigest(c));
});

test('workflow id: one per target and plan name', () => {
  const plan = testPlan();
  assert.equal(targetKey(plan), 'k8s-scaleway-prod-cvntrade-airflow');
  assert.equal(workflowIdFor(plan), 'cutover/k8s-scaleway-prod-cvntrade-airflow/xcom-flip-prod');
});
