/** The GitOps change adapter on real git: a bare "origin" repo in a temp dir, a values file full of comments. */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtemp, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { parse } from 'yaml';
import { GitOpsChange, readValues, setValues } from '../adapters/gitops-change.js';
import type { GitOpsSettings } from '../adapters/gitops-change.js';
import { PermanentFault } from '../activities/engine/errors.js';
import { renderStage } from '../domain/airflow-env.js';

const VALUES_FILE = 'infra/helm/airflow/values-prod.yaml';
const LOCATION = 'extraConfigMaps.cvntrade-env-config.data';

const ORIGINAL = `# Airflow values for prod (official Helm chart).
# Deployed by CI on every merge to main.

executor: KubernetesExecutor   # no Celery in prod

images:
  airflow:
    repository: registry.example/cvntrade/airflow
    tag: "3.1.2"   # pinned, bump with the DAG bundle

# --- config ---------------------------------------------------------------
config:
  core:
    load_examples: 'False'
    # parallelism tuned for the node pool
    parallelism: 64
  logging:
    remote_logging: 'True'

# Env for every component.
env:
  - name: TZ
    value: "Europe/Paris"
  # keep the SDK quiet
  - name: AIRFLOW__LOGGING__LOGGING_LEVEL
    value: 'INFO'

extraConfigMaps:
  # consumed by extraEnvFrom below
  cvntrade-env-config:
    data:
      # existing settings: do not touch
      CVNTRADE_ENV: 'prod'
      CVNTRADE_REGION: fr-par   # Scaleway region
      AIRFLOW__CORE__XCOM_BACKEND: "airflow.models.xcom.BaseXCom"

      # trailing comment of the data map
  other-config:
    data:
      FOO: "bar"

extraEnvFrom: |
  - configMapRef:
      name: 'cvntrade-env-config'

# --- scheduler ------------------------------------------------------------
scheduler:
  replicas: 2   # HA
  resources: {requests: {cpu: 500m, memory: 1Gi}}
`;

const base = { path: 's3://aws_default@cvntrade-artifacts/xcom', compression: '' };
const ramp = renderStage('ramp-start', { ...base, thresholdBytes: 2_000_000 });
const target = renderStage('target', { ...base, thresholdBytes: 1_600_000 });
const gitEnv = {
  ...process.env,
  GIT_TERMINAL_PROMPT: '0',
  GIT_CONFIG_NOSYSTEM: '1',
  GIT_CONFIG_GLOBAL: '/dev/null',
};

function git(cwd: string, ...args: string[]): string {
  return execFileSync('git', args, {
    cwd,
    env: {
      ...gitEnv,
      GIT_AUTHOR_NAME: 't',
      GIT_AUTHOR_EMAIL: 't@t',
      GIT_COMMITTER_NAME: 't',
      GIT_COMMITTER_EMAIL: 't@t',
    },
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  }).trim();
}

const roots: string[] = [];
after(async () => {
  for (const root of roots) await rm(root, { recursive: true, force: true });
});

/** A bare origin seeded with the values file on main; returns origin path and a fresh work dir. */
async function origin(text = ORIGINAL): Promise<{ root: string; origin: string; workDir: string }> {
  const root = await mkdtemp(path.join(os.tmpdir(), 'cutover-gitops-'));
  roots.push(root);
  const bare = path.join(root, 'origin.git');
  git(root, 'init', '-q', '--bare', '-b', 'main', bare);
  const seed = path.join(root, 'seed');
  git(root, 'clone', '-q', bare, seed);
  git(seed, 'checkout', '-q', '-b', 'main');
  await mkdir(path.dirname(path.join(seed, VALUES_FILE)), { recursive: true });
  await writeFile(path.join(seed, VALUES_FILE), text);
  await writeFile(path.join(seed, 'README.md'), 'infra\n');
  git(seed, 'add', '.');
  git(seed, 'commit', '-q', '-m', 'seed');
  git(seed, 'push', '-q', 'origin', 'main');
  return { root, origin: bare, workDir: path.join(root, 'work') };
}

