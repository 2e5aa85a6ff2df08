/**
 * Streaming a sorted result a page at a time with a server-side cursor: one scan and one sort on
 * the server, bounded memory here, whatever the table's size. Read-only transaction.
 */
import type pg from 'pg';

export const CURSOR_PAGE = 5_000;

export async function* cursorPages<R extends pg.QueryResultRow>(
  pool: pg.Pool,
  sql: string,
  params: unknown[],
  translate: (err: unknown) => Error,
  pageSize = CURSOR_PAGE,
): AsyncIterable<R[]> {
  let client: pg.PoolClient;
  try {
    client = await pool.connect();
  } catch (err) {
    throw translate(err);
  }
  let ok = false;
  try {
    try {
      await client.query('BEGIN READ ONLY');
      await client.query(`DECLARE cutover_refs NO SCROLL CURSOR FOR ${sql}`, params);
    } catch (err) {
      throw translate(err);
    }
    for (;;) {
      let res: pg.QueryResult<R>;
      try {
        res = await client.query<R>(`FETCH ${pageSize} FROM cutover_refs`);
      } catch (err) {
        throw translate(err);
      }
      if (res.rows.length === 0) break;
      yield res.rows;
      if (res.rows.length < pageSize) break;
    }
    ok = true;
  } finally {
    // A consumer that stops early (or a failure) must not leave the transaction open on a pooled client.
    await client.query(ok ? 'COMMIT' : 'ROLLBACK').catch(() => undefined);
    client.release();
  }
}

/** A PostgreSQL regex matching the references to objects in `bucket` under `keyPrefix` (with or without a conn id). */
export function referenceRegex(scheme: string, bucket: string, keyPrefix: string): string {
  const esc = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return `^${esc(scheme)}://([^@/]+@)?${esc(bucket)}/${esc(keyPrefix)}`;
}

/** The SQL expression turning a reference URL into its bucket-relative key. */
export const KEY_OF_REF = (ref: string) => `regexp_replace(${ref}, '^[a-z0-9]+://([^@/]+@)?[^/]+/', '')`;
