import type { EntityManager, Transaction } from '@mikro-orm/core';
import type { RegisteredCrm } from '../crms/registry.ts';
import { query } from '../state/sql.ts';

/**
 * The inbox of sync requests. Change capture, the record API and the stale sweep add requests here; a
 * worker moves them into the per-record queue (record-queue.ts), where they are merged, ordered and
 * claimed. A flush writes one row per (kind, CRM, entity) holding all its record ids, which keeps the
 * flush cheap; it is append-only, so a request can never be lost to a record being in flight.
 */

export const PROCESS_TASK = 'etlify_process';

export interface SyncRequest {
  /**
   * `sync`; `delete` the record's CRM object; `forget` a removed record whose CRM keeps its objects (its
   * sync row goes, after any sync in flight); `dependents`: find and queue the records that depend on it.
   */
  kind: 'sync' | 'delete' | 'forget' | 'dependents';
  crm: string;
  entity: string;
  id: string;
  /** For deletes: the CRM object to delete (the record and its sync row may be gone by then). */
  crmId?: string | null;
  objectType?: string | null;
}

/**
 * A record removed by a flush. The CRMs that process it (capture queues a `delete` or `forget` for
 * each) drop its sync row in order; for the others (disabled, unregistered) it goes now.
 */
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
 * One statement: drop the sync rows and dependency buffers of removed records that no queued request
 * will handle, insert the requests, and wake one job per CRM.
 */
const ENQUEUE_SQL = `
  with d as (
    select * from json_to_recordset(?::json) as d(type text, entity text, id text)
  ), unqueued as (
    delete from crm_synchronisations s using d
     where s.resource_type = d.type and s.resource_id = d.id and s.crm_name <> all(?::text[])
    returning 1
  ), unbuffered as (
    delete from etlify_pending_syncs p using d where p.dependent_type = d.type and p.dependent_id = d.id returning 1
  ), ins as (
    insert into etlify_sync_requests (kind, crm_name, entity, resource_ids, crm_ids, object_types)
    select kind, crm, entity, ids, "crmIds", "objectTypes"
      from json_to_recordset(?::json) as r(kind text, crm text, entity text, ids text[], "crmIds" text[], "objectTypes" text[])
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
  const processing = work.crms.filter(crm => crm.enabled).map(crm => crm.name);
  const [row] = await query<{ requested: number }>(em,
    ENQUEUE_SQL,
    [JSON.stringify(removed), processing, JSON.stringify(toRows(work.requests)), JSON.stringify(wakeJobSpecs(work.crms))],
    transaction);
  return row!.requested;
}
