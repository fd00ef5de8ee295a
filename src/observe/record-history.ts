import type { EntityManager } from '@mikro-orm/core';
import type { RemoteQuota } from '../interfaces.ts';
import { query } from '../state/sql.ts';
import type { HistoryRetention } from './retention.ts';

/** The CRM requests of one claim, as the adapter reported them (`AdapterCallContext.onResponse`). */
export class RequestTally {
  count = 0;
  totalMs = 0;
  maxMs = 0;
  rateLimited = 0;
  /** Requests by HTTP status (0: no answer). */
  readonly byStatus = new Map<number, number>();
  readonly durationsMs: number[] = [];

  /** The lowest share of its allowance the CRM reported left, per bucket. */
  readonly quotaLeft = new Map<string, { remaining: number; max: number }>();

  quota(bucket: string, quota: RemoteQuota): void {
    if (quota.remaining === undefined || !quota.max) return;
    const known = this.quotaLeft.get(bucket);
    if (!known || quota.remaining / quota.max < known.remaining / known.max) this.quotaLeft.set(bucket, { remaining: quota.remaining, max: quota.max });
  }

  add(status: number, durationMs: number): void {
    this.count++;
    this.durationsMs.push(durationMs);
    this.totalMs += durationMs;
    if (durationMs > this.maxMs) this.maxMs = durationMs;
    if (status === 429) this.rateLimited++;
    this.byStatus.set(status, (this.byStatus.get(status) ?? 0) + 1);
  }
}

/** One claim's attempts, as `runClaim` settled them. */
export interface ClaimReport {
  crm: string;
  /** Root entity name. */
  entity: string;
  kind: string;
  /** Per record: the engine's or the deleter's result, its redacted reason, its CRM id when known. */
  attempts: { id: string; result: string; error?: string; crmId?: string | null }[];
  requests: RequestTally;
  durationMs: number;
  /** The CRM's `maxSyncErrors`: a failure that reached it parked its record. */
  maxSyncErrors: number;
}

/** Reasons are kept this long in the attempt log (a CRM's error body can be large). */
export const ATTEMPT_ERROR_CHARS = 2000;

/**
 * Writes one claim into the attempt log and adds it to its minute's counts, in one statement (the
 * worker's whole cost of keeping history: benchmarked by `bench/queue-throughput`). Records handed
 * back untried and dependency fan-outs are not attempts.
 */
export async function recordClaim(em: EntityManager, report: ClaimReport): Promise<void> {
  const attempts = report.attempts.filter(a => a.result !== 'released');
  if (!attempts.length || report.kind === 'dependents') return;
  const t = report.requests;
  await query(em,
    `with r as (
       select * from json_to_recordset(?::json) as r(id text, result text, error text, "crmId" text)
     ), failed as materialized (
       -- the sync rows of the failed records (parked by now or not), found by key and kept as one object by id:
       -- a join would have the planner hash every sync row of the entity, once per claim
       select coalesce(jsonb_object_agg(resource_id, jsonb_build_object('crmId', crm_id, 'errors', error_count)), '{}') as m
         from crm_synchronisations
        where resource_type = ? and crm_name = ? and resource_id = any(array(select id from r where result = 'error'))
     ), classified as (
       select r.id, coalesce(r."crmId", (select m from failed) -> r.id ->> 'crmId') as crm_id, left(r.error, ?) as error,
              case r.result when 'error' then (case when ((select m from failed) -> r.id ->> 'errors')::int >= ? then 'parked' else 'failed' end)
                            when 'retry' then 'retried' else r.result end as outcome
         from r
     ), logged as (
       insert into etlify_attempts (crm_name, entity, resource_id, kind, outcome, error, crm_id, requests, duration_ms)
       select ?, ?, id, ?, outcome, error, crm_id, ?, ? from classified
     )
     insert into etlify_history_minutes as h (minute, crm_name, entity, synced, not_modified, failed, parked, retried, deleted,
                                              rate_limited, requests, request_ms, max_request_ms)
     select date_trunc('minute', now()), ?, ?,
            count(*) filter (where outcome = 'synced'), count(*) filter (where outcome = 'not_modified'),
            count(*) filter (where outcome in ('failed', 'parked')), count(*) filter (where outcome = 'parked'),
            count(*) filter (where outcome = 'retried'), count(*) filter (where outcome in ('deleted', 'noop')),
            ?, ?, ?, ?
       from classified
     on conflict (minute, crm_name, entity) do update set
       synced = h.synced + excluded.synced, not_modified = h.not_modified + excluded.not_modified,
       failed = h.failed + excluded.failed, parked = h.parked + excluded.parked, retried = h.retried + excluded.retried,
       deleted = h.deleted + excluded.deleted, rate_limited = h.rate_limited + excluded.rate_limited,
       requests = h.requests + excluded.requests, request_ms = h.request_ms + excluded.request_ms,
       max_request_ms = greatest(h.max_request_ms, excluded.max_request_ms)`,
    [JSON.stringify(attempts), report.entity, report.crm, ATTEMPT_ERROR_CHARS, report.maxSyncErrors,
      report.crm, report.entity, report.kind, t.count, Math.round(report.durationMs),
      report.crm, report.entity, t.rateLimited, t.count, Math.round(t.totalMs), Math.round(t.maxMs)]);
}

/** Deletes history older than the retention. Returns the rows deleted. */
export async function pruneHistory(em: EntityManager, retention: Required<HistoryRetention>): Promise<number> {
  const [row] = await query<{ n: number }>(em,
    `with days as (select make_interval(secs => ? * 86400) as counts, make_interval(secs => ? * 86400) as attempts),
     m as (delete from etlify_history_minutes where minute < now() - (select counts from days) returning 1),
     s as (delete from etlify_queue_samples where sampled_at < now() - (select counts from days) returning 1),
     a as (delete from etlify_attempts where at < now() - (select attempts from days) returning 1)
     select ((select count(*) from m) + (select count(*) from s) + (select count(*) from a))::int as n`,
    [retention.countsDays, retention.attemptsDays]);
  return row!.n;
}
