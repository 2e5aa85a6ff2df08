/**
 * ChangePort for GitOps: the change is a commit to a Helm values file, merged
 * into the base branch with a merge commit ("merge the branch, CI deploys").
 *
 * The adapter works on a clone it keeps in its own work dir, reset to the
 * remote's base branch before every operation, so a retried activity always
 * starts from what the remote holds. The values file is edited by splicing only
 * the target values' text at the ranges the yaml Document API reports (comments,
 * key order, quoting and formatting of every other line stay byte for byte),
 * and the result is checked by parsing it again.
 *
 * Idempotency lives in the remote's history: the merge commit carries
 * `Cutover-Change-Id` and `Cutover-Stage` trailers, a revert carries
 * `Cutover-Reverts: <merge sha>`; a retry finds them and changes nothing.
 *
 * Credentials (plan `credentialsEnv`) reach git only through the child's
 * environment (GIT_CONFIG_COUNT/KEY/VALUE http.extraHeader), never a file, and
 * are scrubbed from every error message.
 */
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { access, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { createTwoFilesPatch } from 'diff';
import { isMap, isScalar, isSeq, parseDocument, Scalar, YAMLMap } from 'yaml';
import type { Document, Pair, YAMLSeq } from 'yaml';
import type { AppliedChange, ChangePort } from '../activities/adapters.js';
import { PermanentFault } from '../activities/engine/errors.js';
import type { ChangeStage } from '../domain/evidence.js';
import { VALUES_ROOT } from '../domain/helm-values.js';
import type { Plan } from '../domain/plan.js';

export type GitOpsSettings = Extract<Plan['change'], { mode: 'gitops' }>;

export interface GitOpsOptions {
  /** Where credentialsEnv is looked up and what git's child processes inherit (default process.env). */
  env?: NodeJS.ProcessEnv;
  /** Author and committer of the adapter's commits. */
  author?: { name: string; email: string };
}

const TRAILER_CHANGE = 'Cutover-Change-Id';
const TRAILER_STAGE = 'Cutover-Stage';
const TRAILER_REVERTS = 'Cutover-Reverts';
const STDERR_TAIL = 1200;

// --- values file editing ------------------------------------------------------

interface Splice {
  start: number;
  end: number;
  text: string;
}

type Located = { kind: 'map'; node: YAMLMap } | { kind: 'env-list'; node: YAMLSeq };

function yamlString(v: string): string {
  // JSON string escapes are valid YAML double-quoted escapes.
  return JSON.stringify(v);
}

function yamlKey(k: string): string {
  return /^[A-Za-z_][A-Za-z0-9_.-]*$/.test(k) ? k : JSON.stringify(k);
}

function keyOf(pair: Pair): string | undefined {
  const k = pair.key;
  if (isScalar(k)) return String(k.value);
  return typeof k === 'string' ? k : undefined;
}

function pairIn(map: YAMLMap, key: string): Pair | undefined {
  return map.items.find((p) => keyOf(p) === key);
}

/**
 * Resolves a dotted location; keys may themselves hold dots (the longest key that matches wins).
 * `.` is the file's root map (the chart's own values, e.g. its `airflowVersion`).
 */
function locate(doc: Document, location: string, file: string): Located {
  let node: unknown = doc.contents;
  let rest = location === VALUES_ROOT ? '' : location;
  while (rest !== '') {
    if (!isMap(node)) {
      throw new PermanentFault(`${file}: location ${location} not found (no map above "${rest}")`);
    }
    let best: Pair | undefined;
    let bestKey = '';
    for (const p of node.items) {
      const k = keyOf(p);
      if (k === undefined) continue;
      if ((rest === k || rest.startsWith(`${k}.`)) && k.length > bestKey.length) {
        best = p;
        bestKey = k;
      }
    }
    if (!best) throw new PermanentFault(`${file}: location ${location} not found (no key for "${rest}")`);
    node = best.value;
    rest = rest.slice(bestKey.length).replace(/^\./, '');
  }
  if (isMap(node)) return { kind: 'map', node };
  if (isSeq(node)) {
    const ok = node.items.every((i) => isMap(i) && i.get('name') !== undefined);
    if (ok) return { kind: 'env-list', node };
  }
  throw new PermanentFault(
    `${file}: ${location} is neither a map of env var -> value nor an env list of {name, value}`,
  );
}

function scalarString(node: unknown): string | null {
  if (node === undefined || node === null) return null;
  if (isScalar(node)) return node.value === null || node.value === undefined ? null : String(node.value);
  return null;
}

/** What the file holds now for each of `keys` (null = absent). */
export function readValues(
  text: string,
  location: string,
  keys: string[],
  file = 'values',
): Record<string, string | null> {
  const doc = parse(text, file);
  const at = locate(doc, location, file);
  const out: Record<string, string | null> = {};
  for (const k of keys) {
    if (at.kind === 'map') out[k] = scalarString(pairIn(at.node, k)?.value);
    else {
      const item = at.node.items.find((i) => isMap(i) && scalarString(i.get('name', true)) === k) as
        YAMLMap | undefined;
      out[k] = item ? scalarString(item.get('value', true)) : null;
    }
  }
  return out;
}

function parse(text: string, file: string): Document {
  const doc = parseDocument(text, { keepSourceTokens: false });
  if (doc.errors.length > 0) {
    throw new PermanentFault(`${file} is not valid YAML: ${doc.errors[0]?.message.split('\n')[0] ?? ''}`);
  }
  return doc;
}

function lineStart(text: string, pos: number): number {
  return text.lastIndexOf('\n', pos - 1) + 1;
}

/** Index just past the newline ending the line that holds `pos - 1` (text.length at EOF). */
function afterLine(text: string, pos: number): number {
  const nl = text.indexOf('\n', Math.max(0, pos - 1));
  return nl === -1 ? text.length : nl + 1;
}

/** A scalar value written in one line that can be replaced in place. */
function inlineRange(node: unknown, text: string): [number, number] | undefined {
  if (!isScalar(node) || !node.range) return undefined;
  if (node.type === 'BLOCK_FOLDED' || node.type === 'BLOCK_LITERAL') return undefined;
  const [start, end] = node.range;
  if (end <= start || text.slice(start, end).includes('\n')) return undefined;
  return [start, end];
}

function applySplices(text: string, splices: Splice[]): string {
  let out = text;
  for (const s of [...splices].sort((a, b) => b.start - a.start)) {
    out = out.slice(0, s.start) + s.text + out.slice(s.end);
  }
  return out;
}

/** The same edit through the Document API alone (for shapes the splicer does not handle). */
function documentEdit(text: string, location: string, env: Record<string, string>, file: string): string {
  const doc = parse(text, file);
  const at = locate(doc, location, file);
  const quoted = (v: string): Scalar => {
    const s = new Scalar(v);
    s.type = 'QUOTE_DOUBLE';
    return s;
  };
  // An existing scalar is changed in place so its comments stay with it.
  const set = (map: YAMLMap, key: string, v: string): void => {
    const node = map.get(key, true);
    if (!isScalar(node)) return map.set(key, quoted(v));
    node.value = v;
    node.type = 'QUOTE_DOUBLE';
  };
  for (const [k, v] of Object.entries(env)) {
    if (at.kind === 'map') {
      set(at.node, k, v);
    } else {
      const item = at.node.items.find((i) => isMap(i) && scalarString(i.get('name', true)) === k) as
        YAMLMap | undefined;
      if (item) set(item, 'value', v);
      else {
        const m = new YAMLMap();
        m.set('name', k);
        m.set('value', quoted(v));
        at.node.items.push(m);
      }
    }
  }
  return String(doc);
}

/** The values file with `env` written at `location`: only the lines of keys whose value differs change. */
export function setValues(
  text: string,
  location: string,
  env: Record<string, string>,
  file = 'values',
): string {
  const doc = parse(text, file);
  const at = locate(doc, location, file);
  const current = readValues(text, location, Object.keys(env), file);
  const wanted = Object.entries(env).filter(([k, v]) => current[k] !== v || !isStringValue(at, k));
  if (wanted.length === 0) return text;

  const splices: Splice[] = [];
  const appended: [string, string][] = [];
  let spliceable = true;
  for (const [k, v] of wanted) {
    const valueNode =
      at.kind === 'map'
        ? pairIn(at.node, k)?.value
        : (
            at.node.items.find((i) => isMap(i) && scalarString(i.get('name', true)) === k) as
              YAMLMap | undefined
          )?.get('value', true);
    const exists =
      at.kind === 'map'
        ? pairIn(at.node, k) !== undefined
        : at.node.items.some((i) => isMap(i) && scalarString(i.get('name', true)) === k);
    if (!exists) {
      appended.push([k, v]);
      continue;
    }
    const r = inlineRange(valueNode, text);
    if (!r) {
      spliceable = false;
      break;
    }
    splices.push({ start: r[0], end: r[1], text: yamlString(v) });
  }

  if (spliceable && appended.length > 0) {
    const insert = appendSplice(text, at, appended);
    if (insert) splices.push(insert);
    else spliceable = false;
  }

  const fallback = (): string => documentEdit(text, location, env, file);
  if (!spliceable) return fallback();
  const spliced = applySplices(text, splices);
  // The splice must mean exactly what the Document API edit means; otherwise trust the Document API.
  try {
    const a = parseDocument(spliced);
    const b = parseDocument(fallback());
    if (a.errors.length === 0 && JSON.stringify(a.toJS()) === JSON.stringify(b.toJS())) return spliced;
  } catch {
    // fall through
  }
  return fallback();
}

function isStringValue(at: Located, k: string): boolean {
  const node =
    at.kind === 'map'
      ? pairIn(at.node, k)?.value
      : (
          at.node.items.find((i) => isMap(i) && scalarString(i.get('name', true)) === k) as
            YAMLMap | undefined
        )?.get('value', true);
  return isScalar(node) && typeof node.value === 'string';
}

/** New entries inserted after the last one of a block map or list, at its indentation. */
function appendSplice(text: string, at: Located, entries: [string, string][]): Splice | undefined {
  const items = at.node.items as unknown[];
  if (items.length === 0 || at.node.flow) return undefined;
  if (at.kind === 'map') {
    const first = at.node.items[0];
    const last = at.node.items[at.node.items.length - 1];
    const firstKey = first?.key;
    if (!isScalar(firstKey) || !firstKey.range || !last) return undefined;
    const indent = text.slice(lineStart(text, firstKey.range[0]), firstKey.range[0]);
    if (!/^ *$/.test(indent)) return undefined;
    const lastEnd = nodeValueEnd(last.value) ?? nodeValueEnd(last.key);
    if (lastEnd === undefined) return undefined;
    const pos = afterLine(text, lastEnd);
    const lead = pos === text.length && !text.endsWith('\n') ? '\n' : '';
    const lines = entries.map(([k, v]) => `${indent}${yamlKey(k)}: ${yamlString(v)}\n`).join('');
    return { start: pos, end: pos, text: lead + lines };
  }
  const first = at.node.items[0];
  const last = at.node.items[at.node.items.length - 1];
  if (!isMap(first) || !first.range || !isMap(last) || !last.range) return undefined;
  const prefix = text.slice(lineStart(text, first.range[0]), first.range[0]);
  if (!/^ *- +$/.test(prefix)) return undefined;
  const lastEnd = last.range[1];
  const pos = afterLine(text, lastEnd);
  const lead = pos === text.length && !text.endsWith('\n') ? '\n' : '';
  const pad = ' '.repeat(prefix.length);
  const lines = entries
    .map(([k, v]) => `${prefix}name: ${yamlKey(k)}\n${pad}value: ${yamlString(v)}\n`)
    .join('');
  return { start: pos, end: pos, text: lead + lines };
}

function nodeValueEnd(node: unknown): number | undefined {
  if (node && typeof node === 'object' && 'range' in node) {
    const r = (node as { range?: [number, number, number] | null }).range;
    return r ? r[1] : undefined;
  }
  return undefined;
}

// --- git ------------------------------------------------------------------------

interface Commit {
  sha: string;
  trailers: Map<string, string[]>;
}

function parseTrailers(body: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const line of body.split('\n')) {
    const m = /^([A-Za-z][A-Za-z0-9-]*):\s*(.*?)\s*$/.exec(line);
    if (!m || !m[1]) continue;
    const list = out.get(m[1]) ?? [];
    list.push(m[2] ?? '');
    out.set(m[1], list);
  }
  return out;
}

