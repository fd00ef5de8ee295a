import { setTimeout as sleep } from 'node:timers/promises';
import { MAX_RETRY_AFTER_MS } from '../adapters/http/retry-after.ts';
import type { RegisteredCrm } from '../crms/registry.ts';
import { isRetryable, RateLimitedError } from '../errors.ts';
import type { EntityManager } from '@mikro-orm/core';
import type { RateLimitOptions, RemoteQuota, RequestBudget } from '../interfaces.ts';
import { PgDailyBudget } from '../ratelimit/daily-budget.ts';
import { PgRequestBudget } from '../ratelimit/pg-budget.ts';

/** Attempts of one read before reconcile gives up (transient failures: 429, 5xx, timeouts). */
const MAX_ATTEMPTS = 6;

/** The CRM's limits with every bucket scaled to `share`: reads may fill the shared window only that far. */
function scaled(limits: RateLimitOptions, share: number): RateLimitOptions {
  const scale = (limit: { maxRequests: number; perMs: number }) => ({ maxRequests: Math.max(1, Math.floor(limit.maxRequests * share)), perMs: limit.perMs });
  return {
    ...scale(limits),
    buckets: limits.buckets && Object.fromEntries(Object.entries(limits.buckets).map(([name, limit]) => [name, scale(limit)])),
  };
}

/** A reconcile met the CRM's daily budget (background work stops at its reserve): not retried. */
export class DailyBudgetStopError extends Error {
  override name = 'DailyBudgetStopError';
}

/**
 * The request budget of a reconcile: the same shared PostgreSQL window the workers draw from (so
 * their requests and these are counted together), of which reconcile only takes requests while the
 * window is filled less than `share` of the CRM's limit — syncs keep the rest. It waits for room
 * (reconcile is no worker job to reschedule) and counts the requests it made.
 */
export class ReconcileBudget implements RequestBudget {
  readonly #inner?: PgRequestBudget;
  /** The CRM's day: reconcile is background work, which stops at the day's reserve. */
  readonly #daily?: PgDailyBudget;
  readonly #signal?: AbortSignal;
  /** The CRM answered its daily limit (HubSpot's `DAILY` 429): waiting for the next day is no run's business either. */
  #dayOver = false;
  requests = 0;

  constructor(em: EntityManager, crm: RegisteredCrm, share: number, signal?: AbortSignal) {
    this.#inner = crm.rateLimit ? new PgRequestBudget(em, crm.name, scaled(crm.rateLimit, share)) : undefined;
    this.#daily = crm.dailyBudget && new PgDailyBudget(em, crm.name, crm.dailyBudget, { background: true });
    this.#signal = signal;
  }

  async acquire(bucket?: string, cost = 1): Promise<void> {
    for (;;) {
      try {
        await this.#inner?.acquire(bucket, cost);
        break;
      } catch (error) {
        if (!(error instanceof RateLimitedError)) throw error;
        await sleep(error.retryAfterMs ?? 100, undefined, { signal: this.#signal });
      }
    }
    // waiting for the next day is no run's business: it stops, and the next run resumes where it stopped
    await this.#daily?.acquire(bucket, cost).catch((error: unknown) => {
      throw error instanceof RateLimitedError ? new DailyBudgetStopError(`reconcile stopped: ${error.message}; run it again once the day ends, it resumes where it stopped`) : error;
    });
    this.requests += cost;
  }

  report(bucket: string, quota: RemoteQuota): void {
    this.#inner?.report(bucket, quota);
    this.#daily?.report(bucket, quota);
    if (quota.dailyRemaining === 0) this.#dayOver = true;
  }

  settle(bucket: string): Promise<void> {
    return this.#inner?.settle(bucket) ?? Promise.resolve();
  }

  /** Runs one read, retrying transient failures after the wait the CRM asked for (or a backoff). */
  async retrying<T>(read: () => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await read();
      } catch (error) {
        if (!isRetryable(error) || attempt >= MAX_ATTEMPTS) throw error;
        if (this.#dayOver) throw new DailyBudgetStopError(`reconcile stopped: ${error.message}; run it again once the day ends, it resumes where it stopped`);
        // the CRM's wait, clamped like the queue's (an hour): one answer never stalls a reconcile for days
        await sleep(Math.min(MAX_RETRY_AFTER_MS, error.retryAfterMs ?? Math.min(30_000, 500 * 2 ** attempt)), undefined, { signal: this.#signal });
      }
    }
  }
}
