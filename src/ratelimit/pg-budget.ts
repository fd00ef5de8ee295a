import type { EntityManager } from '@mikro-orm/core';
import { RateLimitedError } from '../errors.ts';
import type { RateLimitOptions, RemoteQuota, RequestBudget } from '../interfaces.ts';
import { query } from '../state/sql.ts';

/**
 * A CRM account's request budget kept in PostgreSQL, so every worker process draws from the same
 * sliding window (`etlify_acquire_budget`, shipped in the migrations). When the window is full it
 * throws `RateLimitedError` with the exact wait instead of sleeping: the job releases its requests
 * and is rescheduled for when the budget has room again.
 */
export class PgRequestBudget implements RequestBudget {
  readonly #em: EntityManager;
  readonly #crm: string;
  readonly #limits: RateLimitOptions;

  constructor(em: EntityManager, crm: string, limits: RateLimitOptions) {
    this.#em = em;
    this.#crm = crm;
    this.#limits = limits;
  }

  async acquire(bucket = 'default', cost = 1): Promise<void> {
    const limit = bucket === 'default' ? this.#limits : this.#limits.buckets?.[bucket];
    if (!limit) return;
    const [row] = await query<{ wait: number }>(this.#em,
      'select etlify_acquire_budget(?, ?, ?, ?, ?) as wait', [this.#crm, bucket, limit.maxRequests, Math.ceil(limit.perMs), cost]);
    if (row!.wait > 0) {
      throw new RateLimitedError(`request budget of ${this.#crm} (${bucket}: ${limit.maxRequests} per ${limit.perMs} ms) is spent`, row!.wait);
    }
  }

  /** The CRM says its window is exhausted (other clients share the account): stop until it resets. */
  report(bucket: string, quota: RemoteQuota): void {
    if (quota.remaining !== 0 && quota.retryAfterMs === undefined) return;
    const waitMs = quota.retryAfterMs ?? quota.intervalMs ?? (bucket === 'default' ? this.#limits.perMs : this.#limits.buckets?.[bucket]?.perMs) ?? 1000;
    query(this.#em,
      `insert into etlify_rate_limits (crm_name, bucket, blocked_until) values (?, ?, clock_timestamp() + make_interval(secs => ? / 1000.0))
       on conflict (crm_name, bucket) do update set blocked_until = greatest(etlify_rate_limits.blocked_until, excluded.blocked_until)`,
      [this.#crm, bucket, waitMs]).catch(() => { /* advisory only: the next 429 will say it again */ });
  }
}