function sanitiseRef(s: string): string {
  const cleaned = s
    .replace(/[^A-Za-z0-9._-]+/g, '-')
    .replace(/\.{2,}/g, '.')
    .replace(/^[-.]+|[-.]+$/g, '')
    .replace(/\.lock$/i, '');
  return cleaned.slice(0, 100) || 'change';
}

function isLocalRepo(repo: string): boolean {
  return !/^[a-z][a-z0-9+.-]*:\/\//i.test(repo) && !/^[^/\s]+@[^/\s]+:/.test(repo);
}

export class GitOpsChange implements ChangePort {
  readonly mode = 'gitops' as const;
  private readonly env: NodeJS.ProcessEnv;
  private readonly author: { name: string; email: string };
  private readonly secrets: string[] = [];

  constructor(
    private readonly settings: GitOpsSettings,
    private readonly workDir: string,
    options: GitOpsOptions = {},
  ) {
    this.env = options.env ?? process.env;
    this.author = options.author ?? { name: 'cutover', email: 'cutover@localhost' };
  }

  /** The managed clone (one per repo URL under the work dir). */
  get cloneDir(): string {
    const id = createHash('sha256').update(this.repoUrl()).digest('hex').slice(0, 12);
    return path.join(this.workDir, `repo-${id}`);
  }

