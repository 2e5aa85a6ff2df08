/**
 * The Temporal Web UI in a real browser (issue #6): Debian's chromium, driven headless by playwright-core
 * (which never downloads a browser here), opens the dev server's Web UI, finds a cut-over waiting at
 * AWAIT_GO in the workflow list, opens it, and checks that the phase and the pending approval are on the
 * page. A full-page screenshot is saved to test-artifacts/ for CI to keep.
 */
import assert from 'node:assert/strict';
import { accessSync, constants, mkdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { NativeConnection } from '@temporalio/worker';
import { chromium } from 'playwright-core';
import type { Browser, Locator, Page } from 'playwright-core';
import { startDevServer } from '../client/devserver.js';
import { freePort } from '../local/ports.js';
import { repoRoot } from '../local/venv.js';
import { inputFor, startCutover, waitForPhase, type CutoverEnv } from './support/cutover-env.js';
import { testPlan } from './support/plans.js';
import { scriptedActivities } from './support/scripted-activities.js';
import { connectClient } from './support/temporal.js';

const TEST_TIMEOUT_MS = 300_000;
/** The UI is a single-page app on a machine shared with other heavy tests: wait generously. */
const UI_TIMEOUT_MS = 90_000;
const SCREENSHOT = path.join(repoRoot(), 'test-artifacts', 'web-ui-await-go.png');
/** Saved instead of SCREENSHOT when the test fails, so that a stale passing picture never misleads. */
const FAILED_SCREENSHOT = SCREENSHOT.replace(/\.png$/, '.failed.png');

/** Debian's chromium: $CHROMIUM_PATH, else `chromium` on PATH, else /usr/bin/chromium. */
function chromiumPath(): string {
  const candidates = [
    process.env['CHROMIUM_PATH'],
    ...(process.env['PATH'] ?? '')
      .split(path.delimiter)
      .map((d) => (d ? path.join(d, 'chromium') : undefined)),
    '/usr/bin/chromium',
  ];
  for (const c of candidates) {
    if (c === undefined || c === '') continue;
    try {
      accessSync(c, constants.X_OK);
      return c;
    } catch {
      // next
    }
  }
  throw new Error(
    'chromium is not installed (apt-get install --no-install-recommends chromium; .ci/run does)',
  );
}

/** Flags that keep the browser off the network except for the page under test. */
const CHROMIUM_ARGS = [
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-default-apps',
  '--disable-extensions',
  '--disable-domain-reliability',
  '--disable-client-side-phishing-detection',
  '--no-first-run',
  '--no-default-browser-check',
  '--metrics-recording-only',
  '--disable-dev-shm-usage',
  // The tests run as root in CI containers, where chromium's sandbox cannot start.
  ...(process.getuid?.() === 0 ? ['--no-sandbox'] : []),
];

let env: CutoverEnv;
let uiUrl: string;
before(async () => {
  // The shared helper (startTestServer) is headless: this test needs the launcher with its Web UI.
  const server = await startDevServer({ port: await freePort(), uiPort: await freePort() });
  assert.ok(server.uiUrl, 'the dev server serves a Web UI');
  uiUrl = server.uiUrl;
  const client = await connectClient(server.address);
  const connection = await NativeConnection.connect({ address: server.address });
  env = {
    server,
    client,
    connection,
    async close() {
      await connection.close();
      await client.connection.close();
      await server.stop();
    },
  };
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
    const plan = testPlan((p) => {
      delete p.spec.xcom.ramp;
    });
    const run = await startCutover(env, inputFor(plan), scriptedActivities());
    const workflowId = run.handle.workflowId;
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
      await page.waitForURL((u) => u.pathname.includes(`/workflows/${workflowId}/`));

      // The Search Attributes tab (a JSON viewer): the phase as the workflow upserted it.
      await page.getByText('Search Attributes', { exact: true }).first().click();
      const phaseAttribute = await visibleText(
        page.getByText(/"CutoverPhase":\s*"AWAIT_GO"/).first(),
        'the CutoverPhase search attribute AWAIT_GO',
      );
      assert.match(phaseAttribute, /"CutoverPhase":\s*"AWAIT_GO"/);
      console.log(`web-ui: Search Attributes shows ${phaseAttribute}`);

      // The User Metadata tab: "Current Details" is the workflow's setCurrentDetails Markdown,
      // `**AWAIT_GO**: waiting for approval from ...`, which the UI renders in a sandboxed frame.
      await page.getByText('User Metadata', { exact: true }).first().click();
      await visibleText(
        page.getByText('Current Details', { exact: true }).first(),
        'the Current Details heading',
      );
      const details = page.frameLocator('iframe[src*="/render"]').first();
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
      await run.result.catch(() => undefined);
    }
  },
);
