/**
 * Airflow's own schema, made by Airflow itself (`airflow db migrate`, local/airflow-db.ts) on a
 * throw-away database. A fresh DB migrates in about 3 s, so a test file migrates ONCE (see
 * createAirflowTestDatabase) and empties the XCom history between tests.
 */
import { migrateAirflowDb } from '../../local/airflow-db.js';
import { createTestDatabase, type TestDatabase } from './postgres.js';

export { migrateAirflowDb, runAirflowPython, type MigrateResult } from '../../local/airflow-db.js';
export { airflowBin, repoRoot, venvDir } from '../../local/venv.js';

export interface AirflowTestDatabase extends TestDatabase {
  migrateMs: number;
}

/** A fresh database with Airflow's schema: create once per test file, drop in after(). */
export async function createAirflowTestDatabase(prefix: string): Promise<AirflowTestDatabase> {
  const db = await createTestDatabase(prefix);
  try {
    const { durationMs } = await migrateAirflowDb(db.sqlalchemyUrl);
    return { ...db, migrateMs: durationMs };
  } catch (err) {
    await db.drop();
    throw err;
  }
}
