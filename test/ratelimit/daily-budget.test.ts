// HubSpot's daily limit as a budget kept in PostgreSQL: background work (sweep, syncStale, first
// loads) stops at the reserve, live changes go up to the limit, a DAILY 429 stops everything until
// the portal's day ends, and nothing of it is counted against records.
import { spawn, type ChildProcess } from 'node:child_process';
import { expect } from 'chai';
import { dailyBudgets, HubspotAdapter, NullAdapter, RateLimitedError, resetDailyBudget, status, syncStale, type QuotaEvent } from '../../src/index.ts';
import { PgDailyBudget } from '../../src/ratelimit/daily-budget.ts';
import { ingest } from '../../src/queue/record-queue.ts';
import { msUntilMidnight } from '../../src/ratelimit/portal-day.ts';
import { startHubspotSimulator, type HubspotSimulator } from '../../src/testing/index.ts';
import { createTestApp, type TestApp } from '../support/app.ts';
import { User } from '../support/model.ts';
import { queueDrained, waitFor } from '../support/wait.ts';

describe('daily budget (PostgreSQL, per CRM and portal day)', () => {
  let app: TestApp;
  before(async () => { app = await createTestApp(); });
  after(async () => { await app.close(); });

  it('background work stops at the reserve, live work at the limit, a daily-limit 429 ends the day, and the next day starts over', async () => {
    let now = Date.parse('2026-12-07T10:00:00Z');
    const settings = { limit: 10, reserveShare: 0.2, timeZone: 'Europe/Paris' };
    // two instances on two EntityManagers stand for two worker processes
    const background = new PgDailyBudget(app.orm.em.fork(), 'day', settings, { background: true, now: () => now });
    const live = new PgDailyBudget(app.orm.em.fork(), 'day', settings, { background: false, now: () => now });
    for (let i = 0; i < 4; i++) { await background.acquire(); await live.acquire(); }
    const reserved = await background.acquire().catch((e: unknown) => e);
    expect(reserved).to.be.instanceOf(RateLimitedError);
    expect((reserved as Error).message).to.equal('daily budget of day: 8 of 10 requests used today; background work (sweep, syncStale) stops at 8 (reserveShare 0.2) until the day ends at 2026-12-07T23:00:00.000Z (midnight Europe/Paris), changes made in the application are still sent');
    expect((reserved as RateLimitedError).retryAfterMs).to.equal(3_600_000); // looked at again hourly, nothing sent
    // a claim asks before loading its records, and asking counts nothing
    expect(await background.check().catch((e: unknown) => e)).to.deep.equal(reserved);
    await live.check();
    await live.check();
    await live.acquire();
    await live.acquire();
    expect(await live.acquire().catch((e: unknown) => e)).to.be.instanceOf(RateLimitedError);
    expect((await live.check().catch((e: unknown) => e) as Error).message).to.match(/^daily budget of day is spent \(10 of 10 requests today/);

    now = Date.parse('2026-12-07T23:30:00Z'); // 00:30 on the 8th in Paris: a new day
    await background.acquire();
    // the CRM says the account (every app) used 9 of 10: background work stops, live work goes
    live.report('default', { dailyMax: 10, dailyRemaining: 1 });
    await waitFor('the report to be stored', async () => (await background.acquire().catch((e: unknown) => e)) instanceof RateLimitedError, 2000);
    await live.acquire();

    now += 86_400_000; // the 9th: a daily-limit 429 (other apps spent the day) stops everything at once
    await live.acquire();
    live.report('default', { retryAfterMs: 3_600_000, dailyRemaining: 0 });
    await waitFor('the 429 to stop live work', async () => {
      const error = await live.acquire().catch((e: unknown) => e);
      // spent with fewer than 10 counted: the CRM's 429 did it
      return error instanceof RateLimitedError && /^daily budget of day is spent \([1-9] of 10 requests today, or the CRM answered its daily limit\)/.test(error.message);
    }, 2000);
  });

  it('fires quota:low once per CRM and day, in one of the processes, when background work stops', async () => {
    const now = Date.parse('2026-12-07T10:00:00Z');
    const events: QuotaEvent[] = [];
    const settings = { limit: 100, reserveShare: 0.25, timeZone: 'UTC' };
    const budgets = [0, 1].map(() => new PgDailyBudget(app.orm.em.fork(), 'low', settings, { background: false, now: () => now, onLow: e => events.push(e) }));
    for (let i = 0; i < 90; i++) await budgets[i % 2]!.acquire();
    expect(events).to.deep.equal([{ crm: 'low', bucket: 'daily', remaining: 25, max: 100 }]);
  });
});

describe('daily budget of an inline first load (syncStale({ inline: true }))', () => {
  it('stops at the reserve with nothing counted as failed, and leaves the rest to wait as background work', async function () {
    this.timeout(60_000);
    const simulator = await startHubspotSimulator({ rateLimit: false, dailyLimit: 10 });
    const app = await createTestApp({
      etlify: {
        crms: {
          hubspot: { adapter: new HubspotAdapter({ accessToken: 'inline-token', baseUrl: simulator.url }), rateLimit: false, dailyBudget: { reserveShare: 0.2 } },
          airtable: { adapter: new NullAdapter(), enabled: false },
        },
      },
    });
    try {
      await app.orm.em.getConnection().execute(`insert into app_user (email, status, created_at, updated_at) select 'inline' || i || '@example.test', 'active', now(), now() from generate_series(1, 2000) i`);
      const stats = await syncStale(app.orm, { inline: true, entities: ['User'], crm: 'hubspot' });
      expect(simulator.usedToday, '8 requests of 100: 80 % of the day').to.equal(8);
      // what the 8 requests wrote is kept (adapters' keepWrittenItems), the rest waits
      expect(stats.results).to.include({ synced: 800, error: 0, retry: 1200 });
      expect(stats.failures[0]!.error).to.include('daily budget of hubspot: 8 of 10 requests used today');
      // left to the worker as background work: it stays out of the day's reserve
      const [row] = await app.orm.em.getConnection().execute(`select count(*)::int as n, bool_and(background) as background, max(attempts)::int as attempts from etlify_record_queue`);
      expect(row).to.deep.equal({ n: stats.results.retry, background: true, attempts: 0 });

      // a record the sweep queued (background, due) that the application syncs inline is live work
      await app.orm.em.getConnection().execute(`insert into app_user (email, status, created_at, updated_at) values ('asked@example.test', 'active', now(), now())`);
      await syncStale(app.orm, { entities: ['User'], crm: 'hubspot' });
      await ingest(app.orm.em.fork(), app.etlify.crms.get('hubspot'));
      const asked = await app.orm.em.fork().findOneOrFail(User, { email: 'asked@example.test' });
      expect(await asked.hubspotSync({ inline: true })).to.equal('synced');
      expect(simulator.usedToday).to.equal(9);
    } finally {
      await app.close();
      await simulator.close();
    }
  });
});

describe('daily budget through the queue (two worker processes, HubSpot simulator)', () => {
  let simulator: HubspotSimulator;
  let app: TestApp;
  const workers: ChildProcess[] = [];
  const execute = (sql: string) => app.orm.em.getConnection().execute(sql);

  // a portal whose midnight is hours away, so the test's day does not end while it runs
  const timeZone = ['UTC', 'Asia/Tokyo', 'America/Los_Angeles'].find(zone => msUntilMidnight(zone) > 3 * 3_600_000)!;

  before(async () => {
    simulator = await startHubspotSimulator({ rateLimit: false, dailyLimit: 30 });
    app = await createTestApp({
      etlify: {
        crms: {
          hubspot: { adapter: new HubspotAdapter({ accessToken: 'daily-budget-token', baseUrl: simulator.url, portalTimeZone: timeZone }), rateLimit: false, dailyBudget: { reserveShare: 0.2 }, jobs: { batchDelayMs: 0, batchSize: 10 } },
          airtable: { adapter: new NullAdapter(), enabled: false },
        },
      },
    });
  });
  after(async () => {
    await Promise.all(workers.map(w => new Promise(resolve => { w.once('exit', resolve); w.kill('SIGTERM'); })));
    await app?.close();
    await simulator?.close();
  });

  const synced = async () => (await execute(`select count(crm_id)::int as n, coalesce(sum(error_count), 0)::int as errors from crm_synchronisations where crm_name = 'hubspot'`))[0] as { n: number; errors: number };

  it('a first load stops at 80 % of the day with nothing counted as failed, live changes go on, a DAILY 429 stops all, and it all finishes after the reset', async function () {
    this.timeout(120_000);
    // 400 users the application had before Etlify: a first load (raw SQL, so nothing is captured)
    await execute(`insert into app_user (email, status, created_at, updated_at) select 'first' || i || '@example.test', 'active', now(), now() from generate_series(1, 400) i`);
    expect((await syncStale(app.orm, { entities: ['User'], crm: 'hubspot' })).total).to.equal(400);
    for (let i = 0; i < 2; i++) {
      const child = spawn(process.execPath, ['test/ratelimit/daily-budget-worker.ts', app.url, simulator.url, timeZone], { stdio: ['ignore', 'pipe', 'inherit'] });
      workers.push(child);
      await new Promise(resolve => child.stdout!.once('data', resolve));
    }

    // day 1: the portal allows 30; background work stops at 24 requests of 10 contacts
    await waitFor('every unsent record to wait for the next day', async () => {
      const [row] = await execute(`select count(*) filter (where not_before < now() + interval '30 minutes' or claim_token is not null)::int as busy, count(*)::int as n from etlify_record_queue where crm_name = 'hubspot'`);
      return row.n > 0 && row.busy === 0;
    }, 60_000);
    expect(simulator.usedToday).to.equal(24);
    expect(await synced()).to.deep.equal({ n: 240, errors: 0 });
    const [users] = await status(app.orm, { crm: 'hubspot', entities: ['User'] });
    expect(users).to.include({ synced: 240, queued: 160, failing: 0, parked: 0 });
    expect(users!.lastError).to.include('daily budget of hubspot: 24 of 30 requests used today; background work (sweep, syncStale) stops at 24');
    const [budget] = await dailyBudgets(app.orm);
    expect(budget).to.include({ crm: 'hubspot', used: 24, limit: 30, backgroundStopsAt: 24, spent: false });

    // a change made in the application still goes
    const em = app.orm.em.fork();
    em.create(User, { email: 'live1@example.test' });
    await em.flush();
    await waitFor('the live change to be sent', async () => (await synced()).n === 241, 20_000);
    expect(simulator.usedToday).to.equal(25);

    // other apps of the portal spend the rest of the day; the next live change meets HubSpot's DAILY 429
    await Promise.all(Array.from({ length: 5 }, () => fetch(`${simulator.url}/crm/objects/2026-03/deals`, { method: 'POST', headers: { authorization: 'Bearer other-app', 'content-type': 'application/json' }, body: '{"properties":{}}' })));
    expect(simulator.usedToday).to.equal(30);
    em.create(User, { email: 'live2@example.test' });
    await em.flush();
    await waitFor('the DAILY 429 to stop the CRM for the day', async () => (await dailyBudgets(app.orm))[0]!.spent, 20_000);
    const sent = simulator.requests.length;
    em.create(User, { email: 'live3@example.test' });
    await em.flush();
    await waitFor('the next live change to be refused by the budget, unsent', async () => {
      const [row] = await execute(`select last_error from etlify_record_queue q join app_user u on q.resource_id = u.id::text where u.email = 'live3@example.test' and q.claim_token is null`);
      return /daily budget of hubspot is spent/.test(row?.last_error ?? '');
    }, 20_000);
    expect(simulator.requests.length, 'nothing sent once the day is spent').to.equal(sent);
    expect(await synced()).to.deep.equal({ n: 241, errors: 0 });
    const [attempts] = await execute(`select coalesce(max(attempts), 0)::int as n from etlify_record_queue`);
    expect(attempts.n, 'no attempt counted against a record').to.equal(0);

    // the portal's midnight: HubSpot's count starts over, and Etlify's day with it
    simulator.resetDailyUsage();
    expect(await resetDailyBudget(app.orm, 'hubspot')).to.equal(162);
    await waitFor('the rest of the first load and the live changes to be sent', () => queueDrained(execute), 60_000);
    expect(await synced()).to.deep.equal({ n: 403, errors: 0 });
    // the new day: 16 requests of 10 background records and the live ones, counted alike by HubSpot and Etlify
    expect(simulator.usedToday).to.be.within(17, 24);
    expect((await dailyBudgets(app.orm))[0]!.used).to.equal(simulator.usedToday);
    const emails = simulator.objects('contacts').map(c => c.properties.email);
    expect(emails).to.have.length(403);
    expect(new Set(emails).size).to.equal(403);
  });
});
