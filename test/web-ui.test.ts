/**
 * The Temporal Web UI in a real browser (issue #6): Debian's chromium, driven headless by playwright-core
 * (which never downloads a browser here), opens the dev server's Web UI, finds a cut-over started by
 * `cutover start` and waiting at AWAIT_GO in the workflow list, opens it, and checks the phase, the static
 * summary and details, and the approval request in the current details (issue #16). A full-page
 * screenshot is saved to test-artifacts/ for CI to keep.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { chromium } from 'playwright-core';
import type { Browser, Locator, Page } from 'playwright-core';
import { startDevServer } from '../client/devserver.js';
import { CHROMIUM_ARGS, chromiumPath } from './support/chromium.js';
import { freePort } from '../local/ports.js';
import { repoRoot } from '../local/venv.js';
import { main } from '../client/cli.js';
import { createCutoverWorker } from '../worker/create-worker.js';
import { startCutoverEnv, waitForPhase, type CutoverEnv } from './support/cutover-env.js';
import { scriptedActivities } from './support/scripted-activities.js';

const TEST_TIMEOUT_MS = 300_000;
/** The UI is a single-page app on a machine shared with other heavy tests: wait generously. */
const UI_TIMEOUT_MS = 90_000;
const SCREENSHOT = path.join(repoRoot(), 'test-artifacts', 'web-ui-await-go.png');
/** Saved instead of SCREENSHOT when the test fails, so that a stale passing picture never misleads. */
const FAILED_SCREENSHOT = SCREENSHOT.replace(/\.png$/, '.failed.png');

let env: CutoverEnv;
let uiUrl: string;
before(async () => {
  // The shared helper (startTestServer) is headless: this test needs the launcher with its Web UI.
  const server = await startDevServer({ port: await freePort(), uiPort: await freePort() });
  assert.ok(server.uiUrl, 'the dev server serves a Web UI');
  uiUrl = server.uiUrl;
  env = await startCutoverEnv({ startServer: () => Promise.resolve(server) });
});
after(async () => {
  await env?.close();
});

