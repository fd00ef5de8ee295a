import type { EntityManager } from '@mikro-orm/core';
import { MAX_RETRY_AFTER_MS } from '../adapters/http/retry-after.ts';
import { RateLimitedError } from '../errors.ts';
import type { RateLimitOptions, RemoteQuota, RequestBudget } from '../interfaces.ts';
import { query } from '../state/sql.ts';

/**
 * One statement, under the bucket's row lock: drop send times older than the window, then either record
 * `cost` new sends (wait 0) or return how long until enough old sends leave the window. Nobody sleeps
 * while holding the lock.
 */
const ACQUIRE_SQL = `
  with params as (
    select make_interval(secs => ?::double precision / 1000.0) as win, ?::int as max, ?::int as cost, clock_timestamp() as now
  ), cur as (
    select r.crm_name, r.bucket, r.blocked_until,
           array(select t from unnest(r.sent_at) t, params where t > params.now - params.win order by t) as live
      from etlify_rate_limits r where r.crm_name = ? and r.bucket = ? for update
  ), decision as (
    select cur.*, params.*, coalesce(array_length(cur.live, 1), 0) as used,
           case
             when cur.blocked_until > params.now then ceil(extract(epoch from cur.blocked_until - params.now) * 1000)
             when coalesce(array_length(cur.live, 1), 0) + params.cost > params.max then greatest(1, ceil(extract(epoch from
               cur.live[coalesce(array_length(cur.live, 1), 0) + params.cost - params.max] + params.win - params.now) * 1000))
             else 0
           end::int as wait
      from cur, params
  )
  update etlify_rate_limits r
     set sent_at = case when d.wait = 0 then d.live || array_fill(d.now, array[d.cost]) else d.live end
    from decision d
   where r.crm_name = d.crm_name and r.bucket = d.bucket
  returning d.wait, d.now::text as sent_at`;

/**
 * A CRM account's request budget kept in PostgreSQL, so every worker process draws from the same
 * sliding window (table `etlify_rate_limits`). When the window is full it
 * throws `RateLimitedError` with the exact wait instead of sleeping: the job releases its requests
 * and is rescheduled for when the budget has room again.
 */
export class PgRequestBudget implements RequestBudget {
  readonly #em: EntityManager;
  readonly #crm: string;
  readonly #limits: RateLimitOptions;
  /** Per bucket, the send times this instance recorded and whose answers have not arrived yet. */
  readonly #inFlight = new Map<string, string[]>();

  constructor(em: EntityManager, crm: string, limits: RateLimitOptions) {
    this.#em = em;
    this.#crm = crm;
    this.#limits = limits;
  }

  async acquire(bucket = 'default', cost = 1): Promise<void> {
    const limit = bucket === 'default' ? this.#limits : this.#limits.buckets?.[bucket];
    if (!limit) return;
    const params = [windowWithMargin(limit.perMs), limit.maxRequests, cost, this.#crm, bucket];
    let [row] = await query<{ wait: number; sent_at: string }>(this.#em, ACQUIRE_SQL, params);
    if (!row) {
      await query(this.#em, 'insert into etlify_rate_limits (crm_name, bucket) values (?, ?) on conflict do nothing', [this.#crm, bucket]);
      [row] = await query<{ wait: number; sent_at: string }>(this.#em, ACQUIRE_SQL, params);
    }
    if (row!.wait > 0) {
      throw new RateLimitedError(`request budget of ${this.#crm} (${bucket}: ${limit.maxRequests} per ${limit.perMs} ms) is spent`, row!.wait);
    }
    this.#inFlight.set(bucket, [...(this.#inFlight.get(bucket) ?? []), row!.sent_at]);
  }

  /**
   * Moves one of this instance's send times to now (the answer arrived): the window then holds the
   * latest moment each request can have reached the CRM. Answers may come back in another order than
   * the requests went out; the window only counts times, and once every answer is in it holds exactly
   * their arrival times. Exact text timestamps, so the stored value is found again to the microsecond.
   */
  async settle(bucket = 'default'): Promise<void> {
    const sent = this.#inFlight.get(bucket)?.shift();
    if (sent === undefined) return;
    await query(this.#em,
      `update etlify_rate_limits set sent_at = array_replace(sent_at, ?::timestamptz, clock_timestamp()) where crm_name = ? and bucket = ?`,
      [sent, this.#crm, bucket]).catch(() => { /* the send time stays: a little less margin, never a lost request */ });
  }

  /**
   * What the CRM reported. A 429's wait blocks the bucket for that long. A window reported exhausted on
   * a successful answer (other clients share the account) fills the local window up to its maximum,
   * so the next request waits exactly until the oldest one leaves it.
   */
  report(bucket: string, quota: RemoteQuota): void {
    const limit = bucket === 'default' ? this.#limits : this.#limits.buckets?.[bucket];
    const advisory = () => { /* advisory only: the next answer will say it again */ };
    if (quota.retryAfterMs !== undefined) {
      query(this.#em,
        `insert into etlify_rate_limits (crm_name, bucket, blocked_until) values (?, ?, clock_timestamp() + make_interval(secs => ? / 1000.0))
         on conflict (crm_name, bucket) do update set blocked_until = greatest(etlify_rate_limits.blocked_until, excluded.blocked_until)`,
        // clamped as the adapters clamp: one answer never blocks the account's budget for longer
        [this.#crm, bucket, Math.min(quota.retryAfterMs, MAX_RETRY_AFTER_MS)]).catch(advisory);
    } else if (quota.remaining === 0 && limit) {
      query(this.#em,
        `update etlify_rate_limits r
            set sent_at = r.sent_at || array_fill(clock_timestamp(), array[greatest(0, ? - (
                  select count(*) from unnest(r.sent_at) t where t > clock_timestamp() - make_interval(secs => ? / 1000.0)))::int])
          where crm_name = ? and bucket = ?`,
        [limit.maxRequests, windowWithMargin(limit.perMs), this.#crm, bucket]).catch(advisory);
    }
  }
}

/**
 * The budget counts a request from its answer (`settle`), which is after the CRM counted it; a small
 * margin covers a request whose answer is still out when its slot comes round again.
 */
function windowWithMargin(perMs: number): number {
  return Math.ceil(perMs + Math.max(25, perMs * 0.0025));
}
