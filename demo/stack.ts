/**
 * The base of the demo's stack, brought up concurrently: the Temporal dev server with its Web UI,
 * a PostgreSQL database migrated by Airflow (by the release the runbook starts on; seeded with the
 * reference XCom history for the XCom runbook), and moto's S3 server with the plan's bucket. Each
 * registers its disposer as soon as it exists.
 */
import { formatCount } from '../domain/figures.js';
import { writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { startDevServer, type DevServer } from '../client/devserver.js';
import { freeServicePort } from '../local/ports.js';
import { migrateAirflowDb } from '../local/airflow-db.js';
import { startMoto, type MotoServer } from '../local/moto.js';
import {
  createDatabase,
  databaseExists,
  describeServer,
  pgServerUrl,
  type LocalDatabase,
} from '../local/postgres.js';
import { seedReferenceHistory } from '../local/xcom-history.js';
import type { Lifecycle } from './lifecycle.js';
import { Interrupted, ORDER } from './lifecycle.js';
import { DEFAULT_PORT, type Options } from './options.js';
import { errorText, say, seconds, since, type Timing } from './output.js';

export function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.unref();
    srv.once('error', () => resolve(false));
    srv.listen({ host: '127.0.0.1', port, exclusive: true }, () => srv.close(() => resolve(true)));
  });
}

/** `wanted` when given; else `preferred` when free; else a free port (the note says so). */
export async function choosePort(
  wanted: number | null,
  preferred: number,
  what: string,
  notes: string[],
): Promise<number> {
  if (wanted !== null) return wanted;
  if (preferred <= 65535 && (await portFree(preferred))) return preferred;
  const free = await freeServicePort();
  notes.push(`${what} ${preferred > 65535 ? '(out of range)' : `${preferred} is taken`}, using ${free}`);
  return free;
}

export interface Stack {
  server: DevServer;
  db: LocalDatabase;
  moto: MotoServer;
  /** The gRPC port the server was asked for (the CLI derives the Web UI from it). */
  port: number;
}

/** Set once this run has created its database (the end checks that it is gone again). */
export const created = { database: false };

export async function startStack(
  opts: Options,
  life: Lifecycle,
  timings: Timing[],
  dirs: { dir: string; logs: string },
  bucket: string,
  /** The Airflow release whose `airflow db migrate` makes the schema; null: the default venv's. */
  release: string | null,
  /** Runs once the server is up and before the database is touched (what an earlier demo left). */
  beforeChanges: (server: DevServer) => Promise<void> = async () => undefined,
): Promise<Stack> {
  const serverUrl = pgServerUrl();
  const notes: string[] = [];
  const port = await choosePort(opts.port, DEFAULT_PORT, 'port', notes);
  const uiPort = await choosePort(opts.uiPort, port + 1000, 'Web UI port', notes);
  for (const n of notes) say(`  [note] ${n}`);

  const serverStep = (async (): Promise<DevServer> => {
    const t = performance.now();
    const server = await life.acquire(
      'Temporal dev server',
      ORDER.SERVER,
      startDevServer({
        port,
        uiPort,
        ui: true,
        dbFilename: path.join(dirs.dir, 'temporal.db'),
        logFile: path.join(dirs.logs, 'temporal.log'),
        ownProcessGroup: true,
      }),
      (s) => s.stop(),
    );
    timings.push({ label: 'Temporal dev server start', ms: since(t) });
    say(
      `  [ok] Temporal dev server ${server.address}${server.pid === null ? '' : ` (pid ${server.pid})`}, Web UI ${server.uiUrl ?? '(none)'} [${seconds(since(t))}]`,
    );
    return server;
  })();

  // The database an earlier run may still have to undo is not dropped before that is known: the
  // database waits for the server (a few seconds) instead of starting beside it.
  const cleared = serverStep.then(beforeChanges);
  const dbStep = (async (): Promise<LocalDatabase> => {
    await life.guard(cleared);
    let t = performance.now();
    const existed = await life.guard(databaseExists(opts.db, serverUrl));
    const db = await life.acquire(
      `database ${opts.db}`,
      ORDER.DATABASE,
      createDatabase(opts.db, { serverUrl, replace: true }),
      async (d) => {
        if (opts.keepDb) return;
        await d.drop();
      },
      `database ${opts.db} ${opts.keepDb ? 'kept (--keep-db)' : 'dropped'}`,
    );
    created.database = true;
    timings.push({ label: `database ${opts.db} ${existed ? 'dropped + created' : 'created'}`, ms: since(t) });
    t = performance.now();
    const migrated = await life.guard(
      migrateAirflowDb(db.sqlalchemyUrl, {
        signal: life.signal,
        ...(release === null ? {} : { airflowVersion: release }),
      }),
    );
    writeFileSync(path.join(dirs.logs, 'airflow-db-migrate.log'), migrated.output);
    timings.push({
      label: `airflow db migrate${release === null ? '' : ` (Airflow ${release})`}`,
      ms: migrated.durationMs,
    });
    let seededNote = '';
    // Only the XCom calibration measures a history; the state-store tables start empty.
    if (opts.runbook.seedsXComHistory) {
      t = performance.now();
      const seeded = await life.guard(seedReferenceHistory(db.url));
      timings.push({ label: `seed ${formatCount(seeded.rows)} XCom rows`, ms: since(t) });
      seededNote = `, ${formatCount(seeded.rows)} XCom rows seeded [${seconds(since(t))}]`;
    }
    say(
      `  [ok] PostgreSQL database ${opts.db} on ${describeServer(serverUrl)}${existed ? ' (the leftover one was dropped first)' : ''}: ` +
        `airflow db migrate${release === null ? '' : ` (Airflow ${release})`} [${seconds(migrated.durationMs)}]${seededNote}`,
    );
    return db;
  })();

  const motoStep = (async (): Promise<MotoServer> => {
    const t = performance.now();
    const moto = await life.acquire(
      'moto',
      ORDER.MOTO,
      startMoto({
        bucket,
        logFile: path.join(dirs.logs, 'moto.log'),
        signal: life.signal,
        ownProcessGroup: true,
      }),
      (m) => m.stop(),
    );
    timings.push({ label: 'moto S3 start + bucket', ms: since(t) });
    say(`  [ok] moto S3 ${moto.endpoint} (pid ${moto.pid}), bucket ${moto.bucket} [${seconds(since(t))}]`);
    return moto;
  })();

  const tStack = performance.now();
  const settled = await Promise.allSettled([serverStep, dbStep, motoStep]);
  const failed = settled.filter((s): s is PromiseRejectedResult => s.status === 'rejected');
  if (failed.length > 0) {
    const interrupted = failed.find((f) => f.reason instanceof Interrupted);
    if (interrupted) throw interrupted.reason;
    throw failed.length === 1
      ? failed[0]?.reason
      : new Error(failed.map((f) => errorText(f.reason)).join('\n'));
  }
  const [server, db, moto] = await Promise.all([serverStep, dbStep, motoStep]);
  timings.push({ label: 'base stack ready (the steps above ran concurrently)', ms: since(tStack) });
  return { server, db, moto, port };
}
