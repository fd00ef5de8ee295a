import type { EntityManager } from '@mikro-orm/core';
import { MAX_RETRY_AFTER_MS } from '../adapters/http/retry-after.ts';
import { RateLimitedError } from '../errors.ts';
import type { QuotaEvent } from '../events.ts';
import type { RemoteQuota, RequestBudget } from '../interfaces.ts';
import { query, queryBound } from '../state/sql.ts';
import { dayIn, msUntilMidnight } from './portal-day.ts';

/** A CRM's daily budget with every default filled in (see `DailyBudgetOptions`). */
export interface DailyBudgetSettings {
  limit?: number;
  reserveShare: number;
  timeZone: string;
}

/** The day's use is low (`quota:low`) once background work stops, and at the latest with 10 % left. */
const LOW_AT_MOST = 0.9;

/**
 * The CRM's clock and ours differ, and records that waited for the day's end are due at our midnight
 * sharp: a daily-limit 429 to a request sent less than this after our midnight is the CRM's previous
 * day, not a sign that the new one is spent (no portal spends a day's allowance within a minute: its
 * burst limit allows 250 requests per 10 s at most).
 */
const CLOCK_SKEW_MS = 60_000;

/**
 * One statement, under the CRM's row lock: roll the row over to the portal's current day, decide, and
 * count `cost` requests when they may go. `spent`: nothing may go today (the limit is reached, or
 * the CRM answered a daily-limit 429); `reserved`: background work has reached its share. The first
 * time the day's use passes the low mark, `low_now` is true in exactly one process.
 * Parameters: day, limit, cost, background, reserve share, CRM.
 */
const ACQUIRE_SQL = `
  with params as (
    select ?::text as day, ?::int as configured, ?::int as cost, ?::boolean as background, ?::double precision as reserve
  ), cur as (
    select b.crm_name, b.reported_limit,
           case when b.day = p.day then b.used else 0 end as used,
           case when b.day = p.day then b.spent else false end as spent,
           case when b.day = p.day then b.low_emitted else false end as low_emitted,
           coalesce(p.configured, b.reported_limit) as lim
      from etlify_daily_budgets b, params p where b.crm_name = ? for update of b
  ), decision as (
    select cur.*, p.*,
           case when cur.spent or cur.used + p.cost > cur.lim then 'spent'
                when p.background and cur.used + p.cost > floor(cur.lim * (1 - p.reserve)) then 'reserved'
                else 'ok' end as verdict
      from cur, params p
  ), counted as (
    select d.*, d.used + case when d.verdict = 'ok' then d.cost else 0 end as now_used from decision d
  )
  update etlify_daily_budgets b
     set day = c.day, used = c.now_used, spent = c.spent, updated_at = now(),
         low_emitted = c.low_emitted or coalesce(c.now_used >= floor(c.lim * least(1 - c.reserve, ${LOW_AT_MOST})), false)
    from counted c
   where b.crm_name = c.crm_name
  returning c.verdict, c.now_used as used, c.lim, (b.low_emitted and not c.low_emitted) as low_now`;

/**
 * What the CRM reported: its daily allowance and what the account (every app) has used today, which
 * replaces the count when it is higher; a daily-limit 429 (0 left) ends the day's sending.
 * Parameters: day, limit, used, spent, CRM.
 */
const REPORT_SQL = `
  insert into etlify_daily_budgets as b (crm_name, day, used, reported_limit, spent)
  values ($5, $1, coalesce($3::int, 0), $2::int, $4::boolean)
  on conflict (crm_name) do update set
    reported_limit = coalesce(excluded.reported_limit, b.reported_limit),
    used = greatest(case when b.day = excluded.day then b.used else 0 end, excluded.used),
    spent = case when b.day = excluded.day then b.spent else false end or excluded.spent,
    low_emitted = b.day = excluded.day and b.low_emitted,
    day = excluded.day, updated_at = now()
  -- a late answer about a day the count has left (dates as YYYY-MM-DD sort as text)
  where b.day <= excluded.day`;

/** `ACQUIRE_SQL`'s verdict for one request, read without a lock and without counting. Parameters: day, limit, background, reserve share, CRM. */
const CHECK_SQL = `
  select case when b.day <> p.day then 'ok'
              when b.spent or b.used + 1 > coalesce(p.configured, b.reported_limit) then 'spent'
              when p.background and b.used + 1 > floor(coalesce(p.configured, b.reported_limit) * (1 - p.reserve)) then 'reserved'
              else 'ok' end as verdict,
         b.used, coalesce(p.configured, b.reported_limit) as lim
    from etlify_daily_budgets b, (select ?::text as day, ?::int as configured, ?::boolean as background, ?::double precision as reserve) p
   where b.crm_name = ?`;

interface AcquireRow { verdict: 'ok' | 'reserved' | 'spent'; used: number; lim: number | null; low_now: boolean }

