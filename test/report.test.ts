/** renderReport(status): the Markdown dossier, from evidence shaped like the reference cut-over. */
import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import { renderReport } from '../client/report.js';
import { rcaFigures } from '../client/rca.js';
import { emptyEvidence, type CutoverStatus, type Evidence } from '../domain/cutover.js';
import { planDigest } from '../domain/plan-file.js';
import { testPlan } from './support/plans.js';
import { greenScript, red } from './support/scripted-activities.js';

const plan = testPlan((p) => {
  delete p.spec.xcom.ramp;
});
let done: CutoverStatus;

function baseStatus(evidence: Evidence, extra: Partial<CutoverStatus> = {}): CutoverStatus {
  return {
    runbook: 'XComBackendCutover',
    decision: done?.decision ?? null,
    compensation: null,
    workflowId: 'cutover/k8s-scaleway-prod-cvntrade-airflow/xcom-flip-prod',
    planName: plan.name,
    target: 'k8s-scaleway-prod-cvntrade-airflow',
    planDigest: planDigest(plan),
    startedBy: 'alice',
    phase: 'FINISHED',
    details: 'DONE: XComObjectStorageBackend live',
    steps: [
      {
        phase: 'CALIBRATE',
        step: 'measure XCom sizes',
        status: 'ok',
        summary: '7175 rows | p99.9 1520000 B',
      },
      { phase: 'VALIDATE', step: 'validate target', status: 'failed', summary: 'boom' },
    ],
    evidence,
    pendingApproval: null,
    refusals: [],
    outcome: 'DONE',
    ...extra,
  };
}

before(async () => {
  const ev = emptyEvidence();
  ev.calibration = await greenScript.calibrate({ plan }, 1);
  const thresholdBytes = ev.calibration.proposal.thresholdBytes;
  ev.preflight = await greenScript.preflight({ plan, runId: 'r', thresholdBytes }, 1);
  ev.change = await greenScript.renderChange({ plan, thresholdBytes }, 1);
  const stage = ev.change.stages[0];
  assert.ok(stage);
  ev.preview = await greenScript.previewChange({ plan, stage }, 1);
  ev.rehearsal = await greenScript.rehearse({ plan, runId: 'r', stage }, 1);
  const decision = {
    kind: 'approve',
    via: 'update',
    operator: 'dococeven',
    reason: 'evidence reviewed',
    digest: planDigest(plan),
  } as const;
  ev.applies.push(await greenScript.applyChange({ plan, stage, changeId: 'w@r' }, 1));
  ev.rollouts.push(await greenScript.waitForRollout({ plan, expectEnv: stage.env }, 1));
  ev.verifications.push(await greenScript.verifyConfig({ plan, stage }, 1));
  ev.validations.push(await greenScript.validateRun({ plan, runId: 'cutover__abc__target' }, 1));
  done = baseStatus(ev, { decision });
});

