import type { EntityManager } from '@mikro-orm/core';
import { query } from '../state/sql.ts';
import { queueCountsOf, type QueueCounts } from './queue-depth.ts';

/**
 * Etlify's history (tables from Migration20261207018001_EtlifyHistory), read by `status`, the
 * dashboard and the metrics:
 * - per-minute counts per CRM × entity (`etlify_history_minutes`);
 * - queue depth samples, about one a minute per CRM × entity with anything waiting (`etlify_queue_samples`);
 * - the attempt log, one row per record attempt (`etlify_attempts`), searchable by record id and CRM id.
 * `entity` is always the root entity name (the sync state's `resource_type`). Times are `Date`s.
 */

/** What happened in one minute to one entity's records with one CRM. */
export interface MinuteCounts {
  /** Start of the minute. */
  minute: Date;
  crm: string;
  entity: string;
  synced: number;
  notModified: number;
  /** Permanent failures (counted in `error_count`), parked ones included. */
  failed: number;
  /** Failures that parked their record (reached `maxSyncErrors`). */
  parked: number;
  /** Transient failures (rate limit, 5xx, network, unknown outcome): tried again later. */
  retried: number;
  /** CRM objects deleted (or found already gone). */
  deleted: number;
  /** CRM answers with status 429. */
  rateLimited: number;
  /** HTTP requests sent to the CRM, and their total and longest latency. */
  requests: number;
  requestMs: number;
  maxRequestMs: number;
}

/** How much was waiting for one CRM × entity at one moment: a stored `QueueDepth`, without its errors. */
export interface QueueSample extends QueueCounts {
  sampledAt: Date;
}

/** One attempt to sync or delete one record. */
export interface Attempt {
  at: Date;
  crm: string;
  entity: string;
  resourceId: string;
  /** `sync`, `delete` or `forget` (a removed record whose CRM keeps its object). */
  kind: string;
  /**
   * `synced`, `not_modified`, `failed`, `parked`, `retried`, `deleted`, `noop` (already gone),
   * `skipped`, `buffered`, `missing` (the record no longer exists), `pending`, `disabled`.
   */
  outcome: string;
  /** The redacted reason (capped at 2,000 characters). */
  error: string | null;
  crmId: string | null;
  /** HTTP requests of the batch this attempt was part of. */
  requests: number;
  /** Time the batch took, in ms. */
  durationMs: number;
}

export interface HistoryRange {
  from: Date;
  /** Default: now (everything recorded so far). */
  to?: Date;
  crm?: string;
  entity?: string;
}

/** Per-minute counts in `[from, to)`, oldest first; minutes with nothing have no row. */
export async function countsPerMinute(em: EntityManager, range: HistoryRange): Promise<MinuteCounts[]> {
  const rows = await query<Record<string, unknown>>(em,
    `select minute, crm_name, entity, synced, not_modified, failed, parked, retried, deleted, rate_limited,
            requests, request_ms::float8 as request_ms, max_request_ms
       from etlify_history_minutes
      where minute >= ? and minute < coalesce(?::timestamptz, 'infinity') and (?::text is null or crm_name = ?) and (?::text is null or entity = ?)
      order by minute, crm_name, entity`,
    rangeParams(range));
  return rows.map(r => ({
    minute: new Date(r.minute as Date), crm: r.crm_name as string, entity: r.entity as string,
    synced: r.synced as number, notModified: r.not_modified as number, failed: r.failed as number, parked: r.parked as number,
    retried: r.retried as number, deleted: r.deleted as number, rateLimited: r.rate_limited as number,
    requests: r.requests as number, requestMs: r.request_ms as number, maxRequestMs: r.max_request_ms as number,
  }));
}

