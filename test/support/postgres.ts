/**
 * Throw-away databases on the machine's real PostgreSQL (127.0.0.1:5432, trust
 * auth, user postgres unless CUTOVER_PG_* say otherwise). Each test file makes
 * its own, with a unique name, and drops it when done. The database handling
 * itself ships in local/postgres.ts.
 */
import { randomBytes } from 'node:crypto';
import {
  createDatabase,
  dropDatabase as dropLocalDatabase,
  type LocalDatabase,
} from '../../local/postgres.js';

export const PG_HOST = process.env.CUTOVER_PG_HOST ?? '127.0.0.1';
export const PG_PORT = Number(process.env.CUTOVER_PG_PORT ?? 5432);
export const PG_USER = process.env.CUTOVER_PG_USER ?? 'postgres';

/** name, url (postgresql://...), sqlalchemyUrl (postgresql+psycopg2://...), drop() (idempotent). */
export type TestDatabase = LocalDatabase;

/** The server's maintenance database, for CREATE / DROP DATABASE. */
export function adminUrl(): string {
  return `postgresql://${encodeURIComponent(PG_USER)}@${PG_HOST}:${PG_PORT}/postgres`;
}

/** `template`: a copy of that database (CREATE DATABASE ... TEMPLATE) instead of an empty one. */
export async function createTestDatabase(prefix: string, template?: string): Promise<TestDatabase> {
  const clean = prefix
    .toLowerCase()
    .replace(/[^a-z0-9_]/g, '_')
    .slice(0, 30);
  const name = `${clean}_${Date.now().toString(36)}_${randomBytes(3).toString('hex')}`;
  return createDatabase(name, { serverUrl: adminUrl(), ...(template === undefined ? {} : { template }) });
}

export async function dropDatabase(name: string): Promise<void> {
  await dropLocalDatabase(name, adminUrl());
}
