import type { EntityManager } from '@mikro-orm/core';
import type { RegisteredCrm } from '../../crms/registry.ts';
import type { Etlify } from '../../etlify.ts';
import { pausedCrms } from '../../queue/pause.ts';
import { query } from '../../state/sql.ts';

/**
 * What the dashboard shows of each CRM right now, read from the queue and sync-state tables. Every
 * statement is bounded by an index: the record queue and the inbox hold only the work still to do,
 * and failing/parked records are read through `crm_synchronisations_failing` (a partial index on
 * `error_count > 0`), so a load never scans the whole sync-state table.
 */

export interface QueueNumbers {
  /** Records waiting in the record queue or the inbox (not yet claimed). */
  waiting: number;
  /** Records a worker holds right now. */
  inFlight: number;
  /** Waiting records that failed at least once (backoff, Retry-After, unknown outcome). */
  retrying: number;
  /** Age of the oldest request still waiting, in seconds (null when nothing waits). */
  oldestWaitingSeconds: number | null;
}

export interface ErrorGroup {
  /** The message with its numbers replaced by `#`, so one reason's many records group together. */
  reason: string;
  /** The latest full message of the group. */
  example: string;
  records: number;
  lastAt: string | null;
  /** `parked`/`failing` (permanent errors, in the sync state) or `retrying` (the queue's transient ones). */
  kind: 'parked' | 'failing' | 'retrying';
}

export interface ParkedRecord {
  entity: string;
  id: string;
  crmId: string | null;
  errorCount: number;
  error: string | null;
  lastErrorAt: string | null;
}

export interface RateLimitUse {
  bucket: string;
  /** Requests recorded in the current window, by every process. */
  used: number;
  max: number;
  perMs: number;
}

export interface CrmOverview {
  name: string;
  enabled: boolean;
  paused: boolean;
  queue: QueueNumbers;
  /** Per entity (root entity name): the same queue numbers, plus failing and parked counts. */
  entities: (QueueNumbers & { entity: string; failing: number; parked: number })[];
  failing: number;
  parked: number;
  maxSyncErrors: number;
  rateLimit: RateLimitUse[];
  errors: ErrorGroup[];
  parkedRecords: ParkedRecord[];
}

const PARKED_SHOWN = 50;
const ERROR_GROUPS_SHOWN = 12;

interface QueueRow { crm_name: string; entity: string; waiting: number; in_flight: number; retrying: number; oldest_seconds: number | null }
interface FailureRow { crm_name: string; entity: string; failing: number; parked: number }

/** Every registered CRM's overview, in registration order. */
export async function crmOverviews(etlify: Etlify, em: EntityManager): Promise<CrmOverview[]> {
  const crms = etlify.crms.all();
  const names = crms.map(c => c.name);
  const maxima = crms.map(c => c.maxSyncErrors);
  const [queue, failures, paused, limits] = await Promise.all([
    queueRows(em, names),
    query<FailureRow>(em,
      `select s.crm_name, s.resource_type as entity,
              (count(*) filter (where s.error_count < m.max))::int as failing,
              (count(*) filter (where s.error_count >= m.max))::int as parked
         from unnest(?::text[], ?::int[]) as m(crm, max)
         join crm_synchronisations s on s.crm_name = m.crm and s.error_count > 0
        group by 1, 2`,
      [names, maxima]),
    pausedCrms(em),
    rateLimitRows(em, names),
  ]);
  const overviews: CrmOverview[] = [];
  for (const crm of crms) {
    const [errors, parkedRecords] = await Promise.all([errorGroups(etlify, em, crm), parkedOf(etlify, em, crm)]);
    const entities = new Map<string, CrmOverview['entities'][number]>();
    const entityOf = (entity: string) => entities.get(entity) ?? entities.set(entity, { entity, ...emptyQueue(), failing: 0, parked: 0 }).get(entity)!;
    for (const row of queue.filter(r => r.crm_name === crm.name)) Object.assign(entityOf(row.entity), toNumbers(row));
    for (const row of failures.filter(r => r.crm_name === crm.name)) Object.assign(entityOf(row.entity), { failing: row.failing, parked: row.parked });
    const rows = [...entities.values()].sort((a, b) => a.entity.localeCompare(b.entity));
    const oldest = rows.map(r => r.oldestWaitingSeconds).filter((s): s is number => s !== null);
    overviews.push({
      name: crm.name,
      enabled: crm.enabled,
      paused: paused.has(crm.name),
      queue: {
        waiting: sum(rows, r => r.waiting),
        inFlight: sum(rows, r => r.inFlight),
        retrying: sum(rows, r => r.retrying),
        oldestWaitingSeconds: oldest.length ? Math.max(...oldest) : null,
      },
      entities: rows,
      failing: sum(rows, r => r.failing),
      parked: sum(rows, r => r.parked),
      maxSyncErrors: crm.maxSyncErrors,
      rateLimit: rateLimitUse(crm, limits.filter(l => l.crm_name === crm.name)),
      errors,
      parkedRecords,
    });
  }
  return overviews;
}