function settings(repo: string, extra: Partial<GitOpsSettings> = {}): GitOpsSettings {
  return { mode: 'gitops', repo, baseBranch: 'main', valuesFile: VALUES_FILE, location: LOCATION, ...extra };
}

function show(bare: string, file = VALUES_FILE, ref = 'main'): string {
  return execFileSync('git', ['--git-dir', bare, 'show', `${ref}:${file}`], {
    env: gitEnv,
    encoding: 'utf8',
  });
}

function count(bare: string, ...args: string[]): number {
  return Number(
    execFileSync('git', ['--git-dir', bare, 'rev-list', '--count', ...args, 'main'], {
      env: gitEnv,
      encoding: 'utf8',
    }),
  );
}

/** Changed lines of a unified diff, without headers. */
function changedLines(diff: string): string[] {
  return diff.split('\n').filter((l) => /^[-+]/.test(l) && !/^(---|\+\+\+) /.test(l));
}

test('diff touches only the stage lines; apply makes one merge commit with the trailer; twice is a no-op', async () => {
  const o = await origin();
  const change = new GitOpsChange(settings(o.origin), o.workDir, { env: gitEnv });

  const diff = await change.diff(target);
  assert.deepEqual(changedLines(diff), [
    '-      AIRFLOW__CORE__XCOM_BACKEND: "airflow.models.xcom.BaseXCom"',
    '+      AIRFLOW__CORE__XCOM_BACKEND: "airflow.providers.common.io.xcom.backend.XComObjectStorageBackend"',
    '+      AIRFLOW__COMMON_IO__XCOM_OBJECTSTORAGE_PATH: "s3://aws_default@cvntrade-artifacts/xcom"',
    '+      AIRFLOW__COMMON_IO__XCOM_OBJECTSTORAGE_THRESHOLD: "1600000"',
    '+      AIRFLOW__COMMON_IO__XCOM_OBJECTSTORAGE_COMPRESSION: ""',
  ]);
  // Context lines only from the file itself, nothing beyond three lines around the change.
  assert.doesNotMatch(diff, /executor|scheduler|FOO|TZ/);
  assert.equal(count(o.origin), 1, 'diff commits nothing');

  const applied = await change.apply({ stage: target, changeId: 'cutover/prod/xcom-flip@run-1' });
  assert.equal(applied.changed, true);
  assert.equal(applied.ref, applied.revertHandle);
  assert.equal(git(o.root, '--git-dir', o.origin, 'rev-parse', 'main'), applied.ref);
  assert.equal(count(o.origin, '--merges'), 1);
  assert.equal(count(o.origin, '--first-parent'), 2, 'exactly one new commit on main (the merge)');
  const body = git(o.root, '--git-dir', o.origin, 'log', '-1', '--format=%B', 'main');
  assert.match(body, /^Cutover-Change-Id: cutover\/prod\/xcom-flip@run-1$/m);
  assert.match(body, /^Cutover-Stage: target$/m);
  assert.match(
    git(o.root, '--git-dir', o.origin, 'branch', '--list'),
    /cutover\/cutover-prod-xcom-flip-run-1/,
  );

  const after = show(o.origin);
  const data = (parse(after) as { extraConfigMaps: Record<string, { data: Record<string, string> }> })
    .extraConfigMaps['cvntrade-env-config']?.data;
  assert.equal(data?.AIRFLOW__COMMON_IO__XCOM_OBJECTSTORAGE_COMPRESSION, '');
  assert.deepEqual(data, {
    CVNTRADE_ENV: 'prod',
    CVNTRADE_REGION: 'fr-par',
    ...target.env,
  });
  // Whole-file comparison: the same lines changed as in the preview, everything else byte for byte.
  const removed = ORIGINAL.split('\n').filter((l) => !after.split('\n').includes(l));
  const added = after.split('\n').filter((l) => !ORIGINAL.split('\n').includes(l));
  assert.deepEqual([...removed.map((l) => `-${l}`), ...added.map((l) => `+${l}`)], changedLines(diff));
  for (const comment of ORIGINAL.split('\n').filter((l) => l.includes('#')))
    assert.ok(after.includes(comment));

  const again = await change.apply({ stage: target, changeId: 'cutover/prod/xcom-flip@run-1' });
  assert.deepEqual(again, { changed: false, ref: applied.ref, revertHandle: applied.ref });
  assert.equal(count(o.origin), 3);
  assert.equal(await change.diff(target), '', 'the file already holds the stage');

  // Another run whose values are already live commits nothing.
  const other = await new GitOpsChange(settings(o.origin), path.join(o.root, 'work2'), { env: gitEnv }).apply(
    {
      stage: target,
      changeId: 'cutover/prod/xcom-flip@run-2',
    },
  );
  assert.equal(other.changed, false);
  assert.equal(count(o.origin), 3);
});