  private get base(): string {
    return this.settings.baseBranch;
  }

  describeDestination(): string {
    return `${scrubUrl(this.settings.repo)} ${this.settings.valuesFile} at ${this.settings.location} (merged into ${this.base})`;
  }

  private repoUrl(): string {
    const repo = this.settings.repo;
    return isLocalRepo(repo) ? path.resolve(repo) : repo;
  }

  private gitEnv(): NodeJS.ProcessEnv {
    const env: NodeJS.ProcessEnv = {
      ...this.env,
      GIT_TERMINAL_PROMPT: '0',
      GIT_AUTHOR_NAME: this.author.name,
      GIT_AUTHOR_EMAIL: this.author.email,
      GIT_COMMITTER_NAME: this.author.name,
      GIT_COMMITTER_EMAIL: this.author.email,
      LC_ALL: 'C',
    };
    delete env.GIT_CONFIG_COUNT;
    const name = this.settings.credentialsEnv;
    if (name) {
      const secret = this.env[name];
      if (!secret) {
        throw new PermanentFault(`credentialsEnv ${name} is not set in the worker's environment`);
      }
      const basic = Buffer.from(secret.includes(':') ? secret : `x-access-token:${secret}`).toString(
        'base64',
      );
      this.remember(secret, basic);
      env.GIT_CONFIG_COUNT = '1';
      env.GIT_CONFIG_KEY_0 = 'http.extraHeader';
      env.GIT_CONFIG_VALUE_0 = `Authorization: Basic ${basic}`;
    }
    return env;
  }

