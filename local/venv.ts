/**
 * Where the project's tools are: the repository root, the Python venv (`.venv`, made by
 * scripts/setup.sh) whose Airflow, moto and `temporal` the local stack runs, and the extra Airflow
 * installs side by side (`.venvs/airflow-<version>`) a local target can run instead, named by the
 * env file's AIRFLOW_VERSION (the variable the official apache/airflow image sets).
 *
 * A venv's Airflow version is read from its installed metadata (the name of the
 * `apache_airflow-<version>.dist-info` folder pip writes into site-packages), not by starting
 * Python: that takes seconds, this a directory listing.
 */
import { existsSync, readdirSync } from 'node:fs';
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
  return venvPathOf(venvDir(env));
}

/** PATH with this venv's bin first, then the system's. */
export function venvPathOf(venv: string): string {
  return `${path.join(venv, 'bin')}:/usr/local/bin:/usr/bin:/bin`;
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

/** Where the extra Airflow venvs live: $CUTOVER_AIRFLOW_VENVS, else <repo>/.venvs. */
export function airflowVenvsDir(env: NodeJS.ProcessEnv = process.env): string {
  const fromEnv = env.CUTOVER_AIRFLOW_VENVS;
  return fromEnv !== undefined && fromEnv.trim() !== '' ? fromEnv : path.join(repoRoot(), '.venvs');
}

const DIST_INFO = /^apache_airflow-(.+)\.dist-info$/;

/**
 * The apache-airflow version installed in `venv` (from `lib/python3.X/site-packages/
 * apache_airflow-<v>.dist-info`), or null when it has none. `apache_airflow_core-...` and the
 * providers do not match: the distribution `apache-airflow` is what names a release.
 */
export function installedAirflowVersion(venv: string): string | null {
  for (const lib of ['lib', 'lib64']) {
    let pythons: string[];
    try {
      pythons = readdirSync(path.join(venv, lib)).filter((d) => d.startsWith('python'));
    } catch {
      continue;
    }
    for (const py of pythons) {
      let entries: string[];
      try {
        entries = readdirSync(path.join(venv, lib, py, 'site-packages'));
      } catch {
        continue;
      }
      for (const e of entries) {
        const m = DIST_INFO.exec(e);
        if (m?.[1]) return m[1];
      }
    }
  }
  return null;
}

/** A version as pip names releases (3.3.2, 2.11.2, 3.1.0rc1): digits first, no path characters. */
const VERSION = /^\d+(?:\.\d+)*(?:[a-z0-9.+!-]*)$/i;

/** The error of a version that has no venv here: the message names the folder looked in and the fix. */
export class AirflowVersionNotInstalled extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'AirflowVersionNotInstalled';
  }
}

/**
 * The venv that runs Airflow `version`: the default venv when its installed apache-airflow is that
 * version, else `<venvs>/airflow-<version>` (see airflowVenvsDir) when it holds that version.
 * Throws AirflowVersionNotInstalled naming the fix otherwise.
 */
export function airflowVenvFor(version: string, env: NodeJS.ProcessEnv = process.env): string {
  const v = version.trim();
  if (!VERSION.test(v) || v.includes('..')) {
    throw new AirflowVersionNotInstalled(
      `"${version}" is not an Airflow version (like 3.3.2): AIRFLOW_VERSION names a release`,
    );
  }
  const fallback = venvDir(env);
  if (installedAirflowVersion(fallback) === v) return fallback;
  const dir = path.join(airflowVenvsDir(env), `airflow-${v}`);
  const found = installedAirflowVersion(dir);
  if (found === v && existsSync(path.join(dir, 'bin', 'airflow'))) return dir;
  const why = found === null ? `no Airflow installed at ${dir}` : `${dir} holds Airflow ${found}, not ${v}`;
  throw new AirflowVersionNotInstalled(
    `Airflow ${v} is not installed here: ${why} (the default venv ${fallback} has ${installedAirflowVersion(fallback) ?? 'none'}). ` +
      `Run scripts/setup.sh --upgrade-venvs, or point CUTOVER_AIRFLOW_VENVS at the folder holding airflow-${v}/`,
  );
}

export interface InstalledAirflow {
  version: string;
  venv: string;
}

/**
 * Every Airflow this machine can run a local target on: the default venv's first, then each
 * `<venvs>/airflow-<v>` whose installed version is the one its name says. One entry per version.
 */
export function installedAirflowVersions(env: NodeJS.ProcessEnv = process.env): InstalledAirflow[] {
  const out: InstalledAirflow[] = [];
  const add = (venv: string, version: string | null) => {
    if (version !== null && !out.some((x) => x.version === version)) out.push({ version, venv });
  };
  const fallback = venvDir(env);
  add(fallback, installedAirflowVersion(fallback));
  const dir = airflowVenvsDir(env);
  let names: string[] = [];
  try {
    names = readdirSync(dir).sort();
  } catch {
    // no extra venvs
  }
  for (const name of names) {
    const m = /^airflow-(.+)$/.exec(name);
    if (!m?.[1]) continue;
    const venv = path.join(dir, name);
    const version = installedAirflowVersion(venv);
    if (version === m[1] && existsSync(path.join(venv, 'bin', 'airflow'))) add(venv, version);
  }
  return out;
}

/**
 * The venv a local target's components run from: the one its env file's AIRFLOW_VERSION names,
 * else the default venv. `fileVars` are the env file's variables; `env` is this process's (where
 * CUTOVER_VENV and CUTOVER_AIRFLOW_VENVS live).
 */
export function componentVenv(
  fileVars: Record<string, string>,
  env: NodeJS.ProcessEnv = process.env,
): string {
  const wanted = fileVars.AIRFLOW_VERSION?.trim();
  return wanted ? airflowVenvFor(wanted, env) : venvDir(env);
}

/**
 * PATH with `venv`'s bin first, then `base` (default: the system's) without the bins of the other
 * Airflow venvs this machine has: `python` and `airflow` in a component's env are its own Airflow's.
 */
export function pathWithVenvFirst(
  venv: string,
  base: string | undefined,
  env: NodeJS.ProcessEnv = process.env,
): string {
  const bin = path.join(venv, 'bin');
  const others = new Set(
    [venvDir(env), ...installedAirflowVersions(env).map((x) => x.venv)].map((v) => path.join(v, 'bin')),
  );
  const rest = (base ?? '/usr/local/bin:/usr/bin:/bin')
    .split(':')
    .filter((p) => p !== '' && p !== bin && !others.has(p));
  return [bin, ...rest].join(':');
}
