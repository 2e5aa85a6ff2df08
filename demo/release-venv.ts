/**
 * The Airflow release a runbook's stack starts on, when it is not the default venv's (the upgrade
 * starts on the release it upgrades from): its venv, `.venvs/airflow-<version>`, is what
 * `scripts/setup.sh --upgrade-venvs` installs. `npm run demo` runs the plain setup first, which is
 * all the other runbooks need; for this one the demo runs that setup itself, with setup's own
 * progress lines, only when the venv is missing or older than its `python/airflow-<version>/`
 * files (the stamp setup writes), and otherwise says it is up to date.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { AirflowVersionNotInstalled, airflowVenvFor, airflowVenvsDir } from '../local/venv.js';
import { Interrupted, type Lifecycle } from './lifecycle.js';
import { ROOT } from './options.js';
import { say, seconds, shown, since, type Timing } from './output.js';

/** The file setup.sh writes into a venv once an install finished: "<requirements sha> <constraints sha>". */
const STAMP = '.cutover-req-sha';

const sha256Of = (file: string): string => createHash('sha256').update(readFileSync(file)).digest('hex');

/** Why the venv of `version` needs setup, or null when it is installed and current. */
function setupNeeded(version: string): string | null {
  let venv: string;
  try {
    venv = airflowVenvFor(version);
  } catch (err) {
    if (err instanceof AirflowVersionNotInstalled) return 'not installed';
    throw err;
  }
  const sources = path.join(ROOT, 'python', `airflow-${version}`);
  const req = path.join(sources, 'requirements.txt');
  const cons = path.join(sources, 'constraints.txt');
  // The default venv, or a venv this repository does not describe (CUTOVER_AIRFLOW_VENVS): as is.
  if (!venv.startsWith(path.join(ROOT, '.venvs') + path.sep) || !existsSync(req) || !existsSync(cons))
    return null;
  let stamp = '';
  try {
    stamp = readFileSync(path.join(venv, STAMP), 'utf8').trim();
  } catch {
    return 'no finished install recorded';
  }
  return stamp === `${sha256Of(req)} ${sha256Of(cons)}`
    ? null
    : `python/airflow-${version}/ changed since it was installed`;
}

/** Runs `bash scripts/setup.sh --upgrade-venvs`, its lines indented as they come. */
async function runSetup(life: Lifecycle): Promise<void> {
  const child = spawn('bash', [path.join(ROOT, 'scripts', 'setup.sh'), '--upgrade-venvs'], {
    cwd: ROOT,
    env: process.env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines = (stream: NodeJS.ReadableStream, write: (line: string) => void) =>
    createInterface({ input: stream, crlfDelay: Infinity }).on('line', write);
  lines(child.stdout, (line) => say(`  ${line}`));
  lines(child.stderr, (line) => process.stderr.write(`  ${line}\n`));
  // Interrupted, setup stops; what it started is killed with the rest of the demo's tree at exit.
  const onAbort = () => child.kill('SIGTERM');
  life.signal.addEventListener('abort', onAbort, { once: true });
  try {
    const code = await new Promise<number | null>((resolve, reject) => {
      child.once('error', reject);
      child.once('close', (c) => resolve(c));
    });
    if (life.interruption !== null) throw new Interrupted(life.interruption);
    if (code !== 0)
      throw new Error(
        `scripts/setup.sh --upgrade-venvs failed (exit ${code}): its lines above say why, its logs are in ${shown(path.join(ROOT, '.cutover', 'logs'))}/`,
      );
  } finally {
    life.signal.removeEventListener('abort', onAbort);
  }
}

/**
 * Makes sure Airflow `version` has its venv, running setup when needed; returns that venv. Throws
 * when setup ran and the release is still not installed (the message names the fix).
 */
export async function ensureReleaseVenv(
  version: string,
  life: Lifecycle,
  timings: Timing[],
): Promise<string> {
  const t = performance.now();
  const why = setupNeeded(version);
  // setup installs into the repository's .venvs: with CUTOVER_AIRFLOW_VENVS elsewhere it cannot help,
  // and airflowVenvFor's error names that folder and the fix.
  if (why !== null && airflowVenvsDir() !== path.join(ROOT, '.venvs')) airflowVenvFor(version);
  if (why !== null) {
    say(
      `Installing Airflow ${version}, the release the stack starts on (${why}): scripts/setup.sh --upgrade-venvs`,
    );
    await runSetup(life);
    timings.push({ label: `setup --upgrade-venvs (Airflow ${version})`, ms: since(t) });
  }
  const venv = airflowVenvFor(version);
  say(
    `  [ok] Airflow ${version} in ${shown(venv)}${why === null ? ', up to date' : ''} [${seconds(since(t))}]`,
  );
  say('');
  return venv;
}
