/**
 * The Airflow probes against the REAL Airflow in the project's venv and a real S3
 * API (moto server), through ExecAirflowProbes over LocalExecPort: the production
 * path for a local target. Plus LocalExecPort on its own.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { HeadBucketCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { PermanentFault } from '../activities/engine/errors.js';
import { configMismatches } from '../activities/xcom/verify.js';
import { ExecAirflowProbes } from '../adapters/airflow-probes.js';
import { LocalExecPort } from '../adapters/exec/local.js';
import { ExecError } from '../adapters/exec/port.js';
import { renderStage } from '../domain/airflow-env.js';
import type { CheckRow } from '../domain/evidence.js';
import { planSchema, type Component, type Plan } from '../domain/plan.js';
import { airflowBaseEnv, tempAirflowHome } from './support/airflow.js';
import { freePort, startMoto, venvPython, type MotoServer } from './support/moto.js';

const SLOW = { timeout: 240_000 };
const THRESHOLD = 100_000;

function planFor(opts: {
  path: string;
  compression?: '' | 'gzip';
  minProvider?: string;
  component?: string;
}): Plan {
  return planSchema.parse({
    apiVersion: 'cutover/v1',
    kind: 'XComBackendCutover',
    name: 'probe-test',
    target: {
      kind: 'local',
      name: 'probe-test',
      envFile: '/tmp/probe-test.env',
      components: [{ name: opts.component ?? 'scheduler' }],
    },
    airflow: {
      version: '3.3',
      minCommonIoProvider: opts.minProvider ?? '1.4.0',
      metadataDb: { access: 'direct', urlEnv: 'AIRFLOW_DB_URL' },
    },
    spec: {
      xcom: {
        path: opts.path,
        threshold: { strategy: 'fixed', bytes: THRESHOLD },
        compression: opts.compression ?? '',
        maxOffloadRows: 10,
      },
      validation: { dagId: 'xcom_validation' },
    },
    change: { mode: 'env-file' },
    approval: { approvers: ['alice'] },
  });
}

function stageEnv(plan: Plan): Record<string, string> {
  return renderStage('target', {
    path: plan.spec.xcom.path,
    thresholdBytes: THRESHOLD,
    compression: plan.spec.xcom.compression,
  }).env;
}

/** The same settings with the section spelled COMMON.IO: the footgun of the reference cut-over. */
function dottedEnv(plan: Plan): Record<string, string> {
  return Object.fromEntries(
    Object.entries(stageEnv(plan)).map(([k, v]) => [
      k.replace('AIRFLOW__COMMON_IO__', 'AIRFLOW__COMMON.IO__'),
      v,
    ]),
  );
}

function row(rows: CheckRow[], prefix: string): CheckRow {
  const found = rows.find((r) => r.name.startsWith(prefix));
  assert.ok(found, `no check row named ${prefix}...: ${rows.map((r) => r.name).join(', ')}`);
  return found;
}

function show(rows: CheckRow[]): string {
  return rows.map((r) => `  [${r.status}] ${r.name}: ${r.detail}`).join('\n');
}

async function keysUnder(moto: MotoServer, prefix: string): Promise<string[]> {
  const res = await moto.s3.send(new ListObjectsV2Command({ Bucket: moto.bucket, Prefix: prefix }));
  return (res.Contents ?? []).map((o) => o.Key ?? '');
}

