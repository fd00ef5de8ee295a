import { expect } from 'chai';
import { Investment, User, Company } from '../support/model.ts';
import { createTestApp, type TestApp } from '../support/app.ts';

/** The queued requests, one line per record (rows hold the record ids of one flush as arrays). */
const requests = async (app: TestApp) => (await app.orm.em.getConnection().execute(
  `select q.kind, q.crm_name, q.entity, t.id as resource_id, t.crm_id
     from etlify_sync_requests q,
          unnest(q.resource_ids, coalesce(q.crm_ids, array_fill(null::text, array[cardinality(q.resource_ids)]))) as t(id, crm_id)
    order by 1, 2, 3, 4`)) as Record<string, string>[];
const requestRows = async (app: TestApp) => (await app.orm.em.getConnection().execute('select count(*)::int as n from etlify_sync_requests'))[0].n as number;
const jobs = async (app: TestApp) => (await app.orm.em.getConnection().execute(
  `select task_identifier, key from graphile_worker.jobs order by key`)) as { task_identifier: string; key: string }[];

describe('change capture (no worker running)', () => {
  let app: TestApp;
  beforeEach(async () => { app = await createTestApp(); });
  afterEach(async () => { await app.close(); });

  it('records each changed record for each CRM, one row per CRM × entity, and wakes each CRM once, in the flush transaction', async () => {
    const em = app.orm.em.fork();
    const company = em.create(Company, { name: 'Acme', domain: 'acme.test' });
    em.create(User, { email: 'a@acme.test', company });
    em.create(User, { email: 'b@acme.test', company });
    await em.flush();
    const rows = await requests(app);
    expect(rows.filter(r => r.kind === 'sync').map(r => `${r.crm_name}:${r.entity}`)).to.deep.equal([
      'airtable:User', 'airtable:User', 'hubspot:Company', 'hubspot:User', 'hubspot:User']);
    expect(await requestRows(app)).to.equal(3);
    expect((await jobs(app)).map(j => j.key)).to.deep.equal(['etlify:airtable', 'etlify:hubspot']);
  });

  it('uses one statement per flush, whatever the number of changed entities', async () => {
    const em = app.orm.em.fork();
    // every statement, MikroORM's and Etlify's, reaches the configured logger
    const logger = app.orm.config.getLogger();
    const original = logger.logQuery;
    const seen: string[] = [];
    logger.logQuery = context => { if (context.query?.includes('etlify_sync_requests')) seen.push(context.query); return original.call(logger, context); };
    try {
      for (let i = 0; i < 200; i++) em.create(User, { email: `u${i}@example.test` });
      await em.flush();
    } finally {
      logger.logQuery = original;
    }
    expect(seen).to.have.length(1);
    expect((await requests(app)).length).to.equal(400);
    expect(await requestRows(app)).to.equal(2);
  });

  it("passes its statement through MikroORM's onQuery hook, like MikroORM's own", async () => {
    const traced: string[] = [];
    app.orm.config.set('onQuery', sql => { traced.push(sql); return `/* traced */ ${sql}`; });
    try {
      const em = app.orm.em.fork();
      em.create(User, { email: 'traced@example.test' });
      await em.flush();
    } finally {
      app.orm.config.set('onQuery', sql => sql);
    }
    expect(traced.filter(sql => sql.includes('insert into etlify_sync_requests'))).to.have.length(1);
    expect((await requests(app)).map(r => r.crm_name)).to.deep.equal(['airtable', 'hubspot']);
  });

  it('leaves nothing queued when the transaction rolls back', async () => {
    const error = await app.orm.em.fork().transactional(async em => {
      em.create(User, { email: 'rollback@example.test' });
      await em.flush();
      throw new Error('changed my mind');
    }).catch(e => e);
    expect(error.message).to.equal('changed my mind');
    expect(await requests(app)).to.deep.equal([]);
    expect(await jobs(app)).to.deep.equal([]);
  });

  it('leaves nothing queued when the flush fails', async () => {
    const em = app.orm.em.fork();
    em.create(User, { email: 'ok@example.test' });
    em.create(Investment, { amount: 5, user: em.getReference(User, 999_999) });
    const error = await em.flush().catch(e => e);
    expect(error).to.be.instanceOf(Error);
    expect(await requests(app)).to.deep.equal([]);
  });

  it('queues after the commit of em.transactional with several flushes, not before', async () => {
    await app.orm.em.fork().transactional(async em => {
      em.create(User, { email: 'one@example.test' });
      await em.flush();
      em.create(User, { email: 'two@example.test' });
      await em.flush();
      // another connection cannot see the requests before the commit
      expect(await requests(app)).to.deep.equal([]);
    });
    expect((await requests(app)).filter(r => r.crm_name === 'hubspot')).to.have.length(2);
  });

  it('keeps the outer transaction\'s changes when a nested one rolls back', async () => {
    await app.orm.em.fork().transactional(async em => {
      em.create(User, { email: 'outer@example.test' });
      await em.flush();
      await em.transactional(async inner => {
        inner.create(User, { email: 'inner@example.test' });
        await inner.flush();
        throw new Error('inner fails');
      }).catch(() => undefined);
    });
    const users = await app.orm.em.getConnection().execute('select id::text as id from app_user');
    expect(users).to.have.length(1);
    expect((await requests(app)).filter(r => r.crm_name === 'hubspot').map(r => r.resource_id)).to.deep.equal([users[0].id]);
  });

  it('keeps repeated flushes of one record cheap: one small row each, the same record id', async () => {
    const em = app.orm.em.fork();
    const user = em.create(User, { email: 'busy@example.test' });
    await em.flush();
    for (let i = 0; i < 10; i++) { user.firstName = `v${i}`; await em.flush(); }
    const hubspot = (await requests(app)).filter(r => r.crm_name === 'hubspot');
    expect(hubspot).to.have.length(11);
    expect(new Set(hubspot.map(r => r.resource_id))).to.deep.equal(new Set([String(user.id)]));
  });

  it('turns a dependency change into a "dependents" request, resolved later by the worker', async () => {
    const em = app.orm.em.fork();
    const company = em.create(Company, { name: 'Acme', domain: 'acme.test' });
    await em.flush();
    await app.orm.em.getConnection().execute('delete from etlify_sync_requests');
    company.name = 'Acme Inc';
    await em.flush();
    expect(await requests(app)).to.deep.include({ kind: 'dependents', crm_name: 'hubspot', entity: 'Company', resource_id: String(company.id), crm_id: null });
  });

  it('on em.remove: queues a delete for CRMs with deleteOnRemove and a forget for the others, behind any sync in flight', async () => {
    app.etlify.registerCrm('hubspot', { adapter: app.hubspot, deleteOnRemove: true });
    const em = app.orm.em.fork();
    const user = em.create(User, { email: 'gone@example.test' });
    await em.flush();
    await user.hubspotSync({ inline: true });
    await user.airtableSync({ inline: true });
    await app.orm.em.getConnection().execute('delete from etlify_sync_requests');
    const id = String(user.id);
    em.remove(user);
    await em.flush();
    expect(await requests(app)).to.deep.equal([
      { kind: 'delete', crm_name: 'hubspot', entity: 'User', resource_id: id, crm_id: null },
      { kind: 'forget', crm_name: 'airtable', entity: 'User', resource_id: id, crm_id: null },
    ]);
    // the sync rows (and the CRM ids the deletes will read) stay until the worker has handled the removal
    const [{ n }] = await app.orm.em.getConnection().execute('select count(*)::int as n from crm_synchronisations');
    expect(n).to.equal(2);
  });

  it('on em.remove with a CRM disabled: its sync row goes at once (nothing would process a request)', async () => {
    const em = app.orm.em.fork();
    const user = em.create(User, { email: 'gone-disabled@example.test' });
    await em.flush();
    await user.hubspotSync({ inline: true });
    await user.airtableSync({ inline: true });
    app.etlify.registerCrm('airtable', { adapter: app.airtable, enabled: false });
    await app.orm.em.getConnection().execute('delete from etlify_sync_requests');
    em.remove(user);
    await em.flush();
    expect((await requests(app)).map(r => `${r.kind} ${r.crm_name}`)).to.deep.equal(['forget hubspot']);
    expect((await app.orm.em.getConnection().execute('select crm_name from crm_synchronisations')).map(r => r.crm_name)).to.deep.equal(['hubspot']);
  });
});
