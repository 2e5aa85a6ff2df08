/**
 * The HTML dossier in real Chromium (issue #16): a rolled-back cut-over's page loads with no request
 * leaving it, the calibration plot draws the threshold where a log-scale axis puts 1.6 MB, the values
 * it would offload sit right of it, the timeline marks the failure and the heal; an assessment's
 * components come out as a status grid. Screenshots go to test-artifacts/ for CI to keep.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { chromium, type Browser, type Page } from 'playwright-core';
import { renderDossier } from '../client/dossier.js';
import type { Assessment } from '../domain/assessment/judge.js';
import { emptyAssessmentEvidence } from '../domain/assessment/run.js';
import { emptyEvidence, type CutoverStatus } from '../domain/cutover.js';
import type { RunStatus, StepRecord } from '../domain/engine/run.js';
import { planDigest } from '../domain/plan-file.js';
import { repoRoot } from '../local/venv.js';
import { CHROMIUM_ARGS, chromiumPath } from './support/chromium.js';
import { testPlan } from './support/plans.js';
import { greenScript, red } from './support/scripted-activities.js';

const ARTIFACTS = path.join(repoRoot(), 'test-artifacts');
const dir = mkdtempSync(path.join(os.tmpdir(), 'cutover-dossier-html-'));
let browser: Browser;

before(async () => {
  browser = await chromium.launch({ executablePath: chromiumPath(), headless: true, args: CHROMIUM_ARGS });
});
after(async () => {
  await browser?.close();
  rmSync(dir, { recursive: true, force: true });
});

const plan = testPlan((p) => {
  delete p.spec.xcom.ramp;
});

/** Steps a minute apart from 10:00, with a 10-minute wait for the go before APPLY. */
function steps(): StepRecord[] {
  const at = (min: number, sec = 0) => new Date(Date.UTC(2026, 5, 6, 10, min, sec)).toISOString();
  const step = (
    phase: string,
    name: string,
    from: number,
    to: number,
    status: StepRecord['status'] = 'ok',
  ) => ({
    phase,
    step: name,
    status,
    summary: `${name} summary`,
    startedAt: at(0, from),
    finishedAt: at(0, to),
  });
  return [
    step('CALIBRATE', 'calibrate', 0, 2),
    step('PREFLIGHT', 'preflight', 2, 9),
    step('RENDER', 'renderChange', 9, 10),
    step('REHEARSE', 'rehearse', 10, 40),
    step('APPLY', 'applyChange', 640, 642),
    step('APPLY', 'waitForRollout', 642, 660),
    step('VERIFY', 'verifyConfig', 660, 664),
    step('VALIDATE', 'validateRun', 664, 700, 'failed'),
    step('COMPENSATE', 'revertChange', 700, 702),
    step('COMPENSATE', 'waitForRollout', 702, 720),
    step('COMPENSATE', 'rerunAffectedRuns', 720, 752),
  ];
}

async function rolledBack(): Promise<CutoverStatus> {
  const ev = emptyEvidence();
  ev.calibration = await greenScript.calibrate({ plan }, 1);
  const thresholdBytes = ev.calibration.proposal.thresholdBytes;
  ev.preflight = await greenScript.preflight({ plan, runId: 'r', thresholdBytes }, 1);
  ev.change = await greenScript.renderChange({ plan, thresholdBytes }, 1);
  const validation = await greenScript.validateRun({ plan, runId: 'cutover__abc__target' }, 1);
  ev.validations = [{ ...validation, state: 'failed', xcomErrors: 3, gate: red('3 XCom errors') }];
  return {
    runbook: 'XComBackendCutover',
    workflowId: 'cutover/k8s-scaleway-prod-cvntrade-airflow/xcom-flip-prod',
    planName: plan.name,
    target: 'k8s-scaleway-prod-cvntrade-airflow',
    planDigest: planDigest(plan),
    startedBy: 'alice',
    phase: 'FINISHED',
    details: 'ROLLED_BACK: VALIDATE failed (3 XCom errors); change reverted',
    steps: steps(),
    evidence: ev,
    decision: {
      kind: 'approve',
      via: 'update',
      operator: 'dococeven',
      reason: 'evidence reviewed',
      digest: planDigest(plan),
    },
    compensation: {
      trigger: { phase: 'VALIDATE', error: '3 XCom errors' },
      completed: ['revertChange', 'waitForRollout', 'rerunAffectedRuns'],
      failed: null,
      remaining: [],
      undoRemaining: [],
      operatorActions: [],
    },
    pendingApproval: null,
    refusals: [],
    outcome: 'ROLLED_BACK',
  };
}

/** Opens `html` from a file, counting every request the page makes. */
async function open(name: string, html: string): Promise<{ page: Page; requests: string[] }> {
  const file = path.join(dir, name);
  writeFileSync(file, html);
  const page = await browser.newPage({ viewport: { width: 1200, height: 1600 } });
  const requests: string[] = [];
  page.on('request', (r) => requests.push(r.url()));
  await page.goto(`file://${file}`, { waitUntil: 'load' });
  return { page, requests };
}

async function box(page: Page, selector: string): Promise<{ x: number; width: number }> {
  const b = await page.locator(selector).first().boundingBox();
  assert.ok(b, `${selector} is drawn`);
  return b;
}

