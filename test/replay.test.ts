/**
 * Replay: every history in test/histories/ (recorded from real runs by
 * test/support/record-histories.ts) must replay against the shipped workflow
 * code without a nondeterminism error; and a deliberately reordered copy of the
 * workflow (test/fixtures/changed-workflow) must be caught.
 *
 * The files are proto3 JSON, the form of `temporal workflow show --output json`
 * and of `cutover replay --export`. They replay against the bundle `npm run build` writes
 * (dist/workflows.bundle.js), the one `cutover replay` uses, after a check that it was made from
 * the workflow sources as they are.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { DefaultLogger, Runtime, Worker } from '@temporalio/worker';
import { DeterminismViolationError } from '@temporalio/workflow';
import { historyFromJson, type History } from '../client/history-json.js';
import { prebuiltBundleState, WORKFLOW_BUNDLE_PATH, workflowSourceHash } from '../domain/workflow-bundle.js';
import { REPO_ROOT } from './support/plans.js';

// Core logs the failing workflow task of the nondeterminism case at WARN; the assertions say what matters.
Runtime.install({
  logger: new DefaultLogger('ERROR'),
  telemetryOptions: { logging: { filter: { core: 'ERROR', other: 'ERROR' }, forward: {} } },
});

const HISTORIES_DIR = path.join(REPO_ROOT, 'test', 'histories');
const CHANGED_WORKFLOW_PATH = fileURLToPath(new URL('./fixtures/changed-workflow/index.js', import.meta.url));
const SCENARIOS = [
  'happy-path',
  'rejected',
  'rolled-back',
  'needs-operator',
  'ramp',
  'lifecycle-rolled-back',
  'health-rolled-back',
  'assessment',
];

const files = readdirSync(HISTORIES_DIR)
  .filter((f) => f.endsWith('.json'))
  .sort();

function loadHistory(file: string): History {
  return historyFromJson(JSON.parse(readFileSync(path.join(HISTORIES_DIR, file), 'utf8')));
}

/** record-histories.ts runs scenario S as workflow id cutover-history-S. */
const workflowIdOf = (file: string): string => `cutover-history-${path.basename(file, '.json')}`;

test('the corpus holds a history for every recorded scenario', () => {
  for (const s of SCENARIOS) assert.ok(files.includes(`${s}.json`), `test/histories/${s}.json is missing`);
});

test('the prebuilt workflow bundle is current: made from the workflow sources as they are', () => {
  const state = prebuiltBundleState();
  assert.ok(state.fresh, `${state.fresh ? '' : state.why}: run npm run build`);
});

test('the bundle check sees any change to the workflow sources', () => {
  const root = mkdtempSync(path.join(tmpdir(), 'cutover-bundle-hash-'));
  try {
    mkdirSync(path.join(root, 'workflows', 'engine'), { recursive: true });
    mkdirSync(path.join(root, 'domain'), { recursive: true });
    mkdirSync(path.join(root, 'client'), { recursive: true });
    writeFileSync(path.join(root, 'workflows', 'engine', 'run.ts'), 'export const a = 1;\n');
    writeFileSync(path.join(root, 'domain', 'plan.ts'), 'export const b = 2;\n');
    const first = workflowSourceHash(root);
    assert.ok(first, 'sources found');
    assert.equal(first.sources, 2);
    // Code outside the bundle's sources does not make it stale.
    writeFileSync(path.join(root, 'client', 'cli.ts'), 'export const c = 3;\n');
    assert.equal(workflowSourceHash(root)?.hash, first.hash);
    writeFileSync(path.join(root, 'domain', 'plan.ts'), 'export const b = 3;\n');
    const edited = workflowSourceHash(root);
    assert.notEqual(edited?.hash, first.hash, 'an edit');
    writeFileSync(path.join(root, 'workflows', 'new.ts'), '');
    const added = workflowSourceHash(root);
    assert.equal(added?.sources, 3);
    assert.notEqual(added?.hash, edited?.hash, 'a new file');
    assert.equal(workflowSourceHash(path.join(root, 'client')), null, 'no sources: nothing to check');
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

for (const file of files) {
  test(`replays ${file} against the shipped workflow`, { timeout: 60_000 }, async () => {
    const history = loadHistory(file);
    assert.ok(
      ['xcomBackendCutover', 'deploymentAssessment'].includes(
        history.events?.[0]?.workflowExecutionStartedEventAttributes?.workflowType?.name ?? '',
      ),
    );
    await Worker.runReplayHistory(
      { workflowBundle: { codePath: WORKFLOW_BUNDLE_PATH } },
      history,
      workflowIdOf(file),
    );
  });
}

test(
  'a reordered workflow (preflight before calibrate) is caught as nondeterministic',
  { timeout: 60_000 },
  async () => {
    const history = loadHistory('happy-path.json');
    await assert.rejects(
      Worker.runReplayHistory(
        { workflowsPath: CHANGED_WORKFLOW_PATH },
        history,
        workflowIdOf('happy-path.json'),
      ),
      (err: unknown) => {
        assert.ok(
          err instanceof DeterminismViolationError,
          `a DeterminismViolationError, got ${String(err)}`,
        );
        // Core names the first history event the changed code does not produce: the shipped code's
        // first command after WorkflowTaskCompleted (event 4) is a search-attribute upsert, the
        // changed code's is the preflight activity.
        assert.match(err.message, /\[TMPRL1100\] Nondeterminism error/);
        assert.match(err.message, /HistoryEvent\(id: 5, UpsertWorkflowSearchAttributes\)/);
        return true;
      },
    );
  },
);
