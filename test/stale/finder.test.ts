import { expect } from 'chai';
import { ValidationError } from '../../src/index.ts';
import { findStaleIds, staleQuerySql, syncStale } from '../../src/stale/index.ts';
import { RecordingAdapter } from '../../src/testing/index.ts';
import type { TestApp } from '../support/app.ts';
import { Company, Customer, Deal, Employee, User } from '../support/model.ts';
import { Account, Group, Note, Org, Profile, Region, Settings, Tag, Team } from '../support/stale-model.ts';
import { createStaleApp, sql, stale, syncAll, touch } from './helpers.ts';

describe('stale finder', () => {
  let app: TestApp;
  beforeEach(async () => { app = await createStaleApp(); });
  afterEach(async () => { await app.close(); });

  /** An account with one of everything, and a second, unrelated one. */
  async function world() {
    const em = app.orm.em.fork();
    const region = em.create(Region, { name: 'EU' });
    const org = em.create(Org, { name: 'Org', region });
    const team = em.create(Team, { name: 'Team', org });
    const profile = em.create(Profile, { bio: 'bio' });
    const parent = em.create(Account, { email: 'parent@example.test', team });
    const account = em.create(Account, { email: 'a@example.test', team, profile, parent });
    const child = em.create(Account, { email: 'child@example.test', parent: account });
    const settings = em.create(Settings, { theme: 'dark', account });
    const note = em.create(Note, { body: 'hello', account });
    const tag = em.create(Tag, { label: 'vip' });
    const group = em.create(Group, { name: 'Group' });
    account.tags.add(tag);
    account.groups.add(group);
    const other = em.create(Account, { email: 'other@example.test' });
    await em.flush();
    return { em, region, org, team, profile, parent, account, child, settings, note, tag, group, other };
  }

  it('reports never-synced records, nothing once they are synced, and a second run makes no CRM call', async () => {
    const w = await world();
    expect(await stale(app, 'Account')).to.deep.equal([w.parent.id, w.account.id, w.child.id, w.other.id].sort((a, b) => a - b));
    const first = await syncAll(app);
    expect(first.perEntity.Account).to.equal(4);
    expect(await stale(app, 'Account')).to.deep.equal([]);
    const second = await syncStale(app.orm, { crm: 'hubspot', inline: true });
    expect(second.total).to.equal(0);
    expect(app.hubspot.calls).to.have.length(0);
  });

  describe('every relation kind: a change behind the ORM makes the record stale, a sync makes it fresh', () => {
    type World = Awaited<ReturnType<typeof world>>;
    const cases: [string, (w: World) => Promise<void>, (w: World) => number[]][] = [
      // the parent (via `children`) and the child (via `parent`) depend on it too
      ['its own timestamp', w => touch(app, 'account', w.account.id), w => [w.parent.id, w.account.id, w.child.id]],
      ['many-to-one (team)', w => touch(app, 'team', w.team.id), w => [w.parent.id, w.account.id]],
      ['nested path, two levels (team.org)', w => touch(app, 'org', w.org.id), w => [w.parent.id, w.account.id]],
      ['nested path, three levels (team.org.region)', w => touch(app, 'region', w.region.id), w => [w.parent.id, w.account.id]],
      ['one-to-one, owning side (profile)', w => touch(app, 'profile', w.profile.id), w => [w.account.id]],
      ['one-to-one, inverse side (settings)', w => touch(app, 'account_settings', w.settings.id), w => [w.account.id]],
      ['one-to-many, updated child (notes)', w => touch(app, 'note', w.note.id), w => [w.account.id]],
      ['one-to-many, added child (notes)', async w => {
        await sql(app, `insert into note (body, account_id, created_at, updated_at) values ('new', ?, clock_timestamp(), clock_timestamp())`, [w.account.id]);
      }, w => [w.account.id]],
      ['many-to-many target (groups)', w => touch(app, 'account_group', w.group.id), w => [w.account.id]],
      ['many-to-many pivot row added, pivot with timestamps (groups)', async w => {
        await sql(app, `insert into membership (account_id, group_id, created_at) values (?, ?, clock_timestamp())`, [w.other.id, w.group.id]);
      }, w => [w.other.id]],
      ['many-to-many pivot row added, no pivot timestamps, new target (tags)', async w => {
        const [tag] = await sql(app, `insert into tag (label, created_at) values ('new', clock_timestamp()) returning id`);
        await sql(app, 'insert into account_tags (account_id, tag_id) values (?, ?)', [w.other.id, tag!.id]);
      }, w => [w.other.id]],
      ['self reference, many-to-one (parent)', w => touch(app, 'account', w.parent.id), w => [w.parent.id, w.account.id]],
      ['self reference, one-to-many (children)', w => touch(app, 'account', w.child.id), w => [w.account.id, w.child.id]],
    ];
    for (const [name, change, expected] of cases) {
      it(name, async () => {
        const w = await world();
        await syncAll(app);
        expect(await stale(app, 'Account')).to.deep.equal([]);
        await change(w);
        expect(await stale(app, 'Account')).to.deep.equal(expected(w).sort((a, b) => a - b));
        const stats = await syncAll(app);
        expect(stats.perEntity.Account).to.equal(expected(w).length);
        expect(await stale(app, 'Account')).to.deep.equal([]);
      });
    }

    it('an existing target attached through a pivot without timestamps is only seen when the owner is touched (documented limit)', async () => {
      const w = await world();
      await syncAll(app);
      await sql(app, 'insert into account_tags (account_id, tag_id) values (?, ?)', [w.other.id, w.tag.id]);
      expect(await stale(app, 'Account')).to.deep.equal([]);
      await touch(app, 'account', w.other.id);
      expect(await stale(app, 'Account')).to.deep.equal([w.other.id]);
    });

    it('a removed pivot row leaves nothing to compare: only a touched owner is seen (documented limit)', async () => {
      const w = await world();
      await syncAll(app);
      const em = app.orm.em.fork();
      const account = await em.findOneOrFail(Account, w.account.id, { populate: ['groups', 'tags'] });
      account.groups.removeAll();
      account.tags.removeAll();
      await em.flush(); // MikroORM does not move updatedAt for a collection-only change
      expect(await sql(app, 'select * from membership where account_id = ?', [w.account.id])).to.have.length(0);
      expect(await stale(app, 'Account')).to.deep.equal([]);
      account.updatedAt = new Date();
      await em.flush();
      expect(await stale(app, 'Account')).to.deep.equal([w.parent.id, w.account.id, w.child.id]);
    });

    it('null timestamps and missing children neither crash nor make records stale', async () => {
      const w = await world();
      await syncAll(app);
      await sql(app, 'alter table note alter column updated_at drop not null');
      await sql(app, 'update note set updated_at = null');
      await sql(app, 'update account set team_id = null where id = ?', [w.other.id]);
      await sql(app, 'update account set updated_at = ? where id = ?', [new Date(0), w.other.id]);
      expect(await stale(app, 'Account')).to.deep.equal([]);
    });
  });

  it('uses every to-many branch once and the sync table through its unique index columns', () => {
    const text = staleQuerySql(app.orm, 'Account', 'hubspot');
    expect(text.match(/\bunion\b/g)).to.have.length(5);
    expect(text).to.include('"membership" as "d9p"');
    expect(text).to.include(`"s"."resource_type" = 'Account' and "s"."crm_name" = 'hubspot'`);
    expect(text).to.not.match(/max\(/i);
    // the fast shape: the owner's key compared in its own type, to-many branches start at the child
    expect(text).to.include('on cast("s"."resource_id" as int) = "o"."id"');
    expect(text).to.not.include('cast("o"."id" as text)');
    expect(text).to.include('from "note" as "d7" inner join (select');
  });

  describe('single-table inheritance', () => {
    it('a subclass with its own configuration is found under the root name, and is fresh once synced (no stale-forever)', async () => {
      const em = app.orm.em.fork();
      const employee = em.create(Employee, { name: 'Eve', kind: 'employee' });
      const customer = em.create(Customer, { name: 'Carl', kind: 'customer', tier: 'gold' });
      await em.flush();
      expect(await stale(app, 'Employee')).to.deep.equal([employee.id]);
      expect(await stale(app, 'Customer')).to.deep.equal([customer.id]);
      expect(await stale(app, 'Person')).to.deep.equal([employee.id, customer.id]);

      const stats = await syncAll(app, 'hubspot', ['Person']);
      expect(stats.perEntity).to.deep.equal({ Employee: 1, Customer: 1 });
      const rows = await sql(app, `select resource_type, resource_id, object_type from crm_synchronisations where crm_name = 'hubspot' order by resource_id::int`);
      expect(rows.map(r => [r.resource_type, r.object_type])).to.deep.equal([['Person', 'contacts'], ['Person', 'customers']]);
      expect(await stale(app, 'Person')).to.deep.equal([]);

      await touch(app, 'person', customer.id);
      expect(await stale(app, 'Customer')).to.deep.equal([customer.id]);
      expect(await stale(app, 'Employee')).to.deep.equal([]);
      await touch(app, 'person', employee.id);
      expect(await stale(app, 'Employee')).to.deep.equal([employee.id]);
      const again = await syncAll(app, 'hubspot', ['Customer']);
      expect(again.total).to.equal(1);
      expect(await stale(app, 'Person')).to.deep.equal([employee.id]);
    });

    it('each subclass query filters by discriminator', () => {
      expect(staleQuerySql(app.orm, 'Customer', 'hubspot')).to.include(`"o"."kind" in ('customer')`);
      expect(staleQuerySql(app.orm, 'Employee', 'hubspot')).to.include(`"o"."kind" in ('employee')`);
    });
  });

  describe('staleScope and timestampProperty', () => {
    it('restricts candidates in SQL, relation filters included', async () => {
      const em = app.orm.em.fork();
      const team = em.create(Team, { name: 'Team' });
      const hidden = em.create(Team, { name: 'hidden' });
      const inScope = em.create(Account, { email: 'in@example.test', team, touchedAt: new Date() });
      em.create(Account, { email: 'tenant@example.test', tenant: 'other', team, touchedAt: new Date() });
      em.create(Account, { email: 'hidden@example.test', team: hidden, touchedAt: new Date() });
      await em.flush();
      expect(await stale(app, 'Account', 'airtable')).to.deep.equal([inScope.id]);
      expect(staleQuerySql(app.orm, 'Account', 'airtable')).to.match(/in \(select "sc"\."id" from "account" as "sc" left join "team"/);
    });

    it('compares the configured timestamp, not updatedAt', async () => {
      const em = app.orm.em.fork();
      const team = em.create(Team, { name: 'Team' });
      const account = em.create(Account, { email: 'in@example.test', team, touchedAt: new Date() });
      await em.flush();
      expect((await syncAll(app, 'airtable')).total).to.equal(1);
      expect(await stale(app, 'Account', 'airtable')).to.deep.equal([]);
      await touch(app, 'account', account.id);
      expect(await stale(app, 'Account', 'airtable')).to.deep.equal([]);
      expect(await stale(app, 'Account', 'hubspot')).to.include(account.id);
      await touch(app, 'account', account.id, 'touched_at');
      expect(await stale(app, 'Account', 'airtable')).to.deep.equal([account.id]);
    });
  });

  describe('the error cap', () => {
    it('excludes parked records until they change after their last failure, then parks them again', async () => {
      const failing = new RecordingAdapter({ fail: p => String(p.email).startsWith('bad') ? new ValidationError('rejected email') : undefined });
      app.etlify.registerCrm('hubspot', { adapter: failing, maxSyncErrors: 2 });
      const em = app.orm.em.fork();
      const bad = em.create(Account, { email: 'bad@example.test' });
      const good = em.create(Account, { email: 'good@example.test' });
      await em.flush();

      let stats = await syncStale(app.orm, { crm: 'hubspot', entities: ['Account'], inline: true });
      expect(stats.results).to.include({ synced: 1, error: 1 });
      expect(stats.errors).to.equal(1);
      expect(await stale(app, 'Account')).to.deep.equal([bad.id]); // failing, not yet parked
      stats = await syncStale(app.orm, { crm: 'hubspot', entities: ['Account'], inline: true });
      expect(stats.results.error).to.equal(1);
      const [row] = await sql(app, `select error_count from crm_synchronisations where resource_id = ? and crm_name = 'hubspot'`, [String(bad.id)]);
      expect(row!.error_count).to.equal(2);
      expect(await stale(app, 'Account')).to.deep.equal([]); // parked

      await touch(app, 'account', bad.id);
      expect(await stale(app, 'Account')).to.deep.equal([bad.id]); // re-admitted by the change
      stats = await syncStale(app.orm, { crm: 'hubspot', entities: ['Account'], inline: true });
      expect(stats.results.error).to.equal(1);
      expect(await stale(app, 'Account')).to.deep.equal([]); // parked again, no loop
      expect(await sql(app, `select crm_id from crm_synchronisations where resource_id = ? and crm_name = 'hubspot'`, [String(good.id)])).to.have.length(1);
    });

    it('a change to a dependency re-admits a parked record too', async () => {
      app.etlify.registerCrm('hubspot', { adapter: new RecordingAdapter({ fail: () => new ValidationError('no') }), maxSyncErrors: 1 });
      const em = app.orm.em.fork();
      const account = em.create(Account, { email: 'x@example.test' });
      const note = em.create(Note, { body: 'n', account });
      await em.flush();
      await syncStale(app.orm, { crm: 'hubspot', entities: ['Account'], inline: true });
      expect(await stale(app, 'Account')).to.deep.equal([]);
      await touch(app, 'note', note.id);
      expect(await stale(app, 'Account')).to.deep.equal([account.id]);
    });
  });

  describe('filtering by CRM and entity together', () => {
    it('syncs only the selected entity to the selected CRM', async () => {
      const em = app.orm.em.fork();
      em.create(User, { email: 'u@example.test' });
      em.create(Company, { name: 'Acme', domain: 'acme.test' });
      em.create(Account, { email: 'a@example.test', team: em.create(Team, { name: 'T' }), touchedAt: new Date() });
      await em.flush();

      const stats = await syncStale(app.orm, { crm: 'airtable', entities: ['Account'], inline: true });
      expect(stats).to.deep.include({ total: 1, perEntity: { Account: 1 }, perCrm: { airtable: 1 } });
      expect(app.hubspot.calls).to.have.length(0);
      expect(app.airtable.calls.map(c => c.objectType)).to.deep.equal(['Accounts']);

      // Company is not etlified for airtable: nothing, rather than its other CRMs (the gem's bug)
      const none = await syncStale(app.orm, { crm: 'airtable', entities: [Company], inline: true });
      expect(none).to.deep.include({ total: 0, perEntity: {}, perCrm: {} });
      expect(app.hubspot.calls).to.have.length(0);

      const users = await syncStale(app.orm, { crm: 'hubspot', entities: [User] });
      expect(users).to.deep.include({ total: 1, perEntity: { User: 1 }, perCrm: { hubspot: 1 } });
      const requests = await sql(app, `select distinct crm_name, entity from etlify_sync_requests where (select id::text from app_user limit 1) = any(resource_ids) and entity = 'User'`);
      expect(requests.map(r => r.crm_name).sort()).to.deep.equal(['airtable', 'hubspot']); // airtable's came from the flush
    });

    it('skips disabled CRMs and rejects unknown names', async () => {
      const em = app.orm.em.fork();
      em.create(User, { email: 'u@example.test' });
      await em.flush();
      app.etlify.registerCrm('airtable', { adapter: app.airtable, enabled: false });
      const stats = await syncStale(app.orm, { entities: ['User'], inline: true });
      expect(stats.perCrm).to.deep.equal({ hubspot: 1 });
      expect(app.airtable.calls).to.have.length(0);
      expect(await syncStale(app.orm, { crm: 'airtable', inline: true })).to.deep.include({ total: 0 });
      await expectRejection(syncStale(app.orm, { entities: ['Usr'] }), /^Unknown entity "Usr" in `entities` \(etlified entities: (\w+, )*User(, \w+)*\)$/);
      await expectRejection(syncStale(app.orm, { entities: ['Investment'] }), /Investment in `entities` is not etlified/);
      await expectRejection(syncStale(app.orm, { crm: 'salesforce' }), /Unknown CRM `salesforce`/);
    });
  });

  it('does not report records waiting for a sync dependency, until the buffer row expires', async () => {
    const em = app.orm.em.fork();
    const company = em.create(Company, { name: 'Acme', domain: 'acme.test' });
    const deal = em.create(Deal, { title: 'Big', company });
    await em.flush();
    const stats = await syncStale(app.orm, { crm: 'hubspot', entities: ['Deal'], inline: true });
    expect(stats.results.buffered).to.equal(1);
    expect(await stale(app, 'Deal')).to.deep.equal([]);
    await sql(app, `update etlify_pending_syncs set expires_at = now() - interval '1 second'`);
    expect(await stale(app, 'Deal')).to.deep.equal([deal.id]);
  });

  it('pages through ids in key order', async () => {
    const em = app.orm.em.fork();
    const accounts = Array.from({ length: 7 }, (_, i) => em.create(Account, { email: `p${i}@example.test` }));
    await em.flush();
    const ids = accounts.map(a => a.id);
    const first = await findStaleIds(app.orm, { crm: 'hubspot', entity: 'Account', limit: 3 });
    const second = await findStaleIds(app.orm, { crm: 'hubspot', entity: Account, after: first.at(-1), limit: 3 });
    const third = await findStaleIds(app.orm, { crm: 'hubspot', entity: 'Account', after: second.at(-1), limit: 3 });
    expect([...first, ...second, ...third].map(Number)).to.deep.equal(ids);
    expect(third).to.have.length(1);
    await expectRejection(findStaleIds(app.orm, { crm: 'hubspot', entity: 'Account', limit: 0 }), /limit/);
  });
});

async function expectRejection(promise: Promise<unknown>, message: RegExp): Promise<void> {
  try {
    await promise;
  } catch (error) {
    expect((error as Error).message).to.match(message);
    return;
  }
  expect.fail(`expected a rejection matching ${message}`);
}
