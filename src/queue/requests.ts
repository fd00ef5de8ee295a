import type { EntityManager, Transaction } from '@mikro-orm/core';
import type { RegisteredCrm } from '../crms/registry.ts';
import { query } from '../state/sql.ts';

/**
 * The sync-request queue. Change capture, the record API and the stale sweep add requests; the worker
 * claims them. A flush writes one row per (kind, CRM, entity) holding all its record ids, which keeps
 * the flush cheap. The worker claims every due row of one (kind, CRM, entity) together and
 * de-duplicates their ids, which is where bursts coalesce; a change made while its record is being
 * synced lands in a new row, so it is synced again afterwards.
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

/** Requests claimed together: one kind, CRM and entity; ids de-duplicated (the newest wins). */
export interface Claim {
  rowIds: string[];
  kind: SyncRequest['kind'];
  crm: string;
  entity: string;
  items: { id: string; crmId: string | null; objectType: string | null }[];
  attempts: number;
}

/** A record removed by a flush: its sync rows go, and CRMs with `deleteOnRemove` get a delete request. */
export interface RemovedRecord {
  type: string;
  entity: string;
  id: string;
}

interface RequestRow {
  kind: string;
  crm: string;
  entity: string;
  ids: string[];
  crmIds: (string | null)[] | null;
  objectTypes: (string | null)[] | null;
}

/** Groups per-record requests into one row per (kind, CRM, entity). */
function toRows(requests: SyncRequest[]): RequestRow[] {
  const rows = new Map<string, RequestRow>();
  for (const r of requests) {
    const key = `${r.kind}\u0000${r.crm}\u0000${r.entity}`;
    let row = rows.get(key);
    if (!row) rows.set(key, row = { kind: r.kind, crm: r.crm, entity: r.entity, ids: [], crmIds: r.kind === 'delete' ? [] : null, objectTypes: r.kind === 'delete' ? [] : null });
    row.ids.push(r.id);
    row.crmIds?.push(r.crmId ?? null);
    row.objectTypes?.push(r.objectType ?? null);
  }
  return [...rows.values()];
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
    select kind, crm, entity, ids, "crmIds", "objectTypes"
      from json_to_recordset(?::json) as r(kind text, crm text, entity text, ids text[], "crmIds" text[], "objectTypes" text[])
    union all
    select 'delete', crm_name, entity, array_agg(resource_id), array_agg(crm_id), array_agg(object_type)
      from removed where crm_id is not null and crm_name = any(?::text[]) group by crm_name, entity
  ), ins as (
    insert into etlify_sync_requests (kind, crm_name, entity, resource_ids, crm_ids, object_types)
    select kind, crm, entity, ids, "crmIds", "objectTypes" from r
    returning 1
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
    [JSON.stringify(removed), JSON.stringify(toRows(work.requests)), deleteOnRemove, JSON.stringify(wakeJobSpecs(work.crms))],
    transaction);
  return row!.requested;
}

/**
 * Claims the due rows of one CRM that share the kind and entity of the oldest one (deletes and
 * dependency fan-outs first), up to `maxRows`. A claim is a lease: if the worker dies, the rows become
 * claimable again once `leaseMs` has passed (`renewClaim` extends it while work goes on).
 */
export async function claimRequests(em: EntityManager, crm: string, maxRows: number, leaseMs: number): Promise<Claim | undefined> {
  const rows = await query<{ id: string; kind: SyncRequest['kind']; entity: string; ids: string[]; crm_ids: (string | null)[] | null; object_types: (string | null)[] | null; attempts: number }>(em,
    `with head as (
       select kind, entity from etlify_sync_requests
        where crm_name = ? and run_after <= now()
          and (claimed_at is null or claimed_at < clock_timestamp() - make_interval(secs => ? / 1000.0))
        order by (kind = 'sync'), id limit 1
     )
     update etlify_sync_requests q set claimed_at = clock_timestamp()
      where q.id in (
        -- the claim condition again: it is re-checked on the locked row version, so two workers never
        -- claim the same row
        select r.id from etlify_sync_requests r join head on head.kind = r.kind and head.entity = r.entity
         where r.crm_name = ? and r.run_after <= now()
           and (r.claimed_at is null or r.claimed_at < clock_timestamp() - make_interval(secs => ? / 1000.0))
         order by r.id limit ? for update of r skip locked)
      returning q.id::text as id, q.kind, q.entity, q.resource_ids as ids, q.crm_ids, q.object_types, q.attempts`,
    [crm, leaseMs, crm, leaseMs, maxRows]);
  if (!rows.length) return undefined;
  rows.sort((a, b) => Number(a.id) - Number(b.id));
  const items = new Map<string, Claim['items'][number]>();
  for (const row of rows) {
    row.ids.forEach((id, i) => items.set(id, { id, crmId: row.crm_ids?.[i] ?? null, objectType: row.object_types?.[i] ?? null }));
  }
  return {
    rowIds: rows.map(r => r.id), kind: rows[0]!.kind, crm, entity: rows[0]!.entity,
    items: [...items.values()], attempts: Math.max(...rows.map(r => r.attempts)),
  };
}

/** Extends the lease of a claim that is still being worked on. */
export async function renewClaim(em: EntityManager, claim: Claim): Promise<void> {
  await query(em, 'update etlify_sync_requests set claimed_at = clock_timestamp() where id = any(?::bigint[])', [claim.rowIds]);
}

/**
 * Completes a claim: its rows go, and the items that failed transiently come back as new rows, due
 * after their delay (one row per distinct delay), in the same statement.
 */
export async function finishClaim(em: EntityManager, claim: Claim, retries: { item: Claim['items'][number]; delayMs: number; error: string }[]): Promise<void> {
  const groups = Map.groupBy(retries, r => r.delayMs);
  const rows = [...groups].map(([delayMs, group]) => ({
    delayMs, error: group[0]!.error, ids: group.map(r => r.item.id),
    crmIds: claim.kind === 'delete' ? group.map(r => r.item.crmId) : null,
    objectTypes: claim.kind === 'delete' ? group.map(r => r.item.objectType) : null,
  }));
  await query(em,
    `with done as (delete from etlify_sync_requests where id = any(?::bigint[]))
     insert into etlify_sync_requests (kind, crm_name, entity, resource_ids, crm_ids, object_types, run_after, attempts, last_error)
     select ?, ?, ?, r.ids, r."crmIds", r."objectTypes", clock_timestamp() + make_interval(secs => r."delayMs" / 1000.0), ?, r.error
       from json_to_recordset(?::json) as r(ids text[], "crmIds" text[], "objectTypes" text[], "delayMs" double precision, error text)`,
    [claim.rowIds, claim.kind, claim.crm, claim.entity, claim.attempts + 1, JSON.stringify(rows)]);
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

/** CRMs with requests: woken when a worker starts, and by the sweep, after a crash. */
export async function crmsWithPendingRequests(em: EntityManager): Promise<string[]> {
  const rows = await query<{ crm_name: string }>(em, 'select distinct crm_name from etlify_sync_requests');
  return rows.map(r => r.crm_name);
}
