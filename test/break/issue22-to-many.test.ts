// Breaking to-many associations (issue 22 item 7) the way users meet them: members that never get a
// CRM id, changes made outside the ORM and found by the sweep, members coming and going while the
// owner's sync is in flight, and association writes whose outcome is unknown. Real PostgreSQL,
// graphile-worker and the HubSpot simulator misbehaving.
import { MikroORM } from '@mikro-orm/postgresql';
import { expect } from 'chai';
import type { Runner } from 'graphile-worker';
import { defineEntity, p } from '@mikro-orm/core';
import { AirtableAdapter, Etlify, etlified, HubspotAdapter, migrateEtlify, runWorker, status, syncStale } from '../../src/index.ts';
import { startHubspotSimulator, type HubspotSimulator } from '../../src/testing/index.ts';
import { createTestDatabase } from '../support/postgres.ts';
import { Firm, Pursuit, Staffer, toManyEntities } from '../support/to-many-model.ts';
import { queueDrained, waitFor } from '../support/wait.ts';

describe('break: to-many associations under faults', () => {
  let orm: MikroORM;
  let drop: () => Promise<void>;
  let hubspot: HubspotSimulator;
  let etlify: Etlify;
  const workers: Runner[] = [];
  const execute = (sql: string, params: unknown[] = []) => orm.em.getConnection().execute(sql, params);
  const crmIdOf = async (record: object & { id: number }) =>
    (await execute(`select crm_id from crm_synchronisations where resource_type = ? and resource_id = ? and crm_name = 'hubspot'`, [record.constructor.name, String(record.id)]))[0]?.crm_id as string | undefined;
  const linked = async (firm: Firm) => hubspot.associations('companies', (await crmIdOf(firm))!, 'contacts').map(l => l.toObjectId).sort();
  /** A firm with two staffers, Ann and Bob, all three synced inline. */
  const syncedFirmOfTwo = async (name: string) => {
    const em = orm.em.fork();
    const domain = `${name.toLowerCase()}.example`;
    const firm = em.create(Firm, { name, domain });
    const [ann, bob] = ['ann', 'bob'].map(staffer => em.create(Staffer, { email: `${staffer}@${domain}`, name: staffer, firm }));
    await em.flush();
    for (const record of [ann!, bob!, firm]) expect(await record.hubspotSync({ inline: true })).to.equal('synced');
    return { em, firm, ann: ann!, bob: bob! };
  };

  before(async () => {
    const db = await createTestDatabase('etlify_break_to_many');
    drop = db.drop;
    hubspot = await startHubspotSimulator({
      rateLimit: false, searchRateLimit: false, uniqueProperties: { companies: ['domain'] },
      // a contact HubSpot refuses whatever is tried: it never gets a CRM id
      rejectProperty: (type, properties) => type === 'contacts' && String(properties.email).startsWith('refused') ? 'refused by a rule of the portal' : undefined,
    });
    etlify = new Etlify({
      crms: {
        hubspot: { adapter: new HubspotAdapter({ accessToken: 'token', baseUrl: hubspot.url, timeoutMs: 1_000 }), rateLimit: false, dailyBudget: false, jobs: { batchDelayMs: 20, unknownOutcomeWaitMs: 300 } },
        airtable: { adapter: new AirtableAdapter({ accessToken: 'token', baseId: 'appBreak22', baseUrl: hubspot.url }), enabled: false },
      },
    });
    orm = await MikroORM.init({ clientUrl: db.url, entities: toManyEntities, extensions: [etlify] });
    await orm.schema.create();
    await migrateEtlify(orm);
  });
  afterEach(async () => {
    await Promise.all(workers.splice(0).map(w => w.stop()));
    hubspot.setFaults({});
  });
  after(async () => {
    await orm.close(true);
    await drop();
    await hubspot.close();
  });

  // Was a bug: the member's buffer row (which only queues the owner again once the member has its
  // id) was read by the stale finder and `status` as "the owner waits for a dependency": the owner,
  // synced and not waiting, was left out of the sweep and `syncStale` while the row lived (24 h,
  // renewed at each of its syncs) and counted `buffered`.
  it('an owner with a member that never gets a CRM id is still found by syncStale when changed outside the ORM', async () => {
    const em = orm.em.fork();
    const firm = em.create(Firm, { name: 'Stale', domain: 'stale.example' });
    const ann = em.create(Staffer, { email: 'ann@stale.example', name: 'ann', firm });
    const refused = em.create(Staffer, { email: 'refused@stale.example', name: 'rex', firm });
    await em.flush();
    expect(await ann.hubspotSync({ inline: true })).to.equal('synced');
    expect(await refused.hubspotSync({ inline: true })).to.equal('error');
    expect(await firm.hubspotSync({ inline: true })).to.equal('synced');
    expect(await linked(firm)).to.deep.equal([await crmIdOf(ann)]);

    // renamed by raw SQL (an import, a data fix): the sweep is the documented recovery path
    await execute(`update firm set name = 'Stale & Co', updated_at = now() + interval '1 second' where id = ?`, [firm.id]);
    const [firms] = await status(orm, { crm: 'hubspot', entities: ['Firm'] });
    expect(firms).to.include({ synced: 1, buffered: 0, stale: 1 });
    expect((await syncStale(orm, { entities: ['Firm'], crm: 'hubspot', inline: true })).results.synced).to.equal(1);
    expect(hubspot.objects('companies').find(c => c.properties.domain === 'stale.example')?.properties.name).to.equal('Stale & Co');
  });

  it('a parked member is not sent again each time its owner syncs (parked until it changes or is reset)', async function () {
    this.timeout(30_000);
    const em = orm.em.fork();
    const firm = em.create(Firm, { name: 'Parked', domain: 'parked.example' });
    const refused = em.create(Staffer, { email: 'refused@parked.example', name: 'rex', firm });
    await em.flush();
    for (let i = 0; i < 3; i++) expect(await refused.hubspotSync({ inline: true })).to.equal('error');
    const [row] = await execute(`select error_count from crm_synchronisations where resource_type = 'Staffer' and resource_id = ?`, [String(refused.id)]);
    expect(row.error_count).to.equal(3); // maxSyncErrors: parked
    await execute('delete from etlify_sync_requests');
    const sends = () => hubspot.requests.filter(r => JSON.stringify(r.body ?? '').includes('refused@parked.example')).length;
    const before = sends();

    workers.push(await runWorker(orm, { handleSignals: false, pollInterval: 50 }));
    for (const name of ['Parked 1', 'Parked 2', 'Parked 3']) {
      firm.name = name;
      await em.flush();
      await waitFor('the queue to drain', () => queueDrained(execute), 20_000);
    }
    expect(hubspot.objects('companies').find(c => c.properties.domain === 'parked.example')?.properties.name).to.equal('Parked 3');
    expect(sends(), 'the parked member was sent again without changing').to.equal(before);
  });

  it('a member that joins and leaves while the owner\'s sync is in flight: the CRM ends with the database\'s members (two workers)', async function () {
    this.timeout(30_000);
    const { em, firm, ann, bob } = await syncedFirmOfTwo('Flight');
    await execute('delete from etlify_sync_requests');

    // the owner's next sync reads HubSpot's links; HubSpot answers only once the test lets it
    let release!: () => void;
    hubspot.requests.length = 0;
    hubspot.setFaults({ holdUntil: new Promise<void>(resolve => { release = resolve; }), paths: /companies\/contacts\/batch\/read$/ });
    const cyd = em.create(Staffer, { email: 'cyd@flight.example', name: 'cyd', firm });
    bob!.firm = null;
    await em.flush();
    workers.push(await runWorker(orm, { handleSignals: false, pollInterval: 50 }), await runWorker(orm, { handleSignals: false, pollInterval: 50 }));
    await waitFor('the owner\'s read to be in flight', () => hubspot.requests.some(r => r.path.endsWith('companies/contacts/batch/read')), 10_000);
    // while it is: cyd leaves again, bob comes back, and a new member joins
    cyd.firm = null;
    bob!.firm = firm;
    const dan = em.create(Staffer, { email: 'dan@flight.example', name: 'dan', firm });
    await em.flush();
    hubspot.setFaults({});
    release();
    await waitFor('the queue to drain', () => queueDrained(execute), 20_000);
    const members = await Promise.all([ann!, bob!, dan].map(s => crmIdOf(s)));
    expect(await linked(firm)).to.deep.equal(members.sort());
  });

  it('an archive whose outcome is unknown, then the member back: HubSpot ends with the link', async function () {
    this.timeout(30_000);
    const { em, firm, ann, bob } = await syncedFirmOfTwo('Unknown');
    await execute('delete from etlify_sync_requests');

    // bob leaves; HubSpot archives the link late, after the client gave up
    let gaveUp = false;
    const onRetry = (event: { entity: string }) => { if (event.entity === 'Firm') gaveUp = true; };
    etlify.events.on('retried', onRetry);
    let release!: () => void;
    hubspot.requests.length = 0;
    hubspot.setFaults({ holdUntil: new Promise<void>(resolve => { release = resolve; }), paths: /batch\/labels\/archive$/ });
    bob!.firm = null;
    await em.flush();
    workers.push(await runWorker(orm, { handleSignals: false, pollInterval: 50 }), await runWorker(orm, { handleSignals: false, pollInterval: 50 }));
    await waitFor('the archive to be sent', () => hubspot.requests.some(r => r.path.endsWith('/batch/labels/archive')), 10_000);
    // bob is back before anyone knows whether the archive landed
    bob!.firm = firm;
    await em.flush();
    // the client gives up (an unknown outcome), and HubSpot applies the archive just after that,
    // within unknownOutcomeWaitMs, before which the firm is not sent again
    await waitFor('the client to give up on the archive', () => gaveUp, 10_000);
    hubspot.setFaults({});
    release();
    await waitFor('the queue to drain', () => queueDrained(execute), 20_000);
    etlify.events.off('retried', onRetry);
    expect(await linked(firm)).to.deep.equal([await crmIdOf(ann!), await crmIdOf(bob!)].sort());
  });

  it('a member moved by raw SQL, then markChanged as the docs say: the new owner links it, the former one lets it go', async function () {
    this.timeout(30_000);
    const em = orm.em.fork();
    const [from, to] = ['from', 'to'].map(name => em.create(Firm, { name, domain: `${name}.raw.example` }));
    const eve = em.create(Staffer, { email: 'eve@raw.example', name: 'eve', firm: from });
    await em.flush();
    for (const record of [eve, from!, to!]) expect(await record.hubspotSync({ inline: true })).to.equal('synced');
    expect(await linked(from!)).to.deep.equal([await crmIdOf(eve)]);

    await em.transactional(async tx => {
      await tx.execute('update staffer set firm_id = ? where id = ?', [to!.id, eve.id]);
      await etlify.markChanged(tx, Staffer, [eve.id]); // queues the member's current owner
      await etlify.markChanged(tx, Firm, [from!.id]); // and its former one, which nothing names any more
    });
    workers.push(await runWorker(orm, { handleSignals: false, pollInterval: 50 }));
    await waitFor('the queue to drain', () => queueDrained(execute), 20_000);
    expect(await linked(to!)).to.deep.equal([await crmIdOf(eve)]);
    expect(await linked(from!)).to.deep.equal([]);
  });

  // The docs said such a link is "restored with the next change": a change of the record's own fields
  // does not read its associations (as the same paragraph says, an unchanged collection costs
  // nothing), so only the collection's next change restores it. Docs corrected.
  it('a link of the declared type removed by hand in HubSpot is restored at the collection\'s next change, not at a change of the record\'s fields', async () => {
    const { em, firm, ann, bob } = await syncedFirmOfTwo('Hand');
    const firmId = (await crmIdOf(firm))!;
    // a salesperson removes Bob from the company in HubSpot
    const removed = await fetch(`${hubspot.url}/crm/associations/2026-03/companies/contacts/batch/archive`, {
      method: 'POST', headers: { authorization: 'Bearer person', 'content-type': 'application/json' },
      body: JSON.stringify({ inputs: [{ from: { id: firmId }, to: [{ id: await crmIdOf(bob!) }] }] }),
    });
    expect(removed.status).to.equal(204);
    expect(await linked(firm)).to.deep.equal([await crmIdOf(ann!)]);

    firm.name = 'Hand & Co';
    await em.flush();
    expect(await firm.hubspotSync({ inline: true })).to.equal('synced');
    expect(await linked(firm), 'an unchanged collection is neither read nor written').to.deep.equal([await crmIdOf(ann!)]);

    const cyd = em.create(Staffer, { email: 'cyd@hand.example', name: 'cyd', firm });
    await em.flush();
    expect(await cyd.hubspotSync({ inline: true })).to.equal('synced');
    expect(await firm.hubspotSync({ inline: true })).to.equal('synced');
    expect(await linked(firm)).to.deep.equal([await crmIdOf(ann!), await crmIdOf(bob!), await crmIdOf(cyd)].sort());
  });

  it('a member whose first create has an unknown outcome: its owner links it once it is resolved, with no twin contact', async function () {
    this.timeout(30_000);
    const em = orm.em.fork();
    const firm = em.create(Firm, { name: 'Twin', domain: 'twin.example' });
    await em.flush();
    expect(await firm.hubspotSync({ inline: true })).to.equal('synced');
    await execute('delete from etlify_sync_requests');
    // HubSpot creates the contact, then the connection breaks before the answer
    hubspot.setFaults({ resetAfterApplyProbability: 1, paths: /\/objects\/2026-03\/contacts(\/batch\/(create|upsert))?$/ });
    const gus = em.create(Staffer, { email: 'gus@twin.example', name: 'gus', firm });
    await em.flush();
    workers.push(await runWorker(orm, { handleSignals: false, pollInterval: 50 }), await runWorker(orm, { handleSignals: false, pollInterval: 50 }));
    await waitFor('the create to be sent', () => hubspot.requests.some(r => r.status === 0), 10_000);
    hubspot.setFaults({});
    await waitFor('the queue to drain', () => queueDrained(execute), 20_000);
    expect(hubspot.objects('contacts').filter(c => c.properties.email === 'gus@twin.example')).to.have.length(1);
    expect(await linked(firm)).to.deep.equal([await crmIdOf(gus)]);
  });

  it('a member whose contact a salesperson deleted is re-created at its next change: its owner links the new contact', async function () {
    this.timeout(30_000);
    const em = orm.em.fork();
    const firm = em.create(Firm, { name: 'Recreated', domain: 'recreated.example' });
    const hal = em.create(Staffer, { email: 'hal@recreated.example', name: 'hal', firm });
    await em.flush();
    for (const record of [hal, firm]) expect(await record.hubspotSync({ inline: true })).to.equal('synced');
    const oldId = (await crmIdOf(hal))!;
    await execute('delete from etlify_sync_requests');
    // deleted in HubSpot: its associations go with it
    expect((await fetch(`${hubspot.url}/crm/objects/2026-03/contacts/${oldId}`, { method: 'DELETE', headers: { authorization: 'Bearer person' } })).status).to.equal(204);
    expect(await linked(firm)).to.deep.equal([]);

    // the member changes: onMissing 'recreate' (the default) gives it a new contact
    hal.name = 'hal again';
    await em.flush();
    workers.push(await runWorker(orm, { handleSignals: false, pollInterval: 50 }));
    await waitFor('the queue to drain', () => queueDrained(execute), 20_000);
    const newId = (await crmIdOf(hal))!;
    expect(newId).to.not.equal(oldId);
    expect(await linked(firm)).to.deep.equal([newId]);
  });

  it('a pursuit removed from the database: its firm lets the deal go in HubSpot', async function () {
    this.timeout(30_000);
    const em = orm.em.fork();
    const firm = em.create(Firm, { name: 'Deals', domain: 'deals.example' });
    const [keep, drop] = ['K-1', 'D-1'].map(code => em.create(Pursuit, { code }));
    firm.pursuits.set([keep!, drop!]);
    await em.flush();
    for (const record of [keep!, drop!, firm]) expect(await record.hubspotSync({ inline: true })).to.equal('synced');
    const firmId = (await crmIdOf(firm))!;
    expect(hubspot.associations('companies', firmId, 'deals')).to.have.length(2);

    // removed through a fresh EntityManager, the firm's collection never loaded: the pivot row goes with it
    const fresh = orm.em.fork();
    fresh.remove(fresh.getReference(Pursuit, drop!.id));
    await fresh.flush();
    workers.push(await runWorker(orm, { handleSignals: false, pollInterval: 50 }));
    await waitFor('the queue to drain', () => queueDrained(execute), 20_000);
    expect(hubspot.associations('companies', firmId, 'deals').map(l => l.toObjectId)).to.deep.equal([await crmIdOf(keep!)]);
  });
});

