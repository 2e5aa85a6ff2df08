/**
 * The approvers' SSH public keys, one line each in the `allowed_signers` format git and
 * `ssh-keygen -Y verify` read (ssh-keygen(1), ALLOWED SIGNERS):
 *
 *   principal[,principal...] [options] keytype base64-key [comment]
 *
 * Parsed here without I/O so a plan is checked at load with field-named errors; ssh-keygen itself
 * verifies the signatures (adapters/ssh-keygen.ts). Public keys are not secrets: they may sit in a
 * plan, its digest and the workflow history.
 *
 * Stricter than ssh-keygen where cutover's rules need it: principals are literal names (a pattern
 * such as `*` would let one key approve as anyone, and the approver list names people), and a
 * `cert-authority` line is refused (the self-approval rule compares the keys that signed, and a CA
 * signs for keys the plan never lists).
 */

/** The signature namespace (`ssh-keygen -Y sign -n`): a cutover signature is no use as a git or email one. */
export const SIGNATURE_NAMESPACE = 'cutover';

export const KEY_TYPES = [
  'ssh-ed25519',
  'ssh-rsa',
  'ecdsa-sha2-nistp256',
  'ecdsa-sha2-nistp384',
  'ecdsa-sha2-nistp521',
  'sk-ssh-ed25519@openssh.com',
  'sk-ecdsa-sha2-nistp256@openssh.com',
] as const;

export interface AllowedSigner {
  principals: string[];
  /** As written, e.g. `namespaces="cutover"`. */
  options: string[];
  keyType: string;
  /** The base64 key blob. */
  key: string;
}

const PRINCIPAL = /^[A-Za-z0-9][A-Za-z0-9._@+-]*$/;
const TIMESTAMP = /^\d{8}(\d{4}(\d{2})?)?Z?$/;

