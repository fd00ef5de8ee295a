import type { EntityManager, Transaction } from '@mikro-orm/core';
import type { RegisteredCrm } from '../crms/registry.ts';
import { query } from '../state/sql.ts';

/**
 * The sync-request queue. Change capture, the record API and the stale sweep insert requests; the
 * worker claims them in batches. One row per (kind, crm, entity, id): asking again only refreshes
 * `requested_at`, so bursts coalesce, and a request made while its record is being synced survives the
 * end of that sync (see `finishRequests`).
 */

export const PROCESS_TASK = 'etlify_process';

export interface SyncRequest {
  kind: 'sync' | 'delete' | 'dependents';
  crm: string;
  entity: string;
  id: string;
  /** For deletes: the CRM object to delete (the record and its sync row may be gone by then). */
  crmId?: string | null;
  objectType?: string | null;
}

export interface ClaimedRequest extends SyncRequest {
  requestId: string;
  attempts: number;
}

/** A record removed by a flush: its sync rows go, and CRMs with `deleteOnRemove` get a delete request. */
export interface RemovedRecord {
  type: string;
  entity: string;
  id: string;
}

/**
 * One statement: forget removed records (turning their stored CRM ids into delete requests for the
 * CRMs that ask for it), insert the requests, and wake one job per CRM.
 */
const ENQUEUE_SQL = `
  with d as (
    select * from json_to_recordset(?::json) as d(type text, entity text, id text)
  ), removed as (
    delete from crm_synchronisations s using d
     where s.resource_type = d.type and s.resource_id = d.id
    returning d.entity, s.resource_id, s.crm_name, s.crm_id, s.object_type
  ), unbuffered as (
    delete from etlify_pending_syncs p using d where p.dependent_type = d.type and p.dependent_id = d.id returning 1
  ), r as (
    select kind, crm, entity, id, "crmId", "objectType"
      from json_to_recordset(?::json) as r(kind text, crm text, entity text, id text, "crmId" text, "objectType" text)
    union all
    select 'delete', crm_name, entity, resource_id, crm_id, object_type
      from removed where crm_id is not null and crm_name = any(?::text[])
  ), ins as (
    insert into etlify_sync_requests as q (kind, crm_name, entity, resource_id, crm_id, object_type)
    select distinct on (kind, crm, entity, id) kind, crm, entity, id, "crmId", "objectType" from r
    on conflict (kind, crm_name, entity, resource_id) do update set
      requested_at = clock_timestamp(),
      crm_id = coalesce(excluded.crm_id, q.crm_id),
      object_type = coalesce(excluded.object_type, q.object_type),
      run_after = case when q.attempts = 0 then least(q.run_after, now()) else q.run_after end
    returning q.crm_name
  )
  select (select count(*) from ins)::int as requested,
         (select count(*) from unbuffered)::int as unbuffered,
         (select count(*) from graphile_worker.add_jobs(
            array(select json_populate_recordset(null::graphile_worker.job_spec, ?::json)
                   where exists (select 1 from ins)), true))::int as jobs`;

/** graphile-worker job specs that wake each CRM's processor after its batching delay. */
export function wakeJobSpecs(crms: Iterable<RegisteredCrm>, delayMs?: number) {
  return [...crms].map(crm => ({
    identifier: PROCESS_TASK,
    payload: { crm: crm.name },
    job_key: `etlify:${crm.name}`,
    run_at: new Date(Date.now() + (delayMs ?? crm.jobs.batchDelayMs)).toISOString(),
    max_attempts: crm.jobs.maxAttempts,
    priority: crm.jobs.priority,
  }));
}

/**
 * Inserts requests and wakes their CRMs' processors in one round trip. Pass the flush's transaction
 * so that a rollback takes the requests with it.
 */
