/**
 * Real SSH keys for signed-approval tests: made by ssh-keygen in a temp dir (no passphrase), their
 * allowed_signers lines and fingerprints, and a real ssh-agent holding some of them.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export interface TestKeys {
  dir: string;
  /** The private key file of `name`. */
  key(name: string): string;
  /** `keytype base64 comment` of `name`'s public key. */
  pub(name: string): string;
  /** SHA256:... of `name`'s key, as ssh-keygen -l prints it. */
  fingerprint(name: string): string;
  /** An allowed_signers line: these principals may sign with `name`'s key. */
  signer(principals: string, name: string, options?: string): string;
}

function run(cmd: string, args: string[], env?: NodeJS.ProcessEnv): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', env: env ?? process.env });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

export function makeKeys(names: string[]): TestKeys {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'cutover-keys-'));
  for (const n of names)
    run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', `${n}@test`, '-f', path.join(dir, n)]);
  const key = (n: string) => path.join(dir, n);
  const pub = (n: string) => readFileSync(`${key(n)}.pub`, 'utf8').trim();
  return {
    dir,
    key,
    pub,
    fingerprint: (n) => run('ssh-keygen', ['-l', '-f', `${key(n)}.pub`]).split(' ')[1] ?? '',
    signer: (principals, n, options) => [principals, options, pub(n)].filter(Boolean).join(' '),
  };
}

export interface TestAgent {
  socket: string;
  add(keyFile: string): void;
  stop(): void;
}

/** A real ssh-agent in the foreground on its own socket (stopped by its pid). */
export async function startAgent(dir: string): Promise<TestAgent> {
  const socket = path.join(dir, 'agent.sock');
  const child: ChildProcess = spawn('ssh-agent', ['-D', '-a', socket], { stdio: 'ignore' });
  for (let i = 0; i < 100 && !existsSync(socket); i += 1) await new Promise((r) => setTimeout(r, 50));
  if (!existsSync(socket)) throw new Error('ssh-agent did not create its socket');
  const env = { ...process.env, SSH_AUTH_SOCK: socket };
  return {
    socket,
    add: (keyFile) => void run('ssh-add', ['-q', keyFile], env),
    stop: () => void child.kill('SIGTERM'),
  };
}