/** Splits on blanks outside double quotes (options may quote a value with commas). */
function fields(line: string): string[] {
  return line.match(/(?:[^\s"]+|"[^"]*")+/g) ?? [];
}

/** Splits an options field on commas outside double quotes. */
function optionList(field: string): string[] {
  return field.match(/(?:[^,"]+|"[^"]*")+/g) ?? [];
}

/** Does an ssh_config(5) pattern-list (`*`, `?`, `!negation`) accept `value`? */
export function patternListMatches(list: string, value: string): boolean {
  let matched = false;
  for (const raw of list.split(',')) {
    const negated = raw.startsWith('!');
    const pattern = negated ? raw.slice(1) : raw;
    const re = new RegExp(
      `^${pattern
        .replace(/[.+^${}()|[\]\\]/g, '\\$&')
        .replaceAll('*', '.*')
        .replaceAll('?', '.')}$`,
    );
    if (re.test(value)) {
      if (negated) return false;
      matched = true;
    }
  }
  return matched;
}

const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';

/**
 * Base64 to bytes, or null when it is not base64. Written out (not atob or Buffer) because workflow
 * code, which reads plans too, runs in a sandbox that has neither.
 */
function base64Bytes(text: string): number[] | null {
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(text) || text.length % 4 !== 0) return null;
  const bytes: number[] = [];
  let bits = 0;
  let acc = 0;
  for (const ch of text.replace(/=+$/, '')) {
    acc = (acc << 6) | B64.indexOf(ch);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      bytes.push((acc >> bits) & 0xff);
    }
  }
  return bytes;
}

/** The SSH wire string at the start of a key blob (its key type), or null when the blob is not one. */
function blobKeyType(base64: string): string | null {
  const bin = base64Bytes(base64);
  if (!bin || bin.length < 4) return null;
  const len = (((bin[0] ?? 0) << 24) | ((bin[1] ?? 0) << 16) | ((bin[2] ?? 0) << 8) | (bin[3] ?? 0)) >>> 0;
  if (len === 0 || len > 64 || bin.length < 4 + len) return null;
  return String.fromCharCode(...bin.slice(4, 4 + len));
}

function checkOption(option: string): string | null {
  const eq = option.indexOf('=');
  const name = (eq < 0 ? option : option.slice(0, eq)).toLowerCase();
  const value = eq < 0 ? null : option.slice(eq + 1).replace(/^"(.*)"$/, '$1');
  if (name === 'cert-authority')
    return "cert-authority lines are not supported: list each approver's own key (self-approval is judged on the signing key)";
  if (name === 'namespaces') {
    if (value === null || value === '') return 'namespaces= needs a value, e.g. namespaces="cutover"';
    if (!patternListMatches(value, SIGNATURE_NAMESPACE))
      return `namespaces="${value}" does not include "${SIGNATURE_NAMESPACE}": this key could never sign a cutover decision`;
    return null;
  }
  if (name === 'valid-after' || name === 'valid-before') {
    if (value === null || !TIMESTAMP.test(value))
      return `${name}= takes a time like 20260101 or 20260101120000Z`;
    return null;
  }
  return `unknown option "${name}" (known: namespaces, valid-after, valid-before)`;
}

/** One line parsed, or the reason it is not an allowed_signers line cutover accepts. */
export function parseAllowedSigner(line: string): AllowedSigner | { problem: string } {
  const parts = fields(line.trim());
  const [principalField, second, ...rest] = parts;
  if (!principalField || !second)
    return { problem: 'expected "principal[,principal] [options] keytype base64-key [comment]"' };
  const principals = principalField.split(',');
  for (const p of principals) {
    if (!PRINCIPAL.test(p))
      return {
        problem: `principal "${p}" is not a plain name: cutover matches approvers by name, so patterns (*, ?, !) and empty names are refused`,
      };
  }
  const hasOptions = !(KEY_TYPES as readonly string[]).includes(second);
  const options = hasOptions ? optionList(second) : [];
  const keyType = hasOptions ? rest[0] : second;
  const key = hasOptions ? rest[1] : rest[0];
  if (!keyType || !(KEY_TYPES as readonly string[]).includes(keyType)) {
    const what = hasOptions && !second.includes('=') ? `"${second}"` : `"${keyType ?? ''}"`;
    return { problem: `unknown key type ${what} (expected one of ${KEY_TYPES.join(', ')})` };
  }
  for (const o of options) {
    const problem = checkOption(o);
    if (problem) return { problem };
  }
  if (!key) return { problem: `the ${keyType} key itself (base64) is missing` };
  const inBlob = blobKeyType(key);
  if (inBlob === null) return { problem: `the ${keyType} key is not valid base64 of an SSH public key` };
  if (inBlob !== keyType) return { problem: `the key says "${keyType}" but its data is a ${inBlob} key` };
  return { principals, options, keyType, key };
}

/** Comment and blank lines, which allowed_signers files may hold and verification ignores. */
export const isCommentLine = (line: string): boolean => /^\s*(#|$)/.test(line);

/** The parsed signer lines of a plan (comment lines skipped; the plan's schema refused bad lines). */
export function allowedSigners(lines: readonly string[] | undefined): AllowedSigner[] {
  const out: AllowedSigner[] = [];
  for (const line of lines ?? []) {
    if (isCommentLine(line)) continue;
    const parsed = parseAllowedSigner(line);
    if ('key' in parsed) out.push(parsed);
  }
  return out;
}

/** Every principal the lines name. */
export function signerPrincipals(lines: readonly string[] | undefined): Set<string> {
  return new Set(allowedSigners(lines).flatMap((s) => s.principals));
}

/**
 * Does the plan ask for signed decisions (it lists at least one signer line)? Any line counts, even one
 * the plan's schema would refuse: a plan that reached a run some other way must not lose its keys'
 * protection over a typo (ssh-keygen then refuses what it cannot read).
 */
export const requiresSignatures = (lines: readonly string[] | undefined): boolean =>
  (lines ?? []).some((l) => !isCommentLine(l));
