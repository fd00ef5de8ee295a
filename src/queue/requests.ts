import type { EntityManager, Transaction } from '@mikro-orm/core';
import type { RegisteredCrm } from '../crms/registry.ts';
import { queryBound } from '../state/sql.ts';

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
  kind: SyncRequest['kind'];
  crm: string;
  entity: string;
  ids: Set<string>;
  /** For deletes, in the order of `ids`. */
  crmIds: (string | null)[] | null;
  objectTypes: (string | null)[] | null;
}

/**
 * Requests as the inbox stores them: one row per (kind, CRM, entity), each record once. Change capture
 * fills one directly (a flush can name a record several times: both sides of a link, a child and its
 * owner); other callers pass a list of requests.
 */
export class RequestBatch {
  readonly #rows: RequestRow[] = [];
  /** entity → CRM → kind → row */
  readonly #index = new Map<string, Map<string, Map<string, RequestRow>>>();

  static of(requests: SyncRequest[]): RequestBatch {
    const batch = new RequestBatch();
    for (const r of requests) batch.add(r.kind, r.crm, r.entity, r.id, r.crmId, r.objectType);
    return batch;
  }

  add(kind: SyncRequest['kind'], crm: string, entity: string, id: string, crmId?: string | null, objectType?: string | null): void {
    // looked up through the caller's own strings, no key built per request: a flush adds thousands
    const byCrm = this.#index.get(entity) ?? this.#index.set(entity, new Map()).get(entity)!;
    const byKind = byCrm.get(crm) ?? byCrm.set(crm, new Map()).get(crm)!;
    let row = byKind.get(kind);
    if (!row) {
      byKind.set(kind, row = { kind, crm, entity, ids: new Set(), crmIds: kind === 'delete' ? [] : null, objectTypes: kind === 'delete' ? [] : null });
      this.#rows.push(row);
    }
    const known = row.ids.size;
    if (row.ids.add(id).size === known) return;
    row.crmIds?.push(crmId ?? null);
    row.objectTypes?.push(objectType ?? null);
  }

  get isEmpty(): boolean {
    return this.#rows.length === 0;
  }

  get rows(): readonly RequestRow[] {
    return this.#rows;
  }
}

/**
 * One statement: insert the requests, wake one job per CRM, and drop the sync rows and dependency
 * buffers of removed records that no queued request will handle. Values are bound, not inlined: a
 * flush of a thousand records sends its ids as arrays, which keeps Etlify's share of `em.flush()` small.
 */
function enqueueStatement(rows: readonly RequestRow[], removed: RemovedRecord[], processing: string[], wake: object[], background: boolean) {
  const params: unknown[] = [];
  const bind = (value: unknown) => `$${params.push(value)}`;
  // each CRM gets the same ids from a flush: PostgreSQL parses the array once
  const idLists = new Map<string, string>();
  const bindIds = (set: Set<string>) => {
    const ids = [...set];
    const key = ids.join('\u0000');
    let placeholder = idLists.get(key);
    if (!placeholder) idLists.set(key, placeholder = bind(ids));
    return placeholder;
  };
  const parts: string[] = [];
  if (rows.length) {
    const flag = bind(background);
    const values = rows.map(r => `(${bind(r.kind)}, ${bind(r.crm)}, ${bind(r.entity)}, ${bindIds(r.ids)}::text[], ${bind(r.crmIds)}::text[], ${bind(r.objectTypes)}::text[], ${flag}::boolean)`);
    parts.push(`ins as (
      insert into etlify_sync_requests (kind, crm_name, entity, resource_ids, crm_ids, object_types, background)
      values ${values.join(', ')}
      returning 1)`);
  }
  if (removed.length) {
    parts.push(`d as (select * from unnest(${bind(removed.map(r => r.type))}::text[], ${bind(removed.map(r => r.id))}::text[]) as d(type, id))`,
      `unqueued as (
        delete from crm_synchronisations s using d
         where s.resource_type = d.type and s.resource_id = d.id and s.crm_name <> all(${bind(processing)}::text[]))`,
      `unbuffered as (delete from etlify_pending_syncs p using d where p.dependent_type = d.type and p.dependent_id = d.id)`);
  }
  const requested = rows.length
    ? `(select count(*) from ins)::int as requested,
       (select count(*) from graphile_worker.add_jobs(
          ${wakeJobsArray(bind(JSON.stringify(wake)))}, true))::int as jobs`
    : '0 as requested';
  return { sql: `with ${parts.join(', ')} select ${requested}`, params };
}

/**
 * graphile-worker job specs that wake each CRM's processor after its batching delay (`delay_ms`: turned
 * into `run_at` by `wakeJobsArray`, on the database's clock).
 */
export function wakeJobSpecs(crms: Iterable<RegisteredCrm>, delayMs?: number) {
  return [...crms].map(crm => ({
    identifier: PROCESS_TASK,
    payload: { crm: crm.name },
    job_key: `etlify:${crm.name}`,
    delay_ms: delayMs ?? crm.jobs.batchDelayMs,
    max_attempts: crm.jobs.maxAttempts,
    priority: crm.jobs.priority,
  }));
}

/**
 * The `graphile_worker.job_spec[]` of `wakeJobSpecs` bound as JSON at `param`, each due `delay_ms` after
 * the database's now: graphile-worker compares `run_at` with the database's clock, and an application
 * whose clock runs ahead of it (a drifted VM) would otherwise put every wake-up off by the difference.
 */
export function wakeJobsArray(param: string): string {
  return `array(select json_populate_recordset(null::graphile_worker.job_spec,
            (select json_agg(s || jsonb_build_object('run_at', statement_timestamp() + make_interval(secs => (s ->> 'delay_ms')::float8 / 1000.0)))
               from jsonb_array_elements(${param}::jsonb) as s)))`;
}

/**
 * Inserts requests and wakes their CRMs' processors in one round trip. Pass the flush's transaction
 * so that a rollback takes the requests with it. `background`: the sweep's and `syncStale`'s
 * requests, which stop first when a CRM's daily budget runs low (ratelimit/daily-budget.ts).
 */
export async function enqueueRequests(
  em: EntityManager,
  work: { requests: SyncRequest[] | RequestBatch; removed?: RemovedRecord[]; crms: RegisteredCrm[]; background?: boolean },
  transaction?: Transaction,
): Promise<number> {
  const batch = work.requests instanceof RequestBatch ? work.requests : RequestBatch.of(work.requests);
  const removed = work.removed ?? [];
  if (batch.isEmpty && !removed.length) return 0;
  const processing = work.crms.filter(crm => crm.enabled).map(crm => crm.name);
  const { sql, params } = enqueueStatement(batch.rows, removed, processing, wakeJobSpecs(work.crms), work.background ?? false);
  const [row] = await queryBound<{ requested: number }>(em, sql, params, transaction);
  return row!.requested;
}
