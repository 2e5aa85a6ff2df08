/**
 * OpenSSH's signing tools, the one place cutover runs them: `ssh-keygen -Y sign` (the CLI signs a
 * start or a decision), `ssh-keygen -Y verify` / `-Y check-novalidate` (the worker, and `cutover report
 * --verify`, check one) and `ssh-add -L` (which keys an ssh-agent holds).
 *
 * Private keys stay where they are: ssh-keygen reads the key file, or asks the agent, itself; this
 * module only ever handles messages, signatures and public keys. Temporary files (the allowed
 * signers, a signature, an agent's public key) live in a private directory removed afterwards.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { SignatureVerifierPort, VerifySignatureArgs } from '../activities/adapters.js';
import type { SignatureCheck } from '../domain/engine/evidence.js';
import { SIGNATURE_NAMESPACE } from '../domain/engine/allowed-signers.js';

export interface SshToolOptions {
  /** The programs to run (default: ssh-keygen and ssh-add from PATH). */
  sshKeygen?: string;
  sshAdd?: string;
  /** The environment of the tools: PATH, and SSH_AUTH_SOCK for the agent (default: process.env). */
  env?: NodeJS.ProcessEnv;
}

/** The tool itself could not be run (not installed, killed): not a verdict on the signature. */
export class SshToolError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SshToolError';
  }
}

/** Signing failed: the key is missing, unreadable, not in the agent, or its passphrase was not given. */
export class SigningError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SigningError';
  }
}

interface Ran {
  code: number | null;
  stdout: string;
  stderr: string;
}

const VERIFY_TIMEOUT_MS = 15_000;

/** ssh-keygen's -O verify-time form: YYYYMMDDHHMMSSZ (UTC). */
function verifyTime(iso: string): string | null {
  const t = new Date(iso);
  if (Number.isNaN(t.getTime())) return null;
  return `${t.toISOString().replace(/[-:T]/g, '').slice(0, 14)}Z`;
}

/** The last meaningful line of a tool's stderr, for an error message. */
function lastLine(text: string): string {
  const lines = text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && l !== 'Signing data on standard input');
  return lines.at(-1) ?? '';
}

/** `Good "cutover" signature for alice with ED25519 key SHA256:...` (or without "for alice"). */
const GOOD = /^Good "[^"]*" signature (?:for (\S+) )?with (\S+) key (SHA256:[A-Za-z0-9+/]+)/m;

export class SshKeygen implements SignatureVerifierPort {
  private readonly keygen: string;
  private readonly add: string;
  private readonly env: NodeJS.ProcessEnv;

  constructor(options: SshToolOptions = {}) {
    this.keygen = options.sshKeygen ?? 'ssh-keygen';
    this.add = options.sshAdd ?? 'ssh-add';
    this.env = options.env ?? process.env;
  }

