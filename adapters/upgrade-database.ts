/**
 * UpgradeDatabasePort over PgBackup (pg_dump, pg_restore, admin SQL) bound to the plan's metadata DB:
 * the upgrade's activities name databases on its server, this adapter holds the URL. Plus the few
 * reads of Airflow's own tables the upgrade needs (the schema revision, the DAG schedule).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import type { Heartbeat } from '../activities/heartbeat.js';
import type { DumpResult, UpgradeDatabasePort } from '../activities/upgrade-ports.js';
import type { DueDag, TableSize } from '../domain/upgrade/run.js';
import { parseDbUrl, type PgBackup } from './pg-backup.js';

export interface UpgradeDatabaseOptions {
  backup: PgBackup;
  /** The live metadata DB (libpq or SQLAlchemy URL; never shown). */
  dbUrl: string;
  /** Where a rehearsal copy's dump waits between pg_dump and pg_restore (default the OS temp dir). */
  workDir?: string;
}

const iso = (v: unknown): string | null =>
  v === null || v === undefined
    ? null
    : v instanceof Date
      ? v.toISOString()
      : new Date(String(v)).toISOString();

export class UpgradeDatabase implements UpgradeDatabasePort {
  readonly database: string;
  private readonly pg: PgBackup;

  constructor(private readonly options: UpgradeDatabaseOptions) {
    this.database = parseDbUrl(options.dbUrl).database;
    this.pg = options.backup;
  }

  /** The URL of `name` on the same server, as the same user (it holds the password: never shown). */
  urlFor(name?: string): string {
    if (name === undefined || name === this.database) return this.options.dbUrl;
    const url = new URL(this.options.dbUrl.replace(/^postgresql\+[a-z0-9]+:/, 'postgresql:'));
    url.pathname = `/${encodeURIComponent(name)}`;
    return url.toString();
  }

  private async query<T extends pg.QueryResultRow>(
    sql: string,
    params: unknown[] = [],
    db?: string,
  ): Promise<T[]> {
    const target = parseDbUrl(this.urlFor(db));
    const client = new pg.Client({ connectionString: target.secretUrl, connectionTimeoutMillis: 10_000 });
    await client.connect();
    try {
      return (await client.query<T>(sql, params)).rows;
    } finally {
      await client.end();
    }
  }

  async sizeBytes(db?: string): Promise<number> {
    return (await this.pg.databaseSize({ dbUrl: this.options.dbUrl, name: db ?? this.database })).bytes;
  }

  async largestTables(n: number, db?: string): Promise<TableSize[]> {
    const tables = await this.pg.largestTables({ dbUrl: this.urlFor(db), n });
    return tables.map((t) => ({ table: t.table, rows: t.rowsEstimate ?? 0, bytes: t.bytes }));
  }

  async rowCounts(tables: readonly string[], db?: string): Promise<{ table: string; rows: number }[]> {
    const present = new Set(
      (
        await this.query<{ t: string }>(
          "SELECT tablename AS t FROM pg_tables WHERE schemaname = 'public' AND tablename = ANY($1)",
          [tables],
          db,
        )
      ).map((r) => r.t),
    );
    const counted = await this.pg.rowCounts({
      dbUrl: this.urlFor(db),
      tables: tables.filter((t) => present.has(t)),
    });
    return tables.map((table) => ({ table, rows: counted[table] ?? 0 }));
  }

  async tableChecksums(tables: readonly string[], db?: string): Promise<Record<string, string>> {
    return this.pg.tableChecksums({ dbUrl: this.urlFor(db), tables: [...tables] });
  }

  async revision(db?: string): Promise<string> {
    const rows = await this.query<{ v: string }>('SELECT version_num AS v FROM alembic_version', [], db);
    return rows.map((r) => r.v).join(',');
  }

