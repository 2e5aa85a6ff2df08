/**
 * The upgrade's backup and rollback through adapters/pg-backup.ts, on the machine's PostgreSQL with
 * the real pg_dump / pg_restore: a metadata DB whose schema the venv's Airflow 3.3.2 made
 * (`airflow db migrate`), with a synthetic history in dag_run, task_instance and xcom. Every
 * database a test makes carries this file's prefix and is dropped at the end.
 *
 * "Equal" is every table of Airflow's schema equal by exact row count and by checksum.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import {
  chmodSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import pg from 'pg';
import { PermanentFault } from '../activities/engine/errors.js';
import {
  CHECKSUM_CHUNK_ROWS,
  checkToolVersion,
  DatabaseInUse,
  parseDbUrl,
  parseObjectUrl,
  parseToolVersion,
  PgBackup,
} from '../adapters/pg-backup.js';
import { S3ObjectStore } from '../adapters/s3-object-store.js';
import { generateXComHistory, REFERENCE_DISTRIBUTION } from '../local/xcom-history.js';
import { createAirflowTestDatabase, type AirflowTestDatabase } from './support/airflow-db.js';
import { startMoto, TEST_REGION, type MotoServer } from './support/moto.js';
import { PG_HOST, PG_PORT, PG_USER } from './support/postgres.js';

const SLOW = { timeout: 300_000 };
const XCOM_ROWS = 40_000;
/** The calibration bench's "scaled" shape: the dossier's sizes / 1000, so values stay small. */
const SCALED = REFERENCE_DISTRIBUTION.map((s) => Math.max(2, Math.round(s / 1000)));
/** This run's databases: the prefix is per process, so a concurrent run of this file keeps its own. */
const PREFIX = `pgbk${randomBytes(3).toString('hex')}`;

/** A URL on the test server for database `name` (optionally with a password: the server trusts 127.0.0.1). */
function urlOf(name: string, password?: string): string {
  const auth = password === undefined ? PG_USER : `${PG_USER}:${encodeURIComponent(password)}`;
  return `postgresql://${auth}@${PG_HOST}:${PG_PORT}/${name}`;
}

function uniqueName(tag: string): string {
  return `${PREFIX}_${tag}_${Date.now().toString(36)}_${randomBytes(2).toString('hex')}`;
}

