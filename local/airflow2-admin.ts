/**
 * The REST API user of an Airflow 2 stack. Airflow 2 keeps users in the metadata DB (the FAB auth
 * manager's ab_user table), so the launcher creates the admin with `airflow users create` before the
 * webserver starts (the webserver syncs FAB's permissions at start; two processes doing that at once
 * collide). A user that exists already (a DB an earlier stack used, or one restored from a backup)
 * keeps its password; once the webserver answers, the launcher tries it, and when the password is
 * another one, replaces the user: `airflow users reset-password` is broken in 2.11.2 with FAB
 * provider 1.5.4 (it finds the user in one Flask app context and updates it in another:
 * "The sqlalchemy extension was not registered"), `users delete` then `users create` work.
 *
 * The password never goes on a command line (any local user can read /proc/<pid>/cmdline): without
 * --password or --use-random-password, 2.11.2's `_create_password`
 * (providers/fab/auth_manager/cli_commands/user_command.py) asks getpass twice. getpass reads
 * /dev/tty when the process has a controlling terminal, so the command runs in a new session
 * (detached: no terminal) where getpass falls back to reading stdin, and the password is written
 * there twice.
 */
import { spawn } from 'node:child_process';

export interface Airflow2AdminOptions {
  /** <venv>/bin/airflow of the 2.x venv. */
  airflow: string;
  /** The component env (metadata DB, AIRFLOW_HOME, auth manager). */
  env: Record<string, string>;
  cwd: string;
  username: string;
  password: string;
  timeoutMs?: number;
}

interface Run {
  code: number | null;
  output: string;
}

function runWithPassword(opts: Airflow2AdminOptions, args: string[]): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(opts.airflow, args, {
      env: opts.env,
      cwd: opts.cwd,
      // A new session: no controlling terminal, so getpass reads the pipe below, never a tty.
      detached: true,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const chunks: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => chunks.push(c));
    child.stderr.on('data', (c: Buffer) => chunks.push(c));
    const timer = setTimeout(() => {
      try {
        process.kill(-(child.pid ?? 0), 'SIGKILL');
      } catch {
        child.kill('SIGKILL');
      }
    }, opts.timeoutMs ?? 180_000);
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, output: Buffer.concat(chunks).toString('utf8') });
    });
    child.stdin.on('error', () => undefined);
    child.stdin.end(`${opts.password}\n${opts.password}\n`);
  });
}

const scrub = (text: string, secret: string) => (secret === '' ? text : text.split(secret).join('***'));
const tail = (text: string) => text.trimEnd().split('\n').slice(-15).join('\n');

const createArgs = (username: string) => [
  'users',
  'create',
  '--username',
  username,
  '--role',
  'Admin',
  '--firstname',
  'Cutover',
  '--lastname',
  'Admin',
  '--email',
  `${username}@cutover.invalid`,
];

function failed(what: string, r: Run, password: string): Error {
  return new Error(`${what} failed (exit ${String(r.code)}):\n${tail(scrub(r.output, password))}`);
}

/**
 * Creates `username` as an Admin with `password` unless a user of that name exists: 'exists' then
 * (its password unknown until tried). Throws with the command's last lines (the password masked).
 */
export async function ensureAirflow2Admin(opts: Airflow2AdminOptions): Promise<'created' | 'exists'> {
  const created = await runWithPassword(opts, createArgs(opts.username));
  if (created.code !== 0) throw failed(`airflow users create ${opts.username}`, created, opts.password);
  return created.output.includes('already exist') ? 'exists' : 'created';
}

/** Replaces the user (delete, create) so that its password is `password`. */
export async function replaceAirflow2Admin(opts: Airflow2AdminOptions): Promise<void> {
  const deleted = await runWithPassword(opts, ['users', 'delete', '--username', opts.username]);
  if (deleted.code !== 0) throw failed(`airflow users delete ${opts.username}`, deleted, opts.password);
  const created = await runWithPassword(opts, createArgs(opts.username));
  if (created.code !== 0 || created.output.includes('already exist'))
    throw failed(`airflow users create ${opts.username}`, created, opts.password);
}

/**
 * Whether the REST API (/api/v1, basic auth) accepts the user's password: true on 200, false on
 * 401/403 (2.11.2 answers 403 to a wrong password: Flask-AppBuilder's default AUTH_ROLE_PUBLIC
 * "Public" lets the request through as a role that may do nothing).
 */
export async function airflow2AdminAccepted(
  baseUrl: string,
  username: string,
  password: string,
): Promise<boolean> {
  const res = await fetch(`${baseUrl}/api/v1/dags?limit=1`, {
    headers: { authorization: `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}` },
    signal: AbortSignal.timeout(30_000),
  });
  await res.arrayBuffer();
  if (res.status === 200) return true;
  if (res.status === 401 || res.status === 403) return false;
  throw new Error(
    `GET ${baseUrl}/api/v1/dags answered HTTP ${res.status} while checking the admin's password`,
  );
}