test('revert restores the file byte for byte, is idempotent, and finds the merge by trailer', async () => {
  const o = await origin();
  const change = new GitOpsChange(settings(o.origin), o.workDir, { env: gitEnv });
  const applied = await change.apply({ stage: target, changeId: 'wf@1' });

  const reverted = await change.revert({
    stage: target,
    revertHandle: applied.revertHandle,
    changeId: 'wf@1',
  });
  assert.equal(reverted.changed, true);
  assert.equal(show(o.origin), ORIGINAL);
  assert.deepEqual(reverted.restoredEnv, {
    AIRFLOW__CORE__XCOM_BACKEND: 'airflow.models.xcom.BaseXCom',
    AIRFLOW__COMMON_IO__XCOM_OBJECTSTORAGE_PATH: null,
    AIRFLOW__COMMON_IO__XCOM_OBJECTSTORAGE_THRESHOLD: null,
    AIRFLOW__COMMON_IO__XCOM_OBJECTSTORAGE_COMPRESSION: null,
  });
  const body = git(o.root, '--git-dir', o.origin, 'log', '-1', '--format=%B', 'main');
  assert.match(body, new RegExp(`^Cutover-Reverts: ${applied.ref}$`, 'm'));
  const commits = count(o.origin);

  const twice = await change.revert({ stage: target, revertHandle: applied.revertHandle, changeId: 'wf@1' });
  assert.equal(twice.changed, false);
  assert.equal(twice.ref, reverted.ref);
  assert.deepEqual(twice.restoredEnv, reverted.restoredEnv);
  const byTrailer = await change.revert({ stage: target, revertHandle: null, changeId: 'wf@1' });
  assert.equal(byTrailer.changed, false);
  assert.equal(count(o.origin), commits);

  // A handle that does not belong to the change is refused.
  await assert.rejects(
    change.revert({ stage: target, revertHandle: applied.ref, changeId: 'wf@other' }),
    PermanentFault,
  );
});

test('revert with a null handle finds the merge commit by its trailer', async () => {
  const o = await origin();
  const applied = await new GitOpsChange(settings(o.origin), o.workDir, { env: gitEnv }).apply({
    stage: target,
    changeId: 'wf@lost',
  });
  // A different worker (fresh work dir) that never saw the apply's answer.
  const change = new GitOpsChange(settings(o.origin), path.join(o.root, 'other-worker'), { env: gitEnv });
  const reverted = await change.revert({ stage: target, revertHandle: null, changeId: 'wf@lost' });
  assert.equal(reverted.changed, true);
  assert.match(
    git(o.root, '--git-dir', o.origin, 'log', '-1', '--format=%B', 'main'),
    new RegExp(`^Cutover-Reverts: ${applied.ref}$`, 'm'),
  );
  assert.equal(show(o.origin), ORIGINAL);
  // Nothing applied under this id: nothing to revert.
  const none = await change.revert({ stage: target, revertHandle: null, changeId: 'wf@never' });
  assert.equal(none.changed, false);
});

