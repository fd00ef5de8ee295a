import { MAX_RETRY_AFTER_MS } from '../adapters/http/retry-after.ts';
import type { Etlify } from '../etlify.ts';

/**
 * The wait a CRM asked for before a record is tried again, whatever adapter reported it: clamped to
 * an hour (and logged), so one answer never puts a sync or a delete off for a year. An unreadable
 * wait (NaN) is none: the queue's own backoff applies.
 */
export function clampedRetryWait(etlify: Etlify, crmName: string, record: { entity: string; id: string }, ms: number | undefined): number | undefined {
  if (ms === undefined || Number.isNaN(ms)) return undefined;
  if (ms <= MAX_RETRY_AFTER_MS) return Math.max(0, ms);
  etlify.logger.warn(`${crmName} asked to wait ${Math.round(ms / 1000)} s before retrying ${record.entity} ${record.id}; clamped to ${MAX_RETRY_AFTER_MS / 1000} s`, { crm: crmName, entity: record.entity, id: record.id, askedMs: ms });
  return MAX_RETRY_AFTER_MS;
}
