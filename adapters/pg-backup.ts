/**
 * The metadata DB as a whole, for the upgrade runbook's backup and rollback: PostgreSQL's own tools
 * (pg_dump -Fc, pg_restore) for the archive, and SQL over node-postgres for the rest (clone by
 * TEMPLATE, rename, drop, sizes, counts, checksums). Every method takes the database URL
 * (postgresql://user[:password]@host:port/db, or SQLAlchemy's postgresql+psycopg2://...) and
 * returns a plain record with its duration measured.
 *
 * Secrets: the password goes to pg_dump / pg_restore in PGPASSWORD, in an environment built from
 * nothing (the worker's own environment, with its cloud credentials, is not inherited); their argv
 * holds the URL without it. On Linux a process's environment is readable only by its user and root
 * (/proc/<pid>/environ is 0400), the same protection a 0600 passfile has, and unlike a passfile it
 * leaves nothing on disk when the worker is SIGKILLed. Every message that can reach an error or a
 * log is scrubbed of the password.
 *
 * What it relies on (PostgreSQL 13+, checked on 15):
 * - pg_dump refuses a server of a newer major version; pg_restore cannot read an archive written
 *   by a newer pg_dump. Both are checked up front against the server's version.
 * - A custom-format archive written to a file (not a pipe) has its data offsets in the TOC, which
 *   parallel pg_restore (-j) needs. `pg_restore --list` reads only the TOC: it proves the header
 *   and the entry list are intact, not every data block; the SHA-256 covers every byte, and
 *   verifyDump({deep: true}) decompresses every block (pg_restore -f /dev/null).
 * - CREATE DATABASE ... TEMPLATE refuses while any other session is connected to the template
 *   (SQLSTATE 55006); it waits out autovacuum workers itself. DROP DATABASE ... WITH (FORCE)
 *   terminates the sessions first (13+). ALTER DATABASE ... RENAME needs nobody connected to the
 *   renamed DB; the oid survives a rename. Database comments live in a shared catalog, keyed by
 *   oid: they are not copied by TEMPLATE and follow a rename.
 *
 * Idempotency, for a retried Temporal activity (the worker may have been SIGKILLed, and a child it
 * started may still be running):
 * - dump writes a uniquely named partial file and renames it once listed: `file` is always a whole
 *   verified archive or absent. Partial files of earlier attempts are removed first (an orphaned
 *   pg_dump still writing one writes to an unlinked inode).
 * - restore never touches the target until the archive is fully restored: it restores into a
 *   uniquely named staging database marked (COMMENT) "in progress", marks it "complete", then drops
 *   the target and renames the staging DB to its name. A retry drops leftover staging DBs of the
 *   target (FORCE terminates an orphaned pg_restore's connections), or, when the target is already
 *   gone and a staging DB of the same archive is complete, only renames it.
 * - cloneDatabase replaces a clone it made earlier (marked by COMMENT) and refuses to replace any
 *   other database of that name; restoreFromClone knows the rename already happened when the
 *   target carries the clone's oid.
 */
