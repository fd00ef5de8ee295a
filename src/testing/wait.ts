import type { MikroORM } from '@mikro-orm/core';
import { query } from '../state/sql.ts';

/**
 * Resolves once Etlify has nothing left to do: no request waiting in the inbox or the record queue,
 * and no graphile-worker job due. Rejects after `timeoutMs` (default 10 s) saying what is left. For
 * tests and scripts; an application just lets the worker run.
 */
export async function waitForSyncQueue(orm: MikroORM, options: { timeoutMs?: number } = {}): Promise<void> {
  const timeoutMs = options.timeoutMs ?? 10_000;
  const deadline = Date.now() + timeoutMs;
  const em = orm.em.fork({ useContext: false });
  for (;;) {
    const [left] = await query<{ requests: number; records: number; jobs: number }>(em,
      `select (select count(*) from etlify_sync_requests)::int as requests,
              (select count(*) from etlify_record_queue)::int as records,
              (select count(*) from graphile_worker.jobs where locked_at is null and run_at <= now())::int as jobs`);
    if (left!.requests + left!.records + left!.jobs === 0) return;
    if (Date.now() > deadline) {
      throw new Error(`the sync queue is not empty after ${timeoutMs} ms: ${left!.requests} request row(s), ${left!.records} record(s), ${left!.jobs} job(s) due`);
    }
    await new Promise(resolve => setTimeout(resolve, 50));
  }
}
