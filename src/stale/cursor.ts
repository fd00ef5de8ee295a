import { randomUUID } from 'node:crypto';
import type { EntityManager } from '@mikro-orm/core';
import type { Pool } from 'pg';
import { numbered, refuseNul } from '../state/sql.ts';
import type { Sql } from './finder.ts';

/**
 * Runs `query` once and hands its rows to `each` page by page, holding at most one page in memory.
 *
 * A `WITH HOLD` cursor is materialised by PostgreSQL when its (implicit) transaction commits, so the
 * finder runs exactly once — keyset pagination would re-run the whole UNION for every page — and no
 * transaction stays open while `each` talks to a CRM. The cursor pins one pooled connection until the
 * last page has been handed over.
 */
export async function forEachPage<T>(em: EntityManager, query: Sql, pageSize: number, each: (rows: T[]) => Promise<void>): Promise<void> {
  const pool = await (em.getConnection() as unknown as { getNativeClient(): Promise<Pool> }).getNativeClient();
  const client = await pool.connect();
  const cursor = em.getPlatform().quoteIdentifier(`etlify_stale_${randomUUID().replaceAll('-', '')}`);
  let declared = false;
  try {
    // bound like every other statement: the finder's SQL carries `?` placeholders only, never values
    refuseNul(query.params);
    await client.query(`declare ${cursor} no scroll cursor with hold for ${numbered(query.sql, query.params.length)}`, query.params);
    declared = true;
    for (;;) {
      const { rows } = await client.query(`fetch forward ${Math.max(1, Math.floor(pageSize))} from ${cursor}`);
      if (rows.length) await each(rows as T[]);
      if (rows.length < pageSize) break;
    }
  } finally {
    let broken: Error | undefined;
    if (declared) await client.query(`close ${cursor}`).catch((error: Error) => { broken = error; });
    // a connection whose cursor could not be closed is discarded, not handed back to the pool
    client.release(broken);
  }
}
