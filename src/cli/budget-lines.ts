import type { DailyBudgetStatus } from '../ratelimit/daily-status.ts';

/** `etlify status`: one line per CRM that keeps a daily budget. */
export function dailyBudgetLines(budgets: DailyBudgetStatus[]): string[] {
  return budgets.map(b => {
    const use = b.limit === null
      ? `${b.used} requests today (limit not known yet: HubSpot reports it to private apps; set dailyBudget.limit)`
      : `${b.used} of ${b.limit} requests today (${Math.floor((b.used / b.limit) * 100)} %); background work stops at ${b.backgroundStopsAt}`;
    const state = b.spent ? '; SPENT: nothing is sent until the day ends' : b.backgroundStopsAt !== null && b.used >= b.backgroundStopsAt ? '; background work waits for the next day' : '';
    return `daily budget of ${b.crm}: ${use}${state}; the day ends at ${b.resetsAt} (midnight ${b.timeZone})`;
  });
}
