/**
 * Where the workflow code is: the compiled modules the worker bundles, and the bundle `npm run build`
 * writes once (dist/workflows.bundle.js, by worker/write-workflow-bundle.ts) so that `cutover replay`
 * need not bundle the code on every run (~4 s). Paths and the bundle's freshness check only, so the
 * CLI can have them without importing the worker.
 *
 * Freshness: the bundle is made from workflows/ and the domain/ modules they import (activities are
 * imported as types only), so a hash of those sources (every .ts file under both, plus the SDK
 * version that bundles them) is recorded beside it; a bundle whose hash differs from the sources of
 * this checkout is stale (a `tsc` without `npm run build`, an edit without a build).
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const WORKFLOWS_PATH = fileURLToPath(new URL('../workflows/index.js', import.meta.url));

/** The prebuilt bundle's code (dist/workflows.bundle.js) and its manifest beside it. */
export const WORKFLOW_BUNDLE_PATH = fileURLToPath(new URL('../workflows.bundle.js', import.meta.url));
export const WORKFLOW_BUNDLE_MANIFEST_PATH = fileURLToPath(
  new URL('../workflows.bundle.json', import.meta.url),
);

/** The checkout: dist/domain/ is two levels below it. */
const SOURCE_ROOT = fileURLToPath(new URL('../../', import.meta.url));
/** The source folders whose code can end up in the bundle. */
export const WORKFLOW_SOURCE_DIRS = ['workflows', 'domain'] as const;

export interface WorkflowBundleManifest {
  /** sha256 of the sources (see workflowSourceHash) the bundle was made from. */
  sourceHash: string;
  /** How many source files that hash covers. */
  sources: number;
  /** The @temporalio/workflow version bundled in. */
  sdk: string;
  builtAt: string;
}

function tsFiles(dir: string): string[] {
  if (!existsSync(dir)) return [];
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) out.push(...tsFiles(full));
    else if (entry.isFile() && entry.name.endsWith('.ts')) out.push(full);
  }
  return out;
}

function sdkVersion(root: string): string {
  try {
    const pkg = JSON.parse(
      readFileSync(path.join(root, 'node_modules', '@temporalio', 'workflow', 'package.json'), 'utf8'),
    ) as { version?: string };
    return pkg.version ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

/**
 * The hash of the workflow sources of a checkout, or null where there are none (an install without
 * the TypeScript sources cannot be checked, and is not rebuilt either).
 */
export function workflowSourceHash(
  root = SOURCE_ROOT,
): { hash: string; sources: number; sdk: string } | null {
  const files = WORKFLOW_SOURCE_DIRS.flatMap((d) => tsFiles(path.join(root, d)))
    .map((f) => path.relative(root, f).split(path.sep).join('/'))
    .sort();
  if (files.length === 0) return null;
  const h = createHash('sha256');
  const sdk = sdkVersion(root);
  h.update(`@temporalio/workflow ${sdk}\n`);
  for (const f of files) {
    h.update(`${f}\n`);
    h.update(readFileSync(path.join(root, f)));
    h.update('\n');
  }
  return { hash: h.digest('hex'), sources: files.length, sdk };
}

export type BundleState = { fresh: true; codePath: string } | { fresh: false; codePath: string; why: string };

/** Whether the prebuilt bundle exists and was made from the sources as they are now. */
export function prebuiltBundleState(): BundleState {
  const codePath = WORKFLOW_BUNDLE_PATH;
  if (!existsSync(codePath) || !existsSync(WORKFLOW_BUNDLE_MANIFEST_PATH))
    return { fresh: false, codePath, why: `no prebuilt workflow bundle at ${codePath}` };
  let manifest: WorkflowBundleManifest;
  try {
    manifest = JSON.parse(readFileSync(WORKFLOW_BUNDLE_MANIFEST_PATH, 'utf8')) as WorkflowBundleManifest;
  } catch {
    return { fresh: false, codePath, why: `${WORKFLOW_BUNDLE_MANIFEST_PATH} is not readable JSON` };
  }
  const now = workflowSourceHash();
  // Without sources there is nothing to compare with: the bundle shipped is the code.
  if (now === null) return { fresh: true, codePath };
  if (now.hash !== manifest.sourceHash)
    return {
      fresh: false,
      codePath,
      why: `the prebuilt workflow bundle (${manifest.builtAt}) is older than the workflow sources`,
    };
  return { fresh: true, codePath };
}

/** The Worker option that says where the workflow code comes from. */
export type WorkflowCode = { workflowBundle: { codePath: string } } | { workflowsPath: string };

/**
 * The workflow code a worker or a replay runs: the bundle `npm run build` wrote, when it was made
 * from the sources as they are (no webpack at start: ~1.1 s and ~1.5 s of CPU less per worker
 * start, bench/worker-startup.ts); else the compiled modules, bundled now, with a note saying why.
 */
export function workflowCode(note?: (line: string) => void): WorkflowCode {
  const bundle = prebuiltBundleState();
  if (bundle.fresh) return { workflowBundle: { codePath: bundle.codePath } };
  note?.(`cutover: ${bundle.why}: bundling the workflow code now (npm run build writes the bundle once)`);
  return { workflowsPath: WORKFLOWS_PATH };
}