  private remember(...values: string[]): void {
    for (const v of values) if (v.length >= 4 && !this.secrets.includes(v)) this.secrets.push(v);
    for (const v of [...this.secrets]) {
      const i = v.indexOf(':');
      if (i > 0 && v.length - i > 4 && !this.secrets.includes(v.slice(i + 1)))
        this.secrets.push(v.slice(i + 1));
    }
  }

  private scrub(s: string): string {
    let out = scrubUrl(s);
    for (const secret of this.secrets) out = out.split(secret).join('***');
    return out;
  }

  /** Runs git; a failure is an Error naming the command and the tail of its stderr, credentials scrubbed. */
  private async git(
    args: string[],
    opts: { cwd?: string; allowFail?: boolean } = {},
  ): Promise<{ code: number; stdout: string; stderr: string }> {
    const env = this.gitEnv();
    const cwd = opts.cwd ?? this.cloneDir;
    const { code, stdout, stderr } = await new Promise<{ code: number; stdout: string; stderr: string }>(
      (resolve, reject) => {
        const child = spawn('git', args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
        const out: Buffer[] = [];
        const err: Buffer[] = [];
        child.stdout.on('data', (d: Buffer) => out.push(d));
        child.stderr.on('data', (d: Buffer) => err.push(d));
        child.on('error', (e) => reject(new Error(this.scrub(`git ${args.join(' ')}: ${e.message}`))));
        child.on('close', (c) =>
          resolve({
            code: c ?? 1,
            stdout: Buffer.concat(out).toString('utf8'),
            stderr: Buffer.concat(err).toString('utf8'),
          }),
        );
      },
    );
    if (code !== 0 && !opts.allowFail) {
      const message = this.scrub(`git ${args.join(' ')} failed (exit ${code}): ${tail(stderr || stdout)}`);
      // The remote refused the push by policy (a hook, a protected branch): a retry pushes the same
      // commits to the same policy. A non-fast-forward is not this: the next attempt syncs first.
      if (args[0] === 'push' && REFUSED_PUSH.test(stderr)) {
        throw new PermanentFault(`the remote refused the push: ${message}`);
      }
      throw new Error(message);
    }
    return { code, stdout, stderr };
  }

  /** Clone or fetch, then put the work tree exactly at the remote's base branch. */
  private async sync(): Promise<void> {
    const dir = this.cloneDir;
    if (!(await exists(path.join(dir, '.git')))) {
      await mkdir(this.workDir, { recursive: true });
      const tmp = `${dir}.tmp-${randomBytes(4).toString('hex')}`;
      try {
        await this.git(['clone', '--no-checkout', '--', this.repoUrl(), tmp], { cwd: this.workDir });
        await rename(tmp, dir);
      } finally {
        await rm(tmp, { recursive: true, force: true });
      }
    } else {
      await this.git(['fetch', '--prune', 'origin']);
    }
    const remoteBase = `refs/remotes/origin/${this.base}`;
    const has = await this.git(['rev-parse', '--verify', '--quiet', `${remoteBase}^{commit}`], {
      allowFail: true,
    });
    if (has.code !== 0) {
      throw new PermanentFault(`${scrubUrl(this.settings.repo)} has no branch ${this.base}`);
    }
    // Leftovers of an interrupted merge or revert must not survive into this attempt.
    await this.git(['merge', '--abort'], { allowFail: true });
    await this.git(['revert', '--abort'], { allowFail: true });
    await this.git(['checkout', '-f', '-B', this.base, remoteBase]);
    await this.git(['reset', '--hard', remoteBase]);
    await this.git(['clean', '-fdx']);
  }

  private valuesPath(): string {
    return path.join(this.cloneDir, this.settings.valuesFile);
  }

  private async readValuesFile(): Promise<string> {
    try {
      return await readFile(this.valuesPath(), 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
        throw new PermanentFault(
          `${this.settings.valuesFile} does not exist on ${this.base} of ${scrubUrl(this.settings.repo)}`,
        );
      }
      throw err;
    }
  }

  private async head(): Promise<string> {
    return (await this.git(['rev-parse', 'HEAD'])).stdout.trim();
  }

  /** Commits on the base branch's first-parent line, newest first. */
  private async history(merges: boolean): Promise<Commit[]> {
    const args = ['log', '--first-parent', '--format=%H%x00%B%x1e'];
    if (merges) args.push('--merges');
    args.push(this.base, '--');
    const { stdout } = await this.git(args);
    return stdout
      .split('\x1e')
      .map((rec) => rec.replace(/^\n/, ''))
      .filter((rec) => rec.includes('\x00'))
      .map((rec) => {
        const [sha = '', body = ''] = rec.split('\x00');
        return { sha: sha.trim(), trailers: parseTrailers(body) };
      });
  }

  private async findMerge(stage: string, changeId: string): Promise<Commit | undefined> {
    return (await this.history(true)).find(
      (c) =>
        c.trailers.get(TRAILER_CHANGE)?.includes(changeId) && c.trailers.get(TRAILER_STAGE)?.includes(stage),
    );
  }

  /**
   * What the base branch's values file holds for `keys` at `location` (null = absent); a location
   * that does not exist reads as every key absent. Read-only (the managed clone is reset to it).
   */
  async readAt(location: string, keys: string[]): Promise<Record<string, string | null>> {
    await this.sync();
    const text = await this.readValuesFile();
    try {
      return readValues(text, location, keys, this.settings.valuesFile);
    } catch (err) {
      if (err instanceof PermanentFault && / not found /.test(err.message))
        return Object.fromEntries(keys.map((k) => [k, null]));
      throw err;
    }
  }

  async diff(stage: ChangeStage): Promise<string> {
    await this.sync();
    const before = await this.readValuesFile();
    const after = setValues(before, this.settings.location, stage.env, this.settings.valuesFile);
    if (after === before) return '';
    const f = this.settings.valuesFile;
    return createTwoFilesPatch(`a/${f}`, `b/${f}`, before, after, this.base, `with ${stage.label}`, {
      context: 3,
    });
  }

  async apply({ stage, changeId }: { stage: ChangeStage; changeId: string }): Promise<AppliedChange> {
    await this.sync();
    const done = await this.findMerge(stage.label, changeId);
    if (done) return { changed: false, ref: done.sha, revertHandle: done.sha };

    const before = await this.readValuesFile();
    const after = setValues(before, this.settings.location, stage.env, this.settings.valuesFile);
    if (after === before) {
      // Nothing committed, so nothing for a revert to undo: an empty handle makes revert look for a merge and find none.
      return { changed: false, ref: await this.head(), revertHandle: '' };
    }

    const branch = this.settings.branch ?? `cutover/${sanitiseRef(changeId)}`;
    const trailers = `${TRAILER_CHANGE}: ${changeId}\n${TRAILER_STAGE}: ${stage.label}`;
    const keys = Object.keys(stage.env).join(', ');
    await this.git(['checkout', '-f', '-B', branch, this.base]);
    await writeFile(this.valuesPath(), after);
    await this.git(['add', '--', this.settings.valuesFile]);
    await this.git([
      'commit',
      '-m',
      `cutover: ${stage.label} stage in ${this.settings.valuesFile}\n\n` +
        `Sets ${keys} at ${this.settings.location}.\n\n${trailers}`,
    ]);
    await this.git(['checkout', '-f', this.base]);
    const merged = await this.git(
      ['merge', '--no-ff', '-m', `Merge ${branch}: cutover ${stage.label} stage\n\n${trailers}`, branch],
      { allowFail: true },
    );
    if (merged.code !== 0) {
      await this.git(['merge', '--abort'], { allowFail: true });
      const detail = this.scrub(tail(merged.stderr || merged.stdout));
      if (/CONFLICT|conflict/.test(merged.stdout + merged.stderr)) {
        throw new PermanentFault(`merging ${branch} into ${this.base} conflicts: ${detail}`);
      }
      throw new Error(`git merge --no-ff ${branch} failed (exit ${merged.code}): ${detail}`);
    }
    const sha = await this.head();
    // The branch the adapter names itself is its own to overwrite; a branch the plan names is only fast-forwarded.
    const force = this.settings.branch === undefined ? '+' : '';
    await this.git([
      'push',
      '--atomic',
      'origin',
      `refs/heads/${this.base}:refs/heads/${this.base}`,
      `${force}refs/heads/${branch}:refs/heads/${branch}`,
    ]);
    return { changed: true, ref: sha, revertHandle: sha };
  }

  async revert({
    stage,
    revertHandle,
    changeId,
  }: {
    stage: ChangeStage;
    revertHandle: string | null;
    changeId: string;
  }): Promise<{ changed: boolean; ref: string; restoredEnv: Record<string, string | null> }> {
    await this.sync();
    const keys = Object.keys(stage.env);
    const live = async (ref: string, changed: boolean) => ({
      changed,
      ref,
      restoredEnv: readValues(
        await this.readValuesFile(),
        this.settings.location,
        keys,
        this.settings.valuesFile,
      ),
    });

    let merge: string | undefined;
    if (revertHandle) {
      const known = await this.git(['rev-parse', '--verify', '--quiet', `${revertHandle}^{commit}`], {
        allowFail: true,
      });
      if (known.code !== 0)
        throw new PermanentFault(`revert handle ${revertHandle} is no commit of ${this.base}`);
      merge = known.stdout.trim();
      const body = (await this.git(['log', '-1', '--format=%B', merge])).stdout;
      const t = parseTrailers(body);
      if (!t.get(TRAILER_CHANGE)?.includes(changeId) || !t.get(TRAILER_STAGE)?.includes(stage.label)) {
        throw new PermanentFault(
          `commit ${merge} is not the merge of change ${changeId} stage ${stage.label}`,
        );
      }
    } else {
      merge = (await this.findMerge(stage.label, changeId))?.sha;
    }
    if (!merge) return live(await this.head(), false);

    const already = (await this.history(false)).find((c) => c.trailers.get(TRAILER_REVERTS)?.includes(merge));
    if (already) return live(already.sha, false);

    const reverted = await this.git(['revert', '--no-commit', '-m', '1', merge], { allowFail: true });
    if (reverted.code !== 0) {
      await this.git(['revert', '--abort'], { allowFail: true });
      const detail = this.scrub(tail(reverted.stderr || reverted.stdout));
      if (/CONFLICT|conflict|could not revert/i.test(reverted.stdout + reverted.stderr)) {
        throw new PermanentFault(`reverting ${merge} on ${this.base} conflicts: ${detail}`);
      }
      throw new Error(`git revert -m 1 ${merge} failed (exit ${reverted.code}): ${detail}`);
    }
    const staged = await this.git(['diff', '--cached', '--quiet'], { allowFail: true });
    if (staged.code === 0) {
      // A later commit already undid the change: nothing to revert.
      await this.git(['reset', '--hard', this.base]);
      return live(await this.head(), false);
    }
    await this.git([
      'commit',
      '-m',
      `Revert cutover ${stage.label} stage\n\nThis reverts commit ${merge}, reversing changes made to its first parent.\n\n` +
        `${TRAILER_CHANGE}: ${changeId}\n${TRAILER_STAGE}: ${stage.label}\n${TRAILER_REVERTS}: ${merge}`,
    ]);
    const sha = await this.head();
    await this.git(['push', 'origin', `refs/heads/${this.base}:refs/heads/${this.base}`]);
    return live(sha, true);
  }
}

/** What git prints when the remote itself turns a push down (as opposed to a stale local branch). */
const REFUSED_PUSH =
  /\[remote rejected\]|pre-receive hook declined|protected branch|GH006|permission to .* denied/i;

function tail(s: string): string {
  const t = s.trim();
  return t.length > STDERR_TAIL ? `...${t.slice(-STDERR_TAIL)}` : t;
}

/** Drops user:password@ from URLs. */
function scrubUrl(s: string): string {
  return s.replace(/([a-z][a-z0-9+.-]*:\/\/)[^/@\s]+@/gi, '$1***@');
}

async function exists(p: string): Promise<boolean> {
  try {
    await access(p);
    return true;
  } catch {
    return false;
  }
}