void describe('LocalExecPort', () => {
  const component: Component = { name: 'scheduler' };
  const port = new LocalExecPort({ envFor: () => ({ PATH: '/usr/bin:/bin', FOO: 'bar' }) });

  void test('captures stdout and stderr separately and reports a non-zero exit code', async () => {
    const res = await port.exec({
      component,
      command: ['sh', '-c', 'echo to-out; echo to-err >&2; exit 3'],
      timeoutMs: 10_000,
    });
    assert.equal(res.exitCode, 3);
    assert.equal(res.stdout, 'to-out\n');
    assert.equal(res.stderr, 'to-err\n');
  });

  void test('runs with exactly the configured env (nothing inherited from this process)', async () => {
    process.env.CUTOVER_MUST_NOT_LEAK = 'leaked';
    try {
      const res = await port.exec({
        component,
        command: [
          'sh',
          '-c',
          'echo "${CUTOVER_MUST_NOT_LEAK:-unset} $FOO"; env | cut -d= -f1 | sort | tr "\\n" " "',
        ],
        timeoutMs: 10_000,
      });
      assert.equal(res.exitCode, 0);
      const [first, names] = res.stdout.split('\n');
      assert.equal(first, 'unset bar');
      // sh itself may add PWD/SHLVL/_; of ours only the private AIRFLOW_HOME an env without one gets
      assert.deepEqual(
        (names ?? '')
          .trim()
          .split(' ')
          .filter((n) => !['PWD', 'SHLVL', '_', 'OLDPWD'].includes(n)),
        ['AIRFLOW_HOME', 'FOO', 'PATH'],
      );
    } finally {
      delete process.env.CUTOVER_MUST_NOT_LEAK;
    }
  });

  void test('writes stdin and closes it', async () => {
    const input = 'line one\nline two\n' + 'x'.repeat(1024 * 1024);
    const res = await port.exec({ component, command: ['cat'], stdin: input, timeoutMs: 10_000 });
    assert.equal(res.exitCode, 0);
    assert.equal(res.stdout, input);
    const none = await port.exec({ component, command: ['cat'], timeoutMs: 10_000 });
    assert.equal(none.stdout, '', 'stdin is closed at once when none is given');
  });

  void test('handles ~5 MB on stdout and 3 MB on stderr at the same time', async () => {
    const py = new LocalExecPort({ envFor: () => ({ PATH: path.dirname(venvPython()) + ':/usr/bin:/bin' }) });
    const res = await py.exec({
      component,
      command: [
        'python',
        '-c',
        "import sys\nfor _ in range(50):\n    sys.stdout.write('a' * 100_000)\n    sys.stderr.write('b' * 60_000)\n",
      ],
      timeoutMs: 30_000,
    });
    assert.equal(res.exitCode, 0);
    assert.equal(res.stdout.length, 5_000_000);
    assert.equal(res.stderr.length, 3_000_000);
    assert.match(res.stdout, /^a+$/);
    assert.match(res.stderr, /^b+$/);
  });

  void test('a timeout kills the whole process group and rejects with ExecError(timeout)', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'cutover-exec-'));
    const pidFile = path.join(dir, 'grandchild.pid');
    try {
      const started = Date.now();
      await assert.rejects(
        port.exec({
          component,
          command: ['sh', '-c', `sleep 300 & echo $! > ${pidFile}; echo about to wait >&2; wait`],
          timeoutMs: 700,
        }),
        (err: unknown) => {
          assert.ok(err instanceof ExecError, String(err));
          assert.equal(err.kind, 'timeout');
          assert.match(err.message, /timed out/);
          return true;
        },
      );
      assert.ok(Date.now() - started < 5_000, 'rejected promptly');
      const pid = Number(readFileSync(pidFile, 'utf8').trim());
      assert.ok(pid > 0);
      let alive = true;
      for (let i = 0; i < 40 && alive; i++) {
        const stat = existsSync(`/proc/${pid}/stat`) ? readFileSync(`/proc/${pid}/stat`, 'utf8') : '';
        alive = stat !== '' && !/^\d+ \([^)]*\) Z/.test(stat);
        if (alive) await new Promise((r) => setTimeout(r, 50));
      }
      assert.equal(alive, false, `the grandchild ${pid} (sleep 300) still runs`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  void test('a missing program rejects with ExecError(not-found)', async () => {
    await assert.rejects(
      port.exec({ component, command: ['no-such-program-cutover'], timeoutMs: 5_000 }),
      (err: unknown) => err instanceof ExecError && err.kind === 'not-found',
    );
  });
});

