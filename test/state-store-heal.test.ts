/**
 * The state store heal (probes/state_store_heal.py through ExecStateStoreHeal over LocalExecPort)
 * against a real Airflow 3.3 metadata DB in PostgreSQL and moto S3. Wrapped rows are written by
 * the real backend code (test/support/state_store_seed.py); the heal runs in a process configured
 * as after the revert (no state store backend). No mocks, no sleeps: waits poll a condition.
 */
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import { DeleteObjectCommand } from '@aws-sdk/client-s3';
import pg from 'pg';
import { LocalExecPort } from '../adapters/exec/local.js';
import { ExecStateStoreHeal, type HealRequest } from '../adapters/state-store-heal.js';
import type { Component } from '../domain/plan.js';
import { createAirflowTestDatabase, type AirflowTestDatabase } from './support/airflow-db.js';
import { tempAirflowHome } from './support/airflow.js';
import { startMoto, venvPython, type MotoServer } from './support/moto.js';
import { seedStateRows, stateStoreEnv, type BackendSettings, type SeededRow } from './support/state-store.js';

const SLOW = { timeout: 300_000 };
const component: Component = { name: 'scheduler' };

async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50)); // the poll interval of a condition, not a fixed wait
  }
}

interface TaskRow {
  id: number;
  key: string;
  value: string;
}