test('a ramp (two stages, reverted newest first) ends byte for byte at the original', async () => {
  const o = await origin();
  const change = new GitOpsChange(settings(o.origin), o.workDir, { env: gitEnv });
  const first = await change.apply({ stage: ramp, changeId: 'wf@ramp' });
  const second = await change.apply({ stage: target, changeId: 'wf@ramp' });
  assert.equal(first.changed && second.changed, true);
  assert.notEqual(first.ref, second.ref);
  assert.equal(count(o.origin, '--merges'), 2);
  const live = readValues(show(o.origin), LOCATION, Object.keys(target.env));
  assert.equal(live.AIRFLOW__COMMON_IO__XCOM_OBJECTSTORAGE_THRESHOLD, '1600000');

  const r2 = await change.revert({ stage: target, revertHandle: second.revertHandle, changeId: 'wf@ramp' });
  assert.equal(r2.restoredEnv.AIRFLOW__COMMON_IO__XCOM_OBJECTSTORAGE_THRESHOLD, '2000000');
  const r1 = await change.revert({ stage: ramp, revertHandle: first.revertHandle, changeId: 'wf@ramp' });
  assert.equal(r1.restoredEnv.AIRFLOW__COMMON_IO__XCOM_OBJECTSTORAGE_THRESHOLD, null);
  assert.equal(show(o.origin), ORIGINAL);
});

test('the chart env list form: existing names edited in place, new ones appended as {name, value}', async () => {
  const o = await origin();
  const change = new GitOpsChange(
    settings(o.origin, { location: 'env', branch: 'feat/xcom-flip' }),
    o.workDir,
    {
      env: gitEnv,
    },
  );
  const diff = await change.diff(target);
  assert.deepEqual(
    changedLines(diff).filter((l) => l.startsWith('-')),
    [],
    'only additions: none of the four is in the env list yet',
  );
  const applied = await change.apply({ stage: target, changeId: 'wf@env' });
  assert.equal(applied.changed, true);
  assert.match(git(o.root, '--git-dir', o.origin, 'branch', '--list'), /feat\/xcom-flip/);
  const after = show(o.origin);
  const env = (parse(after) as { env: { name: string; value: string }[] }).env;
  assert.deepEqual(env, [
    { name: 'TZ', value: 'Europe/Paris' },
    { name: 'AIRFLOW__LOGGING__LOGGING_LEVEL', value: 'INFO' },
    ...Object.entries(target.env).map(([name, value]) => ({ name, value })),
  ]);
  assert.match(after, /^ {2}- name: AIRFLOW__COMMON_IO__XCOM_OBJECTSTORAGE_COMPRESSION\n {4}value: ""$/m);
  // The data map is untouched.
  assert.match(after, /AIRFLOW__CORE__XCOM_BACKEND: "airflow\.models\.xcom\.BaseXCom"/);

  // An existing entry is edited in place.
  const level = { label: 'level', thresholdBytes: 0, env: { AIRFLOW__LOGGING__LOGGING_LEVEL: 'DEBUG' } };
  assert.deepEqual(changedLines(await change.diff(level)), ["-    value: 'INFO'", '+    value: "DEBUG"']);

  await change.revert({ stage: target, revertHandle: null, changeId: 'wf@env' });
  assert.equal(show(o.origin), ORIGINAL);
});

/** A server-side hook that turns every push down, as a protected branch does. */
async function refusePushes(bare: string): Promise<void> {
  const hook = path.join(bare, 'hooks', 'pre-receive');
  await writeFile(
    hook,
    '#!/bin/sh\necho "protected branch main: changes need a reviewed pull request" >&2\nexit 1\n',
    {
      mode: 0o755,
    },
  );
}