  async copyTo(name: string, heartbeat?: Heartbeat): Promise<{ durationMs: number }> {
    const t0 = performance.now();
    const dir = await mkdtemp(path.join(this.options.workDir ?? tmpdir(), 'cutover-rehearsal-'));
    try {
      const dump = await this.pg.dump({
        dbUrl: this.options.dbUrl,
        file: path.join(dir, 'copy.dump'),
        ...(heartbeat ? { heartbeat } : {}),
      });
      await this.pg.restore({
        dbUrl: this.urlFor(name),
        file: dump.file,
        sha256: dump.sha256,
        ...(heartbeat ? { heartbeat } : {}),
      });
      return { durationMs: Math.round(performance.now() - t0) };
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }

  async dropDatabase(name: string): Promise<boolean> {
    return (await this.pg.dropDatabase({ dbUrl: this.options.dbUrl, name })).existed;
  }

  async dump(location: string, fileName: string, heartbeat?: Heartbeat): Promise<DumpResult> {
    const beat = heartbeat ? { heartbeat } : {};
    if (location.startsWith('s3://')) {
      const r = await this.pg.dumpToObjectStore({
        dbUrl: this.options.dbUrl,
        bucketUrl: `${location.replace(/\/+$/, '')}/${fileName}`,
        ...beat,
      });
      return {
        location: r.object,
        bytes: r.bytes,
        sha256: r.sha256,
        tocEntries: r.tocEntries,
        durationMs: r.durationMs,
      };
    }
    const r = await this.pg.dump({ dbUrl: this.options.dbUrl, file: path.join(location, fileName), ...beat });
    return {
      location: r.file,
      bytes: r.bytes,
      sha256: r.sha256,
      tocEntries: r.tocEntries,
      durationMs: r.durationMs,
    };
  }

  async clone(name: string): Promise<{ durationMs: number; oid: number }> {
    const r = await this.pg.cloneDatabase({ dbUrl: this.options.dbUrl, cloneName: name });
    return { durationMs: r.durationMs, oid: r.oid };
  }

  async restoreDump(
    location: string,
    sha256: string,
    heartbeat?: Heartbeat,
  ): Promise<{ durationMs: number; resumed: boolean; leftoversDropped: string[] }> {
    const source = location.startsWith('s3://') ? { object: location } : { file: location };
    const r = await this.pg.restore({
      dbUrl: this.options.dbUrl,
      ...source,
      sha256,
      ...(heartbeat ? { heartbeat } : {}),
    });
    return { durationMs: r.durationMs, resumed: r.resumed, leftoversDropped: r.leftoversDropped };
  }

  async migrationLockHolder(): Promise<{ pid: number; backendStart: string; waiting: boolean } | null> {
    // pg_advisory_lock(1): classid 0, objid 1, objsubid 1 (one bigint key). `waiting`: the holder's
    // session itself waits on a lock (its migration is blocked), as pg_stat_activity says.
    const rows = await this.query<{ pid: number; started: Date; waiting: boolean }>(
      `SELECT l.pid, a.backend_start AS started, coalesce(a.wait_event_type = 'Lock', false) AS waiting
         FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
        WHERE l.locktype = 'advisory' AND l.granted AND l.classid = 0 AND l.objid = 1 AND l.objsubid = 1
          AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())`,
    );
    const r = rows[0];
    return r ? { pid: r.pid, backendStart: iso(r.started) ?? '', waiting: r.waiting } : null;
  }

  async restoreClone(name: string, oid?: number): Promise<{ durationMs: number }> {
    const r = await this.pg.restoreFromClone({
      dbUrl: this.options.dbUrl,
      cloneName: name,
      mode: 'rename',
      ...(oid === undefined ? {} : { cloneOid: oid }),
    });
    return { durationMs: r.durationMs };
  }

  async databaseExists(name: string): Promise<boolean> {
    return this.pg.databaseExists({ dbUrl: this.options.dbUrl, name });
  }

  async dueDags(): Promise<DueDag[]> {
    const rows = await this.query<{ dag_id: string; due: Date }>(
      `SELECT dag_id, next_dagrun_create_after AS due FROM dag
        WHERE NOT is_paused AND next_dagrun_create_after IS NOT NULL ORDER BY dag_id`,
    );
    return rows.map((r) => ({ dagId: r.dag_id, dueAt: iso(r.due) ?? '' }));
  }

  async nextDue(dagIds: readonly string[]): Promise<Record<string, string | null>> {
    if (dagIds.length === 0) return {};
    const rows = await this.query<{ dag_id: string; due: Date | null }>(
      'SELECT dag_id, next_dagrun_create_after AS due FROM dag WHERE dag_id = ANY($1)',
      [dagIds],
    );
    return Object.fromEntries(rows.map((r) => [r.dag_id, iso(r.due)]));
  }

  async execute(sql: string): Promise<void> {
    await this.query(sql);
  }
}
