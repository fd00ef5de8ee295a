import type { EntityManager } from '@mikro-orm/core';
import { rootsOf } from '../queue/record-queue.ts';
import { query } from '../state/sql.ts';

/** How much waits for one CRM × entity (root entity name): now (`QueueDepth`), or when sampled (`QueueSample`). */
export interface QueueCounts {
  crm: string;
  entity: string;
  /** Records waiting for a sync or delete (in the queue or its inbox), those being retried included. */
  queued: number;
  /** Records waiting after a failed attempt (backoff, Retry-After or an unknown outcome). */
  retrying: number;
  /** Records that reached `maxSyncErrors`: left alone until they change or are reset. */
  parked: number;
  /**
   * Since when the longest-waiting record has waited: its first request, or its last failed attempt
   * for a record being retried. Null when nothing waits.
   */
  oldestWaitingAt: Date | null;
}

/** The counts of a row with columns `crm_name, entity, queued, retrying, parked, oldest_waiting_at`. */
export function queueCountsOf(row: Record<string, unknown>): QueueCounts {
  return {
    crm: row.crm_name as string, entity: row.entity as string,
    queued: row.queued as number, retrying: row.retrying as number, parked: row.parked as number,
    oldestWaitingAt: row.oldest_waiting_at ? new Date(row.oldest_waiting_at as Date) : null,
  };
}

/** What is waiting, now, for one CRM × entity, and the latest failure. */
export interface QueueDepth extends QueueCounts {
  /** The latest error, in full (redacted when it was stored): a retried failure or a permanent one. */
  lastError: string | null;
  lastErrorAt: Date | null;
}

/**
 * The queue and failures per CRM × entity, for the CRMs given (name → `maxSyncErrors`). One statement;
 * rows only for pairs with something waiting, parked or failing.
 */
export async function queueDepth(em: EntityManager, crms: Record<string, number>): Promise<QueueDepth[]> {
  const rows = await query<Record<string, unknown>>(em,
    `with crms as (select key as crm_name, value::int as max from json_each_text(?::json)),
     waiting as (
       select q.crm_name, q.resource_type as entity, q.resource_id, q.attempts,
              coalesce(q.first_requested_at, nullif(q.due_at, 'infinity')) as since,
              q.last_error, case when q.last_error is not null then nullif(q.due_at, 'infinity') end as error_at
         from etlify_record_queue q join crms using (crm_name) where q.lane = 'record'
       union all
       select r.crm_name, coalesce(m.value, r.entity), u.id, 0, r.requested_at, null, null
         from etlify_sync_requests r join crms using (crm_name)
         cross join lateral unnest(r.resource_ids) as u(id)
         left join json_each_text(?::json) m on m.key = r.entity
        where r.kind <> 'dependents'
     ), queued as (
       select crm_name, entity, count(distinct resource_id)::int as queued,
              count(distinct resource_id) filter (where attempts > 0)::int as retrying, min(since) as oldest,
              (array_agg(last_error order by error_at desc nulls last) filter (where last_error is not null))[1] as error,
              max(error_at) as error_at
         from waiting group by crm_name, entity
     ), failing as (
       -- counted from crm_synchronisations_failing_latest alone; only each pair's latest failure is read from the table
       select f.crm_name, f.entity, f.parked, latest.last_error as error, latest.last_error_at as error_at
         from (select s.crm_name, s.resource_type as entity, (count(*) filter (where s.error_count >= c.max))::int as parked
                 from crm_synchronisations s join crms c using (crm_name)
                where s.error_count > 0 group by s.crm_name, s.resource_type) f
         cross join lateral (select l.last_error, l.last_error_at from crm_synchronisations l
                              where l.crm_name = f.crm_name and l.resource_type = f.entity and l.error_count > 0
                              order by l.last_error_at desc nulls last limit 1) latest
     )
     select crm_name, entity, coalesce(q.queued, 0) as queued, coalesce(q.retrying, 0) as retrying, coalesce(f.parked, 0) as parked,
            q.oldest as oldest_waiting_at,
            case when f.error_at is null or q.error_at > f.error_at then coalesce(q.error, f.error) else f.error end as error,
            greatest(q.error_at, f.error_at) as error_at
       from queued q full join failing f using (crm_name, entity)
      order by crm_name, entity`,
    [JSON.stringify(crms), rootsOf(em.getMetadata())]);
  return rows.map(r => ({
    ...queueCountsOf(r),
    lastError: r.error as string | null, lastErrorAt: r.error_at ? new Date(r.error_at as Date) : null,
  }));
}

/** Stores the current depth as one sample per CRM × entity (the worker takes one about once a minute). */
export async function sampleQueue(em: EntityManager, crms: Record<string, number>): Promise<QueueDepth[]> {
  const depth = await queueDepth(em, crms);
  if (!depth.length) return depth;
  await query(em,
    `insert into etlify_queue_samples (sampled_at, crm_name, entity, queued, retrying, parked, oldest_waiting_at)
     select now(), crm, entity, queued, retrying, parked, "oldestWaitingAt"
       from json_to_recordset(?::json) as d(crm text, entity text, queued int, retrying int, parked int, "oldestWaitingAt" timestamptz)
     on conflict do nothing`,
    [JSON.stringify(depth)]);
  return depth;
}