async function withClient<T>(
  url: string,
  fn: (c: pg.Client) => Promise<T>,
  appName = 'pgbk-test',
): Promise<T> {
  const c = new pg.Client({ connectionString: url, application_name: appName });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

const ADMIN = urlOf('postgres');

async function exists(name: string): Promise<boolean> {
  return withClient(
    ADMIN,
    async (c) => ((await c.query('SELECT 1 FROM pg_database WHERE datname = $1', [name])).rowCount ?? 0) > 0,
  );
}

/** Databases this file made (by prefix), dropped at the end whatever happened. */
async function dropOurDatabases(): Promise<void> {
  await withClient(ADMIN, async (c) => {
    const res = await c.query<{ datname: string }>('SELECT datname FROM pg_database WHERE datname LIKE $1', [
      `${PREFIX}\\_%`,
    ]);
    for (const r of res.rows)
      await c.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(r.datname)} WITH (FORCE)`);
  });
}

async function waitFor(what: string, cond: () => Promise<boolean>, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await cond()) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

function sha256File(file: string): string {
  return createHash('sha256').update(readFileSync(file)).digest('hex');
}

async function rejectsWith(p: Promise<unknown>, check: (e: Error) => void): Promise<Error> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof Error, `expected an Error, got ${String(err)}`);
    check(err);
    return err;
  }
  assert.fail('expected a rejection');
}

describe('pg-backup on Airflow 3.3.2 schema', () => {
  let src: AirflowTestDatabase;
  let tables: string[];
  let dir: string;
  let backup: PgBackup;
  /** The source's dump, made once: most tests restore it somewhere. */
  let dump: { file: string; sha256: string; tocEntries: number };
  let original: { counts: Record<string, number>; sums: Record<string, string> };

  const snapshot = async (url: string) => ({
    counts: await backup.rowCounts({ dbUrl: url, tables }),
    sums: await backup.tableChecksums({ dbUrl: url, tables }),
  });

  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'cutover-pgbk-'));
    src = await createAirflowTestDatabase(`${PREFIX}_src`);
    await withClient(src.url, async (c) => {
      await generateXComHistory(c, { rows: XCOM_ROWS, sizes: SCALED });
      tables = (
        await c.query<{ t: string }>(
          "SELECT tablename AS t FROM pg_tables WHERE schemaname = 'public' ORDER BY 1",
        )
      ).rows.map((r) => r.t);
    });
    backup = new PgBackup();
    const d = await backup.dump({ dbUrl: src.sqlalchemyUrl, file: path.join(dir, 'src.dump') });
    dump = { file: d.file, sha256: d.sha256, tocEntries: d.tocEntries };
    original = await snapshot(src.url);
  }, SLOW);

  after(async () => {
    await src?.drop();
    await dropOurDatabases();
    if (dir) rmSync(dir, { recursive: true, force: true });
  }, SLOW);

  it('the seeded history is there and the schema is Airflow 3.3.2', async () => {
    assert.ok(tables.length > 40, `Airflow's schema has dozens of tables, found ${tables.length}`);
    assert.equal(original.counts.xcom, XCOM_ROWS);
    assert.equal(original.counts.task_instance, XCOM_ROWS / 4);
    assert.equal(original.counts.alembic_version, 1);
    const sizes = await backup.largestTables({ dbUrl: src.url, n: 3 });
    assert.equal(sizes.length, 3);
    assert.ok(['xcom', 'task_instance'].includes(sizes[0]?.table ?? ''), JSON.stringify(sizes));
    assert.ok(sizes.every((s) => s.bytes >= s.tableBytes + s.indexBytes && s.bytes > 0));
    const { bytes } = await backup.databaseSize({ dbUrl: src.url });
    assert.ok(
      bytes > sizes.reduce((n, s) => n + s.bytes, 0),
      'the database is larger than its three largest tables',
    );
  });

  it('dump writes a listed archive whose SHA-256 and size are the file’s, and leaves no partial file', async () => {
    const file = path.join(dir, 'again.dump');
    const beats: unknown[] = [];
    const quick = new PgBackup({ heartbeatEveryMs: 20 });
    const rec = await quick.dump({ dbUrl: src.url, file, heartbeat: (d) => beats.push(d) });
    assert.equal(rec.file, file);
    assert.equal(rec.sha256, sha256File(file));
    assert.equal(rec.bytes, statSync(file).size);
    assert.equal(rec.tocEntries, dump.tocEntries);
    assert.ok(rec.tocEntries > 300, `Airflow's schema has hundreds of TOC entries, got ${rec.tocEntries}`);
    assert.equal(rec.database, src.name);
    assert.ok(rec.durationMs >= rec.phases.pgDumpMs);
    assert.deepEqual(
      readdirSync(dir).filter((f) => f.includes('.partial-')),
      [],
    );
    assert.ok(
      beats.some((b) => (b as { step?: string }).step === 'pg_dump'),
      `pg_dump heartbeats: ${JSON.stringify(beats.slice(0, 3))}`,
    );
    // Retried (same file): replaced by a whole archive again.
    const again = await quick.dump({ dbUrl: src.url, file });
    assert.equal(again.sha256, sha256File(file));
  });

  it(
    'dump, verify and restore into a new database: every table equal by count and checksum',
    SLOW,
    async () => {
      const verified = await backup.verifyDump({ file: dump.file, sha256: dump.sha256, deep: true });
      assert.equal(verified.sha256, dump.sha256);
      assert.equal(verified.tocEntries, dump.tocEntries);
      assert.equal(verified.deep, true);

      const name = uniqueName('restored');
      const rec = await backup.restore({ dbUrl: urlOf(name), file: dump.file, sha256: dump.sha256 });
      assert.equal(rec.database, name);
      assert.equal(rec.replaced, false);
      assert.equal(rec.resumed, false);
      assert.equal(rec.tocEntries, dump.tocEntries);
      const copy = await snapshot(urlOf(name));
      assert.deepEqual(copy.counts, original.counts);
      assert.deepEqual(copy.sums, original.sums);
      assert.equal(await backup.databaseExists({ dbUrl: urlOf(name) }), true);
      await backup.dropDatabase({ dbUrl: urlOf(name) });
      assert.equal(await exists(name), false);
    },
  );

  it(
    'restore over a changed database with a session still connected puts the backup back',
    SLOW,
    async () => {
      const name = uniqueName('over');
      await backup.restore({ dbUrl: urlOf(name), file: dump.file });
      // What a failed migration might leave: a new column, rewritten and deleted rows.
      await withClient(urlOf(name), async (c) => {
        await c.query('ALTER TABLE xcom ADD COLUMN migrated boolean DEFAULT true');
        await c.query(`UPDATE task_instance SET state = 'failed' WHERE task_id = 'task_1'`);
        await c.query(`DELETE FROM dag_run WHERE id % 7 = 0`);
        await c.query(`UPDATE alembic_version SET version_num = 'ffffffffffff'`);
      });
      const changed = await snapshot(urlOf(name));
      assert.notDeepEqual(changed.sums, original.sums);
      const session = new pg.Client({ connectionString: urlOf(name), application_name: 'airflow-scheduler' });
      session.on('error', () => undefined);
      await session.connect();
      try {
        const rec = await backup.restore({ dbUrl: urlOf(name), file: dump.file, sha256: dump.sha256 });
        assert.equal(rec.replaced, true);
        await assert.rejects(session.query('SELECT 1'), 'the old database’s session was terminated');
      } finally {
        await session.end().catch(() => undefined);
      }
      const back = await snapshot(urlOf(name));
      assert.deepEqual(back.counts, original.counts);
      assert.deepEqual(back.sums, original.sums);
      await backup.dropDatabase({ dbUrl: urlOf(name) });
    },
  );

  it('a table checksum is deterministic and changes when one row changes, only for that table', async () => {
    const name = uniqueName('sums');
    await backup.restore({ dbUrl: urlOf(name), file: dump.file });
    const url = urlOf(name);
    const watched = ['xcom', 'task_instance', 'dag_run'];
    const a = await backup.tableChecksums({ dbUrl: url, tables: watched });
    assert.deepEqual(await backup.tableChecksums({ dbUrl: url, tables: watched }), a);
    const one = await withClient(url, async (c) => {
      const r = await c.query<{ dag_run_id: number; task_id: string; key: string; value: unknown }>(
        'SELECT dag_run_id, task_id, key, value FROM xcom ORDER BY dag_run_id DESC, task_id, key LIMIT 1 OFFSET 1234',
      );
      return r.rows[0];
    });
    assert.ok(one);
    const where = 'dag_run_id = $1 AND task_id = $2 AND key = $3';
    await withClient(url, (c) =>
      c.query(`UPDATE xcom SET value = '"changed"'::jsonb WHERE ${where}`, [
        one.dag_run_id,
        one.task_id,
        one.key,
      ]),
    );
    const b = await backup.tableChecksums({ dbUrl: url, tables: watched });
    assert.notEqual(b.xcom, a.xcom);
    assert.equal(b.task_instance, a.task_instance);
    assert.equal(b.dag_run, a.dag_run);
    await withClient(url, (c) =>
      c.query(`UPDATE xcom SET value = $4::jsonb WHERE ${where}`, [
        one.dag_run_id,
        one.task_id,
        one.key,
        JSON.stringify(one.value),
      ]),
    );
    assert.deepEqual(await backup.tableChecksums({ dbUrl: url, tables: watched }), a);
    await assert.rejects(
      backup.tableChecksums({ dbUrl: url, tables: ['xcom', 'no_such_table'] }),
      (e: Error) => e instanceof PermanentFault && /no_such_table/.test(e.message),
    );
    await backup.dropDatabase({ dbUrl: url });
  });

  it(
    'a corrupted dump is refused by verify, and restore refuses it without touching the database',
    SLOW,
    async () => {
      const bytes = readFileSync(dump.file);
      // One byte flipped in the middle of the data: the SHA-256 catches it, and reading every block does too.
      const flipped = Buffer.from(bytes);
      const at = Math.floor(flipped.length * 0.6);
      flipped[at] = (flipped[at] ?? 0) ^ 0xff;
      const flippedFile = path.join(dir, 'flipped.dump');
      writeFileSync(flippedFile, flipped);
      await rejectsWith(backup.verifyDump({ file: flippedFile, sha256: dump.sha256 }), (e) => {
        assert.ok(e instanceof PermanentFault);
        assert.match(e.message, /flipped\.dump is not the archive recorded: its SHA-256 is [0-9a-f]{64}/);
      });
      // A truncated archive still lists (the TOC is at its head) but its data does not read back.
      const cut = path.join(dir, 'truncated.dump');
      writeFileSync(cut, bytes.subarray(0, Math.floor(bytes.length * 0.7)));
      const shallow = await backup.verifyDump({ file: cut });
      assert.equal(shallow.tocEntries, dump.tocEntries);
      await rejectsWith(backup.verifyDump({ file: cut, deep: true }), (e) => {
        assert.ok(e instanceof PermanentFault);
        assert.match(e.message, /truncated\.dump lists but its data does not read back/);
      });
      // Not an archive at all: refused even without a checksum.
      const junk = path.join(dir, 'junk.dump');
      writeFileSync(junk, Buffer.concat([Buffer.from('not a dump\n'), bytes.subarray(11)]));
      await rejectsWith(backup.verifyDump({ file: junk }), (e) => {
        assert.ok(e instanceof PermanentFault);
        assert.match(e.message, /junk\.dump is not a readable pg_dump archive/);
      });

      // restore with the recorded checksum refuses the flipped file before anything is dropped.
      const name = uniqueName('keep');
      await backup.restore({ dbUrl: urlOf(name), file: dump.file });
      await withClient(urlOf(name), (c) => c.query(`DELETE FROM xcom WHERE key = 'k1'`));
      const before = await backup.tableChecksums({ dbUrl: urlOf(name), tables });
      await assert.rejects(
        backup.restore({ dbUrl: urlOf(name), file: flippedFile, sha256: dump.sha256 }),
        (e: Error) => e instanceof PermanentFault && /SHA-256/.test(e.message),
      );
      await assert.rejects(
        backup.restore({ dbUrl: urlOf(name), file: junk }),
        (e: Error) => e instanceof PermanentFault && /not a readable pg_dump archive/.test(e.message),
      );
      assert.deepEqual(await backup.tableChecksums({ dbUrl: urlOf(name), tables }), before);
      await backup.dropDatabase({ dbUrl: urlOf(name) });
    },
  );

  it('clone is refused while a session is connected, and the message names it', SLOW, async () => {
    const name = uniqueName('busy');
    await backup.restore({ dbUrl: urlOf(name), file: dump.file });
    const clone = `${name}_c`;
    const session = new pg.Client({
      connectionString: urlOf(name),
      application_name: 'airflow-scheduler-3.2.2',
    });
    await session.connect();
    try {
      const err = await rejectsWith(backup.cloneDatabase({ dbUrl: urlOf(name), cloneName: clone }), (e) => {
        assert.ok(e instanceof DatabaseInUse, `${e.name}: ${e.message}`);
        assert.match(
          e.message,
          /1 session is: airflow-scheduler-3\.2\.2 \(pid \d+, user postgres, from 127\.0\.0\.1:\d+/,
        );
        assert.match(e.message, /needs the Airflow components stopped/);
      });
      assert.equal((err as DatabaseInUse).sessions[0]?.applicationName, 'airflow-scheduler-3.2.2');
      assert.equal(await exists(clone), false);
    } finally {
      await session.end();
    }
    const rec = await backup.cloneDatabase({ dbUrl: urlOf(name), cloneName: clone });
    assert.equal(rec.clone, clone);
    assert.ok(rec.bytes > 0);
    await backup.dropDatabase({ dbUrl: urlOf(name), name: clone });
    await backup.dropDatabase({ dbUrl: urlOf(name) });
  });

  it('clone, change, restoreFromClone (rename, then template) brings every table back', SLOW, async () => {
    const name = uniqueName('mig');
    const url = urlOf(name);
    await backup.restore({ dbUrl: url, file: dump.file });
    const clone = `${name}_pre`;
    const made = await backup.cloneDatabase({ dbUrl: url, cloneName: clone });
    assert.equal(made.replacedEarlierClone, false);
    const migrate = (c: pg.Client) =>
      c.query(`ALTER TABLE xcom ADD COLUMN note text; UPDATE xcom SET note = 'v2'; DELETE FROM task_instance WHERE task_id = 'task_7';
               UPDATE alembic_version SET version_num = 'migrated0000'`);
    await withClient(url, migrate);
    assert.notDeepEqual((await snapshot(url)).sums, original.sums);

    const rec = await backup.restoreFromClone({ dbUrl: url, cloneName: clone, cloneOid: made.oid });
    assert.deepEqual([rec.mode, rec.cloneKept, rec.alreadyRestored], ['rename', false, false]);
    assert.deepEqual(await snapshot(url), original);
    assert.equal(await exists(clone), false, 'the rename used the clone up');
    // Retried after it had happened: recognised by the clone's oid, nothing done.
    const again = await backup.restoreFromClone({ dbUrl: url, cloneName: clone, cloneOid: made.oid });
    assert.equal(again.alreadyRestored, true);
    await assert.rejects(
      backup.restoreFromClone({ dbUrl: url, cloneName: clone }),
      (e: Error) => e instanceof PermanentFault && /does not exist: no clone/.test(e.message),
    );

    // template mode copies the clone back and keeps it.
    const made2 = await backup.cloneDatabase({ dbUrl: url, cloneName: clone });
    await withClient(url, migrate);
    const rec2 = await backup.restoreFromClone({ dbUrl: url, cloneName: clone, mode: 'template' });
    assert.deepEqual([rec2.mode, rec2.cloneKept], ['template', true]);
    assert.deepEqual(await snapshot(url), original);
    assert.equal(await exists(clone), true);
    // A clone of the same source is replaced by the next clone; any other database of that name is not.
    const made3 = await backup.cloneDatabase({ dbUrl: url, cloneName: clone });
    assert.equal(made3.replacedEarlierClone, true);
    assert.notEqual(made3.oid, made2.oid);
    const foreign = uniqueName('foreign');
    await withClient(ADMIN, (c) => c.query(`CREATE DATABASE ${foreign}`));
    await rejectsWith(backup.cloneDatabase({ dbUrl: url, cloneName: foreign }), (e) => {
      assert.ok(e instanceof PermanentFault);
      assert.match(e.message, /already exists and is not a clone cutover made/);
    });
    await rejectsWith(backup.restoreFromClone({ dbUrl: url, cloneName: foreign }), (e) => {
      assert.ok(e instanceof PermanentFault);
      assert.match(e.message, /is not a clone cutover made of/);
    });
    assert.equal(await exists(foreign), true);
    assert.deepEqual(await snapshot(url), original);
    for (const n of [clone, foreign]) await backup.dropDatabase({ dbUrl: url, name: n });
    await backup.dropDatabase({ dbUrl: url });
  });

  it(
    'a restore whose worker is SIGKILLed mid-way, retried, ends with the backup restored',
    SLOW,
    async () => {
      const name = uniqueName('killed');
      const url = urlOf(name);
      await backup.restore({ dbUrl: url, file: dump.file });
      await withClient(url, (c) => c.query(`DELETE FROM xcom WHERE key <> 'return_value'`));
      const changed = await backup.tableChecksums({ dbUrl: url, tables });

      // The activity's worker: a separate Node process running the adapter.
      const adapter = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../adapters/pg-backup.js');
      const code = `const { PgBackup } = await import(${JSON.stringify(adapter)});
      await new PgBackup().restore(JSON.parse(process.argv[1]));`;
      const worker = spawn(
        process.execPath,
        ['--input-type=module', '-e', code, JSON.stringify({ dbUrl: url, file: dump.file, jobs: 2 })],
        { stdio: 'ignore' },
      );
      const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
      const restoring = async () =>
        withClient(ADMIN, async (c) => {
          const r = await c.query<{ datname: string }>(
            "SELECT DISTINCT datname FROM pg_stat_activity WHERE application_name = 'cutover-pg_restore' AND datname LIKE $1",
            [`${name}\\_rst\\_%`],
          );
          return r.rows.map((x) => x.datname);
        });
      let staging: string[] = [];
      await waitFor('pg_restore to be restoring into a staging database', async () => {
        staging = await restoring();
        return staging.length > 0 || worker.exitCode !== null;
      });
      assert.equal(worker.exitCode, null, 'the worker finished before it could be killed mid-way');
      worker.kill('SIGKILL');
      await exited;
      // Mid-way: the target is as it was; the staging DB is there, its pg_restore orphaned.
      assert.deepEqual(await backup.tableChecksums({ dbUrl: url, tables }), changed);
      assert.equal(await exists(staging[0] ?? ''), true);

      const rec = await backup.restore({ dbUrl: url, file: dump.file, sha256: dump.sha256 });
      assert.equal(rec.resumed, false);
      assert.deepEqual(await snapshot(url), original);
      for (const s of staging) assert.equal(await exists(s), false, `${s} was dropped`);
      await waitFor('the orphaned pg_restore to end', async () => (await restoring()).length === 0);
      await withClient(ADMIN, async (c) => {
        const left = await c.query('SELECT datname FROM pg_database WHERE datname LIKE $1', [
          `${name}\\_rst\\_%`,
        ]);
        assert.deepEqual(left.rows, []);
      });
      await backup.dropDatabase({ dbUrl: url });
    },
  );

  it(
    'a retry that finds the target dropped and a complete staging database only renames it',
    SLOW,
    async () => {
      // The state a worker killed between the drop and the rename leaves, made with real databases.
      const name = uniqueName('swap');
      const url = urlOf(name);
      await backup.restore({ dbUrl: url, file: dump.file });
      const staged = `${name}_rst_0000abcd`;
      const mark = `cutover:restore-staging ${JSON.stringify({ of: name, sha256: dump.sha256, state: 'complete' })}`;
      await withClient(ADMIN, async (c) => {
        await c.query(`ALTER DATABASE ${staged.replace(/_rst_0000abcd$/, '')} RENAME TO ${staged}`);
        await c.query(`COMMENT ON DATABASE ${staged} IS ${pg.escapeLiteral(mark)}`);
      });
      assert.equal(await exists(name), false);
      const rec = await backup.restore({ dbUrl: url, file: dump.file });
      assert.equal(rec.resumed, true);
      assert.equal(rec.phases.pgRestoreMs, 0);
      assert.equal(await exists(staged), false);
      assert.deepEqual(await snapshot(url), original);
      await backup.dropDatabase({ dbUrl: url });
    },
  );

  describe('with S3 (moto)', () => {
    let moto: MotoServer;
    let store: S3ObjectStore;
    let s3backup: PgBackup;

    before(async () => {
      moto = await startMoto({ bucket: 'cutover-backups' });
      store = new S3ObjectStore({
        endpoint: moto.endpoint,
        region: TEST_REGION,
        credentials: moto.credentials,
      });
      s3backup = new PgBackup({ objectStore: store, workDir: dir });
    }, SLOW);
    after(async () => {
      store?.close();
      await moto?.stop();
    });

    it('dumpToObjectStore, verifyDump and restore from the object: every table equal', SLOW, async () => {
      const rec = await s3backup.dumpToObjectStore({
        dbUrl: src.sqlalchemyUrl,
        bucketUrl: 's3://cutover-backups/pre-upgrade/',
      });
      assert.equal(rec.key, `pre-upgrade/${src.name}.dump`);
      assert.equal(rec.object, `s3://cutover-backups/pre-upgrade/${src.name}.dump`);
      assert.equal(rec.parts, 1);
      assert.equal(rec.tocEntries, dump.tocEntries);
      const head = await store.headObject('cutover-backups', rec.key);
      assert.deepEqual([head?.size, head?.metadata.sha256], [rec.bytes, rec.sha256]);
      const v = await s3backup.verifyDump({ object: rec.object, sha256: rec.sha256, deep: true });
      assert.equal(v.sha256, rec.sha256);
      assert.deepEqual(
        readdirSync(dir).filter((f) => f.startsWith('cutover-pg')),
        [],
        'no temporary download left behind',
      );

      const name = uniqueName('froms3');
      const restored = await s3backup.restore({ dbUrl: urlOf(name), object: rec.object, sha256: rec.sha256 });
      assert.equal(restored.source, rec.object);
      assert.deepEqual(await snapshot(urlOf(name)), original);
      await s3backup.dropDatabase({ dbUrl: urlOf(name) });

      // An object whose bytes differ from the recorded backup is refused.
      const body = readFileSync(dump.file);
      body[body.length - 100] = (body[body.length - 100] ?? 0) ^ 0x01;
      await moto.s3.send(
        new PutObjectCommand({ Bucket: 'cutover-backups', Key: 'tampered.dump', Body: body }),
      );
      await rejectsWith(
        s3backup.verifyDump({ object: 's3://cutover-backups/tampered.dump', sha256: dump.sha256 }),
        (e) => {
          assert.ok(e instanceof PermanentFault);
          assert.match(e.message, /s3:\/\/cutover-backups\/tampered\.dump is not the archive recorded/);
        },
      );
      await assert.rejects(
        s3backup.verifyDump({ object: 's3://cutover-backups/missing.dump' }),
        (e: Error) => e instanceof PermanentFault && /missing\.dump does not exist/.test(e.message),
      );
    });

    it('a dump larger than a part goes up in parts and comes back whole', SLOW, async () => {
      const name = uniqueName('big');
      const url = urlOf(name);
      await withClient(ADMIN, (c) => c.query(`CREATE DATABASE ${name}`));
      // ~13 MB of hex text, uncompressed in the archive (-Z0): three 5 MiB parts.
      await withClient(url, (c) =>
        c.query(`CREATE TABLE filler (id int PRIMARY KEY, v text);
                 INSERT INTO filler SELECT i, md5(i::text) || md5((i * 7)::text) FROM generate_series(1, 200000) i`),
      );
      const rec = await s3backup.dumpToObjectStore({
        dbUrl: url,
        bucketUrl: 's3://cutover-backups/big.dump',
        compressLevel: 0,
        partSizeBytes: 5 * 1024 * 1024,
      });
      assert.ok(rec.bytes > 10 * 1024 * 1024, `${rec.bytes} bytes`);
      assert.equal(rec.parts, Math.ceil(rec.bytes / (5 * 1024 * 1024)));
      const before = await s3backup.tableChecksums({ dbUrl: url, tables: ['filler'] });
      // Two chunks of CHECKSUM_CHUNK_ROWS rows, computed here the long way: the MD5 of the chunks' MD5s.
      assert.equal(CHECKSUM_CHUNK_ROWS, 100_000);
      const reference = await withClient(url, async (c) => {
        const h = createHash('md5');
        for (const [lo, hi] of [
          [0, 100_000],
          [100_000, 200_000],
        ]) {
          const r = await c.query<{ d: string }>(
            "SELECT md5(string_agg(md5(t::text), '' ORDER BY id)) AS d FROM filler t WHERE id > $1 AND id <= $2",
            [lo, hi],
          );
          h.update(r.rows[0]?.d ?? '');
        }
        return h.digest('hex');
      });
      assert.deepEqual(before, { filler: reference });
      // One row changed in the second chunk changes it.
      await withClient(url, (c) => c.query("UPDATE filler SET v = v || '.' WHERE id = 150000"));
      assert.notDeepEqual(await s3backup.tableChecksums({ dbUrl: url, tables: ['filler'] }), before);
      await withClient(url, (c) => c.query('DELETE FROM filler WHERE id % 2 = 0'));
      await s3backup.restore({ dbUrl: url, object: rec.object, sha256: rec.sha256 });
      assert.deepEqual(await s3backup.tableChecksums({ dbUrl: url, tables: ['filler'] }), before);
      assert.deepEqual(await s3backup.rowCounts({ dbUrl: url, tables: ['filler'] }), { filler: 200000 });
      await s3backup.dropDatabase({ dbUrl: url });
    });
  });

  it(
    'a password reaches pg_dump only through its environment, and never appears in an error',
    SLOW,
    async () => {
      const password = 'S3cr3t/pw:@!x';
      const encoded = encodeURIComponent(password);
      // Recording wrappers around the real tools: what argv and PGPASSWORD each run received.
      const bin = path.join(dir, 'bin');
      rmSync(bin, { recursive: true, force: true });
      mkdirSync(bin);
      const log = path.join(dir, 'tool-calls.log');
      for (const tool of ['pg_dump', 'pg_restore']) {
        const real = path.join('/usr/bin', tool);
        const f = path.join(bin, tool);
        writeFileSync(
          f,
          `#!/bin/sh\nprintf 'argv %s\\n' "$*" >> '${log}'\nprintf 'env %s\\n' "\${PGPASSWORD-}" >> '${log}'\nexec '${real}' "$@"\n`,
          { flag: 'wx', mode: 0o755 },
        );
        chmodSync(f, 0o755);
      }
      const wrapped = new PgBackup({ binDir: bin });
      const rec = await wrapped.dump({ dbUrl: urlOf(src.name, password), file: path.join(dir, 'pw.dump') });
      assert.equal(rec.tocEntries, dump.tocEntries);
      const calls = readFileSync(log, 'utf8').split('\n');
      const argv = calls.filter((l) => l.startsWith('argv ')).join('\n');
      assert.match(argv, /--format=custom/);
      assert.ok(!argv.includes(password) && !argv.includes(encoded), `argv holds the password: ${argv}`);
      assert.ok(calls.includes(`env ${password}`), 'pg_dump got the password in PGPASSWORD');

      const noPassword = (e: Error): void => {
        for (const secret of [password, encoded, 'S3cr3t'])
          assert.ok(
            !e.message.includes(secret) && !(e.stack ?? '').includes(secret),
            `${e.name}: ${e.message}`,
          );
      };
      const missing = uniqueName('nosuchdb');
      const busy = new pg.Client({ connectionString: src.url, application_name: 'pgbk-holder' });
      await busy.connect();
      try {
        const failures: [string, () => Promise<unknown>][] = [
          [
            'dump of a missing DB',
            () => wrapped.dump({ dbUrl: urlOf(missing, password), file: path.join(dir, 'x.dump') }),
          ],
          [
            'restore of a missing file',
            () => wrapped.restore({ dbUrl: urlOf(missing, password), file: path.join(dir, 'none.dump') }),
          ],
          [
            'count of a missing table',
            () => wrapped.rowCounts({ dbUrl: urlOf(src.name, password), tables: ['nope'] }),
          ],
          [
            'size of a missing DB',
            () => wrapped.databaseSize({ dbUrl: urlOf(src.name, password), name: missing }),
          ],
          [
            'checksums on a missing DB',
            () => wrapped.tableChecksums({ dbUrl: urlOf(missing, password), tables: ['xcom'] }),
          ],
          [
            'clone while connected',
            () => wrapped.cloneDatabase({ dbUrl: urlOf(src.name, password), cloneName: `${missing}_c` }),
          ],
          [
            'a closed port',
            () => wrapped.databaseExists({ dbUrl: `postgresql+psycopg2://u:${encoded}@127.0.0.1:1/db` }),
          ],
          [
            'no object store',
            () => wrapped.dumpToObjectStore({ dbUrl: urlOf(src.name, password), bucketUrl: 's3://b-1/x' }),
          ],
          [
            'a non-PostgreSQL URL',
            () => wrapped.dump({ dbUrl: `mysql://root:${encoded}@h/db`, file: path.join(dir, 'y.dump') }),
          ],
        ];
        for (const [what, run] of failures) {
          const err = await rejectsWith(run(), noPassword);
          assert.ok(err.message.length > 0, what);
        }
      } finally {
        await busy.end();
      }
    },
  );

  it('bad input is refused naming the field, with nothing changed', async () => {
    const field = async (p: Promise<unknown>, name: RegExp) =>
      rejectsWith(p, (e) => {
        assert.ok(e instanceof PermanentFault, `${e.name}: ${e.message}`);
        assert.match(e.message, name);
      });
    await field(
      backup.dump({ dbUrl: 'http://x/y', file: path.join(dir, 'a.dump') }),
      /^dbUrl: not a PostgreSQL URL/,
    );
    await field(
      backup.dump({ dbUrl: 'postgresql://u@h:5432/', file: path.join(dir, 'a.dump') }),
      /^dbUrl: names no database/,
    );
    await field(
      backup.dump({ dbUrl: src.url, file: '/no/such/dir/a.dump' }),
      /^file: the directory \/no\/such\/dir does not exist/,
    );
    await field(
      backup.dump({ dbUrl: src.url, file: path.join(dir, 'a.dump'), compressLevel: 12 }),
      /^compressLevel:/,
    );
    await field(
      backup.dumpToObjectStore({ dbUrl: src.url, bucketUrl: 'https://bucket/x' }),
      /^bucketUrl: not an S3 URL/,
    );
    await field(
      backup.verifyDump({ file: dump.file, object: 's3://b-1/x' }),
      /^file \/ object: give exactly one/,
    );
    await field(backup.verifyDump({ file: dump.file, sha256: 'abc' }), /^sha256: expected 64 hex digits/);
    await field(
      backup.restore({ dbUrl: urlOf('postgres'), file: dump.file }),
      /^dbUrl: "postgres" is the server's maintenance/,
    );
    await field(backup.restore({ dbUrl: src.url, file: dump.file, jobs: 0 }), /^jobs:/);
    await field(
      backup.cloneDatabase({ dbUrl: src.url, cloneName: src.name }),
      /^cloneName: ".*" is the database being cloned/,
    );
    await field(
      backup.cloneDatabase({ dbUrl: src.url, cloneName: 'x'.repeat(64) }),
      /^cloneName: .* is not a database name \(at most 63 bytes\)/,
    );
    await field(
      backup.dropDatabase({ dbUrl: src.url, name: 'template1' }),
      /^name: "template1" is the server's maintenance or template/,
    );
    await field(backup.rowCounts({ dbUrl: src.url, tables: [] }), /^tables:/);
    await field(backup.largestTables({ dbUrl: src.url, n: 0 }), /^n:/);
    assert.deepEqual(await backup.rowCounts({ dbUrl: src.url, tables: ['xcom'] }), { xcom: XCOM_ROWS });
  });

  it('tool versions: the installed tools match the server; an older pg_dump is refused by name', async () => {
    const v = await backup.toolVersions({ dbUrl: src.url });
    assert.equal(v.pgDump.split('.')[0], v.server.split('.')[0]);
    const old = parseToolVersion('pg_dump', 'pg_dump (PostgreSQL) 14.11 (Debian 14.11-1.pgdg120+1)');
    assert.deepEqual(old, { tool: 'pg_dump', version: '14.11', major: 14 });
    assert.throws(
      () => checkToolVersion(old, 150020, '15.2'),
      (e: Error) =>
        e instanceof PermanentFault &&
        /pg_dump 14\.11 is older than the PostgreSQL server 15\.2 \(major 15\)/.test(e.message) &&
        /postgresql-client-15/.test(e.message),
    );
    checkToolVersion(parseToolVersion('pg_dump', 'pg_dump (PostgreSQL) 15.1'), 150020, '15.20');
    checkToolVersion(parseToolVersion('pg_dump', 'pg_dump (PostgreSQL) 17.2'), 150020, '15.20');
    assert.equal(parseToolVersion('pg_restore', 'pg_restore (PostgreSQL) 9.6.24').major, 9.6);
    assert.throws(() =>
      checkToolVersion(parseToolVersion('pg_restore', 'pg_restore (PostgreSQL) 9.6.24'), 100005, '10.5'),
    );
  });

  it('URLs: SQLAlchemy’s form is accepted, the password kept out of the argv form', () => {
    const t = parseDbUrl('postgresql+psycopg2://airflow:p%40ss@db.example:6543/airflow?sslmode=require');
    assert.equal(t.database, 'airflow');
    assert.equal(t.password, 'p@ss');
    assert.equal(t.conninfo, 'postgresql://airflow@db.example:6543/airflow?sslmode=require');
    assert.equal(t.describe, 'db.example:6543/airflow');
    assert.equal(parseDbUrl('postgres://u@h/db?password=x').password, 'x');
    assert.equal(parseDbUrl('postgres://u@h/db?password=x').conninfo, 'postgresql://u@h/db');
    assert.deepEqual(parseObjectUrl('s3://bkt/a/b/', 'bucketUrl', 'airflow.dump'), {
      bucket: 'bkt',
      key: 'a/b/airflow.dump',
      url: 's3://bkt/a/b/airflow.dump',
    });
  });
});
