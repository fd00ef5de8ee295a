import { expect } from 'chai';
import type { Runner } from 'graphile-worker';
import { HubspotAdapter, NullAdapter, PgRequestBudget, RateLimitedError, runWorker } from '../../src/index.ts';
import { startHubspotSimulator, type HubspotSimulator } from '../../src/testing/index.ts';
import { createTestApp, type TestApp } from '../support/app.ts';
import { User } from '../support/model.ts';
import { queueDrained, waitFor } from '../support/wait.ts';

describe('shared request budget (PostgreSQL)', () => {
  let app: TestApp;
  before(async () => { app = await createTestApp(); });
  after(async () => { await app.close(); });

  it('lets maxRequests through per window across budget instances, then says how long to wait', async () => {
    const limits = { maxRequests: 3, perMs: 1000 };
    // two instances on two EntityManagers stand for two worker processes
    const a = new PgRequestBudget(app.orm.em.fork(), 'shared', limits);
    const b = new PgRequestBudget(app.orm.em.fork(), 'shared', limits);
    await a.acquire();
    await b.acquire();
    await a.acquire();
    const error = await b.acquire().catch(e => e);
    expect(error).to.be.instanceOf(RateLimitedError);
    expect(error.retryAfterMs).to.be.within(1, 1100);
    expect(error.message).to.not.match(/token/i);
    await new Promise(resolve => setTimeout(resolve, error.retryAfterMs + 20));
    await b.acquire();
  });

  it('keeps separate buckets and CRMs apart', async () => {
    const limits = { maxRequests: 1, perMs: 60_000, buckets: { search: { maxRequests: 1, perMs: 60_000 } } };
    const budget = new PgRequestBudget(app.orm.em.fork(), 'buckets', limits);
    await budget.acquire('default');
    await budget.acquire('search');
    await new PgRequestBudget(app.orm.em.fork(), 'other-crm', limits).acquire('default');
    expect(await budget.acquire('search').catch(e => e)).to.be.instanceOf(RateLimitedError);
  });

  it('counts a request from the moment its answer arrived (settle), so a late arrival cannot overlap two windows', async () => {
    const limits = { maxRequests: 1, perMs: 375 }; // window 400 ms with the margin
    const settled = new PgRequestBudget(app.orm.em.fork(), 'settled', limits);
    const unsettled = new PgRequestBudget(app.orm.em.fork(), 'unsettled', limits);
    await settled.acquire();
    await unsettled.acquire();
    await new Promise(resolve => setTimeout(resolve, 250));
    await settled.settle(); // the answer came 250 ms after the request went out
    await new Promise(resolve => setTimeout(resolve, 200));
    await unsettled.acquire(); // 450 ms after its send: a new window
    const error = await settled.acquire().catch(e => e); // 200 ms after its answer: still this window
    expect(error).to.be.instanceOf(RateLimitedError);
    expect(error.retryAfterMs).to.be.within(100, 400);
  });

  it('stops early when the CRM reports its window exhausted', async () => {
    const budget = new PgRequestBudget(app.orm.em.fork(), 'reported', { maxRequests: 100, perMs: 10_000 });
    await budget.acquire();
    budget.report('default', { remaining: 0, intervalMs: 10_000 });
    await waitFor('the report to be stored', async () => (await budget.acquire().catch(e => e)) instanceof RateLimitedError, 2000);
  });
});

describe('HubSpot with 20% injected faults (429, 5xx, resets)', () => {
  let simulator: HubspotSimulator;
  let app: TestApp;
  let worker: Runner;

  before(async () => {
    simulator = await startHubspotSimulator({
      rateLimit: false,
      faults: { rateLimitProbability: 0.07, serverErrorProbability: 0.07, resetProbability: 0.06 },
    });
    app = await createTestApp({
      etlify: {
        crms: {
          hubspot: { adapter: new HubspotAdapter({ accessToken: 'fault-test-token', baseUrl: simulator.url }), jobs: { batchDelayMs: 0, batchSize: 50 } },
          airtable: { adapter: new NullAdapter(), enabled: false },
        },
      },
    });
    worker = await runWorker(app.orm, { handleSignals: false, pollInterval: 50 });
  });
  after(async () => { await worker?.stop(); await app?.close(); await simulator?.close(); });

  it('syncs 1,000 records, all of them, with no duplicate and no error counted', async function () {
    this.timeout(150_000);
    const em = app.orm.em.fork();
    for (let i = 0; i < 1000; i++) em.create(User, { email: `fault${i}@example.test`, firstName: `F${i}` });
    await em.flush();
    await waitFor('the queue to drain', () => queueDrained(sql => app.orm.em.getConnection().execute(sql)), 120_000);

    const faults = simulator.requests.filter(r => r.status === 429 || r.status >= 500 || r.status === 0);
    expect(faults.length, 'faults were injected').to.be.greaterThan(0);
    const contacts = simulator.objects('contacts');
    expect(contacts).to.have.length(1000);
    expect(new Set(contacts.map(c => c.properties.email)).size).to.equal(1000);
    const [state] = await app.orm.em.getConnection().execute(
      `select count(*) filter (where crm_id is not null)::int as synced, coalesce(sum(error_count), 0)::int as errors
         from crm_synchronisations where crm_name = 'hubspot'`);
    expect(state).to.deep.equal({ synced: 1000, errors: 0 });
  });
});
