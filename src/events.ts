import { EventEmitter } from 'node:events';
import type { DeleteResult, SyncResult } from './interfaces.ts';

/** Emitted once per record × CRM outcome. */
export interface SyncEvent {
  crm: string;
  /** Entity class name of the record (the STI subclass when there is one). */
  entity: string;
  id: string;
  durationMs: number;
  crmId?: string | null;
  /** Redacted one-line reason, for `failed`, `retried`, `parked` and `skipped` buffers. */
  error?: string;
  /** For `retried`: when the next attempt is due, in ms. */
  retryInMs?: number;
}

/**
 * What each event means:
 * - `synced`, `not_modified`, `skipped`, `buffered`: the sync results of the same names;
 * - `failed`: a permanent failure, counted in `error_count`;
 * - `parked`: a failure that brought `error_count` to `maxSyncErrors`: no more retries until the record
 *   changes or is reset;
 * - `retried`: a transient failure (rate limit, 5xx, network); the job will run again, nothing counted;
 * - `deleted`: the CRM object was deleted (or was already gone).
 */
export interface EtlifyEvents {
  synced: [SyncEvent];
  not_modified: [SyncEvent];
  skipped: [SyncEvent];
  buffered: [SyncEvent];
  failed: [SyncEvent];
  parked: [SyncEvent];
  retried: [SyncEvent];
  deleted: [SyncEvent & { result: DeleteResult }];
  /** A record was parked (the same moment as `parked`): for alerts. */
  'record:parked': [SyncEvent];
  /**
   * The CRM merged a record's object into another one (HubSpot merges give the result a new id): the
   * record now follows it (`crmId`), or, when another record follows it already (`heldBy`), the record
   * is parked and no longer sent.
   */
  'record:merged': [MergeEvent];
  /** A CRM stopped answering usefully: a whole claim failed with no record accepted (down, unreachable, a rejected token). Once per outage, per process. */
  'crm:unavailable': [CrmAvailabilityEvent];
  /** The CRM accepted records again after `crm:unavailable`. */
  'crm:available': [CrmAvailabilityEvent];
  /**
   * The CRM reported less than 10 % of its request allowance left (rate-limit headers): once until it
   * recovers, per process. `bucket: 'daily'`: the CRM's daily budget reached the point where background
   * work stops (at the latest 10 % left): once per CRM and day, in one process of all.
   */
  'quota:low': [QuotaEvent];
}

export interface MergeEvent extends SyncEvent {
  /** The id the record had stored: the CRM merged that object away. */
  mergedFrom: string;
  /** The object it was merged into. */
  mergedInto: string;
  /** The record (`Entity id`) that follows `mergedInto`, when it is not this one. */
  heldBy?: string;
}

export interface CrmAvailabilityEvent {
  crm: string;
  /** Since when it has been unavailable. */
  since: Date;
  /** The failure that made it unavailable (redacted). */
  reason?: string;
}

export interface QuotaEvent {
  crm: string;
  /** The CRM's rate-limit bucket (`default`, `search`, …). */
  bucket: string;
  remaining: number;
  max: number;
}

export type SyncEventName = keyof EtlifyEvents;

export const RESULT_EVENTS: Record<Exclude<SyncResult, 'disabled' | 'error'>, SyncEventName> = {
  synced: 'synced', not_modified: 'not_modified', skipped: 'skipped', buffered: 'buffered',
};

export class EtlifyEventEmitter extends EventEmitter<EtlifyEvents> {}