export async function enqueueRequests(
  em: EntityManager,
  work: { requests: SyncRequest[]; removed?: RemovedRecord[]; crms: RegisteredCrm[] },
  transaction?: Transaction,
): Promise<number> {
  const removed = work.removed ?? [];
  if (!work.requests.length && !removed.length) return 0;
  const deleteOnRemove = work.crms.filter(crm => crm.deleteOnRemove && crm.enabled).map(crm => crm.name);
  const [row] = await query<{ requested: number }>(em,
    ENQUEUE_SQL,
    [JSON.stringify(removed), JSON.stringify(work.requests), deleteOnRemove, JSON.stringify(wakeJobSpecs(work.crms))],
    transaction);
  return row!.requested;
}

/**
 * Claims up to `limit` due requests of one CRM, all of the same kind and entity (that of the oldest due
 * request, deletes and dependency fan-outs first) so that a chunk makes full batch requests. A claim is
 * a lease: if the worker dies, the requests become claimable again once `leaseMs` has passed.
 */
export async function claimRequests(em: EntityManager, crm: string, limit: number, leaseMs: number): Promise<ClaimedRequest[]> {
  return query<ClaimedRequest>(em,
    `with due as (
       select id, kind, entity from etlify_sync_requests
        where crm_name = ? and run_after <= now()
          and (claimed_at is null or claimed_at < clock_timestamp() - make_interval(secs => ? / 1000.0))
     ), head as (
       select kind, entity from due order by (kind = 'sync'), id limit 1
     )
     update etlify_sync_requests q set claimed_at = clock_timestamp()
      where q.id in (
        select r.id from etlify_sync_requests r join due using (id) join head on head.kind = due.kind and head.entity = due.entity
         -- re-checked on the locked row version: \`due\` is an unlocked snapshot another worker may have claimed since
         where r.claimed_at is null or r.claimed_at < clock_timestamp() - make_interval(secs => ? / 1000.0)
         order by r.id limit ? for update of r skip locked)
      returning q.id::text as "requestId", q.kind, q.crm_name as crm, q.entity, q.resource_id as id,
                q.crm_id as "crmId", q.object_type as "objectType", q.attempts`,
    [crm, leaseMs, leaseMs, limit]);
}

/**
 * Completes claimed requests. A request asked for again after it was claimed (`requested_at` newer
 * than the claim) is released instead of deleted, so the change it stands for gets its own sync.
 */
export async function finishRequests(em: EntityManager, requestIds: string[]): Promise<void> {
  if (!requestIds.length) return;
  await query(em,
    `with done as (
       delete from etlify_sync_requests where id = any(?::bigint[]) and requested_at <= claimed_at returning id
     )
     update etlify_sync_requests set claimed_at = null, attempts = 0, last_error = null
      where id = any(?::bigint[]) and id not in (select id from done)`,
    [requestIds, requestIds]);
}

/** Releases claimed requests for a later attempt (transient failure), with a per-request delay. */
export async function retryRequests(em: EntityManager, retries: { requestId: string; delayMs: number; error: string }[]): Promise<void> {
  if (!retries.length) return;
  await query(em,
    `update etlify_sync_requests q
        set claimed_at = null, attempts = q.attempts + 1, last_error = r.error,
            run_after = clock_timestamp() + make_interval(secs => r."delayMs" / 1000.0)
       from json_to_recordset(?::json) as r("requestId" bigint, "delayMs" double precision, error text)
      where q.id = r."requestId"`,
    [JSON.stringify(retries)]);
}

/**
 * When the next request of a CRM is due (null when its queue is empty): the earliest `run_after` of the
 * unclaimed requests, or the end of the lease of requests claimed by a worker that may have died.
 */
export async function nextDueAt(em: EntityManager, crm: string, leaseMs: number): Promise<Date | null> {
  const [row] = await query<{ due: Date | null }>(em,
    `select min(case when claimed_at is null then run_after
                     else greatest(run_after, claimed_at + make_interval(secs => ? / 1000.0)) end) as due
       from etlify_sync_requests where crm_name = ?`, [leaseMs, crm]);
  return row?.due ? new Date(row.due) : null;
}

/** CRMs with unclaimed or expired-lease requests: woken when a worker starts, after a crash. */
export async function crmsWithPendingRequests(em: EntityManager): Promise<string[]> {
  const rows = await query<{ crm_name: string }>(em, 'select distinct crm_name from etlify_sync_requests');
  return rows.map(r => r.crm_name);
}