  private run(program: string, args: string[], stdin: string, timeoutMs?: number): Promise<Ran> {
    return new Promise((resolve, reject) => {
      const child = spawn(program, args, { env: this.env, stdio: ['pipe', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      const timer =
        timeoutMs === undefined
          ? undefined
          : setTimeout(() => {
              child.kill('SIGKILL');
              reject(new SshToolError(`${program} did not finish within ${timeoutMs / 1000}s`));
            }, timeoutMs);
      child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
      child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
      child.on('error', (err: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        reject(
          new SshToolError(
            err.code === 'ENOENT'
              ? `${program} is not installed (OpenSSH's openssh-client package provides it)`
              : `cannot run ${program}: ${err.message}`,
          ),
        );
      });
      child.on('close', (code) => {
        clearTimeout(timer);
        resolve({ code, stdout, stderr });
      });
      child.stdin.on('error', () => undefined);
      child.stdin.end(stdin);
    });
  }

  private async inTempDir<T>(work: (dir: string) => Promise<T>): Promise<T> {
    const dir = await mkdtemp(path.join(tmpdir(), 'cutover-ssh-'));
    try {
      return await work(dir);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }

  /**
   * Signs `message` with `keyFile`: a private key, or a public key whose private half is in the
   * agent (SSH_AUTH_SOCK). Returns the armored signature. No timeout: ssh-keygen may ask for the
   * key's passphrase on the terminal.
   */
  async sign(message: string, keyFile: string): Promise<string> {
    const ran = await this.run(
      this.keygen,
      ['-Y', 'sign', '-n', SIGNATURE_NAMESPACE, '-f', keyFile],
      message,
    );
    if (ran.code !== 0 || !ran.stdout.includes('-----BEGIN SSH SIGNATURE-----'))
      throw new SigningError(lastLine(ran.stderr) || `ssh-keygen exited ${String(ran.code)}`);
    return ran.stdout;
  }

  /** Signs with the agent's key `publicKey` (a `keytype base64 [comment]` line from `ssh-add -L`). */
  async signWithAgentKey(message: string, publicKey: string): Promise<string> {
    // The public key alone in its own directory: ssh-keygen must not find a private key file beside it.
    return this.inTempDir(async (dir) => {
      const pub = path.join(dir, 'agent-key.pub');
      await writeFile(pub, `${publicKey.trim()}\n`, { mode: 0o600 });
      return this.sign(message, pub);
    });
  }

  /** The public keys the agent at SSH_AUTH_SOCK holds (`keytype base64 comment`), or [] when none. */
  async agentKeys(): Promise<string[]> {
    if (!this.env.SSH_AUTH_SOCK) return [];
    const ran = await this.run(this.add, ['-L'], '', VERIFY_TIMEOUT_MS);
    // 1: the agent holds no identities; 2: no agent answers at SSH_AUTH_SOCK.
    if (ran.code === 1) return [];
    if (ran.code !== 0)
      throw new SigningError(
        `cannot list the keys in ssh-agent: ${lastLine(ran.stderr) || `exit ${String(ran.code)}`}`,
      );
    return ran.stdout.split('\n').filter((l) => l.trim() !== '');
  }

  /**
   * Checks `signature` over `message` for `principal` against the allowed signers. A signature that
   * does not verify is a verdict ({verified: false}, with the signing key's fingerprint when the
   * signature is well formed over this very text), not an error; only a tool that cannot run throws.
   */
  async verify(args: VerifySignatureArgs): Promise<SignatureCheck> {
    return this.inTempDir(async (dir) => {
      const signers = path.join(dir, 'allowed_signers');
      const sig = path.join(dir, 'message.sig');
      await writeFile(signers, `${args.allowedSigners.join('\n')}\n`);
      await writeFile(sig, args.signature.endsWith('\n') ? args.signature : `${args.signature}\n`);
      const at = args.at ? verifyTime(args.at) : null;
      const verify = await this.run(
        this.keygen,
        [
          '-Y',
          'verify',
          '-f',
          signers,
          '-I',
          args.principal,
          '-n',
          SIGNATURE_NAMESPACE,
          '-s',
          sig,
          ...(at ? ['-O', `verify-time=${at}`] : []),
        ],
        args.message,
        VERIFY_TIMEOUT_MS,
      );
      const good = GOOD.exec(verify.stdout);
      if (verify.code === 0 && good?.[2] && good[3]) {
        return {
          verified: true,
          signer: { principal: good[1] ?? args.principal, keyType: good[2], fingerprint: good[3] },
        };
      }
      // Why not: a sound signature over this text by a key not listed for the principal, or no
      // valid signature over this text at all (forged, or made for another run, digest or reason).
      const check = await this.run(
        this.keygen,
        ['-Y', 'check-novalidate', '-n', SIGNATURE_NAMESPACE, '-s', sig],
        args.message,
        VERIFY_TIMEOUT_MS,
      );
      const sound = GOOD.exec(check.stdout);
      if (check.code === 0 && sound?.[3]) {
        const listed = lastLine(verify.stderr);
        return {
          verified: false,
          fingerprint: sound[3],
          why: `the signing key ${sound[3]} is not an allowed signer for ${args.principal}${listed && listed !== 'Could not verify signature.' ? ` (${listed})` : ''}`,
        };
      }
      const detail = lastLine(check.stderr) || lastLine(verify.stderr);
      return {
        verified: false,
        why: `the signature does not verify over this ${args.message.startsWith('cutover signed start') ? 'start' : 'decision'} (made for another run, digest, operator or reason, or not a signature)${detail ? `: ${detail}` : ''}`,
      };
    });
  }
}
