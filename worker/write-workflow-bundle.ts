/**
 * `npm run build`'s second step (after tsc): bundles the compiled workflow code once into
 * dist/workflows.bundle.js, with the hash of the sources it came from in dist/workflows.bundle.json,
 * so that `cutover replay` replays from the file instead of bundling on every run. See
 * domain/workflow-bundle.ts for the freshness check.
 *
 *   node dist/worker/write-workflow-bundle.js
 */
import { rename, writeFile } from 'node:fs/promises';
import { bundleWorkflowCode, DefaultLogger } from '@temporalio/worker';
import {
  WORKFLOW_BUNDLE_MANIFEST_PATH,
  WORKFLOW_BUNDLE_PATH,
  WORKFLOWS_PATH,
  workflowSourceHash,
  type WorkflowBundleManifest,
} from '../domain/workflow-bundle.js';

async function main(): Promise<void> {
  const t0 = Date.now();
  // Hashed before bundling: a source edited meanwhile makes the bundle stale, never wrongly fresh.
  const source = workflowSourceHash();
  const { code } = await bundleWorkflowCode({
    workflowsPath: WORKFLOWS_PATH,
    logger: new DefaultLogger('WARN'),
  });
  const manifest: WorkflowBundleManifest = {
    sourceHash: source?.hash ?? '',
    sources: source?.sources ?? 0,
    sdk: source?.sdk ?? 'unknown',
    builtAt: new Date().toISOString(),
  };
  // Code first, then the manifest that vouches for it, each through a rename: a reader never pairs
  // a new manifest with old code.
  await writeFile(`${WORKFLOW_BUNDLE_PATH}.tmp`, code);
  await rename(`${WORKFLOW_BUNDLE_PATH}.tmp`, WORKFLOW_BUNDLE_PATH);
  await writeFile(`${WORKFLOW_BUNDLE_MANIFEST_PATH}.tmp`, `${JSON.stringify(manifest, null, 2)}\n`);
  await rename(`${WORKFLOW_BUNDLE_MANIFEST_PATH}.tmp`, WORKFLOW_BUNDLE_MANIFEST_PATH);
  console.log(
    `workflow bundle: ${WORKFLOW_BUNDLE_PATH} (${(code.length / 1e6).toFixed(1)} MB, ${manifest.sources} sources, ${Date.now() - t0} ms)`,
  );
}

main().catch((err: unknown) => {
  console.error(`write-workflow-bundle: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
