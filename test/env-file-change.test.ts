/** The local target's change adapter on real files. */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { EnvFileChange, EnvFileError, parseEnvFile } from '../adapters/env-file-change.js';
import { PermanentFault } from '../activities/engine/errors.js';
import { renderStage } from '../domain/airflow-env.js';

const ORIGINAL = [
  '# Airflow components of the local target read this file at start.',
  'AIRFLOW_HOME=/tmp/airflow',
  'AIRFLOW__CORE__XCOM_BACKEND=airflow.sdk.execution_time.xcom.BaseXCom',
  'AIRFLOW__CORE__LOAD_EXAMPLES=False',
  '',
].join('\n');

const base = { path: 's3://aws_default@bucket/xcom', compression: '' };
const ramp = renderStage('ramp-start', { ...base, thresholdBytes: 2_000_000 });
const target = renderStage('target', { ...base, thresholdBytes: 1_600_000 });

async function envFile(text = ORIGINAL): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'cutover-envfile-'));
  const file = path.join(dir, 'airflow.env');
  await writeFile(file, text);
  return file;
}

test('diff shows only the stage keys; apply is idempotent; revert restores byte for byte', async () => {
  const file = await envFile();
  const change = new EnvFileChange(file);
  const diff = await change.diff(target);
  assert.match(diff, /^-AIRFLOW__CORE__XCOM_BACKEND=airflow\.sdk\.execution_time\.xcom\.BaseXCom$/m);
  assert.match(diff, /^\+AIRFLOW__COMMON_IO__XCOM_OBJECTSTORAGE_THRESHOLD=1600000$/m);
  assert.doesNotMatch(diff, /^[-+]AIRFLOW__CORE__LOAD_EXAMPLES/m);

  const first = await change.apply({ stage: target, changeId: 'wf-1' });
  assert.equal(first.changed, true);
  const live = parseEnvFile(await readFile(file, 'utf8'));
  assert.equal(live.get('AIRFLOW__COMMON_IO__XCOM_OBJECTSTORAGE_PATH'), 's3://aws_default@bucket/xcom');
  assert.equal(live.get('AIRFLOW__COMMON_IO__XCOM_OBJECTSTORAGE_COMPRESSION'), '');
  assert.equal(await change.diff(target), '', 'nothing left to change');

  const again = await change.apply({ stage: target, changeId: 'wf-1' });
  assert.equal(again.changed, false);
  assert.equal(again.ref, first.ref);

  const reverted = await change.revert({
    stage: target,
    revertHandle: first.revertHandle,
    changeId: 'wf-1',
  });
  assert.equal(reverted.changed, true);
  assert.equal(await readFile(file, 'utf8'), ORIGINAL);
  assert.deepEqual(reverted.restoredEnv, {
    AIRFLOW__CORE__XCOM_BACKEND: 'airflow.sdk.execution_time.xcom.BaseXCom',
    AIRFLOW__COMMON_IO__XCOM_OBJECTSTORAGE_PATH: null,
    AIRFLOW__COMMON_IO__XCOM_OBJECTSTORAGE_THRESHOLD: null,
    AIRFLOW__COMMON_IO__XCOM_OBJECTSTORAGE_COMPRESSION: null,
  });
  const twice = await change.revert({ stage: target, revertHandle: first.revertHandle, changeId: 'wf-1' });
  assert.equal(twice.changed, false);
});

test('ramp: reverting newest first walks back through the stages to the original', async () => {
  const file = await envFile();
  const change = new EnvFileChange(file);
  await change.apply({ stage: ramp, changeId: 'wf-2' });
  await change.apply({ stage: target, changeId: 'wf-2' });
  const t = await change.revert({ stage: target, revertHandle: null, changeId: 'wf-2' });
  assert.equal(t.restoredEnv.AIRFLOW__COMMON_IO__XCOM_OBJECTSTORAGE_THRESHOLD, '2000000');
  await change.revert({ stage: ramp, revertHandle: null, changeId: 'wf-2' });
  assert.equal(await readFile(file, 'utf8'), ORIGINAL);
});

