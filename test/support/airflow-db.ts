/**
 * Airflow's own schema, made by Airflow itself (`airflow db migrate`, local/airflow-db.ts) on a
 * throw-away database. Each Airflow's schema is migrated once per test run into a template
 * database (cutover_tpl_*); a test file's database is a copy of it (CREATE DATABASE ... TEMPLATE,
 * ~0.1 s against ~3 s of migration, on every file that needs one). scripts/test.sh drops the
 * templates at the start and the end of the run. A file migrates ONCE and empties the XCom history between tests.
 */
import { createHash } from 'node:crypto';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { migrateAirflowDb } from '../../local/airflow-db.js';
import { createDatabase, databaseExists, dropDatabase } from '../../local/postgres.js';
import { airflowVenvFor, venvDir } from '../../local/venv.js';
import { adminUrl, createTestDatabase, type TestDatabase } from './postgres.js';

export { migrateAirflowDb, runAirflowPython, type MigrateResult } from '../../local/airflow-db.js';
export { airflowBin, repoRoot, venvDir } from '../../local/venv.js';

/** Every template database this module makes starts with this (scripts/test.sh drops them). */
export const TEMPLATE_PREFIX = 'cutover_tpl_';

export interface AirflowTestDatabase extends TestDatabase {
  /** How long the schema took: the copy of the template, plus its migration when this file made it. */
  schemaMs: number;
  /** The template database it is a copy of; null when it was migrated itself. */
  template: string | null;
}

/**
 * The template's name: the venv's Airflow and providers (their dist-info directories) decide the
 * schema, so a venv upgraded by setup gets a template of its own.
 */
function templateName(venv: string): string {
  const lib = path.join(venv, 'lib');
  const packages = readdirSync(lib)
    .filter((d) => d.startsWith('python'))
    .flatMap((d) => readdirSync(path.join(lib, d, 'site-packages')))
    .filter((d) => /^apache_airflow.*\.dist-info$/.test(d))
    .sort();
  if (packages.length === 0) throw new Error(`no Airflow is installed in ${venv}`);
  const airflow = packages.find((d) => /^apache_airflow-\d/.test(d)) ?? packages[0] ?? '';
  const version = (/-(\d[\w.]*)\.dist-info$/.exec(airflow)?.[1] ?? 'x').replace(/\W/g, '_');
  const hash = createHash('sha256')
    .update(`${venv}\n${packages.join('\n')}`)
    .digest('hex')
    .slice(0, 10);
  return `${TEMPLATE_PREFIX}${version}_${hash}`;
}

/**
 * The template of `airflowVersion` (default: the default venv's Airflow), migrated by that Airflow
 * when this run has none yet. Built under another name and renamed, so a template that exists is
 * complete; an advisory lock keeps two test files from building the same one at once.
 */
async function airflowTemplate(airflowVersion?: string): Promise<string> {
  const name = templateName(airflowVersion ? airflowVenvFor(airflowVersion) : venvDir());
  const admin = new pg.Client({ connectionString: adminUrl(), application_name: 'cutover-test-template' });
  await admin.connect();
  try {
    await admin.query('SELECT pg_advisory_lock(hashtext($1))', [name]);
    if (await databaseExists(name, adminUrl())) return name;
    const build = await createDatabase(`${name}_build`, { serverUrl: adminUrl(), replace: true });
    try {
      await migrateAirflowDb(build.sqlalchemyUrl, airflowVersion ? { airflowVersion } : {});
      await admin.query(
        `ALTER DATABASE ${pg.escapeIdentifier(build.name)} RENAME TO ${pg.escapeIdentifier(name)}`,
      );
    } catch (err) {
      await build.drop();
      throw err;
    }
    return name;
  } finally {
    await admin.end();
  }
}

export interface AirflowTestDatabaseOptions {
  /** The Airflow whose migration makes the schema (its venv, local/venv.ts). Default: the default venv's. */
  airflowVersion?: string;
  /**
   * Copy the run's template (default), or migrate this database itself: a bench, run outside
   * scripts/test.sh, leaves no template behind that way.
   */
  viaTemplate?: boolean;
}

/** A fresh database with the schema `airflow db migrate` makes: create once per test file, drop in after(). */
export async function createAirflowTestDatabase(
  prefix: string,
  opts: AirflowTestDatabaseOptions = {},
): Promise<AirflowTestDatabase> {
  const started = performance.now();
  const migrateOpts = opts.airflowVersion ? { airflowVersion: opts.airflowVersion } : {};
  if (opts.viaTemplate === false) {
    const db = await createTestDatabase(prefix);
    try {
      await migrateAirflowDb(db.sqlalchemyUrl, migrateOpts);
    } catch (err) {
      await db.drop();
      throw err;
    }
    return { ...db, schemaMs: Math.round(performance.now() - started), template: null };
  }
  const template = await airflowTemplate(opts.airflowVersion);
  for (let attempt = 1; ; attempt++) {
    try {
      const db = await createTestDatabase(prefix, template);
      return { ...db, schemaMs: Math.round(performance.now() - started), template };
    } catch (err) {
      // A copy of the template being made by another file at the same moment can make PostgreSQL
      // refuse ("source database ... is being accessed by other users"): try again shortly.
      if (attempt >= 20 || !/being accessed by other users/.test((err as Error).message)) throw err;
      await new Promise((r) => setTimeout(r, 250));
    }
  }
}

/** Drops every template this module made (scripts/test.sh, at the end of the run). */
export async function dropAirflowTemplates(): Promise<string[]> {
  const admin = new pg.Client({ connectionString: adminUrl() });
  await admin.connect();
  let names: string[];
  try {
    const res = await admin.query<{ datname: string }>(
      'SELECT datname FROM pg_database WHERE starts_with(datname, $1)',
      [TEMPLATE_PREFIX],
    );
    names = res.rows.map((r) => r.datname);
  } finally {
    await admin.end();
  }
  for (const n of names) await dropDatabase(n, adminUrl());
  return names;
}