test('the remote refusing the push: apply and revert are PermanentFaults naming the refusal; origin keeps what it had', async () => {
  const o = await origin();
  await refusePushes(o.origin);
  const change = new GitOpsChange(settings(o.origin), o.workDir, { env: gitEnv });
  await assert.rejects(change.apply({ stage: target, changeId: 'wf@refused' }), (err: unknown) => {
    assert.ok(err instanceof PermanentFault, String(err));
    assert.match(err.message, /the remote refused the push: .*pre-receive hook declined/s);
    assert.match(err.message, /protected branch main: changes need a reviewed pull request/);
    return true;
  });
  assert.equal(count(o.origin), 1, 'nothing reached origin');

  // Applied while pushes were allowed, refused on the way back: production stays changed, and says why.
  const p = await origin();
  const applying = new GitOpsChange(settings(p.origin), p.workDir, { env: gitEnv });
  const applied = await applying.apply({ stage: target, changeId: 'wf@revert-refused' });
  const withChange = show(p.origin);
  await refusePushes(p.origin);
  await assert.rejects(
    applying.revert({ stage: target, revertHandle: applied.revertHandle, changeId: 'wf@revert-refused' }),
    (err: unknown) => err instanceof PermanentFault && /the remote refused the push/.test(err.message),
  );
  assert.equal(show(p.origin), withChange, 'origin still holds the change');
});

test('a missing location or values file is a PermanentFault', async () => {
  const o = await origin();
  const missing = new GitOpsChange(settings(o.origin, { location: 'extraConfigMaps.nope.data' }), o.workDir, {
    env: gitEnv,
  });
  await assert.rejects(missing.diff(target), (err: unknown) => {
    assert.ok(err instanceof PermanentFault);
    assert.match(err.message, /extraConfigMaps\.nope\.data not found/);
    return true;
  });
  await assert.rejects(missing.apply({ stage: target, changeId: 'wf@x' }), PermanentFault);
  const noFile = new GitOpsChange(settings(o.origin, { valuesFile: 'helm/absent.yaml' }), o.workDir, {
    env: gitEnv,
  });
  await assert.rejects(noFile.diff(target), PermanentFault);
  const noBranch = new GitOpsChange(settings(o.origin, { baseBranch: 'release' }), o.workDir, {
    env: gitEnv,
  });
  await assert.rejects(noBranch.diff(target), PermanentFault);
  assert.equal(count(o.origin), 1);
});

test('credentials never appear in errors (clone and push to an https URL that does not resolve)', async () => {
  const secret = 'ghp_SuperSecretToken0123456789';
  const env = { ...gitEnv, CUTOVER_TEST_GIT_TOKEN: secret, GIT_TERMINAL_PROMPT: '0' };
  const basic = Buffer.from(`x-access-token:${secret}`).toString('base64');
  const o = await origin();
  const url = 'https://git.cutover-test.invalid/cvntrade/infra.git';
  const remote = new GitOpsChange(settings(url, { credentialsEnv: 'CUTOVER_TEST_GIT_TOKEN' }), o.workDir, {
    env,
  });
  assert.doesNotMatch(remote.describeDestination(), /Secret/);
  const failed = (err: unknown): boolean => {
    assert.ok(err instanceof Error);
    assert.match(err.message, /^git /);
    assert.ok(!err.message.includes(secret) && !err.message.includes(basic), err.message);
    assert.ok(!String(err.stack).includes(secret));
    return true;
  };
  await assert.rejects(remote.diff(target), failed);

  // A clone whose fetches work but whose pushes go to the unresolvable https URL.
  const local = new GitOpsChange(
    settings(o.origin, { credentialsEnv: 'CUTOVER_TEST_GIT_TOKEN' }),
    o.workDir,
    {
      env,
    },
  );
  await local.diff(target);
  git(local.cloneDir, 'remote', 'set-url', '--push', 'origin', url);
  await assert.rejects(local.apply({ stage: target, changeId: 'wf@push' }), (err: unknown) => {
    failed(err);
    assert.match((err as Error).message, /git push/);
    return true;
  });
  assert.equal(count(o.origin), 1, 'nothing reached origin');

  // The variable named but not set.
  const unset = new GitOpsChange(
    settings(o.origin, { credentialsEnv: 'CUTOVER_TEST_UNSET_TOKEN' }),
    o.workDir,
    {
      env: gitEnv,
    },
  );
  await assert.rejects(unset.diff(target), PermanentFault);

  // The work dir holds no credential on disk.
  const config = await readFile(path.join(local.cloneDir, '.git', 'config'), 'utf8');
  assert.ok(!config.includes(secret) && !config.includes(basic));
});

