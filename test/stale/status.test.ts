import { expect } from 'chai';
import { ValidationError } from '../../src/index.ts';
import { reset, status, syncStale } from '../../src/stale/index.ts';
import { RecordingAdapter } from '../../src/testing/index.ts';
import type { TestApp } from '../support/app.ts';
import { Company, Customer, Deal, Employee, User } from '../support/model.ts';
import { createStaleApp, sql, stale } from './helpers.ts';

// the schema generator indexes neither timestamps nor, on PostgreSQL, foreign keys
const USER_INDEXES = ['public.app_user (updated_at)', 'public.company (updated_at)', 'public.app_user (company_id)', 'public.investment (updated_at)', 'public.investment (user_id)'];

describe('status and reset', () => {
  let app: TestApp;
  beforeEach(async () => { app = await createStaleApp(); });
  afterEach(async () => { await app.close(); });

  const setErrors = (type: string, id: number, count: number, message = 'ValidationError: rejected') =>
    sql(app, `update crm_synchronisations set error_count = ?, last_error = ?, last_error_at = now() + interval '1 hour'
               where resource_type = ? and resource_id = ? and crm_name = 'hubspot'`, [count, message, type, String(id)]);

  it('counts synced, stale, failing, parked and buffered records per entity × CRM', async () => {
    const adapter = Object.assign(new RecordingAdapter({ fail: p => String(p.email).startsWith('bad') ? new ValidationError('rejected') : undefined }), {
      secrets: () => ['tok-123'],
    });
    app.etlify.registerCrm('hubspot', { adapter });
    const em = app.orm.em.fork();
    em.create(User, { email: 'good@example.test' });
    const failing = em.create(User, { email: 'bad1@example.test' });
    const parked = em.create(User, { email: 'bad2@example.test' });
    em.create(Deal, { title: 'Waiting', company: em.create(Company, { name: 'Acme', domain: 'acme.test' }) });
    await em.flush();
    await syncStale(app.orm, { crm: 'hubspot', entities: ['User', 'Deal'], inline: true });
    await setErrors('User', parked.id, 3, 'ValidationError: token tok-123 rejected');
    em.create(User, { email: 'new@example.test' });
    await em.flush();

    const report = await status(app.orm, { crm: 'hubspot', entities: ['User', 'Deal'] });
    // the oldest request waiting in the inbox, per entity
    const oldest = async (entity: string) => new Date((await sql(app, `select min(requested_at) as at from etlify_sync_requests where crm_name = 'hubspot' and entity = ?`, [entity]))[0]!.at).toISOString();
    expect(report).to.deep.equal([
      // no worker runs here: every flushed record still has its request in the inbox
      { entity: 'User', crm: 'hubspot', total: 4, synced: 1, stale: 2, queued: 4, retrying: 0, oldestWaitingAt: await oldest('User'), failing: 1, parked: 1, buffered: 0, lastError: 'ValidationError: token [REDACTED] rejected', missingIndexes: USER_INDEXES },
      { entity: 'Deal', crm: 'hubspot', total: 1, synced: 0, stale: 0, queued: 1, retrying: 0, oldestWaitingAt: await oldest('Deal'), failing: 0, parked: 0, buffered: 1, lastError: null, missingIndexes: ['public.deal (updated_at)'] },
    ]);
    const [row] = await sql(app, `select error_count from crm_synchronisations where resource_type = 'User' and resource_id = ?`, [String(failing.id)]);
    expect(row!.error_count).to.equal(1);
  });

  it('names the indexes the incremental sweep needs, until they exist', async () => {
    const missing = async () => (await status(app.orm, { crm: 'hubspot', entities: ['User'] }))[0]!.missingIndexes;
    expect(await missing()).to.deep.equal(USER_INDEXES);
    await sql(app, 'create index app_user_updated_at on app_user (updated_at)');
    await sql(app, 'create index investment_updated_at on investment (updated_at, id)');
    await sql(app, 'create index investment_user on investment (user_id)');
    expect(await missing()).to.deep.equal(['public.company (updated_at)', 'public.app_user (company_id)']);
    await sql(app, 'create index app_user_company on app_user (company_id, updated_at)');
    await sql(app, 'create index company_updated_at on company (updated_at)');
    expect(await missing()).to.deep.equal([]);
  });

  it('reset clears parked records only (optionally by entity and ids), and the finder takes them again', async () => {
    app.etlify.registerCrm('hubspot', { adapter: new RecordingAdapter({ fail: () => new ValidationError('no') }), maxSyncErrors: 2 });
    const em = app.orm.em.fork();
    const users = ['a', 'b', 'c'].map(n => em.create(User, { email: `${n}@example.test` }));
    await em.flush();
    await syncStale(app.orm, { crm: 'hubspot', entities: ['User'], inline: true });
    await setErrors('User', users[0]!.id, 2);
    await setErrors('User', users[1]!.id, 2);
    expect(await stale(app, 'User')).to.deep.equal([users[2]!.id]); // one failure: still retried

    expect(await reset(app.orm, { crm: 'hubspot', entity: 'User', ids: [users[1]!.id] })).to.equal(1);
    expect(await stale(app, 'User')).to.deep.equal([users[1]!.id, users[2]!.id]);
    expect(await reset(app.orm, { entity: User })).to.equal(1);
    expect(await reset(app.orm)).to.equal(0);
    const [row] = await sql(app, `select error_count, last_error, last_error_at from crm_synchronisations where resource_id = ?`, [String(users[0]!.id)]);
    expect(row).to.deep.equal({ error_count: 0, last_error: null, last_error_at: null });
    try {
      await reset(app.orm, { ids: [1] });
      expect.fail('expected a rejection');
    } catch (error) {
      expect((error as Error).message).to.match(/`ids` needs `entity`/);
    }
  });

  it('reset of an STI subclass leaves its siblings parked', async () => {
    app.etlify.registerCrm('hubspot', { adapter: new RecordingAdapter({ fail: () => new ValidationError('no') }), maxSyncErrors: 1 });
    const em = app.orm.em.fork();
    const employee = em.create(Employee, { name: 'Eve', kind: 'employee' });
    const customer = em.create(Customer, { name: 'Carl', kind: 'customer' });
    await em.flush();
    await syncStale(app.orm, { crm: 'hubspot', entities: ['Person'], inline: true });
    expect((await status(app.orm, { crm: 'hubspot', entities: ['Person'] })).map(r => [r.entity, r.parked])).to.deep.equal([['Customer', 1], ['Employee', 1]]);
    expect(await reset(app.orm, { crm: 'hubspot', entity: Customer })).to.equal(1);
    expect(await stale(app, 'Person')).to.deep.equal([customer.id]);
    expect(await stale(app, 'Employee')).to.deep.equal([]);
    await sql(app, `update person set updated_at = clock_timestamp() + interval '2 hours' where id = ?`, [employee.id]);
    expect(await stale(app, 'Employee')).to.deep.equal([employee.id]); // re-admitted by a change instead
  });
});
