// Breaking the daily budget (issue 22 item 5) at the portal's midnight: answers to requests sent on
// one day that arrive on the next. Two budget instances on two EntityManagers stand for two worker
// processes; the clock is the budget's own (the public API has no clock to move).
import { expect } from 'chai';
import type { Runner } from 'graphile-worker';
import { dailyBudgets, HubspotAdapter, NullAdapter, RateLimitedError, resetDailyBudget, runWorker, syncStale } from '../../src/index.ts';
import { PgDailyBudget } from '../../src/ratelimit/daily-budget.ts';
import { startHubspotSimulator, type HubspotSimulator } from '../../src/testing/index.ts';
import { createTestApp, type TestApp } from '../support/app.ts';
import { User } from '../support/model.ts';
import { waitFor } from '../support/wait.ts';

describe('break: the daily budget at the portal\'s midnight', () => {
  let app: TestApp;
  before(async () => { app = await createTestApp(); });
  after(async () => { await app.close(); });

  const row = async (crm: string) => (await app.orm.em.getConnection().execute('select day, used, spent from etlify_daily_budgets where crm_name = ?', [crm]))[0] as { day: string; used: number; spent: boolean };

  it('a DAILY 429 to a request sent before midnight, answered after it, does not spend the new day', async () => {
    const settings = { limit: 100, reserveShare: 0.2, timeZone: 'UTC' };
    let now = Date.parse('2026-12-07T23:59:59.900Z');
    const clock = { now: () => now };
    const late = new PgDailyBudget(app.orm.em.fork(), 'midnight', settings, { background: false, ...clock });
    // the request leaves on the 7th, while the portal's day is spent; HubSpot's answer arrives on the 8th
    await late.acquire();
    now = Date.parse('2026-12-08T00:00:00.150Z');
    late.report('default', { retryAfterMs: 3_600_000, dailyRemaining: 0 });
    await waitFor('the 429 to be stored', async () => (await row('midnight'))?.spent, 2000);

    // the 8th is a new day for HubSpot: another worker may send
    const next = new PgDailyBudget(app.orm.em.fork(), 'midnight', settings, { background: false, ...clock });
    const error = await next.acquire().catch((e: unknown) => e);
    expect(error, (error as Error)?.message).to.equal(undefined);
    const [status] = (await dailyBudgets(app.orm, now)).filter(b => b.crm === 'midnight');
    expect(status?.spent ?? false).to.equal(false);
  });

  it('a DAILY 429 to a request sent just after our midnight, while HubSpot\'s clock is still on yesterday, does not spend the new day', async () => {
    const settings = { limit: 100, reserveShare: 0.2, timeZone: 'UTC' };
    let now = Date.parse('2026-12-08T00:00:00.200Z');
    const clock = { now: () => now };
    // records that waited for the day's end are due at midnight sharp: their first request meets
    // HubSpot a second before its own midnight
    const first = new PgDailyBudget(app.orm.em.fork(), 'skew', settings, { background: false, ...clock });
    await first.acquire();
    now += 50;
    first.report('default', { retryAfterMs: 3_600_000, dailyRemaining: 0 });
    await new Promise(resolve => setTimeout(resolve, 300));
    now = Date.parse('2026-12-08T00:05:00Z');
    const later = new PgDailyBudget(app.orm.em.fork(), 'skew', settings, { background: false, ...clock });
    const error = await later.acquire().catch((e: unknown) => e);
    expect(error, (error as Error)?.message).to.equal(undefined);
  });

  it('eight workers racing for the day\'s last requests get exactly what is left', async () => {
    const settings = { limit: 50, reserveShare: 0.2, timeZone: 'UTC' };
    const now = Date.parse('2026-12-07T12:00:00Z');
    const budgets = Array.from({ length: 8 }, (_, i) => new PgDailyBudget(app.orm.em.fork(), 'race', settings, { background: i % 2 === 0, now: () => now }));
    const answers = await Promise.all(Array.from({ length: 80 }, (_, i) => budgets[i % 8]!.acquire().then(() => 'sent', (e: unknown) => (e instanceof RateLimitedError ? 'refused' : String(e)))));
    expect(answers.filter(a => a === 'sent')).to.have.length(50);
    expect(answers.filter(a => a === 'refused')).to.have.length(30);
    expect(await row('race')).to.deep.include({ used: 50 });
  });

  it('the headers of a request sent yesterday, answered today, count for yesterday: today\'s count is neither replaced nor rolled back', async () => {
    const settings = { limit: 10_000, reserveShare: 0.2, timeZone: 'UTC' };
    let now = Date.parse('2026-12-07T23:59:59.900Z');
    const clock = { now: () => now };
    const slow = new PgDailyBudget(app.orm.em.fork(), 'rollback', settings, { background: false, ...clock });
    const sweep = new PgDailyBudget(app.orm.em.fork(), 'rollback', settings, { background: true, ...clock });
    await slow.acquire(); // sent on the 7th, its answer is slow
    now = Date.parse('2026-12-08T00:00:01Z');
    for (let i = 0; i < 10; i++) await sweep.acquire(); // the 8th's first requests
    // the slow answer arrives, with the 7th's headers (9,995 of 10,000 used by every app that day)
    slow.report('default', { dailyMax: 10_000, dailyRemaining: 5 });
    await new Promise(resolve => setTimeout(resolve, 300));
    expect(await row('rollback')).to.deep.include({ day: '2026-12-08', used: 10, spent: false });
    const error = await sweep.acquire().catch((e: unknown) => e);
    expect(error, 'background work goes on: 11 of 10,000 used on the 8th').to.equal(undefined);
  });
});