import { execFile, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, existsSync } from 'node:fs';
import { mkdir, readdir, rename, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { PermanentFault } from '../activities/engine/errors.js';
import type { Heartbeat } from '../activities/heartbeat.js';
import type { ObjectFilePort } from '../activities/object-store-ports.js';

// ---------------------------------------------------------------- URLs

/** A database URL taken apart: what goes on argv, what goes to node-postgres, what goes in messages. */
export interface PgTarget {
  database: string;
  /** libpq URL without the password (safe for argv): postgresql://user@host:port/db?params */
  conninfo: string;
  /** The password, or undefined; only ever placed in PGPASSWORD or node-postgres's config. */
  password: string | undefined;
  /** host:port/db, for messages. */
  describe: string;
  /** node-postgres connection string with the password: never logged. */
  secretUrl: string;
}

/**
 * Parses a PostgreSQL URL (postgresql://, postgres://, or SQLAlchemy's postgresql+<driver>://).
 * Errors name `field` and never echo the URL (it may hold a password).
 */
export function parseDbUrl(url: unknown, field = 'dbUrl'): PgTarget {
  if (typeof url !== 'string' || url.trim() === '')
    throw new PermanentFault(`${field}: missing (expected postgresql://user[:password]@host:port/db)`);
  const m = /^([a-z][a-z0-9]*)(\+[a-z0-9_]+)?:\/\//i.exec(url.trim());
  const scheme = m?.[1]?.toLowerCase();
  if (!m || (scheme !== 'postgresql' && scheme !== 'postgres'))
    throw new PermanentFault(
      `${field}: not a PostgreSQL URL (expected postgresql://user[:password]@host:port/db or postgresql+psycopg2://...)`,
    );
  let u: URL;
  try {
    u = new URL(`postgresql://${url.trim().slice(m[0].length)}`);
  } catch {
    throw new PermanentFault(
      `${field}: not a valid URL (expected postgresql://user[:password]@host:port/db)`,
    );
  }
  const decode = (s: string): string => {
    try {
      return decodeURIComponent(s);
    } catch {
      throw new PermanentFault(`${field}: bad percent-encoding in the URL`);
    }
  };
  const database = decode(u.pathname.replace(/^\//, ''));
  if (database === '' || database.includes('/'))
    throw new PermanentFault(`${field}: names no database (expected postgresql://user@host:port/<database>)`);
  let password = u.password === '' ? undefined : decode(u.password);
  const fromQuery = u.searchParams.get('password');
  if (fromQuery !== null) {
    password = fromQuery;
    u.searchParams.delete('password');
  }
  const secretUrl = withPassword(u, password);
  u.password = '';
  return {
    database,
    conninfo: u.toString(),
    password,
    describe: `${u.hostname || u.searchParams.get('host') || 'localhost'}:${u.port || '5432'}/${database}`,
    secretUrl,
  };
}

function withPassword(u: URL, password: string | undefined): string {
  const c = new URL(u.toString());
  c.password = password === undefined ? '' : encodeURIComponent(password);
  return c.toString();
}

/** The same server and credentials, another database. */
function onDatabase(t: PgTarget, database: string): PgTarget {
  const u = new URL(t.conninfo);
  u.pathname = `/${encodeURIComponent(database)}`;
  return {
    database,
    conninfo: u.toString(),
    password: t.password,
    describe: t.describe.replace(/\/[^/]*$/, `/${database}`),
    secretUrl: withPassword(u, t.password),
  };
}

/** Replaces the password (raw and percent-encoded) and anything URL-credential-like. */
function scrub(message: string, t?: PgTarget): string {
  let out = message;
  const pw = t?.password;
  if (pw) for (const s of new Set([pw, encodeURIComponent(pw)])) out = out.split(s).join('***');
  return out.replace(/([a-z][a-z0-9+.-]*:\/\/[^:/@\s]*):[^@\s]*@/gi, '$1:***@');
}

// ---------------------------------------------------------------- object URLs

export interface ObjectRef {
  bucket: string;
  key: string;
  url: string;
}

/** s3://bucket/key; a key ending in / is a prefix, completed with `<defaultName>`. */
export function parseObjectUrl(url: unknown, field: string, defaultName?: string): ObjectRef {
  if (typeof url !== 'string') throw new PermanentFault(`${field}: missing (expected s3://bucket/key)`);
  const m = /^s3:\/\/([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])\/(.*)$/.exec(url.trim());
  if (!m?.[1]) throw new PermanentFault(`${field}: not an S3 URL (expected s3://bucket/path/name.dump)`);
  let key = m[2] ?? '';
  if (key === '' || key.endsWith('/')) {
    if (defaultName === undefined) throw new PermanentFault(`${field}: names no object (s3://bucket/<key>)`);
    key += defaultName;
  }
  return { bucket: m[1], key, url: `s3://${m[1]}/${key}` };
}

// ---------------------------------------------------------------- versions

export interface ToolVersion {
  tool: 'pg_dump' | 'pg_restore';
  /** e.g. "15.20". */
  version: string;
  major: number;
}

/** Major version of a server_version_num: 150020 -> 15, 90624 -> 9.6. */
export function serverMajor(versionNum: number): number {
  return versionNum >= 100_000 ? Math.floor(versionNum / 10_000) : Math.floor(versionNum / 100) / 100;
}

/** Parses `pg_dump (PostgreSQL) 15.20 (Debian 15.20-0+deb12u1)`. */
export function parseToolVersion(tool: ToolVersion['tool'], text: string): ToolVersion {
  const m = /\(PostgreSQL\)\s+(\d+)(?:\.(\d+))?/.exec(text);
  if (!m?.[1])
    throw new PermanentFault(`${tool} --version printed no PostgreSQL version: ${text.slice(0, 200)}`);
  const first = Number(m[1]);
  const major = first >= 10 ? first : Number(`${first}.${m[2] ?? 0}`);
  return { tool, version: `${m[1]}${m[2] === undefined ? '' : `.${m[2]}`}`, major };
}

/** Refuses a pg_dump / pg_restore older than the server: pg_dump would refuse too, less clearly. */
export function checkToolVersion(tool: ToolVersion, serverVersionNum: number, server: string): void {
  const major = serverMajor(serverVersionNum);
  if (tool.major < major)
    throw new PermanentFault(
      `${tool.tool} ${tool.version} is older than the PostgreSQL server ${server} (major ${major}): ` +
        `${tool.tool} must be of the server's major version or newer; install postgresql-client-${major} ` +
        `(Debian; .ci/run does it when the tools are missing) or point binDir at its bin directory`,
    );
}

// ---------------------------------------------------------------- records

export interface DumpRecord {
  file: string;
  bytes: number;
  sha256: string;
  durationMs: number;
  /** Entries `pg_restore --list` reads from the archive's table of contents. */
  tocEntries: number;
  database: string;
  serverVersion: string;
  pgDumpVersion: string;
  phases: { pgDumpMs: number; hashMs: number; listMs: number };
}

export interface ObjectDumpRecord {
  object: string;
  bucket: string;
  key: string;
  bytes: number;
  sha256: string;
  durationMs: number;
  tocEntries: number;
  /** Upload parts (1 = a single PutObject). */
  parts: number;
  database: string;
  serverVersion: string;
  pgDumpVersion: string;
  phases: { pgDumpMs: number; hashMs: number; listMs: number; uploadMs: number; verifyMs: number };
}

export interface VerifyRecord {
  /** The file or s3:// object verified. */
  source: string;
  bytes: number;
  sha256: string;
  tocEntries: number;
  /** Whether every data block was read and decompressed too. */
  deep: boolean;
  durationMs: number;
}

export interface RestoreRecord {
  database: string;
  /** The archive restored (file or s3:// object). */
  source: string;
  sha256: string;
  tocEntries: number;
  jobs: number;
  /** The target existed and was replaced (false: it was created). */
  replaced: boolean;
  /** A previous attempt had restored everything and only the rename was left. */
  resumed: boolean;
  /** Staging databases of earlier attempts dropped first (their sessions, an orphaned pg_restore's, terminated). */
  leftoversDropped: string[];
  durationMs: number;
  phases: { fetchMs: number; verifyMs: number; pgRestoreMs: number; analyzeMs: number; swapMs: number };
}

export interface CloneRecord {
  source: string;
  clone: string;
  /** The clone's oid: survives the rename restoreFromClone does (pass it back for idempotency). */
  oid: number;
  bytes: number;
  strategy: CloneStrategy | 'default';
  /** A clone of the same source left by an earlier attempt or run was dropped first. */
  replacedEarlierClone: boolean;
  durationMs: number;
}

export type CloneStrategy = 'wal_log' | 'file_copy';

export interface RestoreFromCloneRecord {
  database: string;
  clone: string;
  mode: 'rename' | 'template';
  /** Whether the clone still exists afterwards (template mode keeps it for another rollback). */
  cloneKept: boolean;
  /** A previous attempt had already renamed the clone (matched by oid). */
  alreadyRestored: boolean;
  durationMs: number;
}

export interface TableSize {
  /** schema-qualified when not in public. */
  table: string;
  /** The planner's estimate (pg_class.reltuples, else the statistics collector's live tuples), not a count. */
  rowsEstimate: number | null;
  /** Heap + indexes + TOAST. */
  bytes: number;
  tableBytes: number;
  indexBytes: number;
}

export interface ConnectedSession {
  pid: number;
  user: string | null;
  applicationName: string;
  client: string | null;
  state: string | null;
  backendStart: string | null;
}

/** Another session is connected to a database that must have none (a TEMPLATE copy). */
export class DatabaseInUse extends Error {
  constructor(
    message: string,
    readonly database: string,
    readonly sessions: ConnectedSession[],
  ) {
    super(message);
    this.name = 'DatabaseInUse';
  }
}

export interface PgBackupOptions {
  /** Where pg_dump and pg_restore are; default: found on PATH. */
  binDir?: string;
  /** The database admin statements connect to (never the one being copied or dropped). Default postgres. */
  maintenanceDb?: string;
  /** For dumpToObjectStore and object sources. */
  objectStore?: ObjectFilePort;
  /** Temporary files (downloads, archives on their way to the bucket). Default the OS temp dir. */
  workDir?: string;
  /** Default 10 s. */
  connectTimeoutMs?: number;
  /** How often a long step calls its heartbeat. Default 5 s. */
  heartbeatEveryMs?: number;
}

interface Progress {
  heartbeat?: Heartbeat;
  signal?: AbortSignal;
}

/** Fixed: checksums are comparable only when computed over the same chunks. */
export const CHECKSUM_CHUNK_ROWS = 100_000;

const RESERVED_DATABASES = new Set(['template0', 'template1']);
const MARK_STAGING = 'cutover:restore-staging ';
const MARK_CLONE = 'cutover:clone ';

interface StagingMark {
  of: string;
  sha256: string;
  state: 'in-progress' | 'complete';
}
interface CloneMark {
  of: string;
  at: string;
}

interface DbInfo {
  name: string;
  oid: number;
  owner: string;
  encoding: string;
  collate: string;
  ctype: string;
  localeProvider: string | null;
  icuLocale: string | null;
  comment: string | null;
}

const now = (): number => performance.now();
const ms = (t0: number): number => Math.round(performance.now() - t0);

// ---------------------------------------------------------------- the adapter

export class PgBackup {
  private readonly maintenanceDb: string;
  private readonly connectTimeoutMs: number;
  private readonly heartbeatEveryMs: number;
  private readonly versionCache = new Map<string, ToolVersion>();

  constructor(private readonly opts: PgBackupOptions = {}) {
    this.maintenanceDb = opts.maintenanceDb ?? 'postgres';
    this.connectTimeoutMs = opts.connectTimeoutMs ?? 10_000;
    this.heartbeatEveryMs = opts.heartbeatEveryMs ?? 5_000;
  }

  /** `pg_dump -Fc` of the database into `file`, then listed with `pg_restore --list` and hashed. */
  async dump(
    args: { dbUrl: string; file: string; compressLevel?: number; lockWaitTimeoutMs?: number } & Progress,
  ): Promise<DumpRecord> {
    const t0 = now();
    const target = parseDbUrl(args.dbUrl);
    const file = await outputFile(args.file, 'file');
    const compress = compressLevelOf(args.compressLevel);
    const out = await this.dumpTo(target, file, { ...args, compressLevel: compress });
    return { file, ...out, durationMs: ms(t0) };
  }

  /** The same dump, uploaded to `bucketUrl` (s3://bucket/key, or a prefix ending in / for <db>.dump), verified from a downloaded copy. */
  async dumpToObjectStore(
    args: {
      dbUrl: string;
      bucketUrl: string;
      compressLevel?: number;
      lockWaitTimeoutMs?: number;
      partSizeBytes?: number;
    } & Progress,
  ): Promise<ObjectDumpRecord> {
    const t0 = now();
    const target = parseDbUrl(args.dbUrl);
    const ref = parseObjectUrl(args.bucketUrl, 'bucketUrl', `${target.database}.dump`);
    const store = this.store();
    const compress = compressLevelOf(args.compressLevel);
    const dir = await this.scratchDir('pgdump', `${target.describe} ${ref.url}`);
    try {
      const local = path.join(dir, 'archive.dump');
      const out = await this.dumpTo(target, local, { ...args, compressLevel: compress });
      const tUp = now();
      const tick = this.ticker(args.heartbeat, 'upload', { object: ref.url, bytes: out.bytes });
      let parts: number;
      try {
        ({ parts } = await store.putFile(ref.bucket, ref.key, local, {
          sha256: out.sha256,
          metadata: { database: target.database, 'toc-entries': String(out.tocEntries) },
          ...(args.partSizeBytes !== undefined ? { partSizeBytes: args.partSizeBytes } : {}),
          ...(args.signal ? { signal: args.signal } : {}),
        }));
      } finally {
        tick.stop();
      }
      const uploadMs = ms(tUp);
      await rm(local, { force: true });
      const tV = now();
      const head = await store.headObject(ref.bucket, ref.key);
      if (!head) throw new Error(`${ref.url} is not in the bucket right after its upload`);
      if (head.size !== out.bytes || head.metadata.sha256 !== out.sha256)
        throw new Error(
          `${ref.url} does not match the archive uploaded: ${head.size} bytes, sha256 ${head.metadata.sha256 ?? '(none)'}; expected ${out.bytes} bytes, sha256 ${out.sha256}`,
        );
      const copy = await this.verifyObject(ref, out.sha256, false, args, dir);
      if (copy.tocEntries !== out.tocEntries)
        throw new Error(
          `${ref.url} lists ${copy.tocEntries} entries where the archive written listed ${out.tocEntries}`,
        );
      return {
        object: ref.url,
        bucket: ref.bucket,
        key: ref.key,
        bytes: out.bytes,
        sha256: out.sha256,
        durationMs: ms(t0),
        tocEntries: out.tocEntries,
        parts,
        database: out.database,
        serverVersion: out.serverVersion,
        pgDumpVersion: out.pgDumpVersion,
        phases: { ...out.phases, uploadMs, verifyMs: ms(tV) },
      };
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }

  /**
   * Checks an archive: its SHA-256 (when given: a mismatch is refused), and that `pg_restore --list`
   * reads it; with `deep`, that every data block decompresses. Refusals are PermanentFaults naming
   * the file or object.
   */
  async verifyDump(
    args: { file?: string; object?: string; sha256?: string; deep?: boolean } & Progress,
  ): Promise<VerifyRecord> {
    const t0 = now();
    const source = oneSource(args);
    const expected = args.sha256 === undefined ? undefined : sha256Of(args.sha256);
    if (source.kind === 'object') {
      const ref = parseObjectUrl(source.value, 'object');
      const dir = await this.scratchDir('pgverify', ref.url);
      try {
        const out = await this.verifyObject(ref, expected, args.deep ?? false, args, dir);
        return { source: ref.url, ...out, deep: args.deep ?? false, durationMs: ms(t0) };
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    }
    const file = await inputFile(source.value, 'file');
    const out = await this.verifyLocal(file, file, expected, args.deep ?? false, args);
    return { source: file, ...out, deep: args.deep ?? false, durationMs: ms(t0) };
  }

  /**
   * Replaces the database with the archive's content: restored into a staging database first
   * (`pg_restore --exit-on-error`, `-j jobs`), analysed, then swapped in (the target's sessions
   * terminated, the target dropped, the staging DB renamed). Safe to retry at any point.
   */
  async restore(
    args: {
      dbUrl: string;
      file?: string;
      object?: string;
      sha256?: string;
      /**
       * pg_restore's parallel jobs. Default 1: on the 2-core development VM -j2 was no faster
       * (bench/README.md, upgrade-backup: 205 s vs 179 s at 10M rows); raise it on a database server
       * with cores to spare, where the index builds run side by side.
       */
      jobs?: number;
      /** ANALYZE the restored tables before the swap (pg_restore leaves no planner statistics). Default true. */
      analyze?: boolean;
    } & Progress,
  ): Promise<RestoreRecord> {
    const t0 = now();
    const target = parseDbUrl(args.dbUrl);
    this.refuseSpecial(target.database, 'dbUrl');
    const source = oneSource(args);
    const expected = args.sha256 === undefined ? undefined : sha256Of(args.sha256);
    const jobs = jobsOf(args.jobs);
    const admin = onDatabase(target, this.maintenanceDb);
    const restoreTool = await this.checkedTool('pg_restore', admin);

    let dir: string | undefined;
    try {
      const tFetch = now();
      let local: string;
      let label: string;
      if (source.kind === 'object') {
        const ref = parseObjectUrl(source.value, 'object');
        label = ref.url;
        dir = await this.scratchDir('pgrestore', `${target.describe} ${ref.url}`);
        local = path.join(dir, 'archive.dump');
        await this.download(ref, local, args);
      } else {
        local = await inputFile(source.value, 'file');
        label = local;
      }
      const fetchMs = ms(tFetch);
      const tVerify = now();
      const { sha256, tocEntries } = await this.verifyLocal(local, label, expected, false, args);
      const verifyMs = ms(tVerify);

      // Leftovers of earlier attempts: a complete staging DB of this archive is all a retry needs.
      const before = await this.withClient(admin, 'preparing the restore', async (c) => {
        const info = await dbInfo(c, target.database);
        const staged = (await markedDatabases(c, MARK_STAGING)).filter(
          (d) => (d.mark as StagingMark).of === target.database,
        );
        return { info, staged };
      });
      const done = before.staged.find(
        (d) => (d.mark as StagingMark).state === 'complete' && (d.mark as StagingMark).sha256 === sha256,
      );
      if (!before.info && done) {
        const tSwap = now();
        await this.withClient(admin, 'renaming the restored database', async (c) => {
          for (const d of before.staged) if (d.name !== done.name) await dropForce(c, d.name);
          await swapIn(c, done.name, target.database, null);
        });
        return {
          database: target.database,
          source: label,
          sha256,
          tocEntries,
          jobs,
          replaced: false,
          resumed: true,
          leftoversDropped: before.staged.filter((d) => d !== done).map((d) => d.name),
          durationMs: ms(t0),
          phases: { fetchMs, verifyMs, pgRestoreMs: 0, analyzeMs: 0, swapMs: ms(tSwap) },
        };
      }

      const staging = stagingName(target.database);
      const mark = (state: StagingMark['state']): string =>
        MARK_STAGING + JSON.stringify({ of: target.database, sha256, state } satisfies StagingMark);
      await this.withClient(admin, 'creating the staging database', async (c) => {
        for (const d of before.staged) await dropForce(c, d.name);
        await c.query(`CREATE DATABASE ${ident(staging)} TEMPLATE template0${createClauses(before.info)}`);
        await c.query(`COMMENT ON DATABASE ${ident(staging)} IS ${pg.escapeLiteral(mark('in-progress'))}`);
      });

      const stagingTarget = onDatabase(target, staging);
      const tRestore = now();
      await this.runTool(
        restoreTool,
        ['--exit-on-error', '--no-password', `--jobs=${jobs}`, `--dbname=${stagingTarget.conninfo}`, local],
        stagingTarget,
        { ...args, step: 'pg_restore', appName: 'cutover-pg_restore' },
      );
      const pgRestoreMs = ms(tRestore);
      const tAnalyze = now();
      if (args.analyze ?? true) {
        await this.withClient(stagingTarget, 'analysing the restored database', (c) =>
          this.beating(args.heartbeat, 'analyze', () => c.query('ANALYZE')),
        );
      }
      const analyzeMs = ms(tAnalyze);
      const tSwap = now();
      await this.withClient(admin, 'swapping the restored database in', async (c) => {
        await c.query(`COMMENT ON DATABASE ${ident(staging)} IS ${pg.escapeLiteral(mark('complete'))}`);
        const current = await dbInfo(c, target.database);
        await swapIn(c, staging, target.database, current?.comment ?? null);
      });
      return {
        database: target.database,
        source: label,
        sha256,
        tocEntries,
        jobs,
        replaced: before.info !== null,
        resumed: false,
        leftoversDropped: before.staged.map((d) => d.name),
        durationMs: ms(t0),
        phases: { fetchMs, verifyMs, pgRestoreMs, analyzeMs, swapMs: ms(tSwap) },
      };
    } finally {
      if (dir) await rm(dir, { recursive: true, force: true });
    }
  }

  /**
   * `CREATE DATABASE <cloneName> TEMPLATE <db>`, owned like the source. PostgreSQL copies a database
   * only while nobody else is connected to it: DatabaseInUse names who is (the Airflow components
   * must be stopped first).
   */
  async cloneDatabase(
    args: { dbUrl: string; cloneName: string; strategy?: CloneStrategy } & Progress,
  ): Promise<CloneRecord> {
    const t0 = now();
    const target = parseDbUrl(args.dbUrl);
    const clone = databaseName(args.cloneName, 'cloneName');
    if (clone === target.database)
      throw new PermanentFault(`cloneName: "${clone}" is the database being cloned; name another`);
    this.refuseSpecial(clone, 'cloneName');
    if (args.strategy !== undefined && args.strategy !== 'wal_log' && args.strategy !== 'file_copy')
      throw new PermanentFault(`strategy: "${String(args.strategy)}" is not wal_log or file_copy`);
    const admin = onDatabase(target, this.maintenanceDb);
    return this.withClient(admin, `cloning ${target.database} as ${clone}`, async (c) => {
      const source = await dbInfo(c, target.database);
      if (!source) throw new PermanentFault(`database ${target.describe} does not exist: nothing to clone`);
      let replacedEarlierClone = false;
      const existing = await dbInfo(c, clone);
      if (existing) {
        const mark = parseMark<CloneMark>(existing.comment, MARK_CLONE);
        if (mark?.of !== target.database)
          throw new PermanentFault(
            `cloneName: database "${clone}" already exists and is not a clone cutover made of ${target.database}; ` +
              'name another clone, or drop it yourself if it is disposable (a clone whose worker died between ' +
              'its CREATE DATABASE and the marking COMMENT, a window of milliseconds, also looks like this)',
          );
        await dropForce(c, clone);
        replacedEarlierClone = true;
      }
      await refuseIfConnected(c, target.database);
      const strategy = args.strategy ? ` STRATEGY ${args.strategy.toUpperCase()}` : '';
      try {
        await this.beating(args.heartbeat, 'clone', () =>
          c.query(
            `CREATE DATABASE ${ident(clone)} TEMPLATE ${ident(target.database)} OWNER ${ident(source.owner)}${strategy}`,
          ),
        );
      } catch (err) {
        if (sqlState(err) === '55006') await refuseIfConnected(c, target.database);
        throw err;
      }
      const mark: CloneMark = { of: target.database, at: new Date().toISOString() };
      await c.query(
        `COMMENT ON DATABASE ${ident(clone)} IS ${pg.escapeLiteral(MARK_CLONE + JSON.stringify(mark))}`,
      );
      const made = await dbInfo(c, clone);
      const size = await c.query<{ b: string }>('SELECT pg_database_size($1) AS b', [clone]);
      return {
        source: target.database,
        clone,
        oid: made?.oid ?? 0,
        bytes: Number(size.rows[0]?.b ?? 0),
        strategy: args.strategy ?? 'default',
        replacedEarlierClone,
        durationMs: ms(t0),
      };
    });
  }

  /**
   * The fast rollback to a clone: `rename` (default) drops the database and renames the clone to
   * its name (no data copied; the clone is used up); `template` drops it and copies the clone back
   * (CREATE DATABASE ... TEMPLATE clone: as long as the clone took; the clone is kept).
   * Pass the clone's oid (CloneRecord.oid) so a retry after the rename knows it is done.
   */
  async restoreFromClone(
    args: { dbUrl: string; cloneName: string; mode?: 'rename' | 'template'; cloneOid?: number } & Progress,
  ): Promise<RestoreFromCloneRecord> {
    const t0 = now();
    const target = parseDbUrl(args.dbUrl);
    this.refuseSpecial(target.database, 'dbUrl');
    const clone = databaseName(args.cloneName, 'cloneName');
    const mode = args.mode ?? 'rename';
    if (mode !== 'rename' && mode !== 'template')
      throw new PermanentFault(`mode: "${String(mode)}" is not rename or template`);
    const admin = onDatabase(target, this.maintenanceDb);
    return this.withClient(admin, `restoring ${target.database} from ${clone}`, async (c) => {
      const cl = await dbInfo(c, clone);
      const current = await dbInfo(c, target.database);
      const record = (alreadyRestored: boolean): RestoreFromCloneRecord => ({
        database: target.database,
        clone,
        mode,
        cloneKept: mode === 'template',
        alreadyRestored,
        durationMs: ms(t0),
      });
      if (!cl) {
        if (mode === 'rename' && args.cloneOid !== undefined && current?.oid === args.cloneOid)
          return record(true);
        throw new PermanentFault(`cloneName: database "${clone}" does not exist: no clone to restore from`);
      }
      if (parseMark<CloneMark>(cl.comment, MARK_CLONE)?.of !== target.database)
        throw new PermanentFault(
          `cloneName: database "${clone}" is not a clone cutover made of ${target.database}; refusing to put it in its place`,
        );
      if (mode === 'rename') {
        await swapIn(c, clone, target.database, current?.comment ?? null);
      } else {
        await dropForce(c, target.database);
        await terminate(c, clone);
        await this.beating(args.heartbeat, 'copy from clone', () =>
          c.query(
            `CREATE DATABASE ${ident(target.database)} TEMPLATE ${ident(clone)} OWNER ${ident(cl.owner)}`,
          ),
        );
        if (current?.comment)
          await c.query(
            `COMMENT ON DATABASE ${ident(target.database)} IS ${pg.escapeLiteral(current.comment)}`,
          );
      }
      return record(false);
    });
  }

  /** Drops the database (`name`, default the URL's), terminating its sessions. Idempotent. */
  async dropDatabase(args: {
    dbUrl: string;
    name?: string;
  }): Promise<{ database: string; existed: boolean; durationMs: number }> {
    const t0 = now();
    const target = parseDbUrl(args.dbUrl);
    const name = args.name === undefined ? target.database : databaseName(args.name, 'name');
    this.refuseSpecial(name, args.name === undefined ? 'dbUrl' : 'name');
    return this.withClient(onDatabase(target, this.maintenanceDb), `dropping ${name}`, async (c) => {
      const existed = (await dbInfo(c, name)) !== null;
      if (existed) await dropForce(c, name);
      return { database: name, existed, durationMs: ms(t0) };
    });
  }

  async databaseExists(args: { dbUrl: string; name?: string }): Promise<boolean> {
    const target = parseDbUrl(args.dbUrl);
    const name = args.name === undefined ? target.database : databaseName(args.name, 'name');
    return this.withClient(
      onDatabase(target, this.maintenanceDb),
      'reading pg_database',
      async (c) => (await dbInfo(c, name)) !== null,
    );
  }

  /** pg_database_size: every relation of the database on disk. */
  async databaseSize(args: { dbUrl: string; name?: string }): Promise<{ database: string; bytes: number }> {
    const target = parseDbUrl(args.dbUrl);
    const name = args.name === undefined ? target.database : databaseName(args.name, 'name');
    return this.withClient(onDatabase(target, this.maintenanceDb), 'reading the database size', async (c) => {
      const res = await c.query<{ b: string | null }>(
        'SELECT pg_database_size(datname) AS b FROM pg_database WHERE datname = $1',
        [name],
      );
      const row = res.rows[0];
      if (!row)
        throw new PermanentFault(
          `database ${name} does not exist on ${target.describe.replace(/\/.*$/, '')}`,
        );
      return { database: name, bytes: Number(row.b ?? 0) };
    });
  }

  /** The `n` largest tables by total size (heap, indexes, TOAST); row counts are the planner's estimates. */
  async largestTables(args: { dbUrl: string; n: number }): Promise<TableSize[]> {
    const n = args.n;
    if (!Number.isInteger(n) || n < 1 || n > 10_000)
      throw new PermanentFault(`n: ${String(n)} is not a whole number from 1 to 10000`);
    const target = parseDbUrl(args.dbUrl);
    return this.withClient(target, 'listing the largest tables', async (c) => {
      const res = await c.query<{
        nspname: string;
        relname: string;
        reltuples: number;
        n_live_tup: string | null;
        total: string;
        heap: string;
        idx: string;
      }>(
        `SELECT n.nspname, c.relname, c.reltuples, s.n_live_tup,
                pg_total_relation_size(c.oid) AS total, pg_relation_size(c.oid) AS heap, pg_indexes_size(c.oid) AS idx
         FROM pg_class c
         JOIN pg_namespace n ON n.oid = c.relnamespace
         LEFT JOIN pg_stat_user_tables s ON s.relid = c.oid
         WHERE c.relkind IN ('r', 'p', 'm') AND n.nspname NOT IN ('pg_catalog', 'information_schema')
           AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp%'
         ORDER BY pg_total_relation_size(c.oid) DESC, n.nspname, c.relname
         LIMIT $1`,
        [n],
      );
      return res.rows.map((r) => ({
        table: r.nspname === 'public' ? r.relname : `${r.nspname}.${r.relname}`,
        // reltuples is -1 until the table is first vacuumed or analysed (PostgreSQL 14+).
        rowsEstimate:
          r.reltuples >= 0 ? Math.round(r.reltuples) : r.n_live_tup === null ? null : Number(r.n_live_tup),
        bytes: Number(r.total),
        tableBytes: Number(r.heap),
        indexBytes: Number(r.idx),
      }));
    });
  }

  /** Exact row counts (count(*)), every table read in one snapshot. */
  async rowCounts(args: { dbUrl: string; tables: string[] } & Progress): Promise<Record<string, number>> {
    const target = parseDbUrl(args.dbUrl);
    const tables = tableList(args.tables);
    return this.withClient(target, 'counting rows', async (c) => {
      await c.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
      try {
        const out: Record<string, number> = {};
        for (const t of tables) {
          const rel = await resolveTable(c, t);
          const res = await this.beating(args.heartbeat, `count ${t}`, () =>
            c.query<{ n: string }>(`SELECT count(*) AS n FROM ${rel.qualified}`),
          );
          out[t] = Number(res.rows[0]?.n ?? 0);
        }
        return out;
      } finally {
        await c.query('ROLLBACK');
      }
    });
  }

  /**
   * An MD5 per table over its rows in primary-key order, every table read in one snapshot. Each row
   * is hashed as md5(row::text) (session settings pinned: UTC, ISO dates, shortest-exact floats, hex
   * bytea); the hashes of CHECKSUM_CHUNK_ROWS consecutive rows are concatenated and hashed in the DB
   * (the chunks walk the primary-key index with a keyset condition, so memory stays bounded and no
   * whole-table sort happens); the result is the MD5 of the chunk hashes in order. Any changed,
   * added or removed row changes it. Comparable between databases of the same server (the order of
   * text keys follows the column's collation). A table without a primary key is refused.
   */
  async tableChecksums(
    args: { dbUrl: string; tables: string[] } & Progress,
  ): Promise<Record<string, string>> {
    const target = parseDbUrl(args.dbUrl);
    const tables = tableList(args.tables);
    return this.withClient(target, 'computing table checksums', async (c) => {
      await c.query(
        "SET TimeZone = 'UTC'; SET DateStyle = 'ISO, YMD'; SET IntervalStyle = 'postgres'; " +
          "SET extra_float_digits = 1; SET bytea_output = 'hex'",
      );
      await c.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
      try {
        // The per-chunk sort of hashes stays in memory.
        await c.query("SET LOCAL work_mem = '64MB'");
        const out: Record<string, string> = {};
        for (const t of tables) {
          const rel = await resolveTable(c, t);
          out[t] = await this.checksumTable(c, t, rel, args.heartbeat);
        }
        return out;
      } finally {
        await c.query('ROLLBACK');
      }
    });
  }

  /** pg_dump's and pg_restore's versions against the server's; throws when either is older. */
  async toolVersions(args: {
    dbUrl: string;
  }): Promise<{ server: string; pgDump: string; pgRestore: string }> {
    const target = parseDbUrl(args.dbUrl);
    const admin = onDatabase(target, this.maintenanceDb);
    const d = await this.checkedTool('pg_dump', admin);
    const r = await this.checkedTool('pg_restore', admin);
    const s = await this.serverVersion(admin);
    return { server: s.version, pgDump: d.version.version, pgRestore: r.version.version };
  }

  // ---------------------------------------------------------------- dump internals

  private async dumpTo(
    target: PgTarget,
    file: string,
    args: { compressLevel: number | undefined; lockWaitTimeoutMs?: number } & Progress,
  ): Promise<Omit<DumpRecord, 'file' | 'durationMs'>> {
    const admin = onDatabase(target, this.maintenanceDb);
    const dumpTool = await this.checkedTool('pg_dump', admin);
    await this.checkedTool('pg_restore', admin);
    const server = await this.serverVersion(admin);
    await removePartials(file);
    const partial = `${file}.partial-${process.pid}-${randomBytes(4).toString('hex')}`;
    try {
      const tDump = now();
      await this.runTool(
        dumpTool,
        [
          '--format=custom',
          '--no-password',
          ...(args.compressLevel === undefined ? [] : [`--compress=${args.compressLevel}`]),
          `--lock-wait-timeout=${Math.max(1, Math.round(args.lockWaitTimeoutMs ?? 120_000))}`,
          `--file=${partial}`,
          `--dbname=${target.conninfo}`,
        ],
        target,
        { ...args, step: 'pg_dump', appName: 'cutover-pg_dump', growing: partial },
      );
      const pgDumpMs = ms(tDump);
      const tHash = now();
      const { sha256, bytes } = await hashFile(partial, args.signal);
      const hashMs = ms(tHash);
      const tList = now();
      const tocEntries = await this.listArchive(partial, file, args);
      const listMs = ms(tList);
      await rename(partial, file);
      return {
        bytes,
        sha256,
        tocEntries,
        database: target.database,
        serverVersion: server.version,
        pgDumpVersion: dumpTool.version.version,
        phases: { pgDumpMs, hashMs, listMs },
      };
    } finally {
      await rm(partial, { force: true });
    }
  }

  /** `pg_restore --list`: the number of TOC entries; a PermanentFault when it cannot read the archive. */
  private async listArchive(file: string, label: string, p: Progress): Promise<number> {
    const tool = await this.tool('pg_restore');
    let stdout: string;
    try {
      ({ stdout } = await this.runTool(tool, ['--list', file], undefined, {
        ...p,
        step: 'pg_restore --list',
      }));
    } catch (err) {
      throw new PermanentFault(`${label} is not a readable pg_dump archive: ${(err as Error).message}`);
    }
    const entries = stdout.split('\n').filter((l) => l.trim() !== '' && !l.startsWith(';')).length;
    if (entries === 0) throw new PermanentFault(`${label} is a pg_dump archive with no entries`);
    return entries;
  }

  private async verifyLocal(
    file: string,
    label: string,
    expected: string | undefined,
    deep: boolean,
    p: Progress,
  ): Promise<{ bytes: number; sha256: string; tocEntries: number }> {
    const { sha256, bytes } = await this.beating(p.heartbeat, 'sha256', () => hashFile(file, p.signal));
    if (expected !== undefined && sha256 !== expected)
      throw new PermanentFault(
        `${label} is not the archive recorded: its SHA-256 is ${sha256}, the backup's is ${expected} (${bytes} bytes read)`,
      );
    const tocEntries = await this.listArchive(file, label, p);
    if (deep) {
      const tool = await this.tool('pg_restore');
      try {
        await this.runTool(tool, ['--file=/dev/null', file], undefined, {
          ...p,
          step: 'pg_restore (read every block)',
        });
      } catch (err) {
        throw new PermanentFault(`${label} lists but its data does not read back: ${(err as Error).message}`);
      }
    }
    return { bytes, sha256, tocEntries };
  }

  private async verifyObject(
    ref: ObjectRef,
    expected: string | undefined,
    deep: boolean,
    p: Progress,
    dir: string,
  ): Promise<{ bytes: number; sha256: string; tocEntries: number }> {
    const local = path.join(dir, `verify-${randomBytes(4).toString('hex')}.dump`);
    try {
      await this.download(ref, local, p);
      return await this.verifyLocal(local, ref.url, expected, deep, p);
    } finally {
      await rm(local, { force: true });
    }
  }

  private async download(ref: ObjectRef, file: string, p: Progress): Promise<void> {
    const store = this.store();
    const head = await store.headObject(ref.bucket, ref.key);
    if (!head) throw new PermanentFault(`object: ${ref.url} does not exist`);
    const tick = this.ticker(p.heartbeat, 'download', { object: ref.url, bytes: head.size });
    try {
      await store.getFile(ref.bucket, ref.key, file, p.signal);
    } finally {
      tick.stop();
    }
  }

  /**
   * A working directory for an archive on its way to or from the bucket, named after what it is for,
   * so that a retried attempt removes what a killed one left there (an archive as large as the
   * database's data). Not for two identical operations at once.
   */
  private async scratchDir(kind: string, key: string): Promise<string> {
    const id = createHash('sha256').update(key).digest('hex').slice(0, 16);
    const dir = path.join(this.opts.workDir ?? tmpdir(), `cutover-${kind}-${id}`);
    await rm(dir, { recursive: true, force: true });
    await mkdir(dir, { recursive: true, mode: 0o700 });
    return dir;
  }

  private store(): ObjectFilePort {
    if (!this.opts.objectStore)
      throw new PermanentFault(
        'this PgBackup has no object store: construct it with objectStore to use s3:// archives',
      );
    return this.opts.objectStore;
  }

  // ---------------------------------------------------------------- checksum internals

  private async checksumTable(
    c: pg.Client,
    name: string,
    rel: ResolvedTable,
    heartbeat?: Heartbeat,
  ): Promise<string> {
    const pk = await primaryKey(c, rel.oid);
    if (pk.length === 0)
      throw new PermanentFault(`tables: ${name} has no primary key; a checksum needs one to order its rows`);
    const cols = pk.map((k) => ident(k.name)).join(', ');
    const keyJson = `jsonb_build_array(${pk.map((k) => `${ident(k.name)}::text`).join(', ')})`;
    const key = (from: number): string => `(${pk.map((k, i) => `$${from + i}::${k.type}`).join(', ')})`;
    // The chunk's last key: the PK index read up to it (an index-only scan on a vacuumed table).
    const boundSql = (lower: boolean): string =>
      `SELECT ${keyJson} AS k FROM ${rel.qualified} ${lower ? `WHERE (${cols}) > ${key(2)}` : ''}
       ORDER BY ${cols} OFFSET $1 LIMIT 1`;
    const chunkSql = (lower: boolean, upper: boolean): string => {
      const where = [
        ...(lower ? [`(${cols}) > ${key(1)}`] : []),
        ...(upper ? [`(${cols}) <= ${key(lower ? pk.length + 1 : 1)}`] : []),
      ];
      return `SELECT md5(string_agg(md5(t::text), '' ORDER BY ${cols})) AS digest, count(*) AS n
              FROM ${rel.qualified} AS t ${where.length > 0 ? `WHERE ${where.join(' AND ')}` : ''}`;
    };
    const total = createHash('md5');
    let last: string[] | null = null;
    let rows = 0;
    const t0 = now();
    let beat = t0;
    for (;;) {
      const bound: pg.QueryResult<{ k: string[] }> = await c.query(boundSql(last !== null), [
        CHECKSUM_CHUNK_ROWS - 1,
        ...(last ?? []),
      ]);
      const upper: string[] | null = bound.rows[0]?.k ?? null;
      const res = await c.query<{ digest: string | null; n: string }>(
        chunkSql(last !== null, upper !== null),
        [...(last ?? []), ...(upper ?? [])],
      );
      const row = res.rows[0];
      if (row?.digest) total.update(row.digest);
      rows += Number(row?.n ?? 0);
      if (upper === null) break;
      last = upper;
      if (heartbeat && now() - beat >= this.heartbeatEveryMs) {
        heartbeat({ step: `checksum ${name}`, rows, elapsedMs: ms(t0) });
        beat = now();
      }
    }
    // An empty table hashes nothing: the MD5 of the empty string.
    return total.digest('hex');
  }

  // ---------------------------------------------------------------- processes

  private async tool(name: ToolVersion['tool']): Promise<{ bin: string; version: ToolVersion }> {
    const bin = this.opts.binDir ? path.join(this.opts.binDir, name) : findOnPath(name);
    if (!bin || !existsSync(bin))
      throw new PermanentFault(
        `${name} is not ${this.opts.binDir ? `in ${this.opts.binDir}` : 'on PATH'}: install Debian's postgresql-client matching the server (.ci/run does)`,
      );
    let version = this.versionCache.get(bin);
    if (!version) {
      const text = await new Promise<string>((resolve, reject) =>
        execFile(bin, ['--version'], { timeout: 30_000, env: childEnv() }, (err, stdout) =>
          err ? reject(new PermanentFault(`${bin} --version failed: ${err.message}`)) : resolve(stdout),
        ),
      );
      version = parseToolVersion(name, text);
      this.versionCache.set(bin, version);
    }
    return { bin, version };
  }

  private async checkedTool(
    name: ToolVersion['tool'],
    admin: PgTarget,
  ): Promise<{ bin: string; version: ToolVersion }> {
    const t = await this.tool(name);
    const server = await this.serverVersion(admin);
    checkToolVersion(t.version, server.num, server.version);
    return t;
  }

  private async serverVersion(admin: PgTarget): Promise<{ num: number; version: string }> {
    return this.withClient(admin, 'reading the server version', async (c) => {
      const res = await c.query<{ n: string; v: string }>(
        "SELECT current_setting('server_version_num') AS n, current_setting('server_version') AS v",
      );
      return { num: Number(res.rows[0]?.n ?? 0), version: (res.rows[0]?.v ?? '?').split(' ')[0] ?? '?' };
    });
  }

  /**
   * Runs a PostgreSQL client tool with a fresh environment (PGPASSWORD when the URL has a password),
   * heartbeating while it runs; SIGTERM on abort. Errors carry the tool's last stderr lines, scrubbed.
   */
  private runTool(
    tool: { bin: string },
    argv: string[],
    target: PgTarget | undefined,
    o: Progress & { step: string; appName?: string; growing?: string },
  ): Promise<{ stdout: string; stderr: string }> {
    const env = childEnv(target?.password, o.appName);
    return new Promise((resolve, reject) => {
      if (o.signal?.aborted) {
        reject(abortError(o.step));
        return;
      }
      const child = spawn(tool.bin, argv, { env, stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (b: Buffer) => {
        if (stdout.length < 64 * 1024 * 1024) stdout += b.toString('utf8');
      });
      child.stderr.on('data', (b: Buffer) => {
        stderr = (stderr + b.toString('utf8')).slice(-16_000);
      });
      const tick = this.ticker(o.heartbeat, o.step, {}, o.growing);
      const onAbort = (): void => {
        child.kill('SIGTERM');
      };
      o.signal?.addEventListener('abort', onAbort, { once: true });
      child.once('error', (err) => {
        tick.stop();
        o.signal?.removeEventListener('abort', onAbort);
        reject(new PermanentFault(`cannot run ${tool.bin}: ${err.message}`));
      });
      child.once('close', (code, sig) => {
        tick.stop();
        o.signal?.removeEventListener('abort', onAbort);
        if (o.signal?.aborted) {
          reject(abortError(o.step));
          return;
        }
        if (code === 0) {
          resolve({ stdout, stderr });
          return;
        }
        const tail = scrub(stderr.trim().split('\n').slice(-12).join('\n'), target);
        const text = `${o.step} on ${target?.describe ?? 'the archive'} failed (${code === null ? `signal ${sig}` : `exit ${code}`}): ${tail || '(no output)'}`;
        reject(PERMANENT_TOOL_ERRORS.test(stderr) ? new PermanentFault(text) : new Error(text));
      });
    });
  }

  /** Calls the heartbeat every heartbeatEveryMs until stopped (with a growing file's size, when named). */
  private ticker(
    heartbeat: Heartbeat | undefined,
    step: string,
    extra: Record<string, unknown>,
    growing?: string,
  ): { stop(): void } {
    if (!heartbeat) return { stop: () => undefined };
    const t0 = now();
    const timer = setInterval(() => {
      const beat = (bytes?: number): void =>
        heartbeat({ step, elapsedMs: ms(t0), ...extra, ...(bytes === undefined ? {} : { bytes }) });
      if (growing)
        stat(growing).then(
          (s) => beat(s.size),
          () => beat(),
        );
      else beat();
    }, this.heartbeatEveryMs);
    timer.unref();
    return { stop: () => clearInterval(timer) };
  }

  private async beating<T>(heartbeat: Heartbeat | undefined, step: string, fn: () => Promise<T>): Promise<T> {
    const tick = this.ticker(heartbeat, step, {});
    try {
      return await fn();
    } finally {
      tick.stop();
    }
  }

  // ---------------------------------------------------------------- SQL

  private async withClient<T>(target: PgTarget, doing: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
    const c = new pg.Client({
      connectionString: target.secretUrl,
      application_name: 'cutover-pg-backup',
      connectionTimeoutMillis: this.connectTimeoutMs,
    });
    // A server-side error after connect is delivered to the query; this keeps an idle drop from crashing.
    c.on('error', () => undefined);
    try {
      await c.connect();
    } catch (err) {
      await c.end().catch(() => undefined);
      throw this.sqlError(err, target, `${doing} (connecting)`);
    }
    try {
      return await fn(c);
    } catch (err) {
      throw this.sqlError(err, target, doing);
    } finally {
      await c.end().catch(() => undefined);
    }
  }

  /** A driver error as a message without secrets; PermanentFault for what retrying cannot fix. */
  private sqlError(err: unknown, target: PgTarget, doing: string): Error {
    if (err instanceof PermanentFault || err instanceof DatabaseInUse) return err;
    if (err instanceof Error && err.name === 'AbortError') return err;
    const code = sqlState(err);
    const text = scrub(
      `${doing} on ${target.describe}: ${err instanceof Error ? err.message : String(err)}`,
      target,
    );
    if (code && PERMANENT_SQLSTATES.has(code)) return new PermanentFault(`${text} (SQLSTATE ${code})`);
    return new Error(code ? `${text} (SQLSTATE ${code})` : text);
  }

  private refuseSpecial(name: string, field: string): void {
    if (name === this.maintenanceDb || RESERVED_DATABASES.has(name))
      throw new PermanentFault(
        `${field}: "${name}" is the server's maintenance or template database; refusing to replace or drop it`,
      );
  }
}

// ---------------------------------------------------------------- helpers

/** pg_restore / pg_dump failures retrying cannot fix (a network blip or a server restart can be retried). */
const PERMANENT_TOOL_ERRORS =
  /does not exist|password authentication failed|permission denied|no pg_hba\.conf entry|server version mismatch|does not appear to be a valid archive|unsupported version|could not open input file|could not execute query|input file is too short|corrupt|invalid/i;

const PERMANENT_SQLSTATES = new Set([
  '28P01', // password authentication failed
  '28000', // not authorised
  '3D000', // database does not exist
  '42501', // permission denied
  '42P01', // table missing
  '42P04', // database exists
  '42601', // syntax (a bad name that passed validation)
  '22023', // invalid parameter (locale, encoding)
]);

function sqlState(err: unknown): string | undefined {
  if (
    err &&
    typeof err === 'object' &&
    'code' in err &&
    typeof err.code === 'string' &&
    /^[0-9A-Z]{5}$/.test(err.code)
  )
    return err.code;
  return undefined;
}

function abortError(step: string): Error {
  const e = new Error(`${step} aborted`);
  e.name = 'AbortError';
  return e;
}

function ident(name: string): string {
  return pg.escapeIdentifier(name);
}

/** A database name as PostgreSQL stores it (1..63 bytes, no NUL). */
function databaseName(name: unknown, field: string): string {
  if (typeof name !== 'string' || name === '')
    throw new PermanentFault(`${field}: missing (a database name)`);
  if (Buffer.byteLength(name) > 63 || name.includes('\0'))
    throw new PermanentFault(`${field}: "${name.slice(0, 80)}" is not a database name (at most 63 bytes)`);
  return name;
}

function tableList(tables: unknown): string[] {
  if (!Array.isArray(tables) || tables.length === 0 || tables.some((t) => typeof t !== 'string' || t === ''))
    throw new PermanentFault('tables: expected a non-empty list of table names');
  return tables as string[];
}

function compressLevelOf(level: unknown): number | undefined {
  if (level === undefined) return undefined;
  if (!Number.isInteger(level) || (level as number) < 0 || (level as number) > 9)
    throw new PermanentFault(`compressLevel: ${String(level)} is not a gzip level from 0 to 9`);
  return level as number;
}

function jobsOf(jobs: unknown): number {
  if (jobs === undefined) return 1;
  if (!Number.isInteger(jobs) || (jobs as number) < 1 || (jobs as number) > 64)
    throw new PermanentFault(`jobs: ${String(jobs)} is not a whole number from 1 to 64`);
  return jobs as number;
}

function sha256Of(v: unknown): string {
  if (typeof v !== 'string' || !/^[0-9a-f]{64}$/i.test(v))
    throw new PermanentFault('sha256: expected 64 hex digits (the DumpRecord.sha256 of the backup)');
  return v.toLowerCase();
}

function oneSource(args: { file?: string; object?: string }): { kind: 'file' | 'object'; value: string } {
  if ((args.file === undefined) === (args.object === undefined))
    throw new PermanentFault('file / object: give exactly one of them (a local archive or an s3:// object)');
  return args.file !== undefined
    ? { kind: 'file', value: args.file }
    : { kind: 'object', value: args.object ?? '' };
}

async function outputFile(file: unknown, field: string): Promise<string> {
  if (typeof file !== 'string' || file.trim() === '')
    throw new PermanentFault(`${field}: missing (a path for the archive)`);
  const abs = path.resolve(file);
  const dir = path.dirname(abs);
  const s = await stat(dir).catch(() => null);
  if (!s?.isDirectory()) throw new PermanentFault(`${field}: the directory ${dir} does not exist`);
  return abs;
}

async function inputFile(file: unknown, field: string): Promise<string> {
  if (typeof file !== 'string' || file.trim() === '')
    throw new PermanentFault(`${field}: missing (the archive's path)`);
  const abs = path.resolve(file);
  const s = await stat(abs).catch(() => null);
  if (!s?.isFile()) throw new PermanentFault(`${field}: ${abs} is not a file`);
  return abs;
}

/** Partial files of earlier attempts at the same archive. */
async function removePartials(file: string): Promise<void> {
  const dir = path.dirname(file);
  const prefix = `${path.basename(file)}.partial-`;
  for (const f of await readdir(dir)) if (f.startsWith(prefix)) await rm(path.join(dir, f), { force: true });
}

async function hashFile(file: string, signal?: AbortSignal): Promise<{ sha256: string; bytes: number }> {
  const h = createHash('sha256');
  let bytes = 0;
  const stream = createReadStream(file, { highWaterMark: 1024 * 1024, ...(signal ? { signal } : {}) });
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    h.update(chunk);
    bytes += chunk.length;
  }
  return { sha256: h.digest('hex'), bytes };
}

function findOnPath(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? '/usr/bin:/bin').split(':')) {
    if (!dir) continue;
    const p = path.join(dir, name);
    if (existsSync(p)) return p;
  }
  return undefined;
}

/** A child's environment, from nothing: PATH (Debian's pg_wrapper needs it), HOME (libpq's ~/.pgpass), LANG. */
function childEnv(password?: string, appName?: string): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: process.env.HOME ?? tmpdir(),
    LANG: 'C.UTF-8',
    PGCONNECT_TIMEOUT: '10',
    ...(appName ? { PGAPPNAME: appName } : {}),
    ...(password === undefined ? {} : { PGPASSWORD: password }),
  };
}

/** <db>_rst_<random>, within PostgreSQL's 63 bytes: unique per attempt, so an orphaned pg_restore of an earlier attempt can never reach it. */
function stagingName(db: string): string {
  const suffix = `_rst_${randomBytes(4).toString('hex')}`;
  const base =
    Buffer.byteLength(db) <= 63 - suffix.length
      ? db
      : `cutover_${createHash('md5').update(db).digest('hex').slice(0, 16)}`;
  return `${base}${suffix}`;
}

function parseMark<T>(comment: string | null, prefix: string): T | null {
  if (!comment?.startsWith(prefix)) return null;
  try {
    return JSON.parse(comment.slice(prefix.length)) as T;
  } catch {
    return null;
  }
}

async function dbInfo(c: pg.Client, name: string): Promise<DbInfo | null> {
  // to_jsonb(d) reads the locale columns whatever this server calls them (daticulocale in 15/16, datlocale in 17+).
  const res = await c.query<{
    oid: number;
    owner: string;
    encoding: string;
    comment: string | null;
    d: Record<string, unknown>;
  }>(
    `SELECT d.oid::int AS oid, pg_get_userbyid(d.datdba) AS owner, pg_encoding_to_char(d.encoding) AS encoding,
            shobj_description(d.oid, 'pg_database') AS comment, to_jsonb(d) AS d
     FROM pg_database d WHERE d.datname = $1`,
    [name],
  );
  const r = res.rows[0];
  if (!r) return null;
  const str = (v: unknown): string | null => (typeof v === 'string' && v !== '' ? v : null);
  return {
    name,
    oid: r.oid,
    owner: r.owner,
    encoding: r.encoding,
    collate: str(r.d.datcollate) ?? '',
    ctype: str(r.d.datctype) ?? '',
    localeProvider: str(r.d.datlocprovider),
    icuLocale: str(r.d.daticulocale) ?? str(r.d.datlocale),
    comment: r.comment,
  };
}

/** CREATE DATABASE clauses that make a new database owned and localised like `info` (none when it is absent). */
function createClauses(info: DbInfo | null): string {
  if (!info) return '';
  const lit = pg.escapeLiteral;
  let out = ` OWNER ${ident(info.owner)} ENCODING ${lit(info.encoding)} LC_COLLATE ${lit(info.collate)} LC_CTYPE ${lit(info.ctype)}`;
  if (info.localeProvider === 'i' && info.icuLocale)
    out += ` LOCALE_PROVIDER icu ICU_LOCALE ${lit(info.icuLocale)}`;
  return out;
}

async function markedDatabases(c: pg.Client, prefix: string): Promise<{ name: string; mark: unknown }[]> {
  const res = await c.query<{ datname: string; comment: string }>(
    `SELECT datname, shobj_description(oid, 'pg_database') AS comment FROM pg_database
     WHERE starts_with(coalesce(shobj_description(oid, 'pg_database'), ''), $1)`,
    [prefix],
  );
  return res.rows
    .map((r) => ({ name: r.datname, mark: parseMark<unknown>(r.comment, prefix) }))
    .filter((r) => r.mark !== null);
}

async function terminate(c: pg.Client, db: string): Promise<void> {
  await c.query(
    'SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()',
    [db],
  );
}

async function dropForce(c: pg.Client, db: string): Promise<void> {
  await c.query(`DROP DATABASE IF EXISTS ${ident(db)} WITH (FORCE)`);
}

/**
 * Puts database `from` in the place of `to`: `to` dropped (its sessions terminated), `from` renamed.
 * A rename needs nobody connected to `from`: its sessions are terminated first, and the rename is
 * tried again if one slips in.
 */
async function swapIn(c: pg.Client, from: string, to: string, comment: string | null): Promise<void> {
  await dropForce(c, to);
  for (let attempt = 1; ; attempt++) {
    await terminate(c, from);
    try {
      await c.query(`ALTER DATABASE ${ident(from)} RENAME TO ${ident(to)}`);
      break;
    } catch (err) {
      if (sqlState(err) !== '55006' || attempt >= 5) throw err;
    }
  }
  await c.query(
    `COMMENT ON DATABASE ${ident(to)} IS ${comment === null ? 'NULL' : pg.escapeLiteral(comment)}`,
  );
}

async function connectedSessions(c: pg.Client, db: string): Promise<ConnectedSession[]> {
  const res = await c.query<{
    pid: number;
    usename: string | null;
    application_name: string | null;
    client: string | null;
    state: string | null;
    backend_start: Date | null;
  }>(
    `SELECT pid, usename, application_name,
            CASE WHEN client_addr IS NULL THEN (CASE WHEN client_port = -1 THEN 'local socket' END)
                 ELSE host(client_addr) || ':' || client_port END AS client,
            state, backend_start
     FROM pg_stat_activity
     WHERE datname = $1 AND pid <> pg_backend_pid() AND backend_type = 'client backend'
     ORDER BY backend_start, pid`,
    [db],
  );
  return res.rows.map((r) => ({
    pid: r.pid,
    user: r.usename,
    applicationName: r.application_name ?? '',
    client: r.client,
    state: r.state,
    backendStart: r.backend_start ? r.backend_start.toISOString() : null,
  }));
}

async function refuseIfConnected(c: pg.Client, db: string): Promise<void> {
  const sessions = await connectedSessions(c, db);
  if (sessions.length === 0) return;
  const shown = sessions
    .slice(0, 10)
    .map(
      (s) =>
        `${s.applicationName === '' ? '(no application_name)' : s.applicationName} (pid ${s.pid}, user ${s.user ?? '?'}${s.client ? `, from ${s.client}` : ''}${s.state ? `, ${s.state}` : ''})`,
    )
    .join('; ');
  const more = sessions.length > 10 ? `; and ${sessions.length - 10} more` : '';
  throw new DatabaseInUse(
    `cannot clone ${db}: PostgreSQL copies a database only while nobody else is connected to it, and ` +
      `${sessions.length} session${sessions.length === 1 ? ' is' : 's are'}: ${shown}${more}. ` +
      'The clone strategy needs the Airflow components stopped (and any other client disconnected) first.',
    db,
    sessions,
  );
}

interface ResolvedTable {
  oid: number;
  qualified: string;
}

async function resolveTable(c: pg.Client, name: string): Promise<ResolvedTable> {
  const res = await c.query<{ oid: number | null; nspname: string | null; relname: string | null }>(
    `SELECT cl.oid::int AS oid, n.nspname, cl.relname
     FROM (SELECT to_regclass($1) AS r) x
     LEFT JOIN pg_class cl ON cl.oid = x.r LEFT JOIN pg_namespace n ON n.oid = cl.relnamespace`,
    [name],
  );
  const r = res.rows[0];
  if (!r?.oid || !r.nspname || !r.relname)
    throw new PermanentFault(
      `tables: no table "${name}" in ${String((await c.query('SELECT current_database() AS d')).rows[0]?.d)}`,
    );
  return { oid: r.oid, qualified: `${ident(r.nspname)}.${ident(r.relname)}` };
}

async function primaryKey(c: pg.Client, oid: number): Promise<{ name: string; type: string }[]> {
  const res = await c.query<{ name: string; type: string }>(
    `SELECT a.attname AS name, format_type(a.atttypid, a.atttypmod) AS type
     FROM pg_index i
     CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord)
     JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
     WHERE i.indrelid = $1 AND i.indisprimary
     ORDER BY k.ord`,
    [oid],
  );
  return res.rows;
}
