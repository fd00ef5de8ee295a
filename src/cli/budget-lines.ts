import type { DailyBudgetStatus } from '../ratelimit/daily-status.ts';

/** `etlify status`: a few lines per CRM that keeps a daily budget, each within 100 columns. */
export function dailyBudgetLines(budgets: DailyBudgetStatus[]): string[] {
  return budgets.flatMap(b => [
    b.limit === null
      ? `daily budget of ${b.crm}: ${b.used} requests today; limit unknown (HubSpot tells private apps)`
      : `daily budget of ${b.crm}: ${b.used} of ${b.limit} requests today (${Math.floor((b.used / b.limit) * 100)} %), background work stops at ${b.backgroundStopsAt}`,
    ...(b.spent ? ['  SPENT: nothing is sent before the day ends']
      : b.backgroundStopsAt !== null && b.used >= b.backgroundStopsAt ? ['  background work (sweep, syncStale) waits for the next day'] : []),
    `  the day ends at ${b.resetsAt} (midnight ${b.timeZone})`,
  ]);
}
