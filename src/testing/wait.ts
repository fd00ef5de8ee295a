import type { EntityManager, MikroORM } from '@mikro-orm/core';
import { query } from '../state/sql.ts';

/**
 * Resolves once Etlify has nothing left to do: no request waiting in the inbox or the record queue,
 * and no graphile-worker job due. Rejects after `timeoutMs` (default 10 s) saying what is left and
 * why: the queue's latest errors. For tests and scripts; an application just lets the worker run.
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
      throw new Error(`the sync queue is not empty after ${timeoutMs} ms: ${left!.requests} request row(s), ${left!.records} record(s), ${left!.jobs} job(s) due${await lastErrors(em)}`);
    }
    await new Promise(resolve => setTimeout(resolve, 50));
  }
}

/** `; last errors: hubspot User 3: <reason> (12 records)`: why records are still waiting, if they failed. */
async function lastErrors(em: EntityManager): Promise<string> {
  const rows = await query<{ crm_name: string; entity: string; resource_id: string; last_error: string; n: number }>(em,
    `select crm_name, entity, min(resource_id) as resource_id, last_error, count(*)::int as n
       from etlify_record_queue where last_error is not null
      group by crm_name, entity, last_error order by max(nullif(due_at, 'infinity')) desc nulls last limit 3`);
  if (!rows.length) return '';
  return `; last errors: ${rows.map(r => `${r.crm_name} ${r.entity} ${r.resource_id}${r.n > 1 ? ` and ${r.n - 1} more` : ''}: ${r.last_error}`).join('; ')}`;
}