describe('break: resetDailyBudget after a DAILY 429, with the default burst limit', () => {
  let simulator: HubspotSimulator;
  let app: TestApp;
  let worker: Runner | undefined;
  const synced = async (email: string) => (await app.orm.em.getConnection().execute(
    `select s.crm_id from crm_synchronisations s join app_user u on s.resource_id = u.id::text where u.email = ? and s.crm_name = 'hubspot'`, [email]))[0]?.crm_id as string | undefined;

  before(async () => {
    simulator = await startHubspotSimulator({ rateLimit: false, dailyLimit: 3 });
    app = await createTestApp({
      etlify: {
        crms: {
          // no `rateLimit`: HubSpot's burst window (100 per 10 s), kept next to the day as users have it
          hubspot: { adapter: new HubspotAdapter({ accessToken: 'reset-token', baseUrl: simulator.url }), dailyBudget: { reserveShare: 0.2 }, jobs: { batchDelayMs: 0 } },
          airtable: { adapter: new NullAdapter(), enabled: false },
        },
      },
    });
  });
  after(async () => {
    await worker?.stop();
    await app?.close();
    await simulator?.close();
  });

  it('sends again at once: the DAILY 429 does not keep the burst window shut for an hour', async function () {
    this.timeout(60_000);
    worker = await runWorker(app.orm, { handleSignals: false, pollInterval: 50 });
    const em = app.orm.em.fork();
    em.create(User, { email: 'before@example.test' });
    await em.flush();
    await waitFor('the first change to be sent', () => synced('before@example.test'), 20_000);
    // other apps of the portal spend the rest of the day
    while (simulator.usedToday < 3) {
      await fetch(`${simulator.url}/crm/objects/2026-03/deals`, { method: 'POST', headers: { authorization: 'Bearer other-app', 'content-type': 'application/json' }, body: '{"properties":{}}' });
    }
    em.create(User, { email: 'refused@example.test' });
    await em.flush();
    await waitFor('the DAILY 429 to stop the CRM', async () => (await dailyBudgets(app.orm))[0]!.spent, 20_000);

    // HubSpot raised the portal's allowance (or reset it): the user starts the day over
    simulator.resetDailyUsage();
    await resetDailyBudget(app.orm, 'hubspot');
    await waitFor('the waiting change to be sent after the reset', () => synced('refused@example.test'), 20_000);
  });

  it('a reset while every worker is stopped: the waiting changes go once a worker starts', async function () {
    this.timeout(60_000);
    worker ??= await runWorker(app.orm, { handleSignals: false, pollInterval: 50 });
    while (simulator.usedToday < 3) {
      await fetch(`${simulator.url}/crm/objects/2026-03/deals`, { method: 'POST', headers: { authorization: 'Bearer other-app', 'content-type': 'application/json' }, body: '{"properties":{}}' });
    }
    const em = app.orm.em.fork();
    em.create(User, { email: 'stopped@example.test' });
    await em.flush();
    await waitFor('the DAILY 429 to stop the CRM', async () => (await dailyBudgets(app.orm))[0]!.spent, 20_000);
    await worker.stop();
    worker = undefined;
    expect(await synced('stopped@example.test'), 'refused by HubSpot\'s daily limit').to.not.be.a('string');
    simulator.resetDailyUsage();
    await resetDailyBudget(app.orm, 'hubspot');
    worker = await runWorker(app.orm, { handleSignals: false, pollInterval: 50 });
    await waitFor('the waiting change to be sent by the new worker', () => synced('stopped@example.test'), 20_000);
  });
});

