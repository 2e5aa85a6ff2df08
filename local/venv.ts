/**
 * Where the project's tools are: the repository root and the Python venv (`.venv`, made by
 * scripts/setup.sh) whose Airflow, moto and `temporal` the local stack runs.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root: the nearest folder above this module holding package.json and tsconfig.json (from src and dist). */
export function repoRoot(): string {
  const here = path.dirname(fileURLToPath(import.meta.url));
  let dir = here;
  for (;;) {
    if (existsSync(path.join(dir, 'package.json')) && existsSync(path.join(dir, 'tsconfig.json'))) return dir;
    const up = path.dirname(dir);
    if (up === dir) throw new Error(`cannot find the repository root (package.json) above ${here}`);
    dir = up;
  }
}

/** $CUTOVER_VENV, else <repo>/.venv. */
export function venvDir(env: NodeJS.ProcessEnv = process.env): string {
  const fromEnv = env.CUTOVER_VENV;
  return fromEnv !== undefined && fromEnv.trim() !== '' ? fromEnv : path.join(repoRoot(), '.venv');
}

/** PATH for processes of the local stack: the venv's bin first, then the system's. */
export function venvPath(env: NodeJS.ProcessEnv = process.env): string {
  return `${path.join(venvDir(env), 'bin')}:/usr/local/bin:/usr/bin:/bin`;
}

/** An executable of the venv; throws naming the fix when it is missing. */
export function venvBin(name: string, env: NodeJS.ProcessEnv = process.env): string {
  const bin = path.join(venvDir(env), 'bin', name);
  if (!existsSync(bin)) {
    throw new Error(
      `no ${name} at ${bin}: run scripts/setup.sh, or point CUTOVER_VENV at the project's venv`,
    );
  }
  return bin;
}

export const venvPython = (): string => venvBin('python');
export const airflowBin = (): string => venvBin('airflow');
