/**
 * The local target's supervisor runs the Airflow its env file's AIRFLOW_VERSION names, and the
 * worker's LocalRollout stops and starts it: the minor upgrade 3.2.2 -> 3.3.2 on real Airflow from
 * two venvs, a real PostgreSQL metadata DB migrated by each version's own `airflow db migrate`, and
 * the versions checked from inside every component (their live PATH and python, the worker's exec
 * env for the target, the DAG parsed by the dag-processor, a task run by the executor, a trigger
 * run by the triggerer). Also: how a venv is found for a version, and a process tree that leaves
 * its leader's process group is stopped with it.
 */
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { promisify } from 'node:util';
import { after, before, describe, test } from 'node:test';
import { PermanentFault } from '../activities/engine/errors.js';
import { setEnvValues } from '../adapters/env-file-change.js';
import { LocalRollout } from '../adapters/local-rollout.js';
import { migrateAirflowDb } from '../local/airflow-db.js';
import { ProcessTree } from '../local/process-tree.js';
import { spawnSupervisor, type SupervisorProcess } from '../local/supervisor-process.js';
import {
  AirflowVersionNotInstalled,
  airflowVenvFor,
  airflowVenvsDir,
  installedAirflowVersions,
  venvDir,
  venvPython,
} from '../local/venv.js';
import {
  ALL,
  DAGS,
  alive,
  assertComponentVersions,
  assertDagSeesVersion,
  components,
  pgidOf,
  session,
  startSleeper,
  targetEnvFile,
  until,
} from './support/component-versions.js';
import { createTestDatabase, type TestDatabase } from './support/postgres.js';

const run = promisify(execFile);
const SLOW = { timeout: 1_800_000 };
const FROM = '3.2.2';
const TO = '3.3.2';