export interface DailyBudgetContext {
  /** Background work (the sweep, `syncStale`): stops at the reserve. */
  background: boolean;
  /** Told once per CRM and day, in one process, when the day's use passes the low mark. */
  onLow?(event: QuotaEvent): void;
  /** The clock (tests move it to the next day). */
  now?(): number;
}

/**
 * The requests of a CRM account's current day, counted in PostgreSQL (`etlify_daily_budgets`) so
 * every worker process draws from one count. `acquire` refuses with `RateLimitedError` (a wait until
 * the portal's midnight, an hour at most): always once the day's limit is reached or the CRM answered a
 * daily-limit 429, and for background work once the reserve is reached. The queue treats that as a
 * rate limit: the records wait, and no error is counted against them.
 */
export class PgDailyBudget implements RequestBudget {
  readonly #em: EntityManager;
  readonly #crm: string;
  readonly #settings: DailyBudgetSettings;
  readonly #context: DailyBudgetContext;
  /**
   * When this instance's last request was allowed to leave: an answer reports on the day its request
   * was sent, which is yesterday when the answer arrives after midnight.
   */
  #sentAt: number | undefined;

  constructor(em: EntityManager, crm: string, settings: DailyBudgetSettings, context: DailyBudgetContext) {
    this.#em = em;
    this.#crm = crm;
    this.#settings = settings;
    this.#context = context;
  }

  async acquire(_bucket = 'default', cost = 1): Promise<void> {
    const now = this.#now();
    const { limit, reserveShare, timeZone } = this.#settings;
    const params = [dayIn(timeZone, now), limit ?? null, cost, this.#context.background, reserveShare, this.#crm];
    let [row] = await query<AcquireRow>(this.#em, ACQUIRE_SQL, params);
    if (!row) {
      await query(this.#em, 'insert into etlify_daily_budgets (crm_name, day) values (?, ?) on conflict do nothing', [this.#crm, params[0]]);
      [row] = await query<AcquireRow>(this.#em, ACQUIRE_SQL, params);
    }
    const { verdict, used, lim, low_now: low } = row!;
    if (low && lim !== null) this.#context.onLow?.({ crm: this.#crm, bucket: 'daily', remaining: Math.max(0, lim - used), max: lim });
    if (verdict === 'ok') {
      this.#sentAt = now;
      return;
    }
    throw this.#refusal(verdict, used, lim, now);
  }

  /**
   * Throws what `acquire` would for one request, counting nothing: a claim asks before it loads its
   * records, so records waiting for the next day cost no work each time they look again.
   */
  async check(): Promise<void> {
    const now = this.#now();
    const { limit, reserveShare, timeZone } = this.#settings;
    const [row] = await query<Omit<AcquireRow, 'low_now'>>(this.#em, CHECK_SQL, [dayIn(timeZone, now), limit ?? null, this.#context.background, reserveShare, this.#crm]);
    if (row && row.verdict !== 'ok') throw this.#refusal(row.verdict, row.used, row.lim, now);
  }

  #refusal(verdict: 'reserved' | 'spent', used: number, lim: number | null, now: number): RateLimitedError {
    const { reserveShare, timeZone } = this.#settings;
    const untilMidnight = msUntilMidnight(timeZone, now);
    const resets = `the day ends at ${new Date(now + untilMidnight).toISOString()} (midnight ${timeZone})`;
    // the records look again hourly, as after any long wait (and send nothing while the day lasts)
    const waitMs = Math.min(untilMidnight, MAX_RETRY_AFTER_MS);
    return new RateLimitedError(verdict === 'spent'
      ? `daily budget of ${this.#crm} is spent (${used}${lim === null ? '' : ` of ${lim}`} requests today, or the CRM answered its daily limit): nothing is sent until ${resets}`
      : `daily budget of ${this.#crm}: ${used} of ${lim} requests used today; background work (sweep, syncStale) stops at ${Math.floor(lim! * (1 - reserveShare))} (reserveShare ${reserveShare}) until ${resets}, changes made in the application are still sent`,
    waitMs, { code: 'DAILY_BUDGET' });
  }

  /** Daily figures only (the window budget takes the rest); advisory, like every report. */
  report(_bucket: string, quota: RemoteQuota): void {
    const { dailyMax, dailyRemaining } = quota;
    if (dailyMax === undefined && dailyRemaining === undefined) return;
    const used = dailyMax !== undefined && dailyRemaining !== undefined ? Math.max(0, dailyMax - dailyRemaining) : null;
    const spent = dailyRemaining === 0;
    const sentAt = (this.#sentAt ?? this.#now()) - (spent ? CLOCK_SKEW_MS : 0);
    queryBound(this.#em, REPORT_SQL, [dayIn(this.#settings.timeZone, sentAt), dailyMax ?? null, used, spent, this.#crm])
      .catch(() => { /* advisory: the next answer says it again */ });
  }

  #now(): number {
    return this.#context.now?.() ?? Date.now();
  }
}
