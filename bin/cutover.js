#!/usr/bin/env node
// The `cutover` command: runs the compiled CLI in dist/ (TypeScript is compiled by `npm run build`).
/* global process, URL */
import { existsSync } from 'node:fs';

const cli = new URL('../dist/client/cli.js', import.meta.url);
if (!existsSync(cli)) {
  process.stderr.write(
    'cutover: the CLI is not built yet: run `npm run build` (or `npm ci`, which builds via the prepare script)\n',
  );
  process.exit(2);
}
const { run } = await import(cli.href);
await run(process.argv.slice(2));
