import type { EntityManager, MikroORM } from '@mikro-orm/core';
import { Etlify } from '../etlify.ts';
import { wakeJobsArray, wakeJobSpecs } from '../queue/requests.ts';
import { query } from '../state/sql.ts';
import { dayIn, msUntilMidnight } from './portal-day.ts';

/** Beyond an unknown outcome's wait, a claim's lease and a record's backoff: a wait of this many seconds more is a rate limit's. */
const LONGER_THAN_OWN_WAITS_S = 300;

/** Where a CRM's day stands (`dailyBudgets`, `etlify status`). */
export interface DailyBudgetStatus {
  crm: string;
  /** The portal's date the count is for (`YYYY-MM-DD` in `timeZone`). */
  day: string;
  timeZone: string;
  /** Requests counted today by every process, or the account's use as the CRM reported it when higher. */
  used: number;
  /** The day's limit: configured, or as the CRM reported it; null while unknown. */
  limit: number | null;
  /** The count at which background work (the sweep, `syncStale`) stops; null while the limit is unknown. */
  backgroundStopsAt: number | null;
  /** Nothing is sent until `resetsAt`: the limit is reached, or the CRM answered its daily limit. */
  spent: boolean;
  /** When the portal's next day starts, as an ISO time. */
  resetsAt: string;
}

/** Today's use of every enabled CRM that keeps a daily budget (`dailyBudget`). */
export function dailyBudgets(orm: MikroORM, now = Date.now()): Promise<DailyBudgetStatus[]> {
  return dailyBudgetsOf(Etlify.of(orm), orm.em.fork({ useContext: false }), now);
}

/** `dailyBudgets` with the instance and an EntityManager at hand (the dashboard). */
export async function dailyBudgetsOf(etlify: Etlify, em: EntityManager, now = Date.now()): Promise<DailyBudgetStatus[]> {
  const crms = etlify.crms.all().filter(crm => crm.enabled && crm.dailyBudget);
  const rows = await query<{ crm_name: string; day: string; used: number; reported_limit: number | null; spent: boolean }>(em,
    'select crm_name, day, used, reported_limit, spent from etlify_daily_budgets where crm_name = any(?::text[])', [crms.map(crm => crm.name)]);
  return crms.map(crm => {
    const { limit: configured, reserveShare, timeZone } = crm.dailyBudget!;
    const row = rows.find(r => r.crm_name === crm.name);
    const day = dayIn(timeZone, now);
    // a row of an earlier day: nothing counted yet today
    const today = row?.day === day;
    const limit = configured ?? row?.reported_limit ?? null;
    return {
      crm: crm.name, day, timeZone,
      used: today ? row!.used : 0,
      limit,
      backgroundStopsAt: limit === null ? null : Math.floor(limit * (1 - reserveShare)),
      spent: today && row!.spent,
      resetsAt: new Date(now + msUntilMidnight(timeZone, now)).toISOString(),
    };
  });
}

/**
 * Starts the CRM's day over now: the count goes back to 0, and the records waiting for the day's end
 * are due at once (their CRM's processor is woken). For a portal whose allowance was reset or raised
 * (HubSpot's API limit increase) before its midnight. Returns the number of records made due.
 */
export async function resetDailyBudget(orm: MikroORM, crmName: string): Promise<number> {
  const crm = Etlify.of(orm).crms.get(crmName);
  const timeZone = crm.dailyBudget?.timeZone ?? 'UTC';
  const [row] = await query<{ due: number }>(orm.em.fork({ useContext: false }),
    `with reset as (
       update etlify_daily_budgets set used = 0, spent = false, low_emitted = false, day = ?, updated_at = now() where crm_name = ?
     ), due as (
       -- a record the budget refused waits until midnight, one that met the daily-limit 429 up to an hour
       -- (maxRetryAfterMs); a record's own backoff and the wait after an unknown outcome are far shorter,
       -- and the latter must be waited out: nothing else waits this long
       update etlify_record_queue set not_before = now()
        where crm_name = ? and claim_token is null and not_before > now() + make_interval(secs => ? / 1000.0 + ${LONGER_THAN_OWN_WAITS_S})
       returning 1
     )
     select (select count(*) from due)::int as due,
            (select count(*) from graphile_worker.add_jobs(
               ${wakeJobsArray('?')}, false))::int as jobs`,
    [dayIn(timeZone), crm.name, crm.name, crm.jobs.unknownOutcomeWaitMs, JSON.stringify(wakeJobSpecs([crm], 0).map(spec => ({ ...spec, job_key: `${spec.job_key}:day` })))]);
  return row!.due;
}
