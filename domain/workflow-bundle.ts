/**
 * Where the compiled workflow code is: the worker bundles it, and `cutover replay` replays histories
 * against it. A path constant only, so the CLI can have it without importing the worker.
 */
import { fileURLToPath } from 'node:url';

export const WORKFLOWS_PATH = fileURLToPath(new URL('../workflows/index.js', import.meta.url));
