import { expect } from 'chai';
import { CrmError, Etlify, EtlifyError, ValidationError, type SyncEvent } from '../../src/index.ts';
import { RecordingAdapter } from '../../src/testing/index.ts';
import { createTestApp, type TestApp } from '../support/app.ts';
import { Company, Customer, Deal, Employee, Investment, User } from '../support/model.ts';

async function syncRow(app: TestApp, type: string, id: number | string, crm = 'hubspot') {
  const [row] = await app.orm.em.getConnection().execute(
    'select * from crm_synchronisations where resource_type = ? and resource_id = ? and crm_name = ?', [type, String(id), crm]);
  return row as Record<string, any> | undefined;
}

describe('inline sync and delete', () => {
  let app: TestApp;
  beforeEach(async () => { app = await createTestApp(); });
  afterEach(async () => { await app.close(); });

  async function newUser(data: Partial<Pick<User, 'email' | 'firstName' | 'status'>> = {}) {
    const em = app.orm.em.fork();
    const user = em.create(User, { email: 'ada@example.test', firstName: 'Ada', ...data });
    await em.flush();
    return { em, user };
  }

  it('synced, then not_modified while the payload is unchanged, then synced again through the stored id', async () => {
    const { em, user } = await newUser();
    expect(await user.hubspotSync({ inline: true })).to.equal('synced');
    const row = await syncRow(app, 'User', user.id);
    expect(row!.crm_id).to.equal('contacts-1');
    expect(row!.last_digest).to.match(/^[0-9a-f]{64}$/);
    expect(row!.object_type).to.equal('contacts');

    expect(await user.hubspotSync({ inline: true })).to.equal('not_modified');
    expect(app.hubspot.callsOf('upsert')).to.have.length(1);

    user.firstName = 'Augusta';
    await em.flush();
    expect(await user.hubspotSync({ inline: true })).to.equal('synced');
    const calls = app.hubspot.callsOf('upsert');
    expect(calls).to.have.length(2);
    expect(calls[1]!.crmIds).to.deep.equal(['contacts-1']);
    expect(calls[1]!.payloads[0]).to.include({ firstname: 'Augusta' });
    expect((await syncRow(app, 'User', user.id))!.last_digest).to.not.equal(row!.last_digest);
  });

  it('writes nothing for an unchanged record already recorded as fresh, and writes when a dependency moved', async () => {
    const em = app.orm.em.fork();
    const company = em.create(Company, { name: 'Acme', domain: 'acme.test' });
    const user = em.create(User, { email: 'fresh@example.test', company });
    await em.flush();
    await user.hubspotSync({ inline: true });
    const stamp = async () => (await syncRow(app, 'User', user.id))!.updated_at;
    const first = await stamp();
    expect(await user.hubspotSync({ inline: true })).to.equal('not_modified');
    expect(await stamp()).to.deep.equal(first);
    // a dependency touched behind the ORM, without changing the payload: the row must move forward
    await app.orm.em.getConnection().execute('update company set updated_at = clock_timestamp() where id = ?', [company.id]);
    expect(await user.hubspotSync({ inline: true })).to.equal('not_modified');
    expect(await stamp()).to.not.deep.equal(first);
  });

  it('records the snapshot time, taken before the record was read, as last_synced_at', async () => {
    const { user } = await newUser();
    const before = new Date(Date.now() - 1000);
    app.etlify.registerCrm('hubspot', { adapter: new RecordingAdapter({ latencyMs: 300 }) });
    const [{ db_before }] = await app.orm.em.getConnection().execute('select clock_timestamp() as db_before');
    await user.hubspotSync({ inline: true });
    const [{ db_after }] = await app.orm.em.getConnection().execute('select clock_timestamp() as db_after');
    const syncedAt = new Date((await syncRow(app, 'User', user.id))!.last_synced_at).getTime();
    expect(syncedAt).to.be.greaterThan(before.getTime());
    expect(syncedAt).to.be.at.least(new Date(db_before).getTime());
    // the call took 300 ms: the snapshot is from before it, not from when it returned
    expect(new Date(db_after).getTime() - syncedAt).to.be.at.least(290);
  });

  it('skipped when syncIf refuses the record, without a remote call or losing earlier errors', async () => {
    const { em, user } = await newUser({ status: 'banned' });
    expect(await user.hubspotSync({ inline: true })).to.equal('skipped');
    expect(app.hubspot.calls).to.have.length(0);
    const row = await syncRow(app, 'User', user.id);
    expect(row!.crm_id).to.equal(null);
    expect(row!.last_digest).to.equal(null);
    expect(row!.last_outcome).to.equal('skipped');
    expect(await user.hubspotSync()).to.equal(false);
    user.status = 'active';
    await em.flush();
    expect(await user.hubspotSync({ inline: true })).to.equal('synced');
  });

  it('error when the serializer throws: last_error and error_count + 1 for that record only; success clears them', async () => {
    const { em, user } = await newUser({ email: 'throw@example.test' });
    const other = em.create(User, { email: 'fine@example.test' });
    await em.flush();
    const failed: SyncEvent[] = [];
    app.etlify.events.on('failed', e => failed.push(e));
    expect(await user.hubspotSync({ inline: true })).to.equal('error');
    expect(await user.hubspotSync({ inline: true })).to.equal('error');
    let row = await syncRow(app, 'User', user.id);
    expect(row!.error_count).to.equal(2);
    expect(row!.last_error).to.equal('SerializationError: serializer of User threw: Error: cannot serialize throw@example.test');
    expect(row!.last_digest).to.equal(null);
    expect(failed.map(e => [e.entity, e.id])).to.deep.equal([['User', String(user.id)], ['User', String(user.id)]]);
    expect(await other.hubspotSync({ inline: true })).to.equal('synced');
    expect((await syncRow(app, 'User', other.id))!.error_count).to.equal(0);

    user.email = 'fixed@example.test';
    await em.flush();
    expect(await user.hubspotSync({ inline: true })).to.equal('synced');
    row = await syncRow(app, 'User', user.id);
    expect(row!.error_count).to.equal(0);
    expect(row!.last_error).to.equal(null);
  });

  it('error when the serializer returns something other than a plain object', async () => {
    const { user } = await newUser({ email: 'array@example.test' });
    expect(await user.hubspotSync({ inline: true })).to.equal('error');
    expect((await syncRow(app, 'User', user.id))!.last_error).to.equal('SerializationError: serializer of User returned an array; it must return a plain object');
  });

  it('emits parked when error_count reaches maxSyncErrors', async () => {
    app.etlify.registerCrm('hubspot', { adapter: app.hubspot, maxSyncErrors: 2 });
    const { user } = await newUser({ email: 'throw2@example.test' });
    const seen: string[] = [];
    app.etlify.events.on('failed', () => seen.push('failed'));
    app.etlify.events.on('parked', () => seen.push('parked'));
    await user.hubspotSync({ inline: true });
    await user.hubspotSync({ inline: true });
    expect(seen).to.deep.equal(['failed', 'parked']);
  });

  it('never writes a digest without a CRM id', async () => {
    const { user } = await newUser();
    app.etlify.registerCrm('hubspot', { adapter: { upsert: async () => ({ crmId: '' }), delete: async () => true } });
    expect(await user.hubspotSync({ inline: true })).to.equal('error');
    const row = await syncRow(app, 'User', user.id);
    expect(row!.crm_id).to.equal(null);
    expect(row!.last_digest).to.equal(null);
    expect(row!.last_error).to.match(/returned no CRM id/);
  });

  it('counts a permanent CRM error, but not a transient one', async () => {
    const { user } = await newUser();
    let error: Error = new ValidationError('Property "email" is invalid', { status: 400 });
    app.etlify.registerCrm('hubspot', { adapter: { upsert: async () => { throw error; }, delete: async () => true } });
    expect(await user.hubspotSync({ inline: true })).to.equal('error');
    expect((await syncRow(app, 'User', user.id))!.error_count).to.equal(1);
    error = new (class extends CrmError { override readonly retryable = true; })('503 Service Unavailable', { status: 503 });
    const retried: SyncEvent[] = [];
    app.etlify.events.on('retried', e => retried.push(e));
    expect(await user.hubspotSync({ inline: true })).to.equal('error'); // after 3 attempts
    expect((await syncRow(app, 'User', user.id))!.error_count).to.equal(1);
    expect(retried).to.have.length(3);
  });

  it('keeps tokens out of last_error and events', async () => {
    const { user } = await newUser();
    const token = 'pat-na1-SECRET-TOKEN-1234';
    const failures: SyncEvent[] = [];
    app.etlify.events.on('failed', e => failures.push(e));
    app.etlify.registerCrm('hubspot', {
      adapter: { upsert: async () => { throw new ValidationError(`bad request with ${token} and Bearer ${token}`); }, delete: async () => true, secrets: () => [token] },
    });
    await user.hubspotSync({ inline: true });
    const row = await syncRow(app, 'User', user.id);
    expect(row!.last_error).to.not.include('SECRET');
    expect(row!.last_error).to.include('[REDACTED]');
    expect(failures[0]!.error).to.not.include('SECRET');
  });

  it('disabled: no call, no write, truthy record API', async () => {
    const { user } = await newUser();
    await app.orm.em.getConnection().execute('delete from etlify_sync_requests');
    app.etlify.registerCrm('hubspot', { adapter: app.hubspot, enabled: false });
    expect(await user.hubspotSync({ inline: true })).to.equal('disabled');
    expect(await user.hubspotSync()).to.equal('disabled');
    expect(await user.hubspotDelete({ inline: true })).to.equal('disabled');
    expect(app.hubspot.calls).to.have.length(0);
    expect(await syncRow(app, 'User', user.id)).to.equal(undefined);
    const [{ n }] = await app.orm.em.getConnection().execute('select count(*)::int as n from etlify_sync_requests');
    expect(n).to.equal(0);
  });

  it('syncs one entity to several CRMs independently', async () => {
    const { user } = await newUser();
    expect(await user.hubspotSync({ inline: true })).to.equal('synced');
    expect(await user.crmSync('airtable', { inline: true })).to.equal('synced');
    expect(app.airtable.callsOf('upsert')[0]!.payloads[0]).to.deep.equal({ Email: 'ada@example.test' });
    expect((await syncRow(app, 'User', user.id, 'hubspot'))!.crm_id).to.equal('contacts-1');
    expect((await syncRow(app, 'User', user.id, 'airtable'))!.crm_id).to.equal('Users-1');
    expect(await user.airtableSync({ inline: true })).to.equal('not_modified');
  });

  it('single-table inheritance: subclass configuration, root name in the sync state', async () => {
    const em = app.orm.em.fork();
    const employee = em.create(Employee, { name: 'Eve', kind: 'employee', team: 'ops' });
    const customer = em.create(Customer, { name: 'Carl', kind: 'customer', tier: 'gold' });
    await em.flush();
    expect(await employee.hubspotSync({ inline: true })).to.equal('synced');
    expect(await customer.hubspotSync({ inline: true })).to.equal('synced');
    const [employeeCall, customerCall] = app.hubspot.callsOf('upsert');
    expect(employeeCall!.objectType).to.equal('contacts');
    expect(employeeCall!.payloads[0]).to.deep.equal({ name: 'Eve', kind: 'employee' });
    expect(customerCall!.objectType).to.equal('customers');
    expect(customerCall!.payloads[0]).to.deep.equal({ name: 'Carl', tier: 'gold' });
    expect(await syncRow(app, 'Person', employee.id)).to.include({ object_type: 'contacts' });
    expect(await syncRow(app, 'Person', customer.id)).to.include({ object_type: 'customers' });
    expect(await syncRow(app, 'Customer', customer.id)).to.equal(undefined);
  });

  it('buffers a record whose sync dependency has no CRM id yet', async () => {
    const em = app.orm.em.fork();
    const company = em.create(Company, { name: 'Acme', domain: 'acme.test' });
    const deal = em.create(Deal, { title: 'Big one', company });
    await em.flush();
    expect(await deal.hubspotSync({ inline: true })).to.equal('buffered');
    expect(app.hubspot.calls).to.have.length(0);
    const pending = await app.orm.em.getConnection().execute('select dependent_type, dependent_id, dependency_type, dependency_id from etlify_pending_syncs');
    expect(pending).to.deep.equal([{ dependent_type: 'Deal', dependent_id: String(deal.id), dependency_type: 'Company', dependency_id: String(company.id) }]);
    expect(await company.hubspotSync({ inline: true })).to.equal('synced');
    expect(await deal.hubspotSync({ inline: true })).to.equal('synced');
    // the serializer embeds the dependency's CRM id (crmIdOf)
    expect(app.hubspot.callsOf('upsert').at(-1)!.payloads[0]).to.deep.equal({ dealname: 'Big one', company: 'companies-1' });
  });

  it('counts a legacy <crm>Id column on the dependency as a CRM id', async () => {
    const em = app.orm.em.fork();
    const company = em.create(Company, { name: 'Old', domain: 'old.test', hubspotId: '987' });
    const deal = em.create(Deal, { title: 'Legacy', company });
    await em.flush();
    expect(await deal.hubspotSync({ inline: true })).to.equal('synced');
    expect(app.hubspot.callsOf('upsert').at(-1)!.payloads[0]).to.deep.equal({ dealname: 'Legacy', company: '987' });
  });

  it('refuses to call the CRM inside a database transaction', async () => {
    const { user } = await newUser();
    const error = await app.orm.em.fork().transactional(async em => {
      const inside = await em.findOneOrFail(User, user.id);
      return inside.hubspotSync({ inline: true }).catch(e => e);
    });
    expect(error).to.be.instanceOf(EtlifyError);
    expect(error.message).to.match(/inside a database transaction/);
    expect(app.hubspot.calls).to.have.length(0);
  });

  it('explains that an unsaved record must be flushed first', async () => {
    const em = app.orm.em.fork();
    const user = em.create(User, { email: 'new@example.test' });
    for (const attempt of [user.hubspotSync({ inline: true }), user.hubspotSync({ em }), user.hubspotDelete({ em })]) {
      const error = await attempt.catch(e => e);
      expect(error).to.be.instanceOf(EtlifyError);
      expect(error.message).to.match(/flush/);
    }
    const [{ n }] = await app.orm.em.getConnection().execute('select count(*)::int as n from etlify_sync_requests');
    expect(n).to.equal(0);
  });

  it('waits for the shared rate limit instead of failing, when the wait is short', async () => {
    const em = app.orm.em.fork();
    const first = em.create(User, { email: 'first@example.test' });
    const second = em.create(User, { email: 'second@example.test' });
    await em.flush();
    app.etlify.registerCrm('hubspot', { adapter: app.hubspot, rateLimit: { maxRequests: 1, perMs: 1000 } });
    expect(await first.hubspotSync({ inline: true })).to.equal('synced');
    // the budget is spent: without waiting for it, this would be an error
    expect(await second.hubspotSync({ inline: true })).to.equal('synced');
    expect(app.hubspot.callsOf('upsert')).to.have.length(2);
  });

  it('deletes from the CRM, clears the CRM id and digest, and a later sync recreates cleanly', async () => {
    const { user } = await newUser();
    expect(await user.hubspotDelete({ inline: true })).to.equal('noop');
    await user.hubspotSync({ inline: true });
    expect(app.hubspot.table('contacts').size).to.equal(1);
    expect(await user.hubspotDelete({ inline: true })).to.equal('deleted');
    expect(app.hubspot.table('contacts').size).to.equal(0);
    const row = await syncRow(app, 'User', user.id);
    expect(row).to.include({ crm_id: null, last_digest: null });
    expect(await user.hubspotDelete({ inline: true })).to.equal('noop');
    expect(await user.hubspotSync({ inline: true })).to.equal('synced');
    expect(app.hubspot.table('contacts').size).to.equal(1);
    expect(app.hubspot.callsOf('upsert').at(-1)!.crmIds).to.deep.equal([null]);
  });

  it('reports a CRM object already gone as noop and still forgets it', async () => {
    const { user } = await newUser();
    await user.hubspotSync({ inline: true });
    app.hubspot.table('contacts').clear();
    expect(await user.hubspotDelete({ inline: true })).to.equal('noop');
    expect((await syncRow(app, 'User', user.id))!.crm_id).to.equal(null);
  });

  it('finds the Etlify instance from the entity, or fails clearly without one', async () => {
    const { em } = await newUser();
    expect(Etlify.of(em)).to.equal(app.etlify);
    const investment = em.create(Investment, { amount: 1, user: em.create(User, { email: 'i@example.test' }) });
    expect('hubspotSync' in investment).to.equal(false);
  });
});
