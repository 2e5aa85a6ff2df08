/**
 * No Docker engine runs here, so docker-compose.yaml is checked for what can
 * drift from the code: the search attributes the workflow sets, and the worker
 * entry point the image runs.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { test } from 'node:test';
import { parse } from 'yaml';
import { SEARCH_ATTRIBUTES } from '../workflows/search-attributes.js';
import { REPO_ROOT } from './support/plans.js';

interface Compose {
  services: Record<
    string,
    { image?: string; build?: string; command?: string[]; environment?: Record<string, string> }
  >;
}

const compose = parse(readFileSync(`${REPO_ROOT}docker-compose.yaml`, 'utf8')) as Compose;

test('the Temporal service registers exactly the search attributes the workflow sets', () => {
  const flags = (compose.services.temporal?.command ?? [])
    .filter((a) => a.startsWith('--search-attribute='))
    .map((a) => a.slice('--search-attribute='.length));
  assert.deepEqual(flags.sort(), SEARCH_ATTRIBUTES.map((k) => `${k.name}=Keyword`).sort());
});

test('the worker service runs the compiled worker entry point against the temporal service', () => {
  const worker = compose.services.worker;
  assert.ok(worker?.build, 'built from this repository');
  assert.ok(existsSync(`${REPO_ROOT}Dockerfile`));
  const entry = worker.command?.[1] ?? '';
  assert.equal(entry, 'dist/worker/main.js');
  assert.ok(existsSync(`${REPO_ROOT}${entry}`), `${entry} is built by npm run build`);
  assert.equal(worker.environment?.TEMPORAL_ADDRESS, 'temporal:7233');
});