void describe('Airflow probes (real Airflow from the venv, real S3 API from moto)', () => {
  let moto: MotoServer;
  let home: { dir: string; remove(): void };
  let probes: ExecAirflowProbes;
  let cwd: string;
  let base: string;
  const scheduler: Component = { name: 'scheduler' };
  const offline: Component = { name: 'offline' };

  before(async () => {
    moto = await startMoto({ bucket: 'cutover-xcom' });
    home = tempAirflowHome();
    cwd = mkdtempSync(path.join(tmpdir(), 'cutover-probe-cwd-'));
    const closedPort = await freePort();
    const envs: Record<string, Record<string, string>> = {
      scheduler: airflowBaseEnv({ airflowHome: home.dir, s3Endpoint: moto.endpoint }),
      offline: airflowBaseEnv({
        airflowHome: home.dir,
        s3Endpoint: `http://127.0.0.1:${closedPort}`,
        connExtra: {
          config_kwargs: {
            connect_timeout: 1,
            read_timeout: 2,
            retries: { max_attempts: 1, mode: 'standard' },
          },
        },
      }),
    };
    const exec = new LocalExecPort({
      envFor: (c) => {
        const env = envs[c.name];
        if (!env) throw new Error(`no env for component ${c.name}`);
        return env;
      },
      cwdFor: () => cwd,
    });
    probes = new ExecAirflowProbes(exec);
    base = `s3://aws_default@${moto.bucket}/xcom`;
  }, SLOW);

  after(async () => {
    await moto?.stop();
    home?.remove();
    if (cwd) rmSync(cwd, { recursive: true, force: true });
  });

  void describe('preflight', () => {
    void test('all green with the correctly encoded env', SLOW, async () => {
      const plan = planFor({ path: base });
      const rows = await probes.preflight({
        component: scheduler,
        plan,
        runId: 'pf-green',
        env: stageEnv(plan),
      });
      assert.equal(rows.length, 6, show(rows));
      assert.deepEqual(
        rows.filter((r) => r.status !== 'green'),
        [],
        show(rows),
      );
      assert.match(row(rows, 'provider').detail, /apache-airflow-providers-common-io \d+\.\d+/);
      const conn = row(rows, 'connection aws_default').detail;
      assert.match(conn, /type aws/);
      assert.ok(conn.includes(moto.endpoint), conn);
      assert.doesNotMatch(conn, /testing/, 'no credential in the detail');
      assert.match(row(rows, 'object storage').detail, /PASS/);
      assert.match(row(rows, 'config resolves').detail, /XComObjectStorageBackend/);
      for (const r of rows) assert.ok(Number.isInteger(r.durationMs) && r.durationMs >= 0);
      assert.deepEqual(
        await keysUnder(moto, 'xcom/_preflight/'),
        [],
        'the functional check cleans up after itself',
      );
    });

    void test(
      'the dotted section (AIRFLOW__COMMON.IO__...) makes the dry resolution red and names the variable',
      SLOW,
      async () => {
        const plan = planFor({ path: base });
        const rows = await probes.preflight({
          component: scheduler,
          plan,
          runId: 'pf-dotted',
          env: dottedEnv(plan),
        });
        const res = row(rows, 'config resolves');
        assert.equal(res.status, 'red', show(rows));
        assert.ok(res.detail.includes('AIRFLOW__COMMON.IO__XCOM_OBJECTSTORAGE_PATH'), res.detail);
        assert.ok(
          res.detail.includes('AIRFLOW__COMMON_IO__XCOM_OBJECTSTORAGE_PATH'),
          'names the spelling Airflow reads',
        );
        assert.match(res.detail, /xcom_objectstorage_path resolves to ''/);
        assert.equal(row(rows, 'object storage').status, 'green', 'the other checks still ran');
      },
    );

    void test(
      'a threshold with trailing whitespace: preflight and VERIFY judge it alike, as conf.getint reads it',
      SLOW,
      async () => {
        const plan = planFor({ path: base });
        const env = { ...stageEnv(plan), AIRFLOW__COMMON_IO__XCOM_OBJECTSTORAGE_THRESHOLD: `${THRESHOLD} ` };
        const rows = await probes.preflight({ component: scheduler, plan, runId: 'pf-space', env });
        const res = row(rows, 'config resolves');
        assert.equal(res.status, 'green', show(rows));
        assert.ok(
          res.detail.includes(
            `xcom_objectstorage_threshold is '${THRESHOLD} ', read as ${THRESHOLD} by conf.getint`,
          ),
          res.detail,
        );
        const got = await probes.resolveConfig({ component: scheduler, extraEnv: env });
        assert.equal(got.threshold, THRESHOLD);
        const stage = { label: 'target', thresholdBytes: THRESHOLD, env };
        assert.deepEqual(configMismatches(got, stage, plan), []);
        // Text that getint cannot read is still red (the plan's fixed threshold is expected).
        const red = await probes.preflight({
          component: scheduler,
          plan,
          runId: 'pf-space-2',
          env: { ...env, AIRFLOW__COMMON_IO__XCOM_OBJECTSTORAGE_THRESHOLD: `${THRESHOLD} x` },
        });
        assert.equal(row(red, 'config resolves').status, 'red', show(red));
      },
    );

    void test(
      'a connection that does not exist is red (and S3 is not tried through a fallback)',
      SLOW,
      async () => {
        const plan = planFor({ path: `s3://nosuchconn@${moto.bucket}/xcom` });
        const rows = await probes.preflight({
          component: scheduler,
          plan,
          runId: 'pf-noconn',
          env: stageEnv(plan),
        });
        const conn = row(rows, 'connection nosuchconn');
        assert.equal(conn.status, 'red', show(rows));
        assert.match(conn.detail, /nosuchconn/);
        const fn = row(rows, 'object storage');
        assert.equal(fn.status, 'red');
        assert.match(fn.detail, /not attempted: connection nosuchconn does not resolve/);
      },
    );

    void test(
      'a missing bucket makes the functional check red with a readable reason, and creates no bucket',
      SLOW,
      async () => {
        const plan = planFor({ path: 's3://aws_default@no-such-bucket/xcom' });
        const rows = await probes.preflight({
          component: scheduler,
          plan,
          runId: 'pf-nobucket',
          env: stageEnv(plan),
        });
        const fn = row(rows, 'object storage');
        assert.equal(fn.status, 'red', show(rows));
        assert.match(fn.detail, /write failed: .*bucket does not exist/i);
        await assert.rejects(moto.s3.send(new HeadBucketCommand({ Bucket: 'no-such-bucket' })));
      },
    );

    void test('S3 unreachable is red and does not hang', SLOW, async () => {
      const plan = planFor({ path: base, component: 'offline' });
      const started = Date.now();
      const rows = await probes.preflight({
        component: offline,
        plan,
        runId: 'pf-offline',
        env: stageEnv(plan),
      });
      const took = Date.now() - started;
      const fn = row(rows, 'object storage');
      assert.equal(fn.status, 'red', show(rows));
      assert.match(fn.detail, /Could not connect to the endpoint URL|EndpointConnectionError|connect/i);
      assert.ok(took < 60_000, `bounded by the connection's botocore timeouts/retries (took ${took} ms)`);
    });

    void test('an unknown compression (gz) is red', SLOW, async () => {
      const plan0 = planFor({ path: base });
      const plan: Plan = {
        ...plan0,
        spec: {
          ...plan0.spec,
          xcom: { ...plan0.spec.xcom, compression: 'gz' as Plan['spec']['xcom']['compression'] },
        },
      };
      const rows = await probes.preflight({
        component: scheduler,
        plan,
        runId: 'pf-gz',
        env: stageEnv(plan),
      });
      const c = row(rows, 'compression');
      assert.equal(c.status, 'red', show(rows));
      assert.match(c.detail, /'gz'/);
      assert.match(c.detail, /gzip/, 'suggests the codec name');
    });

    void test('a provider minimum above the installed version is red', SLOW, async () => {
      const plan = planFor({ path: base, minProvider: '99.0.0' });
      const rows = await probes.preflight({
        component: scheduler,
        plan,
        runId: 'pf-minver',
        env: stageEnv(plan),
      });
      const p = row(rows, 'provider');
      assert.equal(p.status, 'red', show(rows));
      assert.match(p.detail, /needs >= 99\.0\.0/);
    });

    void test('objects under a previous base path are an amber hazard, not red', SLOW, async () => {
      const plan = planFor({ path: base });
      const withPrev = new ExecAirflowProbes(
        new LocalExecPort({
          envFor: () => airflowBaseEnv({ airflowHome: home.dir, s3Endpoint: moto.endpoint }),
          cwdFor: () => cwd,
        }),
        { previousPaths: () => [`s3://aws_default@${moto.bucket}/old-xcom`] },
      );
      const { PutObjectCommand, DeleteObjectCommand } = await import('@aws-sdk/client-s3');
      await moto.s3.send(
        new PutObjectCommand({ Bucket: moto.bucket, Key: 'old-xcom/dag/run/task/abc', Body: '{}' }),
      );
      try {
        const rows = await withPrev.preflight({
          component: scheduler,
          plan,
          runId: 'pf-prev',
          env: stageEnv(plan),
        });
        const h = row(rows, 'prior offloaded references');
        assert.equal(h.status, 'amber', show(rows));
        assert.match(h.detail, /old-xcom/);
      } finally {
        await moto.s3.send(
          new DeleteObjectCommand({ Bucket: moto.bucket, Key: 'old-xcom/dag/run/task/abc' }),
        );
      }
    });

    void test('nothing is left under _preflight/ after all the preflights', async () => {
      assert.deepEqual(await keysUnder(moto, 'xcom/_preflight/'), []);
    });
  });

  void describe('resolve_config (VERIFY)', () => {
    void test('the correct env resolves to the values and XComObjectStorageBackend', SLOW, async () => {
      const plan = planFor({ path: base, compression: 'gzip' });
      const stage = renderStage('target', { path: base, thresholdBytes: THRESHOLD, compression: 'gzip' });
      const got = await probes.resolveConfig({ component: scheduler, extraEnv: stage.env });
      assert.equal(got.error, null);
      assert.equal(got.component, 'scheduler');
      assert.equal(got.path, base);
      assert.equal(got.threshold, THRESHOLD);
      assert.equal(got.compression, 'gzip');
      assert.equal(got.xcomClass, 'XComObjectStorageBackend');
      assert.ok(got.pod.length > 0);
      assert.deepEqual(configMismatches(got, stage, plan), []);
    });

    void test('the dotted env is an error that names the variable', SLOW, async () => {
      const plan = planFor({ path: base });
      const stage = renderStage('target', { path: base, thresholdBytes: THRESHOLD, compression: '' });
      const got = await probes.resolveConfig({ component: scheduler, extraEnv: dottedEnv(plan) });
      assert.ok(got.error, 'error is set');
      assert.ok(got.error.includes('AIRFLOW__COMMON.IO__XCOM_OBJECTSTORAGE_PATH'), got.error);
      assert.ok(configMismatches(got, stage, plan).length > 0);
    });

    void test('no env resolves to BaseXCom', SLOW, async () => {
      const got = await probes.resolveConfig({ component: scheduler });
      assert.equal(got.error, null);
      assert.equal(got.xcomClass, 'BaseXCom');
    });
  });

  void describe('rehearse (§5, faithful: config read through conf with the env as deployed)', () => {
    for (const compression of ['', 'gzip'] as const) {
      void test(
        `break confirmed, round trip intact, heal confirmed, sentinel cleaned (compression ${JSON.stringify(compression)})`,
        SLOW,
        async () => {
          const plan = planFor({ path: base, compression });
          const runId = `rehearsal-${compression || 'none'}`;
          let beats = 0;
          const out = await probes.rehearse({
            component: scheduler,
            plan,
            runId,
            env: stageEnv(plan),
            heartbeat: () => {
              beats++;
            },
          });
          assert.ok(beats >= 1, 'heartbeats while the probe runs');
          assert.equal(out.valueBytes, THRESHOLD + 64 * 1024);
          assert.ok(out.objectPath.startsWith(`${base}/_rehearsal/${runId}/sentinel/`), out.objectPath);
          if (compression === 'gzip') assert.match(out.objectPath, /\.gz$/);
          assert.equal(out.offloaded, true);
          assert.equal(out.breakConfirmed, true);
          assert.equal(out.roundTripIntact, true);
          assert.equal(out.healConfirmed, true);
          assert.equal(out.sentinelCleaned, true);
          for (const step of [
            'resolveConfig',
            'serialize',
            'revertRead',
            'directRead',
            'reEmit',
            'cleanup',
          ]) {
            assert.equal(typeof out.timingsMs[step], 'number', `timing for ${step}`);
          }
          assert.deepEqual(await keysUnder(moto, 'xcom/_rehearsal/'), []);
        },
      );
    }

    void test(
      'with the dotted env the rehearsal refuses (PermanentFault) and writes nothing anywhere',
      SLOW,
      async () => {
        const plan = planFor({ path: base });
        await assert.rejects(
          probes.rehearse({
            component: scheduler,
            plan,
            runId: 'rehearsal-dotted',
            env: dottedEnv(plan),
            heartbeat: () => {},
          }),
          (err: unknown) => {
            assert.ok(err instanceof PermanentFault, String(err));
            assert.match(err.message, /xcom_objectstorage_path resolves to ''/);
            return true;
          },
        );
        assert.deepEqual(await keysUnder(moto, 'xcom/'), []);
        assert.deepEqual(readdirSync(cwd), [], 'nothing offloaded to a local relative path either');
      },
    );
  });

  void describe('ExecAirflowProbes failure modes', () => {
    void test('a python that does not exist is a PermanentFault', async () => {
      const p = new ExecAirflowProbes(
        new LocalExecPort({
          envFor: () => airflowBaseEnv({ airflowHome: home.dir, s3Endpoint: moto.endpoint }),
        }),
        { python: () => ['/nonexistent/bin/python'] },
      );
      await assert.rejects(p.resolveConfig({ component: scheduler }), (err: unknown) => {
        assert.ok(err instanceof PermanentFault, String(err));
        assert.match(err.message, /resolve_config probe in scheduler did not complete: .*not found/);
        return true;
      });
    });

    void test('a probe timeout is a plain (retryable) Error naming the probe', SLOW, async () => {
      const p = new ExecAirflowProbes(
        new LocalExecPort({
          envFor: () => airflowBaseEnv({ airflowHome: home.dir, s3Endpoint: moto.endpoint }),
        }),
        { timeoutsMs: { resolve_config: 200 } },
      );
      await assert.rejects(p.resolveConfig({ component: scheduler }), (err: unknown) => {
        assert.ok(err instanceof Error && !(err instanceof PermanentFault), String(err));
        assert.match(err.message, /resolve_config probe in scheduler did not complete: .*timed out/);
        return true;
      });
    });

    void test(
      'a component env without AIRFLOW_HOME: the probe gets a private one and no ~/airflow appears',
      SLOW,
      async () => {
        // HOME is a fresh dir we can look into: Airflow's default home would be HOME/airflow.
        const userHome = mkdtempSync(path.join(tmpdir(), 'cutover-user-home-'));
        try {
          const env = airflowBaseEnv({ airflowHome: home.dir, s3Endpoint: moto.endpoint });
          delete env['AIRFLOW_HOME'];
          delete env['AIRFLOW__DATABASE__SQL_ALCHEMY_CONN'];
          env['HOME'] = userHome;
          const exec = new LocalExecPort({ envFor: () => env });
          const p = new ExecAirflowProbes(exec);
          const got = await p.resolveConfig({ component: scheduler });
          assert.equal(got.error ?? null, null);
          assert.deepEqual(readdirSync(userHome), [], 'nothing written under HOME');
          // The private home is there while the command runs and gone after.
          const r = await exec.exec({
            component: scheduler,
            command: [
              'python',
              '-c',
              'import os; print(os.environ["AIRFLOW_HOME"], os.path.isdir(os.environ["AIRFLOW_HOME"]))',
            ],
            timeoutMs: 30_000,
          });
          const [used, existed] = r.stdout.trim().split(' ');
          assert.equal(existed, 'True');
          assert.ok(used?.startsWith(path.join(tmpdir(), 'cutover-exec-airflow-home-')), used);
          assert.equal(existsSync(used ?? ''), false, 'removed after the command');
        } finally {
          rmSync(userHome, { recursive: true, force: true });
        }
      },
    );

    void test(
      'a component without Airflow: VERIFY reports the import error, REHEARSE is a PermanentFault',
      SLOW,
      async () => {
        // The system python3 (isolated mode), which has no airflow module.
        const p = new ExecAirflowProbes(
          new LocalExecPort({ envFor: () => ({ PATH: '/usr/bin:/bin', HOME: home.dir }) }),
          { python: () => ['/usr/bin/python3', '-I'] },
        );
        const got = await p.resolveConfig({ component: scheduler });
        assert.match(got.error ?? '', /ModuleNotFoundError: No module named 'airflow'/);
        assert.equal(got.xcomClass, null);
        const plan = planFor({ path: base });
        await assert.rejects(
          p.rehearse({
            component: scheduler,
            plan,
            runId: 'no-airflow',
            env: stageEnv(plan),
            heartbeat: () => {},
          }),
          (err: unknown) => {
            assert.ok(err instanceof PermanentFault, String(err));
            assert.match(err.message, /failed at "resolve config": ModuleNotFoundError/);
            return true;
          },
        );
      },
    );
  });
});
