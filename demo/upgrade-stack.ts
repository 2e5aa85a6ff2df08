/**
 * What the upgrade adds to the demo's stack and takes away at the end: the env file's lines naming
 * the release it starts on, the directory its dumps go
 * to (<dir>/backups, so a demo writes nothing outside its state dir; removed with the database it
 * backs up), and the scratch databases an interrupted run may leave on the server beside the demo's
 * own (the rehearsal copy, a restore's staging database, a clone), dropped at the end.
 */
import { mkdirSync, readdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { pgServerUrl } from '../local/postgres.js';
import { AIRFLOW_VERSION_KEY } from '../domain/upgrade/kind.js';
import { ORDER, type Lifecycle } from './lifecycle.js';
import { warn } from './output.js';

/**
 * The env file's lines for a stack that starts on `release`: the supervisor starts every component
 * from its venv (the upgrade's switch is that line). And the DAGs are live as production's are
 * (Airflow pauses new ones by default): VALIDATE unpauses the plan's DAGs on the new release, but a
 * restore brings back the dag table of the backup, and the rollback's re-trigger does not unpause
 * (upgrade.rerunOnOldRelease): a critical DAG paused at the backup would leave its re-run queued.
 */
export function releaseEnvLines(release: string): string {
  return [
    '# The Airflow release every component runs (the supervisor starts it from its venv).',
    `${AIRFLOW_VERSION_KEY}=${release}`,
    '# The DAGs are live, as in production: a rollback re-runs the critical DAG on the old release.',
    'AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION=False',
    '',
  ].join('\n');
}

/** <dir>/backups, emptied of an earlier demo's dumps; removed at the end unless --keep-db keeps the DB. */
export function prepareBackups(life: Lifecycle, dir: string, keepDb: boolean): string {
  const backups = path.join(dir, 'backups');
  rmSync(backups, { recursive: true, force: true });
  mkdirSync(backups, { recursive: true });
  life.add(
    'the backups',
    ORDER.BACKUPS,
    async () => {
      if (keepDb) return;
      rmSync(backups, { recursive: true, force: true });
    },
    keepDb ? 'backups kept (--keep-db)' : 'backups removed',
  );
  return backups;
}

/** The dumps in the backups directory now (names). */
export function dumpsIn(backups: string): string[] {
  try {
    return readdirSync(backups).filter((f) => f.endsWith('.dump'));
  } catch {
    return [];
  }
}

/**
 * Drops, at the end, the databases the upgrade makes beside `db` that a run cut short may have
 * left: `names` (the rehearsal copy, the clone, as the plan names them) and `<db>_rst_<hex>`, a
 * restore's staging database. Before the demo's own database goes: nothing else uses them.
 */
export function dropScratchDatabasesAtEnd(life: Lifecycle, db: string, names: readonly string[]): void {
  life.add(
    'the upgrade’s scratch databases',
    ORDER.DATABASE,
    async () => {
      const client = new pg.Client({ connectionString: pgServerUrl(), application_name: 'cutover-demo' });
      await client.connect();
      try {
        const staging = `^${db}_rst_[0-9a-f]{8}$`;
        const found = (
          await client.query<{ name: string }>(
            'SELECT datname AS name FROM pg_database WHERE datname = ANY($1) OR datname ~ $2 ORDER BY 1',
            [names, staging],
          )
        ).rows.map((r) => r.name);
        for (const name of found) {
          await client.query(
            'SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()',
            [name],
          );
          await client.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(name)}`);
        }
        if (found.length > 0) warn(`dropped what the upgrade left on the server: ${found.join(', ')}`);
      } finally {
        await client.end();
      }
    },
    null,
  );
}