const emptyQueue = (): QueueNumbers => ({ waiting: 0, inFlight: 0, retrying: 0, oldestWaitingSeconds: null });
const sum = <T>(rows: T[], of: (row: T) => number) => rows.reduce((total, row) => total + of(row), 0);
const toNumbers = (row: QueueRow): QueueNumbers => ({ waiting: row.waiting, inFlight: row.in_flight, retrying: row.retrying, oldestWaitingSeconds: row.oldest_seconds });

/**
 * The record queue (one row per record with work to do) and the inbox (requests not merged into it
 * yet, named by the record's own class: mapped to the root entity by `etlify_record_queue`'s rule
 * only once ingested, so they are counted under the class that asked).
 */
function queueRows(em: EntityManager, crms: string[]): Promise<QueueRow[]> {
  return query<QueueRow>(em,
    `select crm_name, entity, sum(waiting)::int as waiting, sum(in_flight)::int as in_flight, sum(retrying)::int as retrying,
            extract(epoch from now() - min(oldest))::float8 as oldest_seconds
       from (select crm_name, resource_type as entity,
                    count(*) filter (where claim_token is null) as waiting,
                    count(*) filter (where claim_token is not null) as in_flight,
                    count(*) filter (where claim_token is null and attempts > 0) as retrying,
                    min(first_requested_at) filter (where claim_token is null) as oldest
               from etlify_record_queue where crm_name = any(?::text[]) and lane = 'record' group by 1, 2
             union all
             select crm_name, entity, sum(cardinality(resource_ids)), 0, 0, min(requested_at)
               from etlify_sync_requests where crm_name = any(?::text[]) and kind <> 'dependents' group by 1, 2) q
      group by 1, 2`,
    [crms, crms]);
}

/** Failures grouped by reason: permanent ones from the sync state, transient ones from the queue. */
async function errorGroups(etlify: Etlify, em: EntityManager, crm: RegisteredCrm): Promise<ErrorGroup[]> {
  const rows = await query<{ reason: string; example: string; records: number; last_at: Date | null; kind: ErrorGroup['kind'] }>(em,
    `select reason, (array_agg(error order by at desc nulls last))[1] as example, count(*)::int as records, max(at) as last_at, kind
       from (select regexp_replace(left(last_error, 500), '[0-9]+', '#', 'g') as reason, last_error as error, last_error_at as at,
                    case when error_count >= ? then 'parked' else 'failing' end as kind
               from crm_synchronisations where crm_name = ? and error_count > 0 and last_error is not null
             union all
             select regexp_replace(left(last_error, 500), '[0-9]+', '#', 'g'), last_error, null, 'retrying'
               from etlify_record_queue where crm_name = ? and last_error is not null and claim_token is null) e
      group by reason, kind
      order by max(at) desc nulls last, count(*) desc
      limit ?`,
    [crm.maxSyncErrors, crm.name, crm.name, ERROR_GROUPS_SHOWN]);
  return rows.map(r => ({ reason: etlify.redact(r.reason), example: etlify.redact(r.example), records: r.records, lastAt: r.last_at && new Date(r.last_at).toISOString(), kind: r.kind }));
}

async function parkedOf(etlify: Etlify, em: EntityManager, crm: RegisteredCrm): Promise<ParkedRecord[]> {
  const rows = await query<{ resource_type: string; resource_id: string; crm_id: string | null; error_count: number; last_error: string | null; last_error_at: Date | null }>(em,
    `select resource_type, resource_id, crm_id, error_count, last_error, last_error_at from crm_synchronisations
      where crm_name = ? and error_count > 0 and error_count >= ?
      order by last_error_at desc nulls last, resource_type, resource_id limit ?`,
    [crm.name, crm.maxSyncErrors, PARKED_SHOWN]);
  return rows.map(r => ({
    entity: r.resource_type, id: r.resource_id, crmId: r.crm_id, errorCount: r.error_count,
    error: r.last_error === null ? null : etlify.redact(r.last_error), lastErrorAt: r.last_error_at && new Date(r.last_error_at).toISOString(),
  }));
}

interface LimitRow { crm_name: string; bucket: string; sent_at: Date[] }

function rateLimitRows(em: EntityManager, crms: string[]): Promise<LimitRow[]> {
  return query<LimitRow>(em, 'select crm_name, bucket, sent_at from etlify_rate_limits where crm_name = any(?::text[])', [crms]);
}

/** Requests sent in each bucket's current window, against the CRM's budget (the shared one every worker draws from). */
function rateLimitUse(crm: RegisteredCrm, rows: LimitRow[]): RateLimitUse[] {
  if (!crm.rateLimit) return [];
  const now = Date.now();
  const buckets = [['default', crm.rateLimit] as const, ...Object.entries(crm.rateLimit.buckets ?? {})];
  return buckets.map(([bucket, limit]) => {
    const sent = rows.find(r => r.bucket === bucket)?.sent_at ?? [];
    return { bucket, used: sent.filter(t => new Date(t).getTime() > now - limit.perMs).length, max: limit.maxRequests, perMs: limit.perMs };
  });
}
