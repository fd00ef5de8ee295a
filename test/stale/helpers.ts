// Shared by the stale finder's tests: an app with both sample models, and raw-SQL helpers that change
// data behind the ORM's back (which is what the finder exists to catch).
import { findStaleIds, syncStale } from '../../src/stale/index.ts';
import { createTestApp, type TestApp } from '../support/app.ts';
import { entities } from '../support/model.ts';
import { staleEntities } from '../support/stale-model.ts';

export function createStaleApp(options: Parameters<typeof createTestApp>[0] = {}): Promise<TestApp> {
  return createTestApp({ ...options, orm: { entities: [...entities, ...staleEntities], ...options.orm } });
}

export async function sql<T = Record<string, any>>(app: TestApp, text: string, params: unknown[] = []): Promise<T[]> {
  return app.orm.em.getConnection().execute(text, params) as Promise<T[]>;
}

/** Stale ids of one entity × CRM, as numbers. */
export async function stale(app: TestApp, entity: string, crm = 'hubspot'): Promise<number[]> {
  return (await findStaleIds(app.orm, { crm, entity, limit: 100_000 })).map(Number);
}

/** Syncs everything stale for one CRM inline, forgetting the adapter's call log afterwards. */
export async function syncAll(app: TestApp, crm = 'hubspot', entities?: string[]) {
  const stats = await syncStale(app.orm, { crm, entities, inline: true });
  app.hubspot.calls.length = 0;
  app.airtable.calls.length = 0;
  return stats;
}

/** Moves a row's timestamp to "now" in the database's clock, as a raw-SQL update would. */
export async function touch(app: TestApp, table: string, id: number, column = 'updated_at'): Promise<void> {
  await sql(app, `update "${table}" set "${column}" = clock_timestamp() where id = ?`, [id]);
}
