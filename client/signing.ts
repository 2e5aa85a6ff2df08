/**
 * How `cutover start` and `cutover approve|reject` sign, when the plan lists approval.allowedSigners:
 * with `--key FILE` (a private key, or a public key whose private half is in ssh-agent), or else with
 * the key in ssh-agent that the plan lists for the operator, the way git picks a signing key. The
 * private key never passes through cutover: ssh-keygen reads it, or asks the agent.
 */
import { SigningError, SshKeygen } from '../adapters/ssh-keygen.js';
import { allowedSigners, signerPrincipals } from '../domain/engine/allowed-signers.js';
import { CliError, EXIT } from './exit-codes.js';

export interface SignRequest {
  /** The plan's approval.allowedSigners. */
  signers: readonly string[];
  /** Who signs (the allowed_signers principal). */
  principal: string;
  message: string;
  /** --key, if given. */
  keyFile?: string | undefined;
  env: NodeJS.ProcessEnv;
  /** What is being signed, for messages ("the start", "the approval"). */
  what: string;
}

/** The `keytype base64` of a public key line, to compare keys whatever their comment. */
const keyOf = (line: string): string => line.trim().split(/\s+/).slice(0, 2).join(' ');

export async function signFor(req: SignRequest): Promise<string> {
  if (!signerPrincipals(req.signers).has(req.principal)) {
    throw new CliError(
      EXIT.BAD_INPUT,
      `${req.principal} has no key in the plan's approval.allowedSigners, so cannot sign ${req.what} (signers: ${[...signerPrincipals(req.signers)].join(', ')})`,
    );
  }
  const ssh = new SshKeygen({ env: req.env });
  try {
    if (req.keyFile) return await ssh.sign(req.message, req.keyFile);
    const listed = new Set(
      allowedSigners(req.signers)
        .filter((s) => s.principals.includes(req.principal))
        .map((s) => `${s.keyType} ${s.key}`),
    );
    const agentKeys = await ssh.agentKeys();
    const key = agentKeys.find((k) => listed.has(keyOf(k)));
    if (!key) {
      throw new CliError(
        EXIT.BAD_INPUT,
        req.env.SSH_AUTH_SOCK
          ? `the plan lists approval.allowedSigners and none of the ${agentKeys.length} key(s) in ssh-agent is listed for ${req.principal}: pass --key FILE, or ssh-add the key`
          : `the plan lists approval.allowedSigners: sign ${req.what} with --key FILE (your SSH private key, or its .pub with the key in ssh-agent)`,
      );
    }
    return await ssh.signWithAgentKey(req.message, key);
  } catch (err) {
    if (err instanceof SigningError)
      throw new CliError(
        EXIT.BAD_INPUT,
        `cannot sign ${req.what}${req.keyFile ? ` with ${req.keyFile}` : ' with ssh-agent'}: ${err.message}`,
      );
    throw err;
  }
}
