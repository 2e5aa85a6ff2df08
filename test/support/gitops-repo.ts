/** A real GitOps repo for tests: a bare "origin" whose main branch holds one Helm values file. */
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';

/** git with no user or global config, so a developer's settings never change a test. */
export const git = (cwd: string, ...args: string[]) =>
  execFileSync('git', args, {
    cwd,
    encoding: 'utf8',
    env: { ...process.env, GIT_CONFIG_GLOBAL: '/dev/null' },
  }).trim();

/** Creates `<dir>/infra.git` with `valuesFile` on main; returns the origin's path. */
export function seedValuesRepo(dir: string, valuesFile: string, text: string): string {
  const origin = path.join(dir, 'infra.git');
  git(dir, 'init', '-q', '--bare', '-b', 'main', origin);
  const seed = path.join(dir, 'seed');
  git(dir, 'clone', '-q', origin, seed);
  mkdirSync(path.dirname(path.join(seed, valuesFile)), { recursive: true });
  writeFileSync(path.join(seed, valuesFile), text);
  git(seed, 'add', '.');
  git(seed, '-c', 'user.name=t', '-c', 'user.email=t@t', 'commit', '-q', '-m', 'values');
  git(seed, 'push', '-q', 'origin', 'HEAD:main');
  return origin;
}
