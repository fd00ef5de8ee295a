import { expect } from 'chai';
import type { Runner } from 'graphile-worker';
import { runWorker, TransientCrmError, ValidationError, type SyncEvent } from '../../src/index.ts';
import { RecordingAdapter } from '../../src/testing/index.ts';
import { createTestApp, type TestApp } from '../support/app.ts';
import { Company, Investment, User } from '../support/model.ts';
import { queueDrained, waitFor } from '../support/wait.ts';

/** Every write the adapter received, single or batched, in order. */
const writes = (adapter: RecordingAdapter) => adapter.calls
  .filter(c => c.method === 'upsert' || c.method === 'batchUpsert')
  .flatMap(c => c.payloads.map((payload, i) => ({ payload, crmId: c.crmIds[i] })));

describe('queued sync through graphile-worker', () => {
  let app: TestApp;
  let worker: Runner | undefined;
  const execute = (sql: string) => app.orm.em.getConnection().execute(sql);
  const drained = () => waitFor('the queue to drain', () => queueDrained(execute), 15_000);
  const start = async () => { worker = await runWorker(app.orm, { handleSignals: false, pollInterval: 50 }); };
  const hubspotJobs = { jobs: { batchDelayMs: 20 } };

  beforeEach(async () => {
    app = await createTestApp();
    app.etlify.registerCrm('hubspot', { adapter: app.hubspot, ...hubspotJobs });
    app.etlify.registerCrm('airtable', { adapter: app.airtable, enabled: false });
  });
  afterEach(async () => { await worker?.stop(); worker = undefined; await app.close(); });

  it('create, update and delete through em.flush reach the CRM exactly once per distinct payload', async () => {
    app.etlify.registerCrm('hubspot', { adapter: app.hubspot, deleteOnRemove: true, ...hubspotJobs });
    await start();
    const em = app.orm.em.fork();
    const user = em.create(User, { email: 'ada@example.test', firstName: 'Ada' });
    await em.flush();
    await drained();
    expect(writes(app.hubspot).map(w => w.payload.firstname)).to.deep.equal(['Ada']);

    user.firstName = 'Augusta';
    await em.flush();
    await drained();
    user.updatedAt = new Date(); // a change that does not alter the payload
    await em.flush();
    await drained();
    expect(writes(app.hubspot).map(w => w.payload.firstname)).to.deep.equal(['Ada', 'Augusta']);
    expect(writes(app.hubspot)[1]!.crmId).to.equal('contacts-1');

    em.remove(user);
    await em.flush();
    await drained();
    expect(app.hubspot.calls.filter(c => c.method.endsWith('elete')).flatMap(c => c.crmIds)).to.deep.equal(['contacts-1']);
    expect(app.hubspot.table('contacts').size).to.equal(0);
  });

  it('the record API queues: truthy result, false when syncIf refuses, and a queued delete', async () => {
    const em = app.orm.em.fork();
    const user = em.create(User, { email: 'q@example.test' });
    const banned = em.create(User, { email: 'banned@example.test', status: 'banned' });
    await em.flush();
    await execute('delete from etlify_sync_requests');
    expect(await banned.hubspotSync()).to.equal(false);
    expect(await user.hubspotSync()).to.equal('queued');
    const [{ n }] = await execute("select count(*)::int as n from etlify_sync_requests where kind = 'sync'");
    expect(n).to.equal(1);
    await start();
    await drained();
    expect(app.hubspot.table('contacts').size).to.equal(1);
    expect(await user.hubspotDelete()).to.equal('queued');
    await drained();
    expect(app.hubspot.table('contacts').size).to.equal(0);
  });

  it('a change made while the record is being synced leads to another sync', async () => {
    const slow = new RecordingAdapter({ latencyMs: 400 });
    app.etlify.registerCrm('hubspot', { adapter: slow, ...hubspotJobs });
    await start();
    const em = app.orm.em.fork();
    const user = em.create(User, { email: 'race@example.test', firstName: 'first' });
    await em.flush();
    await waitFor('the first call to start', () => slow.calls.length === 1);
    user.firstName = 'second';
    await em.flush();
    await drained();
    expect(writes(slow).map(w => w.payload.firstname)).to.deep.equal(['first', 'second']);
    expect([...slow.table('contacts').values()][0]!.firstname).to.equal('second');
  });

  it('dependency changes reach the dependents: a renamed company, an added and a removed investment', async () => {
    await start();
    const em = app.orm.em.fork();
    const company = em.create(Company, { name: 'Acme', domain: 'acme.test' });
    const users = [1, 2, 3].map(i => em.create(User, { email: `u${i}@acme.test`, company }));
    await em.flush();
    await drained();
    company.name = 'Acme Inc';
    await em.flush();
    await drained();
    const contact = (email: string) => [...app.hubspot.table('contacts').values()].find(c => c.email === email)!;
    for (const u of users) expect(contact(u.email).company).to.equal('Acme Inc');

    const investment = em.create(Investment, { amount: 250, user: users[0]! });
    await em.flush();
    await drained();
    expect(contact('u1@acme.test').invested).to.equal(250);
    em.remove(investment);
    await em.flush();
    await drained();
    expect(contact('u1@acme.test').invested).to.equal(0);
  });

  it('repeated flushes of one record coalesce into one CRM write', async () => {
    const em = app.orm.em.fork();
    const user = em.create(User, { email: 'busy@example.test' });
    await em.flush();
    for (let i = 0; i < 20; i++) { user.firstName = `v${i}`; await em.flush(); }
    await start();
    await drained();
    expect(writes(app.hubspot).map(w => w.payload.firstname)).to.deep.equal(['v19']);
  });

  it('bursts become batch requests: 1,000 changed records, about 10 adapter calls', async () => {
    const em = app.orm.em.fork();
    for (let i = 0; i < 1000; i++) em.create(User, { email: `burst${i}@example.test` });
    await em.flush();
    await start();
    await drained();
    expect(app.hubspot.table('contacts').size).to.equal(1000);
    expect(app.hubspot.callsOf('batchUpsert').length).to.be.within(10, 12);
    expect(app.hubspot.callsOf('upsert')).to.have.length(0);
  });

  it('transient failures are retried with backoff and never touch error_count', async () => {
    let failures = 2;
    const inner = new RecordingAdapter({ batch: false });
    app.etlify.registerCrm('hubspot', {
      adapter: {
        upsert: async (request) => {
          if (failures-- > 0) throw new TransientCrmError('502 Bad Gateway', { status: 502, retryAfterMs: 50 });
          return inner.upsert(request);
        },
        delete: async () => true,
      },
      ...hubspotJobs,
    });
    const retried: SyncEvent[] = [];
    app.etlify.events.on('retried', e => retried.push(e));
    await start();
    const em = app.orm.em.fork();
    const user = em.create(User, { email: 'flaky@example.test' });
    await em.flush();
    await drained();
    expect(retried).to.have.length(2);
    expect(inner.table('contacts').size).to.equal(1);
    const [row] = await execute(`select error_count, last_error from crm_synchronisations where resource_id = '${user.id}' and crm_name = 'hubspot'`);
    expect(row).to.deep.equal({ error_count: 0, last_error: null });
  });

  it('a poison record fails alone, its batch syncs, and it is parked after maxSyncErrors changes', async () => {
    const adapter = new RecordingAdapter({ fail: p => p.email === 'poison@example.test' ? new ValidationError('INVALID_EMAIL') : undefined });
    app.etlify.registerCrm('hubspot', { adapter, maxSyncErrors: 2, ...hubspotJobs });
    const parked: SyncEvent[] = [];
    app.etlify.events.on('parked', e => parked.push(e));
    await start();
    const em = app.orm.em.fork();
    const poison = em.create(User, { email: 'poison@example.test' });
    for (let i = 0; i < 4; i++) em.create(User, { email: `ok${i}@example.test` });
    await em.flush();
    await drained();
    expect(adapter.table('contacts').size).to.equal(4);
    let [row] = await execute(`select error_count, last_error from crm_synchronisations where resource_id = '${poison.id}' and crm_name = 'hubspot'`);
    expect(row.error_count).to.equal(1);
    expect(row.last_error).to.match(/INVALID_EMAIL/);
    poison.firstName = 'again';
    await em.flush();
    await drained();
    [row] = await execute(`select error_count from crm_synchronisations where resource_id = '${poison.id}' and crm_name = 'hubspot'`);
    expect(row.error_count).to.equal(2);
    expect(parked.map(e => e.id)).to.deep.equal([String(poison.id)]);
  });

  it('graceful stop lets a running sync finish', async () => {
    const slow = new RecordingAdapter({ latencyMs: 600 });
    app.etlify.registerCrm('hubspot', { adapter: slow, ...hubspotJobs });
    await start();
    const em = app.orm.em.fork();
    em.create(User, { email: 'slow@example.test' });
    await em.flush();
    await waitFor('the call to start', () => slow.calls.length === 1);
    await worker!.stop();
    worker = undefined;
    expect(slow.table('contacts').size).to.equal(1);
    const [{ n }] = await execute(`select count(*)::int as n from crm_synchronisations where crm_name = 'hubspot' and crm_id is not null`);
    expect(n).to.equal(1);
  });
});
