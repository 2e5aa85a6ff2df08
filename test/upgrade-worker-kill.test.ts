/**
 * The upgrade survives its worker being SIGKILLed during MIGRATE and during the rollback's restore:
 * the run completes and the migration and the restore each happen once. The worker is the shipped
 * one (dist/worker/main.js: real activities, adapters from the environment) in its own OS process,
 * SIGKILLed (the node process only, as the OOM killer would) while the step runs; a new one is then
 * started and takes the activity's retry after its 20 s heartbeat timeout. Real components as in
 * test/upgrade-local.test.ts: Airflow 3.2.2 -> 3.3.2 under the supervisor, PostgreSQL, pg_restore.
 *
 * What the killed worker leaves: its children are not killed with it. `airflow db migrate` runs in
 * a process group of its own and goes on as an orphan (a migration is never cut off by a worker
 * dying); the retry finds it by Airflow's migration lock (pg_advisory_lock(1)), waits for it, and
 * runs nothing when the schema is then at head. An orphaned pg_restore writes into a staging DB the
 * live DB never sees; the retry drops that staging DB WITH (FORCE), which ends the orphan's
 * sessions, restores into a new one and swaps it in once (docs/upgrade-facts.md).
 *
 * 1. break-migration drill, worker killed while pg_restore runs in the rollback: ROLLED_BACK; the
 *    retry names the staging DB it dropped; the live DB was swapped exactly once (its oid, polled,
 *    changed once); the history checksums equal the backup's; 3.2.2 again.
 * 2. the upgrade, worker killed while `airflow db migrate` runs (held at its first step by this
 *    test's lock on xcom until the retry is waiting, so the orphan outlives the heartbeat timeout):
 *    DONE; the retry says it waited for the earlier migration and ran none; exactly one
 *    `cli_migratedb` row in the live DB's audit log (each `airflow db migrate` writes one); the
 *    schema at 3.3.2's head; the orphan exited.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { after, before, describe, test } from 'node:test';
import type { WorkflowHandle } from '@temporalio/client';
import proto from '@temporalio/proto';
import pg from 'pg';
import type { UpgradeInput, UpgradeResult } from '../domain/upgrade/run.js';
import { repoRoot } from '../local/venv.js';
import type { TestDatabase } from './support/postgres.js';
import * as e2e from './support/upgrade-e2e.js';

const SLOW = { timeout: 1_800_000 };
const FROM = '3.2.2';
const TO = '3.3.2';
const WORKER_MAIN = path.join(repoRoot(), 'dist', 'worker', 'main.js');

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};
/** The direct children of a process, from /proc (Linux). */
const childrenOf = (pid: number): number[] =>
  readdirSync(`/proc/${pid}/task`).flatMap((tid) =>
    readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8')
      .split(/\s+/)
      .filter((s) => s !== '')
      .map(Number),
  );
const cmdline = (pid: number) => {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
  } catch {
    return '';
  }
};
const pidOf = (w: ChildProcess): number => {
  if (w.pid === undefined) throw new Error('the worker has no pid');
  return w.pid;
};
const ms = (t: { seconds?: unknown; nanos?: number | null } | null | undefined) =>
  t ? Number(String(t.seconds ?? 0)) * 1000 + (t.nanos ?? 0) / 1e6 : 0;