test('a revert that conflicts with a later edit of the same lines is a PermanentFault and pushes nothing', async () => {
  const o = await origin();
  const change = new GitOpsChange(settings(o.origin), o.workDir, { env: gitEnv });
  const applied = await change.apply({ stage: target, changeId: 'wf@conflict' });
  // Someone edits the threshold line by hand after the merge.
  const hand = path.join(o.root, 'hand');
  git(o.root, 'clone', '-q', o.origin, hand);
  const file = path.join(hand, VALUES_FILE);
  await writeFile(file, (await readFile(file, 'utf8')).replace('"1600000"', '"1700000"'));
  git(hand, 'commit', '-q', '-am', 'hand edit');
  git(hand, 'push', '-q', 'origin', 'main');
  const commits = count(o.origin);
  await assert.rejects(
    change.revert({ stage: target, revertHandle: applied.revertHandle, changeId: 'wf@conflict' }),
    (err: unknown) => {
      assert.ok(err instanceof PermanentFault);
      assert.match(err.message, /conflicts/);
      return true;
    },
  );
  assert.equal(count(o.origin), commits);
  // The work dir is usable again: a diff still runs.
  assert.notEqual(await change.diff(target), '');
});

test('shapes the splicer leaves to the Document API keep comments; URLs with user info are scrubbed', () => {
  const text = '# top\na:\n  data:\n    X: |\n      multi\n      line\n    Z: 3 # num\n# end\n';
  const out = setValues(text, 'a.data', { X: 'v', Z: '3', N: '' });
  assert.deepEqual(parse(out), { a: { data: { X: 'v', Z: '3', N: '' } } });
  assert.match(out, /^# top$/m);
  assert.match(out, /Z: "3" # num/);
  assert.match(out, /N: ""/);
  assert.equal(setValues(out, 'a.data', { X: 'v' }), out);
  const change = new GitOpsChange(
    settings('https://bot:hunter2-token@git.example/infra.git'),
    '/nonexistent',
  );
  assert.doesNotMatch(change.describeDestination(), /hunter2/);
});

test('location "." is the values root: the chart release keys edited in place, read back by readAt, absent locations read as absent', async () => {
  const text = [
    '# the official chart',
    'airflowVersion: "3.2.2"   # bump with the image',
    'defaultAirflowTag: "3.2.2"',
    'migrateDatabaseJob:',
    '  enabled: true',
    '  useHelmHooks: false',
    'scheduler:',
    '  replicas: 2',
    '',
  ].join('\n');
  const out = setValues(text, '.', { airflowVersion: '3.3.2', defaultAirflowTag: '3.3.2' });
  assert.equal(
    out,
    text
      .replace('airflowVersion: "3.2.2"', 'airflowVersion: "3.3.2"')
      .replace('Tag: "3.2.2"', 'Tag: "3.3.2"'),
  );
  assert.deepEqual(readValues(out, '.', ['airflowVersion', 'executor']), {
    airflowVersion: '3.3.2',
    executor: null,
  });
  const o = await origin(text);
  const g = new GitOpsChange(settings(o.origin, { location: '.' }), o.workDir, { env: gitEnv });
  assert.deepEqual(await g.readAt('migrateDatabaseJob', ['enabled', 'useHelmHooks']), {
    enabled: 'true',
    useHelmHooks: 'false',
  });
  assert.deepEqual(await g.readAt('createUserJob', ['useHelmHooks']), { useHelmHooks: null });
  const applied = await g.apply({
    stage: { label: 'airflow 3.3.2', thresholdBytes: 0, env: { airflowVersion: '3.3.2' } },
    changeId: 'wf@root',
  });
  assert.equal(applied.changed, true);
  assert.match(show(o.origin), /^airflowVersion: "3\.3\.2" {3}# bump with the image$/m);
});
