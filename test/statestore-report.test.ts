/**
 * The state-store runbook's evidence in the dossier and the dry run, through the same common
 * renderers as the XCom flip (client/report.ts, cutover plan's renderPlanEvidence): its own sections
 * in place, the heal with its unreadable rows, the RCA and the numbering of the common sections.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { renderPlanEvidence } from '../client/commands/plan-run.js';
import { renderReport } from '../client/report.js';
import { WORKER_CAN_DEPLOY_CHECK } from '../domain/engine/evidence.js';
import { emptyStateStoreEvidence, type StateStoreStatus } from '../domain/statestore/run.js';

const at = (s: number) => new Date(Date.UTC(2026, 5, 6, 10, 0, s)).toISOString();
const T = { startedAt: at(0), finishedAt: at(1) };
const GREEN = { passed: true, reasons: [] };

function status(): StateStoreStatus {
  const ev = emptyStateStoreEvidence();
  const sizes = { p50: 20, p95: 900, p99: 4_000, p999: 60_000, max: 65_556 };
  const store = {
    rowCount: 120,
    sizeBytes: sizes,
    wrapped: { rows: 2, inlineRefs: 2, objectRefs: 0 },
    topProducers: [],
  };
  ev.calibration = {
    ...T,
    task: { ...store, topProducers: [{ name: 'etl/extract', key: 'cursor', rows: 40, maxBytes: 65_556 }] },
    asset: store,
    proposal: { thresholdBytes: 1000, strategy: 'fixed', rationale: 'fixed by the plan at 1000 bytes' },
    projectedOffloadRows: 7,
    maxOffloadRows: 10,
    gate: GREEN,
  };
  ev.preflight = {
    ...T,
    checks: [
      { name: 'config resolution in scheduler', status: 'green', detail: 'resolves', durationMs: 900 },
      {
        id: WORKER_CAN_DEPLOY_CHECK,
        name: 'worker can deploy, verify, validate and revert',
        status: 'amber',
        detail: 'no REST API (not needed for a dry run)',
        durationMs: 0,
      },
    ],
    gate: GREEN,
  };
  ev.rehearsal = {
    ...T,
    component: 'scheduler',
    valueBytes: { small: 20, large: 66_536 },
    objectPaths: ['s3://aws_default@b/state/_r/r/sentinel/-1/large'],
    checks: {
      offloaded: true,
      markerInDb: true,
      roundTripIntact: true,
      breakConfirmed: true,
      healConfirmed: true,
      cleaned: true,
    },
    timingsMs: {},
    gate: GREEN,
  };
  ev.heal = {
    ...T,
    since: at(0),
    rewritten: 41,
    inlineRefs: 37,
    objectRefs: 4,
    unreadable: [
      {
        store: 'task',
        key: 'large',
        path: 's3://aws_default@b/state/d/r/t/-1/large',
        reason: 'object-missing',
        where: 'd/r/t[-1]',
      },
    ],
    markerRowsRemaining: 1,
    durationMs: 2_300,
    gate: { passed: false, reasons: ['task state d/r/t[-1] key large: object-missing'] },
  };
  return {
    workflowId: 'cutover/local-demo/state-store-flip-local',
    runbook: 'StateStoreBackendCutover',
    planName: 'state-store-flip-local',
    target: 'local-demo',
    planDigest: 'sha256:0123456789abcdef',
    startedBy: 'alice',
    phase: 'NEEDS_OPERATOR',
    details: 'compensation step "healRows" failed',
    steps: [],
    evidence: ev,
    decision: null,
    compensation: {
      trigger: { phase: 'VERIFY', error: 'scheduler: [workers] state_store_backend resolves to ""' },
      completed: ['revert target', 'waitForRollout'],
      failed: { step: 'healRows', error: 'state rows not healed', attempt: 1 },
      remaining: ['healRows', 'findAffectedRuns', 'rerunAffectedRuns'],
      undoRemaining: [],
      operatorActions: [],
    },
    pendingApproval: null,
    refusals: [],
    outcome: null,
  };
}

test('the dossier: the state store sections in place, the common ones around them, the heal', () => {
  const md = renderReport(status());
  const headings = [...md.matchAll(/^## (\d+)\. (.+)$/gm)].map((m) => `${m[1]}. ${m[2]}`);
  assert.deepEqual(headings, [
    '1. Calibration',
    '2. Objects under the backend prefix',
    '3. Preflight',
    '4. The change',
    '5. Lifecycle rule',
    '6. Flip and heal rehearsal',
    '7. Operator decision',
    '8. Deploy',
    '9. Verification per component',
    '10. Validation run',
    '11. Deployment health',
    '12. Compensation (kill-switch)',
  ]);
  // A status without the health gate's readings (recorded before it existed) says so.
  assert.match(
    md,
    /## 11\. Deployment health\n\n_Not read: the run was recorded before the health gate existed/,
  );
  assert.match(md, /\| task_state_store \| 120 \| 2 \| 20 B \|/);
  assert.match(md, /\| task \| etl\/extract \| cursor \| 40 \| 65\.6 KB \|/);
  assert.match(
    md,
    /Data-aware heal since .*: \*\*41\*\* row\(s\) rewritten to plain values \(37 inline refs, 4 read back from objects\)/,
  );
  assert.match(
    md,
    /\| task \| d\/r\/t\[-1\] \| large \| `s3:\/\/aws_default@b\/state\/d\/r\/t\/-1\/large` \| object-missing \|/,
  );
  assert.match(md, /\*\*Failed step\*\*: healRows \(attempt 1\)/);
});

test('the dry run: the runbook sections, and the worker-can-deploy row found by its id', () => {
  const s = status();
  const lines = renderPlanEvidence(
    {
      outcome: 'PLANNED',
      reason: 'evidence complete',
      productionChanged: false,
      status: { ...s, compensation: null, outcome: 'PLANNED' },
    },
    'plans/state-store-local.yaml',
  ).join('\n');
  assert.match(lines, /^1\. CALIBRATE green/m);
  assert.match(
    lines,
    /threshold 1 KB \(1 000 B\) \(fixed by the plan at 1000 bytes\); 7 existing rows at or above it \(allowed 10\)/,
  );
  assert.match(lines, /^4\. REHEARSAL green/m);
  assert.match(lines, /row rewrite heals: +yes/);
  assert.match(lines, /A real cut-over would stop at PREFLIGHT on this worker: no REST API/);
});