/** Waits until visibility lists the run under `query` (the UI's list does not refresh by itself). */
async function waitForVisibility(query: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    for await (const _ of env.client.workflow.list({ query, pageSize: 1 })) return;
    if (Date.now() >= deadline) throw new Error(`visibility never listed ${query} within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** Waits for `locator` to be visible and returns its text; fails naming `what` if it never shows. */
async function visibleText(locator: Locator, what: string): Promise<string> {
  try {
    await locator.waitFor({ state: 'visible', timeout: UI_TIMEOUT_MS });
  } catch (err) {
    assert.fail(`the Web UI never showed ${what}: ${err instanceof Error ? err.message : String(err)}`);
  }
  return (await locator.innerText()).trim();
}

test(
  'the Web UI shows a cut-over waiting at AWAIT_GO with its pending approval',
  { timeout: TEST_TIMEOUT_MS },
  async () => {
    // Started as an operator starts it, by the CLI, so that the page shows what `cutover start` sets.
    const taskQueue = `web-ui-${randomUUID()}`;
    const worker = await createCutoverWorker({
      connection: env.connection,
      taskQueue,
      activities: scriptedActivities(),
    });
    const workerDone = worker.run();
    const dir = mkdtempSync(path.join(os.tmpdir(), 'cutover-web-ui-'));
    const planFile = path.join(dir, 'reference-dossier.yaml');
    copyFileSync(path.join(repoRoot(), 'plans', 'reference-dossier.yaml'), planFile);
    let out = '';
    let err = '';
    const code = await main(['start', '--plan', planFile, '--id'], {
      stdout: { write: (t: string) => (out += t) },
      stderr: { write: (t: string) => (err += t) },
      env: {
        TEMPORAL_ADDRESS: env.server.address,
        TEMPORAL_NAMESPACE: 'default',
        CUTOVER_TASK_QUEUE: taskQueue,
        CUTOVER_OPERATOR: 'alice',
      },
    });
    assert.equal(code, 0, err);
    const workflowId = out.trim();
    const run = { handle: env.client.workflow.getHandle(workflowId) };
    let browser: Browser | undefined;
    let page: Page | undefined;
    let passed = false;
    for (const file of [SCREENSHOT, FAILED_SCREENSHOT]) rmSync(file, { force: true });
    try {
      const status = await waitForPhase(run.handle, 'AWAIT_GO', 60_000);
      assert.ok(status.pendingApproval, 'the run has a pending approval');
      const approval = `waiting for approval from ${status.pendingApproval.approvers.join(' or ')}`;
      const phaseQuery = `CutoverPhase="AWAIT_GO"`;
      await waitForVisibility(`WorkflowId="${workflowId}" AND ${phaseQuery}`);

      browser = await chromium.launch({
        executablePath: chromiumPath(),
        headless: true,
        args: CHROMIUM_ARGS,
        timeout: UI_TIMEOUT_MS,
      });
      page = await browser.newPage({ viewport: { width: 1440, height: 1000 } });
      page.setDefaultTimeout(UI_TIMEOUT_MS);

      // The workflow list, filtered by the phase search attribute the cut-over sets; open the run.
      await page.goto(`${uiUrl}/namespaces/default/workflows?query=${encodeURIComponent(phaseQuery)}`, {
        waitUntil: 'domcontentloaded',
      });
      const link = page.getByRole('link', { name: workflowId, exact: true }).first();
      await visibleText(link, `${workflowId} in the list of runs at AWAIT_GO`);
      await link.click();
      await page.waitForURL((u) => u.href.includes(`/workflows/${encodeURIComponent(workflowId)}/`));

      // The Search Attributes tab (a JSON viewer): the phase as the workflow upserted it.
      await page.getByText('Search Attributes', { exact: true }).first().click();
      const phaseAttribute = await visibleText(
        page.getByText(/"CutoverPhase":\s*"AWAIT_GO"/).first(),
        'the CutoverPhase search attribute AWAIT_GO',
      );
      assert.match(phaseAttribute, /"CutoverPhase":\s*"AWAIT_GO"/);
      console.log(`web-ui: Search Attributes shows ${phaseAttribute}`);

      // The User Metadata tab: the static summary and details `cutover start` set, and "Current Details",
      // the workflow's setCurrentDetails Markdown: `**AWAIT_GO**: waiting for approval from ...` and the
      // approval request as `cutover status` prints it.
      await page.getByText('User Metadata', { exact: true }).first().click();
      await visibleText(
        page.getByText('Current Details', { exact: true }).first(),
        'the Current Details heading',
      );
      // Each of the three is Markdown the UI renders in its own sandboxed frame, in this order.
      const frames = page.frameLocator('iframe[src*="/render"]');
      const summary = await visibleText(frames.nth(0).locator('body'), 'the static summary');
      console.log(`web-ui: Summary shows "${summary}"`);
      assert.equal(
        summary,
        'XCom backend -> s3://aws_default@cvntrade-artifacts/xcom at a threshold above p99.9 (rounded up to 100 KB) on k8s-scaleway-prod-cvntrade-airflow',
      );
      const staticDetails = await visibleText(frames.nth(1).locator('body'), 'the static details');
      console.log(`web-ui: Details shows\n${staticDetails}`);
      for (const expected of [
        `Plan digest: ${status.planDigest}`,
        'Approvers: dococeven, platform-oncall (self-approval not allowed)',
        'Deadline: 1 d after the evidence is complete (AWAIT_GO)',
        `reference-dossier.yaml`,
        `cutover approve ${workflowId} --operator <name> --reason "<why>" --digest ${status.planDigest}`,
        `cutover report ${workflowId} --format html --out dossier.html`,
      ])
        assert.ok(staticDetails.includes(expected), `the details say "${expected}":\n${staticDetails}`);
      const details = frames.nth(2);
      const request = await visibleText(details.locator('pre').first(), 'the approval request');
      console.log(`web-ui: Current Details carries the approval request\n${request}`);
      assert.match(request, /^pending approval:\n {2}who may approve: +dococeven, platform-oncall/);
      assert.ok(request.includes('    - calibration: 7 175 XCom rows'), request);
      assert.ok(
        request.includes(
          `cutover approve ${workflowId} --operator <name> --reason "<why>" --digest ${status.planDigest}`,
        ),
        request,
      );
      const sentence = await visibleText(
        details.getByText(approval).first(),
        `the pending approval ("${approval}")`,
      );
      const phase = await visibleText(
        details.locator('strong', { hasText: 'AWAIT_GO' }).first(),
        'the phase AWAIT_GO in bold',
      );
      console.log(`web-ui: Current Details shows "${sentence}" (bold: ${phase})`);
      assert.equal(phase, 'AWAIT_GO');
      assert.ok(sentence.startsWith('AWAIT_GO: '), `the details sentence starts with the phase: ${sentence}`);
      assert.ok(sentence.includes(approval), `the details sentence names the approvers: ${sentence}`);
      assert.ok(
        sentence.includes(`(digest ${status.planDigest})`),
        `the details sentence quotes the plan digest: ${sentence}`,
      );
      passed = true;
    } finally {
      if (page !== undefined) {
        const file = passed ? SCREENSHOT : FAILED_SCREENSHOT;
        mkdirSync(path.dirname(file), { recursive: true });
        await page.screenshot({ path: file, fullPage: true }).then(
          () => console.log(`web-ui: screenshot ${file}`),
          (err: unknown) => console.log(`web-ui: no screenshot: ${String(err)}`),
        );
      }
      await browser?.close();
      await run.handle.terminate('web-ui test done').catch(() => undefined);
      worker.shutdown();
      await workerDone.catch(() => undefined);
      rmSync(dir, { recursive: true, force: true });
    }
  },
);