void describe('state store heal (real Airflow DB, real backend writes, moto S3)', () => {
  let db: AirflowTestDatabase;
  let moto: MotoServer;
  let home: { dir: string; remove(): void };
  let admin: pg.Client;
  let healer: ExecStateStoreHeal;
  let base: string;

  before(async () => {
    [db, moto] = await Promise.all([
      createAirflowTestDatabase('ss_heal'),
      startMoto({ bucket: 'cutover-state' }),
    ]);
    home = tempAirflowHome();
    admin = new pg.Client({ connectionString: db.url });
    await admin.connect();
    base = `s3://aws_default@${moto.bucket}/state`;
    // The component as it runs after the revert: no state store backend configured.
    const exec = new LocalExecPort({
      envFor: () =>
        stateStoreEnv({ sqlalchemyUrl: db.sqlalchemyUrl, airflowHome: home.dir, s3Endpoint: moto.endpoint }),
    });
    healer = new ExecStateStoreHeal(exec, { python: () => [venvPython()] });
  }, SLOW);

  after(async () => {
    await admin?.end();
    await moto?.stop();
    await db?.drop();
    home?.remove();
  });

  beforeEach(async () => {
    await admin.query(
      'TRUNCATE task_state_store, asset_state_store, dag_run, asset RESTART IDENTITY CASCADE',
    );
    await admin.query('DROP TABLE IF EXISTS cutover_state_store_journal');
  });

  const seedWrapped = (backend: BackendSettings, spec: Parameters<typeof seedStateRows>[1]) =>
    seedStateRows(
      stateStoreEnv({
        sqlalchemyUrl: db.sqlalchemyUrl,
        airflowHome: home.dir,
        s3Endpoint: moto.endpoint,
        backend,
      }),
      spec,
    );

  const taskRows = async () =>
    (await admin.query<TaskRow>('SELECT id, key, value FROM task_state_store ORDER BY id')).rows;
  const assetRows = async () =>
    (
      await admin.query<{ key: string; value: string }>(
        'SELECT key, value FROM asset_state_store ORDER BY key',
      )
    ).rows;
  const journal = async (changeId: string) =>
    (
      await admin.query<{
        store: string;
        row_pk: string;
        row_key: string;
        original_value: string;
        ref_kind: string;
      }>(
        'SELECT store, row_pk, row_key, original_value, ref_kind FROM cutover_state_store_journal WHERE change_id = $1 ORDER BY store, row_pk, row_key',
        [changeId],
      )
    ).rows;
  const dbNow = async () => (await admin.query<{ t: Date }>('SELECT now() AS t')).rows[0]?.t ?? new Date(0);

  const request = (
    changeId: string,
    since: Date,
    compression: BackendSettings['compression'],
  ): HealRequest => ({
    changeId,
    since,
    path: base,
    compression,
  });

  it(
    'rewrites inline and gzip object refs to the plain values, journals the originals, and a rerun changes nothing',
    SLOW,
    async () => {
      const backend: BackendSettings = { path: base, threshold: 64, compression: 'gzip' };
      // Before APPLY: a plain row, and a marker row from an older flip (outside the window).
      await seedStateRows(
        stateStoreEnv({ sqlalchemyUrl: db.sqlalchemyUrl, airflowHome: home.dir, s3Endpoint: moto.endpoint }),
        {
          task: [
            { dag_id: 'etl', run_id: 'r0', task_id: 'load', key: 'plain_before', value: { done: true } },
          ],
        },
      );
      await seedWrapped(backend, {
        task: [{ dag_id: 'etl', run_id: 'r0', task_id: 'load', key: 'wrapped_before', value: 1 }],
      });
      const since = await dbNow();
      const seeded = await seedWrapped(backend, {
        task: [
          { dag_id: 'etl', run_id: 'r1', task_id: 'load', key: 'job_id', value: 'job-42' },
          { dag_id: 'etl', run_id: 'r1', task_id: 'load', key: 'cursor', value: { offset: 12, done: false } },
          { dag_id: 'etl', run_id: 'r1', task_id: 'load', key: 'big', value: { rows: 'y'.repeat(5000) } },
          {
            dag_id: 'etl',
            run_id: 'r1',
            task_id: 'fan',
            map_index: 3,
            key: 'big',
            value: ['z'.repeat(300), 'é€'],
          },
        ],
        asset: [
          { name: 'orders', key: 'watermark', value: '2026-05-01' },
          { name: 'orders', key: 'snapshot', value: { ids: Array.from({ length: 100 }, (_, i) => i) } },
        ],
      });
      const rows = seeded.rows ?? [];
      assert.deepEqual(seeded.counts, { task: 4, asset: 2, inline: 3, object: 3, plain: 0 });
      for (const r of rows) assert.ok(r.stored.startsWith('{"__airflow_state_ref__": '), r.stored);
      assert.ok(
        rows.some((r) => r.refKind === 'object' && r.ref?.endsWith('.gz')),
        'gzip objects carry .gz',
      );
      const before = await taskRows();

      const first = await healer.heal({ component, ...request('chg-1', since, 'gzip'), batchSize: 2 });
      assert.equal(first.rewritten, 6);
      assert.equal(first.stores.task.rewritten, 4);
      assert.equal(first.stores.task.inlineRefs, 2);
      assert.equal(first.stores.task.objectRefs, 2);
      assert.equal(first.stores.task.unreadable, 0);
      assert.equal(first.stores.asset.inlineRefs, 1);
      assert.equal(first.stores.asset.objectRefs, 1);
      assert.equal(first.healed, true);
      assert.equal(first.accountedFor, true);
      assert.equal(first.nothingToDo, false);
      assert.deepEqual(first.markerRowsRemaining, {
        sinceApply: { task: 0, asset: 0 },
        beforeApply: { task: 1, asset: 0 },
      });
      assert.ok((first.bytesRead ?? 0) > 0, 'objects were read');
      assert.deepEqual(first.journal, { before: { task: 0, asset: 0 }, after: { task: 4, asset: 2 } });

      // Every row in the window now holds json.dumps(value) exactly; the rest is as it was.
      const after1 = await taskRows();
      const plainOf = (key: string, store: SeededRow['store']) =>
        rows.find((r) => r.key === key && r.store === store);
      for (const r of after1) {
        if (r.key === 'plain_before') assert.equal(r.value, '{"done": true}');
        else if (r.key === 'wrapped_before')
          assert.equal(r.value, before.find((b) => b.key === r.key)?.value);
      }
      const healedTask = after1.filter((r) => !r.key.endsWith('_before'));
      assert.deepEqual(
        healedTask.map((r) => r.value),
        rows.filter((r) => r.store === 'task').map((r) => r.plain),
      );
      for (const a of await assetRows()) assert.equal(a.value, plainOf(a.key, 'asset')?.plain);

      // The journal holds each original exactly as it was before the rewrite.
      const j1 = await journal('chg-1');
      assert.equal(j1.length, 6);
      for (const e of j1) {
        const seededRow = rows.find(
          (r) => r.store === e.store && r.key === e.row_key && r.stored === e.original_value,
        );
        assert.ok(seededRow, `journal entry ${e.store}/${e.row_pk}/${e.row_key} holds the original`);
        assert.equal(e.ref_kind, seededRow.refKind);
      }

      // Idempotent: a second run rewrites nothing, says so, and leaves rows and journal as they were.
      const second = await healer.heal({ component, ...request('chg-1', since, 'gzip') });
      assert.equal(second.rewritten, 0);
      assert.equal(second.nothingToDo, true);
      assert.equal(second.healed, true);
      assert.deepEqual(second.journal.before, second.journal.after);
      assert.deepEqual(await taskRows(), after1);
      assert.deepEqual(await journal('chg-1'), j1);

      // Forensics: restore puts the journaled originals back and empties the change's journal.
      const restored = await healer.heal({ component, ...request('chg-1', since, 'gzip'), mode: 'restore' });
      assert.equal((restored.stores.task.restored ?? 0) + (restored.stores.asset.restored ?? 0), 6);
      assert.deepEqual(await taskRows(), before);
      assert.deepEqual(restored.journal.after, { task: 0, asset: 0 });
    },
  );

  it(
    'reports an unreadable (deleted) object with the row and path and leaves that row untouched',
    SLOW,
    async () => {
      const backend: BackendSettings = { path: base, threshold: 0, compression: 'gzip' };
      const since = await dbNow();
      const seeded = await seedWrapped(backend, {
        task: [
          { dag_id: 'etl', run_id: 'r1', task_id: 'a', key: 'k', value: { n: 1 } },
          { dag_id: 'etl', run_id: 'r1', task_id: 'b', key: 'k', value: { n: 2 } },
          { dag_id: 'etl', run_id: 'r1', task_id: 'c', key: 'k', value: { n: 3 } },
        ],
      });
      const rows = seeded.rows ?? [];
      assert.equal(seeded.counts.object, 3, 'threshold 0 offloads every value');
      const lost = rows[1];
      assert.ok(lost?.ref);
      const objectKey = new URL(lost.ref.replace(/^s3:\/\/[^@]*@/, 's3://')).pathname.slice(1);
      await moto.s3.send(new DeleteObjectCommand({ Bucket: moto.bucket, Key: objectKey }));

      const report = await healer.heal({ component, ...request('chg-2', since, 'gzip') });
      assert.equal(report.rewritten, 2);
      assert.equal(report.stores.task.unreadable, 1);
      assert.equal(report.unreadable.length, 1);
      const u = report.unreadable[0];
      assert.equal(u?.reason, 'object-missing');
      assert.equal(u?.path, lost.ref);
      assert.equal(u?.taskId, 'b');
      assert.equal(u?.dagId, 'etl');
      assert.equal(u?.key, 'k');
      assert.equal(report.healed, false, 'one marker row is left');
      assert.equal(report.accountedFor, true, 'and it is the one reported');
      assert.deepEqual(report.markerRowsRemaining.sinceApply, { task: 1, asset: 0 });
      const now = await taskRows();
      assert.equal(now[1]?.value, lost.stored, 'the unreadable row is left as it was');
      assert.deepEqual([now[0]?.value, now[2]?.value], [rows[0]?.plain, rows[2]?.plain]);
      assert.equal((await journal('chg-2')).length, 2, 'no journal entry for a row not rewritten');

      const again = await healer.heal({ component, ...request('chg-2', since, 'gzip') });
      assert.equal(again.rewritten, 0);
      assert.equal(again.unreadable.length, 1, 'still reported on every run');
    },
  );

  it(
    'killed (SIGKILL) in the middle of a batch, then rerun: every row rewritten exactly once',
    SLOW,
    async () => {
      const backend: BackendSettings = { path: base, threshold: 200, compression: '' };
      const since = await dbNow();
      const n = 60;
      const seeded = await seedWrapped(backend, {
        task: Array.from({ length: n }, (_, i) => ({
          dag_id: 'etl',
          run_id: `r${Math.floor(i / 20)}`,
          task_id: `t${i % 20}`,
          key: 'state',
          value: i % 6 === 5 ? { i, pad: 'p'.repeat(300) } : { i },
        })),
      });
      assert.equal(seeded.counts.object, 10);
      // An audit of committed rewrites, independent of the journal: a rolled-back UPDATE leaves none.
      await admin.query(`CREATE TABLE IF NOT EXISTS heal_audit (id int, new_value text)`);
      await admin.query('TRUNCATE heal_audit');
      await admin.query(`CREATE OR REPLACE FUNCTION heal_audit_fn() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN INSERT INTO heal_audit VALUES (NEW.id, NEW.value); RETURN NEW; END $$`);
      await admin.query(`CREATE OR REPLACE TRIGGER heal_audit_trg AFTER UPDATE ON task_state_store
      FOR EACH ROW EXECUTE FUNCTION heal_audit_fn()`);

      const ids = (await taskRows()).map((r) => r.id);
      // Hold a lock on the 25th row: batches of 10 commit rows 1-20, then batch 3 rewrites 21-24
      // and blocks on 25 inside its open transaction. That is where the healer gets killed.
      const blocker = new pg.Client({ connectionString: db.url });
      await blocker.connect();
      await blocker.query('BEGIN');
      await blocker.query('SELECT 1 FROM task_state_store WHERE id = $1 FOR UPDATE', [ids[24]]);

      const killed = healer.heal({ component, ...request('chg-3', since, ''), batchSize: 10 });
      const waiting = await waitFor('the healer to block on the locked row', async () => {
        const r = await admin.query<{ application_name: string }>(
          `SELECT application_name FROM pg_stat_activity
          WHERE datname = current_database() AND application_name LIKE 'cutover-heal pid=%' AND wait_event_type = 'Lock'`,
        );
        return r.rows[0]?.application_name;
      });
      const pid = Number(/pid=(\d+)/.exec(waiting)?.[1]);
      assert.ok(pid > 0);
      // Rows 21-24 are rewritten inside the open transaction (visible to nobody else yet).
      process.kill(pid, 'SIGKILL');
      await assert.rejects(killed, /exited 137 without a result/);
      await blocker.query('ROLLBACK');
      await blocker.end();
      // The killed healer's backend ends once it gets the lock and finds its client gone.
      await waitFor('the killed healer to leave the database', async () => {
        const r = await admin.query<{ n: string }>(
          `SELECT count(*) AS n FROM pg_stat_activity WHERE application_name LIKE 'cutover-heal pid=%'`,
        );
        return r.rows[0]?.n === '0' ? true : undefined;
      });

      assert.equal((await journal('chg-3')).length, 20, 'two batches committed, the third rolled back');
      const mid = await taskRows();
      assert.equal(mid.filter((r) => r.value.startsWith('{"__airflow_state_ref__"')).length, n - 20);

      const resumed = await healer.heal({ component, ...request('chg-3', since, ''), batchSize: 10 });
      assert.equal(resumed.journal.before.task, 20);
      assert.equal(resumed.rewritten, n - 20);
      assert.equal(resumed.healed, true);
      assert.deepEqual(
        (await taskRows()).map((r) => r.value),
        (seeded.rows ?? []).map((r) => r.plain),
      );
      const j = await journal('chg-3');
      assert.equal(j.length, n);
      assert.equal(new Set(j.map((e) => e.row_pk)).size, n);
      const audit = await admin.query<{ id: number; n: string }>(
        'SELECT id, count(*) AS n FROM heal_audit GROUP BY id ORDER BY id',
      );
      assert.equal(audit.rows.length, n, 'every row rewritten');
      assert.ok(
        audit.rows.every((r) => r.n === '1'),
        'and each exactly once',
      );
      await admin.query('DROP TRIGGER heal_audit_trg ON task_state_store');
    },
  );
});