test('a retried apply keeps the original values as "previous"', async () => {
  const file = await envFile();
  const change = new EnvFileChange(file);
  const a = await change.apply({ stage: target, changeId: 'wf-3' });
  await change.apply({ stage: target, changeId: 'wf-3' });
  await change.revert({ stage: target, revertHandle: a.revertHandle, changeId: 'wf-3' });
  assert.equal(await readFile(file, 'utf8'), ORIGINAL);
});

test('reverting an apply that never ran changes nothing', async () => {
  const file = await envFile();
  const r = await new EnvFileChange(file).revert({ stage: target, revertHandle: null, changeId: 'never' });
  assert.equal(r.changed, false);
  assert.equal(await readFile(file, 'utf8'), ORIGINAL);
});

test('values that need quoting survive a round trip; a missing file is a permanent fault', async () => {
  const file = await envFile('');
  const change = new EnvFileChange(file);
  const odd = { label: 'odd', thresholdBytes: 1, env: { A: 'has space', B: 'quote"inside', C: '' } };
  await change.apply({ stage: odd, changeId: 'wf-4' });
  assert.deepEqual(Object.fromEntries(parseEnvFile(await readFile(file, 'utf8'))), odd.env);
  await assert.rejects(new EnvFileChange(`${file}.absent`).diff(odd), PermanentFault);
});

test('the diff (evidence, kept in history) never shows the values of other variables', async () => {
  const file = await envFile(
    `AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=postgresql://airflow:s3cret@db/airflow\n${ORIGINAL}AWS_SECRET_ACCESS_KEY=abc123\n`,
  );
  const diff = await new EnvFileChange(file).diff(target);
  assert.doesNotMatch(diff, /s3cret|abc123|LOAD_EXAMPLES|AIRFLOW_HOME/);
  assert.match(diff, /^\+AIRFLOW__COMMON_IO__XCOM_OBJECTSTORAGE_PATH=/m);
});

test('only an env file parses: comments, blanks, export and quoted values; any other line is named', () => {
  const good = ['# comment', '', '  export A=1', 'B="two words"', 'C=', 'D={"k":"v"}', 'E=x=y'].join('\n');
  assert.deepEqual(Object.fromEntries(parseEnvFile(good)), {
    A: '1',
    B: 'two words',
    C: '',
    D: '{"k":"v"}',
    E: 'x=y',
  });
  assert.throws(
    () => parseEnvFile('A=1\nroot:x:0:0:root:/root:/bin/bash\n', '/etc/passwd'),
    (err: unknown) =>
      err instanceof EnvFileError &&
      err.line === 2 &&
      err.message === '/etc/passwd is not an env file: line 2 is not a comment, a blank line or KEY=VALUE',
  );
  assert.throws(() => parseEnvFile('A="unterminated\n', 'f'), /line 1 has a double-quoted value of A/);
  // The message never repeats the line: env files hold credentials.
  assert.throws(
    () => parseEnvFile('TOKEN secret-value\n', 'f'),
    (err: unknown) => err instanceof Error && !err.message.includes('secret-value'),
  );
});

test('a file that is not an env file is never edited: diff, apply and revert refuse it', async () => {
  const passwd = 'root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n';
  const file = await envFile(passwd);
  const change = new EnvFileChange(file);
  const refused = (err: unknown) =>
    err instanceof PermanentFault &&
    /is not an env file: line 1 .*cutover edits only a file it parsed/.test(err.message);
  await assert.rejects(change.diff(target), refused);
  await assert.rejects(change.apply({ stage: target, changeId: 'wf-passwd' }), refused);
  await assert.rejects(change.revert({ stage: target, revertHandle: null, changeId: 'wf-passwd' }), refused);
  assert.equal(await readFile(file, 'utf8'), passwd);
});