// A many-to-many declared on both sides: the owning side (an account's deals) and the inverse side
// (an opportunity's accounts), each changed through a collection never loaded from the other side.
const AccountSchema = defineEntity({
  name: 'BreakAccount',
  properties: { id: p.integer().primary(), domain: p.string(), deals: () => p.manyToMany(Opportunity), updatedAt: p.datetime().onCreate(() => new Date()).onUpdate(() => new Date()) },
});
class Account extends etlified(AccountSchema.class, {
  hubspot: { serializer: a => ({ domain: a.domain }), objectType: 'companies', idProperty: 'domain', associations: [{ relation: 'deals' }] },
}) {}
AccountSchema.setClass(Account);
const OpportunitySchema = defineEntity({
  name: 'BreakOpportunity',
  properties: { id: p.integer().primary(), title: p.string(), accounts: () => p.manyToMany(Account).mappedBy('deals'), updatedAt: p.datetime().onCreate(() => new Date()).onUpdate(() => new Date()) },
});
class Opportunity extends etlified(OpportunitySchema.class, {
  hubspot: { serializer: o => ({ dealname: o.title }), objectType: 'deals', associations: [{ relation: 'accounts' }] },
}) {}
OpportunitySchema.setClass(Opportunity);

describe('break: many-to-many links changed from the side that is not loaded', () => {
  let orm: MikroORM;
  let drop: () => Promise<void>;
  const execute = (sql: string, params: unknown[] = []) => orm.em.getConnection().execute(sql, params);
  const queued = async () => (await execute(`select q.entity, t.id from etlify_sync_requests q, unnest(q.resource_ids) as t(id) where q.kind = 'sync' order by 1, 2`))
    .map(r => `${r.entity} ${r.id}`);

  before(async () => {
    const db = await createTestDatabase('etlify_break_m2m');
    drop = db.drop;
    const etlify = new Etlify({ crms: { hubspot: { adapter: new HubspotAdapter({ accessToken: 'token', baseUrl: 'http://127.0.0.1:9' }) } } });
    orm = await MikroORM.init({ clientUrl: db.url, entities: [Account, Opportunity], extensions: [etlify] });
    await orm.schema.create();
    await migrateEtlify(orm);
  });
  after(async () => {
    await orm.close(true);
    await drop();
  });

  for (const side of ['owning', 'inverse'] as const) {
    it(`a link added through the ${side} side's unloaded collection, then removed through it, queues both ends each time`, async () => {
      const em = orm.em.fork();
      const account = em.create(Account, { domain: `${side}.example` });
      const deal = em.create(Opportunity, { title: side });
      await em.flush();
      const both = [`BreakAccount ${account.id}`, `BreakOpportunity ${deal.id}`];
      for (const change of ['add', 'remove'] as const) {
        await execute('delete from etlify_sync_requests');
        const fresh = orm.em.fork();
        if (side === 'owning') {
          const loaded = await fresh.findOneOrFail(Account, account.id);
          expect(loaded.deals.isInitialized()).to.equal(false);
          // MikroORM removes only from a loaded collection
          if (change === 'remove') await loaded.deals.init();
          loaded.deals[change](fresh.getReference(Opportunity, deal.id));
        } else {
          const loaded = await fresh.findOneOrFail(Opportunity, deal.id);
          expect(loaded.accounts.isInitialized()).to.equal(false);
          if (change === 'remove') await loaded.accounts.init();
          loaded.accounts[change](fresh.getReference(Account, account.id));
        }
        await fresh.flush();
        const links = await execute('select count(*)::int as n from break_account_deals where break_account_id = ?', [account.id]);
        expect(links[0].n, `the pivot row after ${change}`).to.equal(change === 'add' ? 1 : 0);
        expect(await queued(), `queued after ${change}`).to.include.members(both);
      }
    });
  }
});