/** Queue depth samples in `[from, to)`, oldest first. */
export async function queueSamples(em: EntityManager, range: HistoryRange): Promise<QueueSample[]> {
  const rows = await query<Record<string, unknown>>(em,
    `select sampled_at, crm_name, entity, queued, retrying, parked, oldest_waiting_at
       from etlify_queue_samples
      where sampled_at >= ? and sampled_at < coalesce(?::timestamptz, 'infinity') and (?::text is null or crm_name = ?) and (?::text is null or entity = ?)
      order by sampled_at, crm_name, entity`,
    rangeParams(range));
  return rows.map(r => ({ sampledAt: new Date(r.sampled_at as Date), ...queueCountsOf(r) }));
}

export interface AttemptSearch {
  /** The record's primary key (as text). */
  resourceId?: string;
  /** The CRM object's id. */
  crmId?: string;
  crm?: string;
  entity?: string;
  /** Most recent first, at most this many. Default 100. */
  limit?: number;
}

/**
 * A record's attempts, most recent first: by record id, by CRM id (every record that wrote to that
 * object), or both. One of the two is required.
 */
export async function attemptsOf(em: EntityManager, search: AttemptSearch): Promise<Attempt[]> {
  if (search.resourceId === undefined && search.crmId === undefined) throw new TypeError('attemptsOf: give `resourceId` or `crmId`');
  const rows = await query<Record<string, unknown>>(em,
    `select at, crm_name, entity, resource_id, kind, outcome, error, crm_id, requests, duration_ms
       from etlify_attempts
      where ${search.resourceId !== undefined ? 'resource_id = ?' : 'resource_id in (select resource_id from etlify_attempts where crm_id = ?)'}
        and (?::text is null or crm_id = ? or crm_id is null) and (?::text is null or crm_name = ?) and (?::text is null or entity = ?)
      order by at desc, id desc limit ?`,
    [search.resourceId ?? search.crmId, ...twice(search.resourceId === undefined ? null : search.crmId), ...twice(search.crm), ...twice(search.entity), search.limit ?? 100]);
  return rows.map(toAttempt);
}

/** The latest errors grouped by reason, for one CRM or all, most recent first. */
export interface ErrorGroup {
  crm: string;
  entity: string;
  outcome: string;
  error: string;
  count: number;
  lastAt: Date;
  /** Up to 10 of the records that failed with it. */
  resourceIds: string[];
}

/** Failed, parked and retried attempts since `from`, grouped by CRM, entity, outcome and reason. */
export async function errorsByReason(em: EntityManager, range: HistoryRange & { limit?: number }): Promise<ErrorGroup[]> {
  const rows = await query<Record<string, unknown>>(em,
    `select crm_name, entity, outcome, error, count(*)::int as count, max(at) as last_at,
            (array_agg(distinct resource_id))[1:10] as resource_ids
       from etlify_attempts
      where at >= ? and at < coalesce(?::timestamptz, 'infinity') and (?::text is null or crm_name = ?) and (?::text is null or entity = ?) and error is not null
      group by crm_name, entity, outcome, error
      order by max(at) desc limit ?`,
    [...rangeParams(range), range.limit ?? 50]);
  return rows.map(r => ({
    crm: r.crm_name as string, entity: r.entity as string, outcome: r.outcome as string, error: r.error as string,
    count: r.count as number, lastAt: new Date(r.last_at as Date), resourceIds: r.resource_ids as string[],
  }));
}

function toAttempt(r: Record<string, unknown>): Attempt {
  return {
    at: new Date(r.at as Date), crm: r.crm_name as string, entity: r.entity as string, resourceId: r.resource_id as string,
    kind: r.kind as string, outcome: r.outcome as string, error: r.error as string | null, crmId: r.crm_id as string | null,
    requests: r.requests as number, durationMs: r.duration_ms as number,
  };
}

function rangeParams(range: HistoryRange): unknown[] {
  // no `to`: everything recorded so far. The application's clock would miss rows the database stamped a
  // moment later than it (the same millisecond, truncated; or a clock running behind the database's)
  return [range.from, range.to ?? null, ...twice(range.crm), ...twice(range.entity)];
}

const twice = (value: string | undefined | null) => [value ?? null, value ?? null];
