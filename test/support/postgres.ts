/**
 * Throw-away databases on the machine's real PostgreSQL (127.0.0.1:5432, trust
 * auth, user postgres unless CUTOVER_PG_* say otherwise). Each test file makes
 * its own, with a unique name, and drops it when done.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';

export const PG_HOST = process.env.CUTOVER_PG_HOST ?? '127.0.0.1';
export const PG_PORT = Number(process.env.CUTOVER_PG_PORT ?? 5432);
export const PG_USER = process.env.CUTOVER_PG_USER ?? 'postgres';

export interface TestDatabase {
  name: string;
  /** postgresql://postgres@127.0.0.1:5432/<name> */
  url: string;
  /** The same DB as Airflow's config spells it (postgresql+psycopg2://...). */
  sqlalchemyUrl: string;
  /** Terminates leftover connections, then drops the database. Idempotent. */
  drop(): Promise<void>;
}

function adminUrl(): string {
  return `postgresql://${encodeURIComponent(PG_USER)}@${PG_HOST}:${PG_PORT}/postgres`;
}

async function withAdmin<T>(fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: adminUrl(), application_name: 'cutover-test-admin' });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

export async function createTestDatabase(prefix: string): Promise<TestDatabase> {
  const clean = prefix
    .toLowerCase()
    .replace(/[^a-z0-9_]/g, '_')
    .slice(0, 30);
  const name = `${clean}_${Date.now().toString(36)}_${randomBytes(3).toString('hex')}`;
  await withAdmin((c) => c.query(`CREATE DATABASE ${pg.escapeIdentifier(name)}`));
  const hostPart = `${encodeURIComponent(PG_USER)}@${PG_HOST}:${PG_PORT}/${name}`;
  let dropped = false;
  return {
    name,
    url: `postgresql://${hostPart}`,
    sqlalchemyUrl: `postgresql+psycopg2://${hostPart}`,
    async drop() {
      if (dropped) return;
      dropped = true;
      await dropDatabase(name);
    },
  };
}

export async function dropDatabase(name: string): Promise<void> {
  await withAdmin(async (c) => {
    await c.query(
      'SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()',
      [name],
    );
    await c.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(name)}`);
  });
}