void test('status line and the calibration table carry the measured figures', () => {
  const md = renderReport(done);
  assert.match(md, /^# Cut-over xcom-flip-prod: DONE\n/);
  assert.ok(md.includes('| Workflow | `cutover/k8s-scaleway-prod-cvntrade-airflow/xcom-flip-prod` |'));
  assert.ok(md.includes(`| Plan digest | \`${planDigest(plan)}\` |`));
  assert.ok(
    md.includes(
      '| XCom rows | p50 | p95 | p99 | p99.9 | max |\n|---:|---:|---:|---:|---:|---:|\n| 7 175 | 15 B | 73 KB | 307 KB | 1.52 MB | 1.99 MB |',
    ),
  );
  assert.ok(md.includes('| 545 | 277 | 11 |'));
  assert.ok(md.includes('Proposed threshold: **1.6 MB (1 600 000 B)** (above-p99.9: scripted).'));
  assert.ok(md.includes('Historical rows that would offload at this threshold: **7** (the plan allows 10).'));
  assert.ok(md.includes('| diagnostic__s42 | discriminate_cell | 120 | 1.99 MB |'));
});

void test('preflight, change (env vars and diff) and rehearsal verdict', () => {
  const md = renderReport(done);
  assert.ok(md.includes('| functional write/read/delete | green | PASS | 40 ms |'));
  assert.ok(md.includes('### Stage target (threshold 1.6 MB (1 600 000 B))'));
  assert.ok(md.includes('| `AIRFLOW__COMMON_IO__XCOM_OBJECTSTORAGE_THRESHOLD` | `1600000` |'));
  assert.ok(md.includes('| `AIRFLOW__COMMON_IO__XCOM_OBJECTSTORAGE_COMPRESSION` | (empty) |'));
  assert.ok(md.includes('Encoding lint: clean.'));
  assert.ok(md.includes('```diff\n+AIRFLOW__CORE__XCOM_BACKEND: ...\n```'));
  assert.ok(md.includes('Verdict: **PASSED**'));
  assert.ok(
    md.includes('| 1.67 MB | `s3://aws_default@bucket/xcom/_rehearsal/x` | yes | yes | yes | yes | yes |'),
  );
});

void test('decision, deploy, verification per component, validation run, steps', () => {
  const md = renderReport(done);
  assert.ok(md.includes('**Approved** by **dococeven** (via update): evidence reviewed'));
  assert.ok(md.includes('(matches the plan digest)'));
  assert.ok(md.includes('| target | gitops | yes | `merge-target` |'));
  for (const c of ['scheduler', 'api-server', 'triggerer', 'dag-processor']) {
    assert.ok(
      md.includes(
        `| ${c} | ${c}-0 | XComObjectStorageBackend | s3://aws_default@cvntrade-artifacts/xcom | 1.6 MB (1 600 000 B) | (none) | – |`,
      ),
      c,
    );
  }
  assert.ok(md.includes('| diagnostic__s42 | `cutover__abc__target` | success | 0 | 2 | 0 | 1.2 KB | 0 |'));
  assert.ok(md.includes('Tasks: push success, pull success.'));
  assert.ok(
    md.includes('| CALIBRATE | measure XCom sizes | ok | 7175 rows \\| p99.9 1520000 B |'),
    'pipes are escaped',
  );
  assert.ok(md.includes('| VALIDATE | validate target | **failed** | boom |'));
  assert.ok(
    !md.includes('. Compensation (kill-switch)'),
    'no compensation section when the kill-switch never ran',
  );
  assert.ok(!/\n{3,}/.test(md), 'no runs of blank lines');
});

void test('a run still waiting for the go: sections not reached, the pending request, refusals', () => {
  const ev = {
    ...done.evidence,
    applies: [],
    rollouts: [],
    verifications: [],
    validations: [],
  };
  const md = renderReport({
    ...baseStatus(ev, { decision: null }),
    phase: 'AWAIT_GO',
    outcome: null,
    pendingApproval: {
      planDigest: planDigest(plan),
      approvers: ['dococeven', 'platform-oncall'],
      startedBy: 'alice',
      allowSelfApproval: false,
      timeoutMs: 86_400_000,
      openedAfter: '2026-06-06T10:00:01.000Z',
      deadline: '2026-06-07T10:00:01.000Z',
      review: [],
    },
    refusals: [
      {
        message: 'approve',
        operator: 'mallory',
        via: 'signal',
        why: 'mallory is not one of the plan approvers',
      },
    ],
  });
  assert.match(md, /^# Cut-over xcom-flip-prod: in progress \(AWAIT_GO\)/);
  assert.ok(
    md.includes('Waiting for a decision from dococeven or platform-oncall until 2026-06-07T10:00:01.000Z'),
  );
  assert.ok(md.includes('| approve | mallory | signal | mallory is not one of the plan approvers |'));
  assert.ok(md.includes('## 8. Deploy\n\n_Not reached._'));
  assert.ok(md.includes('## 10. Validation run\n\n_Not reached._'));
});

void test('a rolled-back run shows the compensation: trigger, reverts, re-runs, heal, operator actions', async () => {
  const ev = { ...done.evidence };
  const stage = ev.change?.stages[0];
  assert.ok(stage);
  const affected = await greenScript.findAffectedRuns({ plan, since: '2026-06-06T10:00:00.000Z' }, 1);
  const validation = ev.validations[0];
  assert.ok(validation);
  ev.validations = [{ ...validation, state: 'failed', xcomErrors: 3, gate: red('3 XCom errors') }];
  ev.reverts = [
    await greenScript.revertChange({ plan, stage, revertHandle: 'merge-target', changeId: 'w@r' }, 1),
  ];
  ev.revertRollout = await greenScript.waitForRollout({ plan, expectEnv: {} }, 1);
  ev.affected = affected;
  ev.reruns = await greenScript.rerunAffectedRuns({ plan, runs: affected.runs }, 1);
  ev.heal = await greenScript.confirmHealed({ plan, runs: affected.runs }, 1);
  const compensation = {
    trigger: { phase: 'VALIDATE', error: '3 XCom errors' },
    completed: ['revert target', 'waitForRollout', 'findAffectedRuns'],
    failed: { step: 'rerunAffectedRuns', error: 'scheduler unreachable', attempt: 1 },
    remaining: ['rerunAffectedRuns', 'confirmHealed'],
    undoRemaining: [],
    operatorActions: [
      { action: 'retryCompensation' as const, operator: 'dococeven', reason: 'scheduler back' },
    ],
  };
  const md = renderReport({ ...baseStatus(ev, { compensation }), outcome: 'ROLLED_BACK' });
  assert.match(md, /^# Cut-over xcom-flip-prod: ROLLED_BACK/);
  assert.ok(md.includes('Gate: **RED**: 3 XCom errors.'));
  assert.ok(md.includes('## 12. Compensation (kill-switch)'));
  assert.ok(md.includes('Triggered by VALIDATE: 3 XCom errors'));
  assert.ok(md.includes('**Failed step**: rerunAffectedRuns (attempt 1): scheduler unreachable'));
  assert.ok(md.includes('Remaining: rerunAffectedRuns, confirmHealed.'));
  assert.ok(md.includes('| target | `revert-target` | yes | AIRFLOW__CORE__XCOM_BACKEND=(absent)'));
  assert.ok(md.includes('| diagnostic__s42 | `scheduled__after-apply` | failed | success |'));
  assert.ok(md.includes('| retryCompensation | dococeven | scheduler back |'));
});

void test('a rolled-back run has an RCA: failing step, error, compensation, timeline and time to heal', () => {
  const ev = { ...done.evidence };
  const compensation = {
    trigger: {
      phase: 'VERIFY',
      error: 'scheduler: AIRFLOW__COMMON.IO__XCOM_OBJECTSTORAGE_PATH is set but Airflow never reads it',
    },
    completed: ['revert target', 'waitForRollout', 'findAffectedRuns', 'rerunAffectedRuns', 'confirmHealed'],
    failed: null,
    remaining: [],
    undoRemaining: [],
    operatorActions: [],
  };
  const at = (s: number) => new Date(Date.UTC(2026, 5, 6, 10, 0, s)).toISOString();
  const status: CutoverStatus = {
    ...baseStatus(ev, { compensation }),
    outcome: 'ROLLED_BACK',
    steps: [
      {
        phase: 'APPLY',
        step: 'apply target',
        status: 'ok',
        summary: 'deployed',
        startedAt: at(0),
        finishedAt: at(1),
      },
      {
        phase: 'VERIFY',
        step: 'verify target',
        status: 'ok',
        summary: '0/1 resolve',
        startedAt: at(20),
        finishedAt: at(25),
      },
      {
        phase: 'COMPENSATE',
        step: 'revert target',
        status: 'ok',
        summary: 'reverted',
        startedAt: at(25),
        finishedAt: at(26),
      },
      {
        phase: 'COMPENSATE',
        step: 'confirm re-runs read data',
        status: 'ok',
        summary: '1/1',
        startedAt: at(60),
        finishedAt: at(72),
      },
    ],
  };
  const md = renderReport(status);
  assert.ok(md.includes('## RCA'));
  assert.ok(md.includes('| Failing phase | VERIFY |'));
  assert.ok(md.includes('| Failing step | VERIFY / verify target |'));
  assert.ok(md.includes('is set but Airflow never reads it'));
  assert.ok(
    md.includes(
      '| Compensation | revert target → waitForRollout → findAffectedRuns → rerunAffectedRuns → confirmHealed |',
    ),
  );
  assert.ok(md.includes('| Time to heal | 47 s |'), md);
  assert.ok(md.includes('### Timeline'));
  assert.deepEqual(rcaFigures(status), {
    failingStep: 'VERIFY / verify target',
    detectedAt: at(25),
    detectedFrom: 'failing step',
    healedAt: at(72),
    timeToHealSeconds: 47,
  });
  assert.equal(rcaFigures(done), null, 'no RCA when the kill-switch never ran');
  assert.ok(!renderReport(done).includes('## RCA'));
});

void test('every run the kill-switch touched has Detected and Time to heal, whatever the failing phase', () => {
  const at = (s: number) => new Date(Date.UTC(2026, 5, 6, 10, 0, s)).toISOString();
  const timed = (phase: string, step: string, from: number, to: number) => ({
    phase,
    step,
    status: 'ok' as const,
    summary: 'ok',
    startedAt: at(from),
    finishedAt: at(to),
  });
  // The tester's run: S3 killed mid-VALIDATE, validateRun threw after its retries: a failed step has
  // no worker time of its own.
  const validateThrew = {
    phase: 'VALIDATE',
    step: 'validate target',
    status: 'failed' as const,
    summary: 'S3 down',
  };
  const compensation = (
    completed: string[],
    failed: { step: string; error: string; attempt: number } | null,
  ) => ({
    trigger: { phase: 'VALIDATE', error: 'Could not connect to the endpoint URL' },
    completed,
    failed,
    remaining: failed ? [failed.step] : [],
    undoRemaining: [],
    operatorActions: [],
  });
  const rolledBack: CutoverStatus = {
    ...baseStatus(done.evidence, { compensation: compensation(['revert target', 'waitForRollout'], null) }),
    outcome: 'ROLLED_BACK',
    steps: [
      timed('APPLY', 'apply target', 0, 1),
      timed('VERIFY', 'verify target', 20, 25),
      validateThrew,
      timed('COMPENSATE', 'revert target', 90, 91),
      timed('COMPENSATE', 'rollout of the reverted config', 91, 130),
    ],
  };
  const md = renderReport(rolledBack);
  assert.ok(
    md.includes(
      `| Detected | ${at(90)} (the kill-switch started; the failing step has no time of its own) |`,
    ),
    md,
  );
  assert.ok(md.includes('| Failing step | VALIDATE / validate target |'), md);
  assert.ok(md.includes('| Time to heal | 40 s |'), md);
  assert.equal(rcaFigures(rolledBack)?.detectedFrom, 'kill-switch start');

  // The kill-switch's first step failed too (no time anywhere after the failure): NEEDS_OPERATOR.
  const stuck: CutoverStatus = {
    ...baseStatus(done.evidence, {
      compensation: compensation([], { step: 'revert target', error: 'env file locked', attempt: 1 }),
    }),
    phase: 'NEEDS_OPERATOR',
    outcome: null,
    steps: [
      timed('APPLY', 'apply target', 0, 1),
      timed('VERIFY', 'verify target', 20, 25),
      validateThrew,
      { phase: 'COMPENSATE', step: 'revert target', status: 'failed', summary: 'env file locked' },
    ],
  };
  const md2 = renderReport(stuck);
  assert.ok(md2.includes(`| Detected | after ${at(25)} (the last time before the failure) |`), md2);
  assert.ok(md2.includes('| Time to heal | not healed (NEEDS_OPERATOR) |'), md2);
  for (const doc of [md, md2]) {
    const rows = doc.split('\n').filter((l) => /^\| (Detected|Time to heal) \|/.test(l));
    assert.equal(rows.length, 2);
    for (const row of rows) assert.doesNotMatch(row, /\| – \|$/, row);
  }
});

void test('the objects under the prefix and the lifecycle rule: diff, amber warnings, apply and revert', async () => {
  const ev: Evidence = { ...done.evidence };
  ev.objects = await greenScript.reportObjects({ plan }, 1);
  const render = await greenScript.renderLifecycle({ plan }, 1);
  ev.lifecycle = {
    ...render,
    warnings: ['existing rule root-30d applies to the whole bucket (expires after 30 days)'],
  };
  ev.lifecycleApplied = await greenScript.applyLifecycle({ plan, render }, 1);
  ev.lifecycleReverted = await greenScript.revertLifecycle({ plan, render }, 1);
  const md = renderReport(baseStatus(ev));
  assert.ok(md.includes('## 2. Objects under the backend prefix'));
  assert.ok(md.includes('| orphaned (no row references them) | 1 | 1 MB |'));
  assert.ok(md.includes('Referenced objects older than the 7-day retention: 0.'));
  assert.ok(md.includes('## 5. Lifecycle rule'));
  assert.match(
    md,
    /Rule `cutover:xcom-flip-prod:xcom\/`: expire `cutover-xcom\/xcom\/` after 7 days, put once VERIFY holds/,
  );
  assert.match(md, /```diff\n- \(no lifecycle configuration\)\n\+ \{/);
  assert.ok(md.includes('- **amber**: existing rule root-30d applies to the whole bucket'));
  assert.match(md, /Applied \(.*\): rule cutover:xcom-flip-prod:xcom\/ put\./);
  assert.match(md, /Reverted \(.*\): deleted: configuration deleted again\./);
});
