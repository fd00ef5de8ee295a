import type { EntityManager } from '@mikro-orm/core';
import type { RegisteredCrm } from '../crms/registry.ts';
import type { Etlify } from '../etlify.ts';
import type { RequestBudget } from '../interfaces.ts';
import { PgDailyBudget } from './daily-budget.ts';
import { PgRequestBudget } from './pg-budget.ts';

/**
 * The budget a claim's requests draw from: the CRM's sliding window (`rateLimit`), then its day
 * (`dailyBudget`), both shared by every process; undefined when the CRM has neither.
 * `background`: the claim carries only background work (the sweep, `syncStale`), which stops at the
 * day's reserve.
 */
export function crmRequestBudget(etlify: Etlify, em: EntityManager, crm: RegisteredCrm, background: boolean): RequestBudget | undefined {
  const window = crm.rateLimit && new PgRequestBudget(em, crm.name, crm.rateLimit);
  const daily = crm.dailyBudget && new PgDailyBudget(em, crm.name, crm.dailyBudget, { background, onLow: event => etlify.events.emit('quota:low', event) });
  if (!daily || !window) return daily || window || undefined;
  return {
    check: () => daily.check(),
    // the window first: its refusals are the frequent ones, and a request it refuses is not counted for the day
    async acquire(bucket, cost) {
      await window.acquire(bucket, cost);
      await daily.acquire(bucket, cost);
    },
    report(bucket, quota) {
      // a daily-limit 429 is the day's business: its wait (an hour, or until midnight) would shut the
      // burst window too, and nothing would go after resetDailyBudget
      window.report(bucket, quota.dailyRemaining === 0 ? { ...quota, retryAfterMs: undefined } : quota);
      daily.report(bucket, quota);
    },
    settle: bucket => window.settle(bucket),
  };
}
