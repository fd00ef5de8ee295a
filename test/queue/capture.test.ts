import { expect } from 'chai';
import { Investment, User, Company } from '../support/model.ts';
import { createTestApp, type TestApp } from '../support/app.ts';

const requests = async (app: TestApp) => (await app.orm.em.getConnection().execute(
  'select kind, crm_name, entity, resource_id, crm_id from etlify_sync_requests order by kind, crm_name, entity, resource_id')) as Record<string, string>[];
const jobs = async (app: TestApp) => (await app.orm.em.getConnection().execute(
  `select task_identifier, key from graphile_worker.jobs order by key`)) as { task_identifier: string; key: string }[];

describe('change capture (no worker running)', () => {
  let app: TestApp;
  beforeEach(async () => { app = await createTestApp(); });
  afterEach(async () => { await app.close(); });

  it('records one request per record × CRM and wakes each CRM once, in the flush transaction', async () => {
    const em = app.orm.em.fork();
    const company = em.create(Company, { name: 'Acme', domain: 'acme.test' });
    em.create(User, { email: 'a@acme.test', company });
    em.create(User, { email: 'b@acme.test', company });
    await em.flush();
    const rows = await requests(app);
    expect(rows.filter(r => r.kind === 'sync').map(r => `${r.crm_name}:${r.entity}`)).to.deep.equal([
      'airtable:User', 'airtable:User', 'hubspot:Company', 'hubspot:User', 'hubspot:User']);
    expect((await jobs(app)).map(j => j.key)).to.deep.equal(['etlify:airtable', 'etlify:hubspot']);
  });

  it('uses one statement per flush, whatever the number of changed entities', async () => {
    const em = app.orm.em.fork();
    const connection = app.orm.em.getConnection();
    const original = connection.execute.bind(connection);
    const seen: string[] = [];
    connection.execute = ((sql: any, ...rest: any[]) => { if (typeof sql === 'string' && sql.includes('etlify_sync_requests')) seen.push(sql); return original(sql, ...rest); }) as typeof connection.execute;
    try {
      for (let i = 0; i < 200; i++) em.create(User, { email: `u${i}@example.test` });
      await em.flush();
    } finally {
      connection.execute = original;
    }
    expect(seen).to.have.length(1);
    expect((await requests(app)).length).to.equal(400);
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

  it('coalesces repeated flushes of one record into one request', async () => {
    const em = app.orm.em.fork();
    const user = em.create(User, { email: 'busy@example.test' });
    await em.flush();
    for (let i = 0; i < 10; i++) { user.firstName = `v${i}`; await em.flush(); }
    expect((await requests(app)).filter(r => r.crm_name === 'hubspot')).to.have.length(1);
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

  it('on em.remove: drops the sync rows and, only for CRMs with deleteOnRemove, queues a delete carrying the CRM id', async () => {
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
    expect(await requests(app)).to.deep.equal([{ kind: 'delete', crm_name: 'hubspot', entity: 'User', resource_id: id, crm_id: 'contacts-1' }]);
    const [{ n }] = await app.orm.em.getConnection().execute('select count(*)::int as n from crm_synchronisations');
    expect(n).to.equal(0);
  });
});