describe('break: a member removed while its owner links it (deleteOnRemove)', () => {
  let orm: MikroORM;
  let drop: () => Promise<void>;
  let hubspot: HubspotSimulator;
  let etlify: Etlify;
  const workers: Runner[] = [];
  const execute = (sql: string, params: unknown[] = []) => orm.em.getConnection().execute(sql, params);

  before(async () => {
    const db = await createTestDatabase('etlify_break_to_many_removed');
    drop = db.drop;
    hubspot = await startHubspotSimulator({ rateLimit: false, searchRateLimit: false, uniqueProperties: { companies: ['domain'] } });
    etlify = new Etlify({
      crms: {
        hubspot: { adapter: new HubspotAdapter({ accessToken: 'token', baseUrl: hubspot.url, timeoutMs: 10_000 }), rateLimit: false, dailyBudget: false, deleteOnRemove: true, maxSyncErrors: 1, jobs: { batchDelayMs: 20 } },
        airtable: { adapter: new AirtableAdapter({ accessToken: 'token', baseId: 'appBreak22', baseUrl: hubspot.url }), enabled: false },
      },
      logger: { info() {}, warn() {}, error() {} },
    });
    orm = await MikroORM.init({ clientUrl: db.url, entities: toManyEntities, extensions: [etlify] });
    await orm.schema.create();
    await migrateEtlify(orm);
  });
  after(async () => {
    await Promise.all(workers.map(w => w.stop()));
    await orm.close(true);
    await drop();
    await hubspot.close();
  });

  // BUG (assoc/engine, not fixed): the owner's link create for a member whose contact was archived
  // meanwhile (the member removed with deleteOnRemove while the create was on its way) comes back as
  // HubSpot's per-item "No object with id" error, a permanent CrmError: the owner gets error_count + 1
  // and a `failed` event — `parked` with maxSyncErrors 1 — for a race, although the member's removal
  // already queued it again and its next sync converges (HubSpot ends right; error_count is back to 0).
  // Not clear how to fix locally: treating a missing member as transient would retry forever when
  // the member's object was deleted in HubSpot and the member never changes; perhaps a failure of a
  // sync whose record was queued again meanwhile should not count.
  it.skip('the owner is not failed (nor parked) for a link to a member deleted meanwhile, and HubSpot ends with the members left', async function () {
    this.timeout(30_000);
    const em = orm.em.fork();
    const firm = em.create(Firm, { name: 'Gone', domain: 'gone.example' });
    const ann = em.create(Staffer, { email: 'ann@gone.example', name: 'ann', firm });
    await em.flush();
    for (const record of [ann, firm]) expect(await record.hubspotSync({ inline: true })).to.equal('synced');
    const bob = em.create(Staffer, { email: 'bob@gone.example', name: 'bob', firm });
    await em.flush();
    expect(await bob.hubspotSync({ inline: true })).to.equal('synced');
    const bobId = (await execute(`select crm_id from crm_synchronisations where resource_type = 'Staffer' and resource_id = ?`, [String(bob.id)]))[0].crm_id as string;

    const failed: string[] = [];
    const onFailed = (event: { entity: string }) => failed.push(event.entity);
    etlify.events.on('failed', onFailed);
    etlify.events.on('parked', onFailed);
    let release!: () => void;
    hubspot.requests.length = 0;
    hubspot.setFaults({ holdUntil: new Promise<void>(resolve => { release = resolve; }), paths: /companies\/contacts\/batch\/associate\/default$/ });
    workers.push(await runWorker(orm, { handleSignals: false, pollInterval: 50 }), await runWorker(orm, { handleSignals: false, pollInterval: 50 }));
    await waitFor('the firm to link bob', () => hubspot.requests.some(r => r.path.endsWith('/batch/associate/default')), 10_000);
    // bob is removed while the link is on its way: his contact is archived first
    em.remove(bob);
    await em.flush();
    await waitFor('bob\'s contact to be archived', () => !hubspot.objects('contacts').some(c => c.id === bobId), 10_000);
    hubspot.setFaults({});
    release();
    await waitFor('the queue to drain', () => queueDrained(execute), 20_000);
    etlify.events.off('failed', onFailed);
    etlify.events.off('parked', onFailed);
    const [row] = await execute(`select error_count, last_error from crm_synchronisations where resource_type = 'Firm' and resource_id = ?`, [String(firm.id)]);
    const firmId = (await execute(`select crm_id from crm_synchronisations where resource_type = 'Firm' and resource_id = ?`, [String(firm.id)]))[0].crm_id as string;
    expect(hubspot.associations('companies', firmId, 'contacts').map(l => l.toObjectId)).to.deep.equal([(await execute(`select crm_id from crm_synchronisations where resource_type = 'Staffer' and resource_id = ?`, [String(ann.id)]))[0].crm_id]);
    expect(failed, String(row.last_error)).to.deep.equal([]);
    expect(row.error_count).to.equal(0);
  });
});