describe('break: a change made in the application to a record the first load left for tomorrow', () => {
  let simulator: HubspotSimulator;
  let app: TestApp;
  let worker: Runner | undefined;
  const execute = (sql: string, params: unknown[] = []) => app.orm.em.getConnection().execute(sql, params);

  before(async () => {
    simulator = await startHubspotSimulator({ rateLimit: false, dailyLimit: 10 });
    app = await createTestApp({
      etlify: {
        crms: {
          hubspot: { adapter: new HubspotAdapter({ accessToken: 'first-load-token', baseUrl: simulator.url }), rateLimit: false, dailyBudget: { reserveShare: 0.2 }, jobs: { batchDelayMs: 0, batchSize: 10 } },
          airtable: { adapter: new NullAdapter(), enabled: false },
        },
      },
    });
  });
  after(async () => {
    await worker?.stop();
    await app?.close();
    await simulator?.close();
  });

  it('is live work: sent now, not when the reserve\'s wait ends', async function () {
    this.timeout(60_000);
    await execute(`insert into app_user (email, status, created_at, updated_at) select 'load' || i || '@example.test', 'active', now(), now() from generate_series(1, 100) i`);
    expect((await syncStale(app.orm, { entities: ['User'], crm: 'hubspot' })).total).to.equal(100);
    worker = await runWorker(app.orm, { handleSignals: false, pollInterval: 50 });
    // background work stops at 8 of the day's 10 requests: 80 users sent, 20 wait for the next day
    await waitFor('the first load to stop at the reserve', async () => {
      const [row] = await execute(`select count(*) filter (where not_before < now() + interval '30 minutes' or claim_token is not null)::int as busy, count(*)::int as n from etlify_record_queue where crm_name = 'hubspot'`);
      return row.n > 0 && row.busy === 0;
    }, 30_000);
    expect(simulator.usedToday).to.equal(8);

    // the application changes one of the users left for tomorrow
    const em = app.orm.em.fork();
    const [waiting] = await execute(`select u.id from app_user u where not exists (select 1 from crm_synchronisations s where s.resource_id = u.id::text and s.crm_name = 'hubspot' and s.crm_id is not null) order by u.id limit 1`);
    const user = await em.findOneOrFail(User, waiting.id);
    user.email = 'changed-now@example.test';
    await em.flush();
    await waitFor('the change to be sent (live work goes up to the limit)', () => simulator.objects('contacts').some(c => c.properties.email === 'changed-now@example.test'), 15_000);
  });
});