void describe('Airflow upgrade: the worker SIGKILLed during MIGRATE and during the restore', () => {
  let rig: e2e.LocalUpgradeRig;
  let db: TestDatabase;
  const workers = new Set<ChildProcess>();

  const { sql, revision, componentVersions, on } = e2e.rigReads(() => rig);
  /** The same server's maintenance DB, to watch the live DB from outside it. */
  const admin = <T extends pg.QueryResultRow>(text: string, params: unknown[] = []): Promise<T[]> => {
    const url = new URL(db.url);
    url.pathname = '/postgres';
    return e2e.query<T>(url.toString(), text, params);
  };

  /** The shipped worker in its own process; resolves once it polls the task queue. */
  async function startWorker(): Promise<ChildProcess> {
    const child = spawn(process.execPath, [WORKER_MAIN], {
      cwd: repoRoot(),
      env: {
        ...e2e.airflowWorkerEnv(db.url, rig.password),
        TEMPORAL_ADDRESS: rig.env.server.address,
        CUTOVER_TASK_QUEUE: rig.taskQueue,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    workers.add(child);
    let output = '';
    child.stderr?.on('data', (c: Buffer) => (output = (output + c.toString()).slice(-20_000)));
    await new Promise<void>((resolve, reject) => {
      const stdout = child.stdout;
      if (!stdout) throw new Error('the worker has no stdout pipe');
      const lines = createInterface({ input: stdout });
      lines.on('line', (l) => {
        output = (output + l + '\n').slice(-20_000);
        if (l.startsWith('cutover worker:')) resolve();
      });
      child.once('exit', (code, signal) =>
        reject(new Error(`the worker exited (${code ?? signal}) before polling:\n${output}`)),
      );
    });
    return child;
  }

  async function kill(w: ChildProcess): Promise<void> {
    const exited = new Promise((r) => w.once('exit', r));
    w.kill('SIGKILL');
    await exited;
    workers.delete(w);
  }

  before(async () => {
    rig = await e2e.startLocalUpgradeRig('upgrade-kill', {
      from: FROM,
    });
    db = rig.db;
  }, SLOW);

  after(async () => {
    for (const w of workers) await kill(w);
    await rig?.close();
  });

  /** Starts the upgrade (the shipped workers serve it) and approves it; the caller awaits its end. */
  const startUpgrade = (inject?: UpgradeInput['inject']): Promise<WorkflowHandle> =>
    e2e.startUpgrade(rig, e2e.localUpgradePlan(rig, { to: TO, rolloutTimeout: '5m' }), inject);

  /** Polls until `probe` answers something, failing after `limitMs` with `what`. */
  async function until<T>(
    what: string,
    probe: () => Promise<T | null | undefined>,
    limitMs = 900_000,
  ): Promise<T> {
    const deadline = Date.now() + limitMs;
    for (;;) {
      const v = await probe();
      if (v !== null && v !== undefined) return v;
      assert.ok(Date.now() < deadline, `timed out waiting for ${what}`);
      await sleep(100);
    }
  }

  test(
    'break-migration: worker killed while pg_restore runs; ROLLED_BACK, the live DB swapped once',
    SLOW,
    async () => {
      const head = await revision();
      const w1 = await startWorker();
      const h = await startUpgrade('break-migration');
      // The live DB's oid through the rollback: each swap of a restored DB gives it a new one.
      const oids: number[] = [];
      let polling = true;
      const poller = (async () => {
        while (polling) {
          const r = await admin<{ oid: number }>('SELECT oid FROM pg_database WHERE datname = $1', [
            db.name,
          ]).catch(() => []);
          const oid = r[0]?.oid;
          if (oid !== undefined && oids.at(-1) !== Number(oid)) oids.push(Number(oid));
          await sleep(100);
        }
      })();
      const staging = await until('the rollback’s pg_restore', async () => {
        const r = await admin<{ datname: string }>(
          'SELECT datname FROM pg_database WHERE starts_with(datname, $1)',
          [`${db.name}_rst_`],
        );
        return r[0]?.datname;
      });
      const orphans = childrenOf(pidOf(w1)).filter((p) => cmdline(p).includes('pg_restore'));
      await kill(w1);
      await startWorker();
      const result = (await h.result()) as UpgradeResult;
      polling = false;
      await poller;
      assert.equal(result.outcome, 'ROLLED_BACK', result.reason);
      assert.match(result.reason, /^MIGRATE failed/);
      const ev = result.status.evidence;
      assert.equal(ev.restore?.method, 'restore');
      assert.ok((ev.restore?.attempt ?? 1) >= 2, `the restore answered on attempt ${ev.restore?.attempt}`);
      assert.match(
        ev.restore?.foundOfEarlier ?? '',
        new RegExp(`dropped 1 staging DB\\(s\\) of earlier attempts \\(${staging}\\)`),
      );
      assert.equal(ev.restore?.checksumsMatch, true);
      assert.deepEqual(
        Object.fromEntries(ev.restore?.rowCounts.map((r) => [r.table, r.rows]) ?? []),
        Object.fromEntries(ev.backup?.rowCounts.map((r) => [r.table, r.rows]) ?? []),
      );
      assert.equal(oids.length, 2, `the live DB's oid went ${oids.join(' -> ')}: one swap expected`);
      assert.equal(await revision(), head);
      assert.deepEqual(await componentVersions(), on(FROM));
      assert.deepEqual(
        (
          await admin<{ n: string }>('SELECT count(*) AS n FROM pg_database WHERE starts_with(datname, $1)', [
            `${db.name}_rst_`,
          ])
        )[0]?.n,
        '0',
        'no staging DB left',
      );
      for (const p of orphans) assert.ok(!alive(p), `the killed worker's pg_restore ${p} is gone`);
    },
  );

  test('the upgrade: worker killed while airflow db migrate runs; DONE, migrated once', SLOW, async () => {
    // A session holding xcom keeps the migration at its first step (0110 alters xcom) until the
    // retry is waiting: the orphaned migration outlives the heartbeat timeout.
    const blocker = new pg.Client({ connectionString: db.url });
    await blocker.connect();
    await blocker.query('BEGIN');
    await blocker.query('LOCK TABLE xcom IN ACCESS SHARE MODE');
    const migrationsBefore = Number(
      (await sql<{ n: string }>("SELECT count(*) AS n FROM log WHERE event = 'cli_migratedb'"))[0]?.n,
    );
    try {
      // The first test's second worker serves the queue; run alone, this test starts its own.
      const w1 = [...workers][0] ?? (await startWorker());
      const h = await startUpgrade();
      // The live DB's migration lock held and its session waiting on our lock: MIGRATE runs.
      await until('airflow db migrate holding the migration lock on the live DB', async () => {
        const r = await sql<{ pid: number }>(
          `SELECT l.pid FROM pg_locks l JOIN pg_stat_activity a USING (pid)
            WHERE l.locktype = 'advisory' AND l.granted AND l.objid = 1 AND l.classid = 0
              AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())`,
        );
        const blocked = await sql<{ pid: number }>(
          "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'",
        );
        return r.length > 0 && blocked.length > 0 ? true : null;
      });
      const orphans = childrenOf(pidOf(w1)).filter((p) => cmdline(p).includes('airflow'));
      assert.ok(orphans.length > 0, 'the worker runs airflow db migrate');
      await kill(w1);
      assert.ok(orphans.every(alive), 'airflow db migrate outlives the worker');
      await startWorker();
      // The retry runs (STARTED) and heartbeats that it waits on a running migration: only then is
      // the orphan let go. (A retry that does not wait never says so, and this times out.)
      await until(
        'the retry of upgrade.migrate waiting for the orphaned migration',
        async () => {
          const d = await h.describe();
          const p = d.raw.pendingActivities?.find((a) => a.activityType?.name === 'upgrade.migrate');
          const data = p?.heartbeatDetails?.payloads?.[0]?.data;
          const details = data
            ? (JSON.parse(Buffer.from(data).toString('utf8')) as { phase?: string })
            : null;
          return p &&
            (p.attempt ?? 0) >= 2 &&
            p.state === proto.temporal.api.enums.v1.PendingActivityState.PENDING_ACTIVITY_STATE_STARTED &&
            ms(p.lastHeartbeatTime) > ms(p.lastStartedTime) &&
            details?.phase === 'waiting for a running migration'
            ? true
            : null;
        },
        180_000,
      );
      await blocker.query('COMMIT');
      const result = (await h.result()) as UpgradeResult;
      assert.equal(result.outcome, 'DONE', result.reason);
      const ev = result.status.evidence;
      assert.equal(ev.migration?.ranHere, false, JSON.stringify(ev.migration));
      assert.ok((ev.migration?.attempt ?? 1) >= 2);
      assert.match(
        ev.migration?.foundOfEarlier ?? '',
        /migration was still running .* waited \d+\.\d s for it; the schema is at Airflow 3\.3\.2's head/,
      );
      const migrations = Number(
        (await sql<{ n: string }>("SELECT count(*) AS n FROM log WHERE event = 'cli_migratedb'"))[0]?.n,
      );
      assert.equal(migrations - migrationsBefore, 1, 'one airflow db migrate ran against the live DB');
      assert.equal(ev.versions?.migrationsCurrent, true);
      assert.equal(ev.migration?.toRevision, await revision());
      assert.deepEqual(await componentVersions(), on(TO));
      assert.deepEqual(
        (ev.validation?.runs ?? []).map((r) => `${r.dagId}:${r.state}`),
        ['critical_report:success', 'upgrade_validation:success'],
      );
      for (const p of orphans) assert.ok(!alive(p), `the orphaned airflow db migrate ${p} exited`);
    } finally {
      await blocker.end().catch(() => undefined);
    }
  });
});