void test('a rolled-back dossier as one page: no request leaves it, the threshold where 1.6 MB is', async () => {
  const status = await rolledBack();
  const { page, requests } = await open('rolled-back.html', renderDossier(status, 'html'));
  try {
    assert.deepEqual(
      requests.filter((u) => !u.startsWith('file://')),
      [],
      'no request leaves the page',
    );
    assert.equal(requests.length, 1, `only the page itself was loaded: ${requests.join(', ')}`);
    assert.equal(await page.locator('h1').innerText(), 'Cut-over xcom-flip-prod: ROLLED_BACK');
    assert.ok((await page.locator('h2').allInnerTexts()).includes('1. Calibration'));

    // The size axis is logarithmic: 1.6 MB lies log10(1.6) of the way from the 1 MB tick to the 10 MB one
    // (or, when the axis stops before 10 MB, the same distance past 1 MB as 100 KB lies before it).
    const threshold = await box(page, '#calibration line[data-role="threshold"]');
    const mb = await box(page, '#calibration line[data-tick-bytes="1000000"]');
    const kb100 = await box(page, '#calibration line[data-tick-bytes="100000"]');
    const decade = mb.x - kb100.x;
    assert.ok(decade > 20, `a decade spans ${decade} px`);
    const expected = mb.x + Math.log10(1.6) * decade;
    assert.ok(
      Math.abs(threshold.x + threshold.width / 2 - expected) < 1.5,
      `threshold drawn at x=${threshold.x + threshold.width / 2}, a log axis puts 1.6 MB at ${expected}`,
    );
    // SVG text is no HTML element: its text content is what the page shows.
    const label = await page.locator('#calibration text', { hasText: 'threshold' }).textContent();
    assert.equal(label, 'threshold 1.6 MB (1 600 000 B)');
    const offloaded = await page.locator('#calibration rect[data-role="offload"]').all();
    assert.ok(offloaded.length > 0, 'the values the threshold would offload are highlighted');
    for (const r of offloaded) {
      const b = await r.boundingBox();
      assert.ok(b && b.x >= threshold.x - 1, 'highlighted values lie at or right of the threshold');
    }
    for (const q of ['p50', 'p99', 'p99.9', 'max'])
      assert.equal(await page.locator(`#calibration line[data-quantile="${q}"]`).count(), 1, q);

    // The timeline: every step a bar, the wait for the go, the failure and the heal with time to heal.
    assert.equal(await page.locator('#timeline rect[data-step]').count(), status.steps.length);
    assert.equal(await page.locator('#timeline rect[data-role="approval-wait"]').count(), 1);
    const heal = await page.locator('#timeline text', { hasText: 'time to heal' }).textContent();
    assert.equal(heal, 'healed: time to heal 52 s');
    assert.ok(await page.locator('td', { hasText: /^52 s$/ }).count(), 'the RCA table says 52 s too');

    mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: path.join(ARTIFACTS, 'dossier-rolled-back.png'), fullPage: true });
    for (const plot of ['calibration', 'timeline'])
      await page.locator(`#${plot}`).screenshot({ path: path.join(ARTIFACTS, `dossier-${plot}.png`) });
  } finally {
    await page.close();
  }
});

void test('an assessment as one page: the component table as a status grid', async () => {
  const assessment: Assessment & { startedAt: string; finishedAt: string } = {
    verdict: 'DEGRADED',
    components: [
      { component: 'scheduler', state: 'running', details: '1/1 ready' },
      { component: 'triggerer', state: 'partial', details: '1/2 ready, 7 restarts' },
      { component: 'dag-processor', state: 'failed', details: 'CrashLoopBackOff' },
      { component: 'api-server', state: 'unknown', details: 'not read' },
    ],
    findings: [
      {
        id: 'crashloop:dag-processor',
        severity: 'critical',
        component: 'dag-processor',
        title: 'dag-processor is crash-looping',
        evidence: ['pod dag-processor-0: CrashLoopBackOff'],
        rootCause: 'the container exits at start',
        impact: 'no DAG is parsed',
        resolution: 'read the previous container log',
      },
    ],
    recommendations: [],
    counts: { critical: 1, warnings: 0, recommendations: 0 },
    startedAt: '2026-06-06T10:00:00.000Z',
    finishedAt: '2026-06-06T10:00:01.000Z',
  };
  const status: RunStatus = {
    runbook: 'DeploymentAssessment',
    workflowId: 'cutover-assess/local-demo/assess-local/abc123',
    planName: 'assess-local',
    target: 'local-demo',
    planDigest: 'sha256:0',
    startedBy: 'alice',
    phase: 'FINISHED',
    details: 'ASSESSED: DEGRADED',
    steps: [],
    evidence: { ...emptyAssessmentEvidence(), assessment },
    decision: null,
    compensation: null,
    pendingApproval: null,
    refusals: [],
    outcome: 'ASSESSED',
  };
  const { page, requests } = await open('assessment.html', renderDossier(status, 'html'));
  try {
    assert.equal(requests.length, 1, `only the page itself was loaded: ${requests.join(', ')}`);
    const tiles = page.locator('#components g[data-component]');
    assert.equal(await tiles.count(), 4);
    for (const c of assessment.components) {
      const tile = page.locator(`#components g[data-component="${c.component}"]`);
      assert.equal(await tile.getAttribute('data-state'), c.state);
    }
    const crash = await page.locator('#components g[data-component="dag-processor"] text').allTextContents();
    assert.ok(crash.includes('1 critical'), crash.join(' | '));
    await page
      .locator('#components')
      .screenshot({ path: path.join(ARTIFACTS, 'dossier-assessment-grid.png') });
  } finally {
    await page.close();
  }
});
