import type { EntityManager } from '@mikro-orm/core';
import type { RegisteredCrm } from '../../crms/registry.ts';
import type { Etlify } from '../../etlify.ts';
import { pausedCrms } from '../../queue/pause.ts';
import { dailyBudgetsOf } from '../../ratelimit/daily-status.ts';
import { query } from '../../state/sql.ts';
import { queueDepth } from '../queue-depth.ts';

/**
 * What the dashboard shows of each CRM right now, read from the queue and sync-state tables (the
 * queue figures through `queueDepth`, as `status`, the metrics and the history samples). Every
 * statement is bounded by an index: the record queue and the inbox hold only the work still to do,
 * and failing/parked records are counted and picked through `crm_synchronisations_failing_latest` (a
 * partial index on `error_count > 0` that holds what they are counted by), so a load never scans the
 * whole sync-state table, and reads from it only the rows it shows (the error groups excepted: they
 * read each failing record's message).
 */

export interface QueueNumbers {
  /** Records waiting for a sync or delete (queue and inbox), those in flight and being retried included. */
  queued: number;
  /** Of those, the records a worker holds right now. */
  inFlight: number;
  /** Of those, the records waiting after a failed attempt (backoff, Retry-After, unknown outcome). */
  retrying: number;
  /** How long the longest-waiting record has waited, in seconds (null when nothing waits). */
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

interface ExtraRow { crm_name: string; entity: string; in_flight: number; failing: number }

/** Every registered CRM's overview, in registration order. */
export async function crmOverviews(etlify: Etlify, em: EntityManager): Promise<CrmOverview[]> {
  const crms = etlify.crms.all();
  const names = crms.map(c => c.name);
  const [depths, extras, paused, limits, days] = await Promise.all([
    // the same figures as `etlify status`, the metrics and the history samples
    queueDepth(em, Object.fromEntries(crms.map(c => [c.name, c.maxSyncErrors]))),
    query<ExtraRow>(em,
      `select crm_name, entity, sum(in_flight)::int as in_flight, sum(failing)::int as failing
         from (select crm_name, resource_type as entity, count(*) as in_flight, 0 as failing
                 from etlify_record_queue where crm_name = any(?::text[]) and lane = 'record' and claim_token is not null group by 1, 2
               union all
               select s.crm_name, s.resource_type, 0, count(*)
                 from unnest(?::text[], ?::int[]) as m(crm, max)
                 join crm_synchronisations s on s.crm_name = m.crm and s.error_count > 0 and s.error_count < m.max
                group by 1, 2) x
        group by 1, 2`,
      [names, names, crms.map(c => c.maxSyncErrors)]),
    pausedCrms(em),
    rateLimitRows(em, names),
    dailyBudgetsOf(etlify, em),
  ]);
  const now = Date.now();
  return Promise.all(crms.map(async (crm): Promise<CrmOverview> => {
    const [errors, parkedRecords] = await Promise.all([errorGroups(etlify, em, crm), parkedOf(etlify, em, crm)]);
    const entities = new Map<string, CrmOverview['entities'][number]>();
    const entityOf = (entity: string) => entities.get(entity)
      ?? entities.set(entity, { entity, queued: 0, inFlight: 0, retrying: 0, oldestWaitingSeconds: null, failing: 0, parked: 0 }).get(entity)!;
    for (const d of depths.filter(r => r.crm === crm.name)) {
      Object.assign(entityOf(d.entity), {
        queued: d.queued, retrying: d.retrying, parked: d.parked,
        oldestWaitingSeconds: d.oldestWaitingAt && Math.max(0, (now - d.oldestWaitingAt.getTime()) / 1000),
      });
    }
    for (const row of extras.filter(r => r.crm_name === crm.name)) Object.assign(entityOf(row.entity), { inFlight: row.in_flight, failing: row.failing });
    const rows = [...entities.values()].sort((a, b) => a.entity.localeCompare(b.entity));
    const oldest = rows.map(r => r.oldestWaitingSeconds).filter((s): s is number => s !== null);
    return {
      name: crm.name,
      enabled: crm.enabled,
      paused: paused.has(crm.name),
      queue: {
        queued: sum(rows, r => r.queued),
        inFlight: sum(rows, r => r.inFlight),
        retrying: sum(rows, r => r.retrying),
        oldestWaitingSeconds: oldest.length ? Math.max(...oldest) : null,
      },
      entities: rows,
      failing: sum(rows, r => r.failing),
      parked: sum(rows, r => r.parked),
      maxSyncErrors: crm.maxSyncErrors,
      rateLimit: [...rateLimitUse(crm, limits.filter(l => l.crm_name === crm.name)),
        // the portal's day, once its limit is known (ratelimit/daily-budget.ts)
        ...days.filter(d => d.crm === crm.name && d.limit !== null).map(d => ({ bucket: 'daily', used: d.used, max: d.limit!, perMs: 86_400_000 }))],
      errors,
      parkedRecords,
    };
  }));
}

const sum = <T>(rows: T[], of: (row: T) => number) => rows.reduce((total, row) => total + of(row), 0);

/** Failures grouped by reason: permanent ones from the sync state, transient ones from the queue. */
async function errorGroups(etlify: Etlify, em: EntityManager, crm: RegisteredCrm): Promise<ErrorGroup[]> {
  const rows = await query<{ reason: string; example: string; records: number; last_at: Date | null; kind: ErrorGroup['kind'] }>(em,
    // exact messages first (a hash aggregate), so the rewrite into a reason runs once per distinct message
    `with exact as (
       select last_error as error, max(last_error_at) as at, count(*) as records,
              case when error_count >= ? then 'parked' else 'failing' end as kind
         from crm_synchronisations where crm_name = ? and error_count > 0 and last_error is not null
        group by 1, 4
       union all
       select last_error, null, count(*), 'retrying'
         from etlify_record_queue where crm_name = ? and last_error is not null and claim_token is null
        group by 1
     )
     select regexp_replace(left(error, 500), '[0-9]+', '#', 'g') as reason, (array_agg(error order by at desc nulls last))[1] as example,
            sum(records)::int as records, max(at) as last_at, kind
       from exact
      group by 1, kind
      order by max(at) desc nulls last, sum(records) desc
      limit ?`,
    [crm.maxSyncErrors, crm.name, crm.name, ERROR_GROUPS_SHOWN]);
  return rows.map(r => ({ reason: etlify.redact(r.reason), example: etlify.redact(r.example), records: r.records, lastAt: r.last_at && new Date(r.last_at).toISOString(), kind: r.kind }));
}

async function parkedOf(etlify: Etlify, em: EntityManager, crm: RegisteredCrm): Promise<ParkedRecord[]> {
  const rows = await query<{ resource_type: string; resource_id: string; crm_id: string | null; error_count: number; last_error: string | null; last_error_at: Date | null }>(em,
    // the latest ones picked from crm_synchronisations_failing_latest alone; only those are read from the table
    `with latest as (
       select resource_type, resource_id from crm_synchronisations
        where crm_name = ? and error_count > 0 and error_count >= ?
        order by last_error_at desc nulls last, resource_type, resource_id limit ?
     )
     select s.resource_type, s.resource_id, s.crm_id, s.error_count, s.last_error, s.last_error_at
       from latest join crm_synchronisations s on s.crm_name = ? and (s.resource_type, s.resource_id) = (latest.resource_type, latest.resource_id)
      order by s.last_error_at desc nulls last, s.resource_type, s.resource_id`,
    [crm.name, crm.maxSyncErrors, PARKED_SHOWN, crm.name]);
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
