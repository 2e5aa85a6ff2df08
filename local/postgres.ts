/**
 * Databases on a real PostgreSQL server for the local stack: create one (dropping a leftover of the
 * same name first if asked), hand out its URLs in the two spellings the project needs (node-postgres
 * and SQLAlchemy/Airflow), drop it.
 *
 * The server is named by an admin URL on its maintenance database: $CUTOVER_PG_URL, else one built
 * from $CUTOVER_PG_HOST / $CUTOVER_PG_PORT / $CUTOVER_PG_USER, else
 * postgresql://postgres@127.0.0.1:5432/postgres (trust auth).
 */
import pg from 'pg';

export const DEFAULT_PG_URL = 'postgresql://postgres@127.0.0.1:5432/postgres';

/** The admin URL of the PostgreSQL server to use (see the module comment). */
export function pgServerUrl(env: NodeJS.ProcessEnv = process.env): string {
  const url = env.CUTOVER_PG_URL?.trim();
  if (url) return url;
  if (env.CUTOVER_PG_HOST || env.CUTOVER_PG_PORT || env.CUTOVER_PG_USER) {
    const user = env.CUTOVER_PG_USER || 'postgres';
    const host = env.CUTOVER_PG_HOST || '127.0.0.1';
    const port = Number(env.CUTOVER_PG_PORT || 5432);
    return `postgresql://${encodeURIComponent(user)}@${host}:${port}/postgres`;
  }
  return DEFAULT_PG_URL;
}

export interface DatabaseUrls {
  /** For node-postgres: postgresql://user@host:port/<name> (query parameters kept). */
  url: string;
  /** The same database as Airflow's config spells it: postgresql+psycopg2://... */
  sqlalchemyUrl: string;
}

function parseServerUrl(serverUrl: string): URL {
  let u: URL;
  try {
    u = new URL(serverUrl);
  } catch {
    throw new Error('the PostgreSQL URL is not a URL (expected postgresql://user@host:port/db)');
  }
  if (u.protocol !== 'postgresql:' && u.protocol !== 'postgres:') {
    throw new Error(`the PostgreSQL URL must start with postgresql://, not ${u.protocol}//`);
  }
  return u;
}

/** The URLs of database `name` on the server of `serverUrl` (same user, password, host, port, parameters). */
export function databaseUrls(serverUrl: string, name: string): DatabaseUrls {
  const u = parseServerUrl(serverUrl);
  const auth = u.username === '' ? '' : `${u.username}${u.password === '' ? '' : `:${u.password}`}@`;
  const rest = `${auth}${u.host}/${encodeURIComponent(name)}${u.search}`;
  return { url: `postgresql://${rest}`, sqlalchemyUrl: `postgresql+psycopg2://${rest}` };
}

/** host:port of the server, for messages (never the credentials). */
export function describeServer(serverUrl: string): string {
  const u = parseServerUrl(serverUrl);
  return `${u.hostname}:${u.port || '5432'}`;
}

async function withAdmin<T>(serverUrl: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: serverUrl, application_name: 'cutover-local-admin' });
  try {
    await client.connect();
  } catch (err) {
    throw new Error(
      `cannot connect to PostgreSQL at ${describeServer(serverUrl)}: ${(err as Error).message} ` +
        '(start PostgreSQL, or set CUTOVER_PG_URL=postgresql://user@host:port/postgres)',
    );
  }
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

export interface LocalDatabase extends DatabaseUrls {
  name: string;
  /** Terminates leftover connections, then drops the database. Idempotent. */
  drop(): Promise<void>;
}

export interface CreateDatabaseOptions {
  /** Admin URL of the server; default pgServerUrl(). */
  serverUrl?: string;
  /** Drop a database of the same name first (terminating its connections). Default false: CREATE fails. */
  replace?: boolean;
  /** A copy of this database (CREATE DATABASE ... TEMPLATE), which nobody may be connected to. */
  template?: string;
}

export function isValidDatabaseName(name: string): boolean {
  return /^[a-z_][a-z0-9_]{0,62}$/.test(name);
}

/** Creates database `name` (lower-case letters, digits, underscores). */
export async function createDatabase(name: string, opts: CreateDatabaseOptions = {}): Promise<LocalDatabase> {
  if (!isValidDatabaseName(name)) {
    throw new Error(`database name "${name}": use lower-case letters, digits and _ (at most 63)`);
  }
  const serverUrl = opts.serverUrl ?? pgServerUrl();
  await withAdmin(serverUrl, async (c) => {
    if (opts.replace) await dropWith(c, name);
    const template = opts.template === undefined ? '' : ` TEMPLATE ${pg.escapeIdentifier(opts.template)}`;
    await c.query(`CREATE DATABASE ${pg.escapeIdentifier(name)}${template}`);
  });
  let dropped = false;
  return {
    name,
    ...databaseUrls(serverUrl, name),
    async drop() {
      if (dropped) return;
      dropped = true;
      await dropDatabase(name, serverUrl);
    },
  };
}

async function dropWith(c: pg.Client, name: string): Promise<void> {
  await c.query(
    'SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()',
    [name],
  );
  await c.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(name)}`);
}

/** Terminates the database's connections and drops it (no error when it does not exist). */
export async function dropDatabase(name: string, serverUrl: string = pgServerUrl()): Promise<void> {
  await withAdmin(serverUrl, (c) => dropWith(c, name));
}

export async function databaseExists(name: string, serverUrl: string = pgServerUrl()): Promise<boolean> {
  return withAdmin(serverUrl, async (c) => {
    const res = await c.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    return (res.rowCount ?? 0) > 0;
  });
}