void describe('Airflow venvs by version', () => {
  test('installed versions are read from the venvs metadata and agree with what their python imports', async () => {
    const installed = installedAirflowVersions();
    assert.equal(installed[0]?.venv, venvDir(), 'the default venv first');
    for (const v of [TO, FROM, '2.11.2'])
      assert.ok(
        installed.some((x) => x.version === v),
        `Airflow ${v} installed: ${JSON.stringify(installed)}`,
      );
    for (const { version, venv } of installed) {
      const { stdout } = await run(
        path.join(venv, 'bin', 'python'),
        ['-c', 'import airflow; print(airflow.__version__)'],
        {
          env: { PATH: '/usr/bin:/bin', HOME: tmpdir() },
        },
      );
      assert.equal(stdout.trim(), version, venv);
    }
  });

  test('airflowVenvFor: the default venv for its own version, .venvs/airflow-<v> for another, a clear error otherwise', () => {
    const installedTo = installedAirflowVersions().find((x) => x.version === TO);
    assert.equal(installedTo?.venv, venvDir());
    assert.equal(airflowVenvFor(TO), venvDir());
    assert.equal(airflowVenvFor(FROM), path.join(airflowVenvsDir(), `airflow-${FROM}`));

    const notInstalled = (fn: () => unknown, ...patterns: RegExp[]) =>
      assert.throws(fn, (err: unknown) => {
        assert.ok(err instanceof AirflowVersionNotInstalled, String(err));
        for (const p of patterns) assert.match(err.message, p);
        return true;
      });
    notInstalled(
      () => airflowVenvFor('9.9.9'),
      /Airflow 9\.9\.9 is not installed here: no Airflow installed at .*\.venvs\/airflow-9\.9\.9/,
      /Run scripts\/setup\.sh --upgrade-venvs/,
    );
    notInstalled(() => airflowVenvFor('../airflow-3.2.2'), /is not an Airflow version/);

    const dir = mkdtempSync(path.join(tmpdir(), 'cutover-venvs-'));
    try {
      const env = { ...process.env, CUTOVER_AIRFLOW_VENVS: dir };
      notInstalled(
        () => airflowVenvFor(FROM, env),
        new RegExp(`no Airflow installed at ${dir}/airflow-${FROM}`),
      );
      assert.equal(airflowVenvFor(TO, env), venvDir(), 'the default venv does not depend on the folder');
      // A folder named for one version that holds another is not that version.
      symlinkSync(airflowVenvFor('2.11.2'), path.join(dir, `airflow-${FROM}`));
      notInstalled(
        () => airflowVenvFor(FROM, env),
        new RegExp(`airflow-${FROM} holds Airflow 2\\.11\\.2, not ${FROM}`),
      );
      assert.deepEqual(
        installedAirflowVersions(env).map((x) => x.version),
        [TO],
        'a mislabelled folder is not listed',
      );
      mkdirSync(path.join(dir, 'elsewhere'));
      symlinkSync(airflowVenvFor(FROM), path.join(dir, 'elsewhere', `airflow-${FROM}`));
      assert.equal(
        airflowVenvFor(FROM, { ...process.env, CUTOVER_AIRFLOW_VENVS: path.join(dir, 'elsewhere') }),
        path.join(dir, 'elsewhere', `airflow-${FROM}`),
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

void describe('ProcessTree', () => {
  test('a child that moved to its own process group and ignores SIGTERM is stopped with its leader', async () => {
    // What Airflow's task runners do (setpgid(0, 0)); this one also ignores SIGTERM, like a task
    // that is busy: only SIGKILL to it, not to its leader's group, ends it.
    // The child says its pid once it ignores SIGTERM (it writes to the stdout it shares with its leader).
    const child = [
      'import os, signal, time',
      'signal.signal(signal.SIGTERM, signal.SIG_IGN)',
      'print(os.getpid(), flush=True)',
      'time.sleep(600)',
    ].join('\n');
    const code = [
      'import os, subprocess, sys, time',
      `subprocess.Popen([sys.executable, "-c", ${JSON.stringify(child)}], preexec_fn=lambda: os.setpgid(0, 0))`,
      'time.sleep(600)',
    ].join('\n');
    const leader = spawn(venvPython(), ['-c', code], {
      detached: true,
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const leaderPid = leader.pid ?? assert.fail('no pid');
    const childPid = await new Promise<number>((resolve) =>
      leader.stdout.once('data', (d: Buffer) => resolve(Number(d.toString().trim()))),
    );
    try {
      await until('the child to be in its own group', async () =>
        pgidOf(childPid) === childPid ? true : undefined,
      );
      assert.notEqual(pgidOf(childPid), leaderPid);
      const tree = new ProcessTree(leaderPid);
      tree.refresh();
      assert.deepEqual(
        tree
          .alive()
          .map((p) => p.pid)
          .sort(),
        [leaderPid, childPid].sort(),
      );
      tree.signal('SIGTERM');
      await until('the leader to exit', async () => (alive(leaderPid) ? undefined : true), 30_000, 100);
      // The leader's group is empty now: a group kill would not reach the child, reparented away.
      assert.ok(alive(childPid), 'the child ignored SIGTERM and outlived its leader');
      tree.refresh();
      assert.deepEqual(
        tree.alive().map((p) => p.pid),
        [childPid],
        'the tree still knows the orphan',
      );
      tree.signal('SIGKILL');
      await until('the child to be gone', async () => (alive(childPid) ? undefined : true), 30_000, 100);
    } finally {
      for (const pid of [childPid, leaderPid])
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // gone
        }
    }
  });
});

void describe(`the supervisor switches Airflow ${FROM} -> ${TO}, driven by LocalRollout`, () => {
  let db: TestDatabase;
  let dir: string;
  let envFile: string;
  let supervisor: SupervisorProcess;
  let rollout: LocalRollout;
  const password = `pw-${randomUUID()}`;

  before(async () => {
    db = await createTestDatabase('sv_versions');
    dir = mkdtempSync(path.join(tmpdir(), 'cutover-sv-versions-'));
    const home = path.join(dir, 'airflow-home');
    mkdirSync(home);
    envFile = path.join(dir, 'airflow.env');
    writeFileSync(
      envFile,
      targetEnvFile({ airflowHome: home, sqlalchemyUrl: db.sqlalchemyUrl, airflowVersion: FROM }),
    );
  }, SLOW);

  after(async () => {
    await supervisor?.stop();
    await db?.drop();
    if (dir && !process.env.CUTOVER_KEEP_AIRFLOW_LOGS) rmSync(dir, { recursive: true, force: true });
    else if (dir) console.log(`kept ${dir}`);
  });

  test(
    `${FROM} runs, stops, the DB migrates to ${TO}, and ${TO} starts in every component`,
    SLOW,
    async () => {
      const figures: Record<string, number> = {};
      let t = performance.now();
      const lap = (name: string) => {
        figures[name] = Math.round(performance.now() - t);
        t = performance.now();
      };
      await migrateAirflowDb(db.sqlalchemyUrl, { airflowVersion: FROM });
      lap(`migrate ${FROM}`);
      supervisor = await spawnSupervisor({
        envFile,
        dagsFolder: DAGS,
        components: [...ALL],
        password,
        logFile: path.join(dir, 'supervisor.log'),
        startTimeoutMs: 900_000,
      });
      lap(`start ${FROM}`);
      assert.equal(supervisor.airflowVersion, FROM);
      assert.equal(supervisor.apiVersion, 'v2');
      rollout = new LocalRollout({ stateFile: supervisor.stateFile });
      const api = session(supervisor.apiUrl, 'v2', password);

      // 1. Airflow 3.2.2, seen from inside each component.
      await assertComponentVersions({ controlUrl: supervisor.controlUrl, envFile, version: FROM });
      const version = await api.request<{ version: string }>('GET', '/version');
      assert.equal(version.body.version, FROM, 'the api-server');
      await assertDagSeesVersion(api, 'on-from', FROM);
      lap(`DAG run on ${FROM}`);

      // 2. Refused before anything changes: another version next to running ones, one not installed.
      const pidsBefore = (await components(supervisor.controlUrl)).map((c) => c.pid);
      const original = readFileSync(envFile, 'utf8');
      writeFileSync(envFile, setEnvValues(original, { AIRFLOW_VERSION: TO }));
      await assert.rejects(rollout.start({ components: ['scheduler'] }), (err: unknown) => {
        assert.ok(err instanceof PermanentFault, String(err));
        assert.match(
          err.message,
          new RegExp(`scheduler runs Airflow ${FROM}.*would mix versions: stop every component first`),
        );
        return true;
      });
      writeFileSync(envFile, setEnvValues(original, { AIRFLOW_VERSION: '9.9.9' }));
      const restart = await fetch(`${supervisor.controlUrl}/restart`, { method: 'POST', body: '{}' });
      const refused = (await restart.json()) as { error: string };
      assert.equal(restart.status, 400, refused.error);
      assert.match(refused.error, /AIRFLOW_VERSION=9\.9\.9: Airflow 9\.9\.9 is not installed here/);
      assert.match(refused.error, /scripts\/setup\.sh --upgrade-venvs/);
      writeFileSync(envFile, original);
      assert.deepEqual(
        (await components(supervisor.controlUrl)).map((c) => c.pid),
        pidsBefore,
        'nothing was stopped or started',
      );

      // 3. A task running when the components stop: the stop reaches its task runner too.
      const sleeper = await startSleeper(api, 'sleeping', path.join(dir, 'sleeper.pid'));
      const schedulerPid = (await components(supervisor.controlUrl)).find((c) => c.name === 'scheduler')?.pid;
      console.log(`sleeper task pid ${sleeper}, group ${pgidOf(sleeper)}; scheduler ${schedulerPid}`);

      t = performance.now();
      const stopped = await rollout.stop({ components: [...ALL] });
      lap(`stop ${FROM}`);
      assert.deepEqual(
        stopped.map((s) => [s.component, s.action, s.airflowVersion]),
        ALL.map((n) => [n, 'stopped', FROM]),
      );
      for (const s of stopped) {
        assert.ok(s.pid !== null && !alive(s.pid), `${s.component} (pid ${s.pid}) is gone`);
        assert.ok(s.stoppedAt && Date.parse(s.stoppedAt) >= Date.parse(s.startedAt ?? ''), JSON.stringify(s));
      }
      assert.ok(!alive(sleeper), `the task runner (pid ${sleeper}) was stopped with the scheduler`);
      const health = await fetch(`${supervisor.controlUrl}/health`);
      const body = (await health.json()) as { stopped: { name: string; since: string }[]; running: string[] };
      assert.equal(health.status, 503);
      assert.deepEqual(body.running, []);
      assert.deepEqual(
        body.stopped.map((s) => [s.name, s.since]),
        stopped.map((s) => [s.component, s.stoppedAt]),
      );
      assert.deepEqual(
        (await rollout.inspect()).components.map((c) => [c.name, c.running]),
        ALL.map((n) => [n, false]),
      );
      const again = await rollout.stop({ components: ['scheduler'] });
      assert.deepEqual(
        again.map((s) => [s.component, s.action, s.stoppedAt]),
        [['scheduler', 'already stopped', stopped[1]?.stoppedAt]],
      );

      // 4. The target version's migration, then the env file names it, then the start.
      const migrated = await migrateAirflowDb(db.sqlalchemyUrl, { airflowVersion: TO });
      lap(`migrate ${FROM} -> ${TO}`);
      assert.match(migrated.output, /Running upgrade \w+ -> \w+/, 'the schema moved');
      writeFileSync(envFile, setEnvValues(original, { AIRFLOW_VERSION: TO }));
      const starting = rollout.start({ components: [...ALL] });
      // While it starts, another control request is refused as busy.
      await until(
        'the supervisor to report the start under way',
        async () => {
          const h = (await (await fetch(`${supervisor.controlUrl}/health`)).json()) as {
            busy: { kind: string } | null;
          };
          return h.busy?.kind === 'start' ? true : undefined;
        },
        60_000,
        100,
      );
      const busy = await fetch(`${supervisor.controlUrl}/restart`, { method: 'POST', body: '{}' });
      assert.equal(busy.status, 409);
      assert.match(
        ((await busy.json()) as { error: string }).error,
        /^busy: a start of api-server, scheduler, dag-processor, triggerer is under way since /,
      );
      const started = await starting;
      lap(`start ${TO}`);
      assert.deepEqual(
        started.map((s) => [s.component, s.action, s.airflowVersion]),
        ALL.map((n) => [n, 'started', TO]),
      );
      for (const s of started) assert.ok(s.pid !== null && alive(s.pid), JSON.stringify(s));
      const state = JSON.parse(readFileSync(supervisor.stateFile, 'utf8')) as { airflowVersion: string };
      assert.equal(state.airflowVersion, TO, 'the state file names the version now running');

      // 5. Airflow 3.3.2 everywhere, and a DAG run succeeding through the REST API.
      await assertComponentVersions({ controlUrl: supervisor.controlUrl, envFile, version: TO });
      assert.equal((await api.request<{ version: string }>('GET', '/version')).body.version, TO);
      await assertDagSeesVersion(api, 'on-to', TO);
      lap(`DAG run on ${TO}`);
      const sleeperRun = await api.request<{ state: string }>('GET', '/dags/sleeper/dagRuns/sleeping');
      console.log(`the run whose task was killed by the stop is now ${sleeperRun.body.state}`);

      const noop = await rollout.start({ components: [...ALL] });
      assert.deepEqual(
        noop.map((s) => [s.component, s.action, s.pid]),
        started.map((s) => [s.component, 'already running', s.pid]),
      );
      console.log(`figures (ms): ${JSON.stringify(figures)}`);
    },
  );
});
