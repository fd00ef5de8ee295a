import { MikroORM } from '@mikro-orm/postgresql';
import { expect } from 'chai';
import type { Runner } from 'graphile-worker';
import { AirtableAdapter, ConfigurationError, declareCrms, Etlify, HubspotAdapter, migrateEtlify, planSync, runWorker } from '../../src/index.ts';
import { startAirtableSimulator, startHubspotSimulator, type AirtableSimulator, type HubspotSimulator } from '../../src/testing/index.ts';
import { createTestDatabase } from '../support/postgres.ts';
import { Firm, Pursuit, Staffer, toManyEntities } from '../support/to-many-model.ts';
import { queueDrained, waitFor } from '../support/wait.ts';

const COMPANY_TO_CONTACT = { associationCategory: 'HUBSPOT_DEFINED', associationTypeId: 280 };
const COMPANY_TO_DEAL = { associationCategory: 'HUBSPOT_DEFINED', associationTypeId: 342 };

/**
 * To-many associations declared through collections (issue 22 item 7), through the public API,
 * against real PostgreSQL, graphile-worker and both simulators.
 */
describe('to-many associations (collections)', () => {
  let orm: MikroORM;
  let drop: () => Promise<void>;
  let hubspot: HubspotSimulator;
  let airtable: AirtableSimulator;
  const workers: Runner[] = [];
  const execute = (sql: string, params: unknown[] = []) => orm.em.getConnection().execute(sql, params);
  const crmIdOf = async (record: object & { id: number }, crm = 'hubspot') =>
    (await execute('select crm_id from crm_synchronisations where resource_type = ? and resource_id = ? and crm_name = ?', [record.constructor.name, String(record.id), crm]))[0]?.crm_id as string | undefined;
  const queued = async () => (await execute(`select q.entity, t.id from etlify_sync_requests q, unnest(q.resource_ids) as t(id) where q.kind = 'sync' and q.crm_name = 'hubspot' order by 1, 2`))
    .map(r => `${r.entity} ${r.id}`);
  const links = (fromType: string, id: string, toType: string) => hubspot.associations(fromType, id, toType);
  const hubspotCalls = () => hubspot.requests.map(r => `${r.method} ${r.path.replace(/\/\d+$/, '/{id}')}`);

  before(async () => {
    const db = await createTestDatabase('etlify_to_many');
    drop = db.drop;
    hubspot = await startHubspotSimulator({ rateLimit: false, searchRateLimit: false, uniqueProperties: { companies: ['domain'] } });
    airtable = await startAirtableSimulator({ rateLimit: false, linkedFields: { Firms: ['Staff', 'Pursuits'] } });
    const etlify = new Etlify({
      crms: {
        hubspot: { adapter: new HubspotAdapter({ accessToken: 'token', baseUrl: hubspot.url, timeoutMs: 2_000 }), rateLimit: false, jobs: { batchDelayMs: 20, unknownOutcomeWaitMs: 300 } },
        airtable: { adapter: new AirtableAdapter({ accessToken: 'token', baseId: airtable.baseId, baseUrl: airtable.url }), rateLimit: false, jobs: { batchDelayMs: 20 } },
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
    await airtable.close();
  });

  it('links the members of one-to-many and many-to-many collections in both CRMs, members synced after their owner included', async () => {
    const em = orm.em.fork();
    const firm = em.create(Firm, { name: 'Acme', domain: 'acme.example' });
    const staff = ['ann', 'bob', 'cyd'].map(name => em.create(Staffer, { email: `${name}@acme.example`, name, firm }));
    const pursuits = ['P-1', 'P-2'].map(code => em.create(Pursuit, { code }));
    firm.pursuits.set(pursuits);
    await em.flush();

    // synced alone first: members without a CRM id do not hold the firm back...
    expect(await firm.hubspotSync({ inline: true })).to.equal('synced');
    const firmId = (await crmIdOf(firm))!;
    expect(links('companies', firmId, 'contacts')).to.deep.equal([]);
    // ...and their first sync queues it again, which then links them
    workers.push(await runWorker(orm, { handleSignals: false, pollInterval: 50 }));
    await waitFor('the queue to drain', () => queueDrained(execute), 20_000);

    const staffIds = await Promise.all(staff.map(s => crmIdOf(s)));
    const pursuitIds = await Promise.all(pursuits.map(d => crmIdOf(d)));
    expect(links('companies', firmId, 'contacts')).to.have.deep.members(staffIds.map(toObjectId => ({ toObjectId, types: [COMPANY_TO_CONTACT] })));
    expect(links('companies', firmId, 'deals')).to.have.deep.members(pursuitIds.map(toObjectId => ({ toObjectId, types: [COMPANY_TO_DEAL] })));
    // HubSpot keeps both directions: the contact sees its company
    expect(links('contacts', staffIds[0]!, 'companies').map(l => l.toObjectId)).to.deep.equal([firmId]);

    // Airtable: the linked-record fields hold the members' record ids
    const firmRow = airtable.objects('Firms').find(r => r.fields.Domain === 'acme.example')!;
    expect(firmRow.fields.Staff).to.have.members(await Promise.all(staff.map(s => crmIdOf(s, 'airtable'))));
    expect(firmRow.fields.Pursuits).to.have.members(await Promise.all(pursuits.map(d => crmIdOf(d, 'airtable'))));
    expect(firmRow.id).to.equal(await crmIdOf(firm, 'airtable'));
  });

  it('sends only the difference when members come and go, nothing when the collection is unchanged, and ignores members\' own changes', async () => {
    const em = orm.em.fork();
    const firm = em.create(Firm, { name: 'Beta', domain: 'beta.example' });
    const [ann, bob, cyd] = ['ann', 'bob', 'cyd'].map(name => em.create(Staffer, { email: `${name}@beta.example`, name, firm }));
    await em.flush();
    for (const s of [ann!, bob!, cyd!]) expect(await s.hubspotSync({ inline: true })).to.equal('synced');
    expect(await firm.hubspotSync({ inline: true })).to.equal('synced');
    const firmId = (await crmIdOf(firm))!;
    expect(links('companies', firmId, 'contacts')).to.have.length(3);
    for (const s of [ann!, bob!, cyd!, firm]) expect(await s.airtableSync({ inline: true })).to.equal('synced');
    const staffCell = () => airtable.objects('Firms').find(r => r.fields.Domain === 'beta.example')!.fields.Staff;
    expect(staffCell()).to.have.members(await Promise.all([ann!, bob!, cyd!].map(s => crmIdOf(s, 'airtable'))));

    const dan = em.create(Staffer, { email: 'dan@beta.example', name: 'dan', firm });
    bob!.firm = null;
    await em.flush();
    expect(await dan.hubspotSync({ inline: true })).to.equal('synced');
    // the move is captured from the member's side: the firm is queued
    expect(await queued()).to.include(`Firm ${firm.id}`);
    hubspot.requests.length = 0;
    expect(await firm.hubspotSync({ inline: true })).to.equal('synced');
    expect(hubspotCalls()).to.deep.equal([
      'PATCH /crm/objects/2026-03/companies/{id}',
      'POST /crm/associations/2026-03/companies/contacts/batch/read',
      'POST /crm/associations/2026-03/companies/contacts/batch/labels/archive',
      'POST /crm/associations/2026-03/companies/contacts/batch/associate/default',
    ]);
    const [, , archive, create] = hubspot.requests as Array<{ body: { inputs: Array<{ to: { id: string } }> } }>;
    expect(archive!.body.inputs.map(i => i.to.id)).to.deep.equal([await crmIdOf(bob!)]);
    expect(create!.body.inputs.map(i => i.to.id)).to.deep.equal([await crmIdOf(dan)]);
    expect(links('companies', firmId, 'contacts').map(l => l.toObjectId)).to.have.members([await crmIdOf(ann!), await crmIdOf(cyd!), await crmIdOf(dan)]);
    // Airtable: the linked-record field is written whole, sorted (the order of a collection is not part of its state)
    for (const record of [dan, firm]) expect(await record.airtableSync({ inline: true })).to.equal('synced');
    expect(staffCell()).to.deep.equal((await Promise.all([ann!, cyd!, dan].map(s => crmIdOf(s, 'airtable')))).sort());

    hubspot.requests.length = 0;
    expect(await firm.hubspotSync({ inline: true })).to.equal('not_modified');
    expect((await planSync(orm, 'hubspot', 'Firm', [String(firm.id)])).map(p => p.action)).to.deep.equal(['unchanged']);
    expect(hubspot.requests).to.deep.equal([]);

    // a member's own field is not the firm's business: only the member is queued
    await execute('delete from etlify_sync_requests');
    ann!.name = 'Ann B.';
    await em.flush();
    expect(await queued()).to.deep.equal([`Staffer ${ann!.id}`]);
  });

  it('captures a many-to-many link added through a collection never loaded, and sends that one link', async () => {
    const em = orm.em.fork();
    const firm = em.create(Firm, { name: 'Gamma', domain: 'gamma.example' });
    const [one, two] = ['G-1', 'G-2'].map(code => em.create(Pursuit, { code }));
    firm.pursuits.add(one!);
    await em.flush();
    for (const record of [one!, two!, firm]) expect(await record.hubspotSync({ inline: true })).to.equal('synced');
    await execute('delete from etlify_sync_requests');

    const fresh = orm.em.fork();
    const reference = await fresh.findOneOrFail(Firm, firm.id);
    expect(reference.pursuits.isInitialized()).to.equal(false);
    reference.pursuits.add(fresh.getReference(Pursuit, two!.id));
    await fresh.flush();
    expect(await queued()).to.include(`Firm ${firm.id}`);

    hubspot.requests.length = 0;
    expect(await reference.hubspotSync({ inline: true })).to.equal('synced');
    const created = hubspot.requests.filter(r => r.path.endsWith('/batch/associate/default'));
    expect(created.map(r => (r.body as { inputs: Array<{ to: { id: string } }> }).inputs.map(i => i.to.id))).to.deep.equal([[await crmIdOf(two!)]]);
    expect(links('companies', (await crmIdOf(firm))!, 'deals').map(l => l.toObjectId)).to.have.members([await crmIdOf(one!), await crmIdOf(two!)]);
  });

  it('queues the owner when a member is deleted (its pivot row goes with it), and archives that link', async () => {
    const em = orm.em.fork();
    const firm = em.create(Firm, { name: 'Epsilon', domain: 'epsilon.example' });
    const [kept, dropped] = ['E-1', 'E-2'].map(code => em.create(Pursuit, { code }));
    firm.pursuits.set([kept!, dropped!]);
    await em.flush();
    for (const record of [kept!, dropped!, firm]) expect(await record.hubspotSync({ inline: true })).to.equal('synced');
    const droppedId = await crmIdOf(dropped!);
    await execute('delete from etlify_sync_requests');

    // removed in another EntityManager, where the firm and its collection were never loaded
    const other = orm.em.fork();
    other.remove(other.getReference(Pursuit, dropped!.id));
    await other.flush();
    expect(await queued()).to.include(`Firm ${firm.id}`);
    hubspot.requests.length = 0;
    expect(await orm.em.fork().findOneOrFail(Firm, firm.id).then(f => f.hubspotSync({ inline: true }))).to.equal('synced');
    const archived = hubspot.requests.filter(r => r.path.endsWith('/companies/deals/batch/labels/archive'));
    expect(archived.map(r => (r.body as { inputs: Array<{ to: { id: string } }> }).inputs.map(i => i.to.id))).to.deep.equal([[droppedId]]);
    expect(links('companies', (await crmIdOf(firm))!, 'deals').map(l => l.toObjectId)).to.deep.equal([await crmIdOf(kept!)]);
  });

  it('after an unknown outcome, sends the record again, reads what landed and creates no link twice', async () => {
    const em = orm.em.fork();
    const firm = em.create(Firm, { name: 'Delta', domain: 'delta.example' });
    const eve = em.create(Staffer, { email: 'eve@delta.example', name: 'eve', firm });
    await em.flush();
    expect(await eve.hubspotSync({ inline: true })).to.equal('synced');
    expect(await firm.hubspotSync({ inline: true })).to.equal('synced');
    const fay = em.create(Staffer, { email: 'fay@delta.example', name: 'fay', firm });
    await em.flush();
    expect(await fay.hubspotSync({ inline: true })).to.equal('synced');

    // HubSpot creates the link, then the connection breaks before the answer
    hubspot.setFaults({ resetAfterApplyProbability: 1, paths: /\/batch\/associate\/default$/ });
    hubspot.requests.length = 0;
    expect(await firm.hubspotSync({ inline: true })).to.equal('synced');
    expect(hubspotCalls()).to.deep.equal([
      'PATCH /crm/objects/2026-03/companies/{id}',
      'POST /crm/associations/2026-03/companies/contacts/batch/read',
      'POST /crm/associations/2026-03/companies/contacts/batch/associate/default',
      // sent again once the unknown outcome can no longer land late: the digest was forgotten, so every
      // association is read, even the pursuits that did not change; the link is there, nothing is created
      'PATCH /crm/objects/2026-03/companies/{id}',
      'POST /crm/associations/2026-03/companies/contacts/batch/read',
      'POST /crm/associations/2026-03/companies/deals/batch/read',
    ]);
    expect(links('companies', (await crmIdOf(firm))!, 'contacts').map(l => l.toObjectId)).to.have.members([await crmIdOf(eve), await crmIdOf(fay)]);
  });

  it('converges under membership churn with two workers and a misbehaving CRM: HubSpot ends holding exactly the collections', async () => {
    const em = orm.em.fork();
    const firms = ['z1', 'z2', 'z3'].map(name => em.create(Firm, { name, domain: `${name}.example` }));
    const staff = Array.from({ length: 12 }, (_, n) => em.create(Staffer, { email: `z${n}@churn.example`, name: `z${n}`, firm: firms[n % 3] }));
    const pursuits = Array.from({ length: 6 }, (_, n) => em.create(Pursuit, { code: `Z-${n}` }));
    await em.flush();
    hubspot.setFaults({ resetAfterApplyProbability: 0.1, serverErrorAfterApplyProbability: 0.05, serverErrorStatus: 504 });
    for (let i = 0; i < 2; i++) workers.push(await runWorker(orm, { handleSignals: false, pollInterval: 50, sweepSchedule: false }));
    let seed = 7;
    const pick = <T>(items: T[]) => items[(seed = (seed * 16807) % 2147483647) % items.length]!;
    for (let round = 0; round < 25; round++) {
      const staffer = pick(staff);
      staffer.firm = pick([...firms, null]);
      const firm = pick(firms);
      const pursuit = pick(pursuits);
      if (firm.pursuits.contains(pursuit)) firm.pursuits.remove(pursuit); else firm.pursuits.add(pursuit);
      await em.flush();
      await new Promise(resolve => setTimeout(resolve, 20));
    }
    hubspot.setFaults({});
    await waitFor('the queue to drain', () => queueDrained(execute), 60_000);
    for (const firm of firms) {
      const firmId = (await crmIdOf(firm))!;
      const members = staff.filter(s => s.firm === firm);
      expect(links('companies', firmId, 'contacts').map(l => l.toObjectId), firm.name).to.have.members(await Promise.all(members.map(s => crmIdOf(s))));
      expect(links('companies', firmId, 'deals').map(l => l.toObjectId), firm.name).to.have.members(await Promise.all(firm.pursuits.getItems().map(d => crmIdOf(d))));
      const row = airtable.objects('Firms').find(r => r.fields.Domain === firm.domain)!;
      expect(row.fields.Staff ?? [], firm.name).to.deep.equal((await Promise.all(members.map(s => crmIdOf(s, 'airtable')))).sort());
    }
  });

  it('is refused at MikroORM.init when a collection leads to an entity not etlified for the CRM', async () => {
    const { defineEntity, p } = await import('@mikro-orm/core');
    const TagSchema = defineEntity({ name: 'LooseTag', properties: { id: p.integer().primary(), owner: () => p.manyToOne(Holder) } });
    class LooseTag extends TagSchema.class {}
    TagSchema.setClass(LooseTag);
    const HolderSchema = defineEntity({ name: 'Holder', properties: { id: p.integer().primary(), tags: () => p.oneToMany(LooseTag).mappedBy('owner') } });
    class Holder extends HolderSchema.class {}
    HolderSchema.setClass(Holder);
    declareCrms(Holder, { hubspot: { serializer: () => ({}), objectType: 'companies', associations: [{ relation: 'tags' }] } });
    const etlify = new Etlify({ crms: { hubspot: { adapter: new HubspotAdapter({ accessToken: 'token', baseUrl: hubspot.url }) } } });
    const error = await MikroORM.init({ clientUrl: process.env.DATABASE_URL, entities: [Holder, LooseTag], extensions: [etlify] }).catch((e: unknown) => e);
    expect(error).to.be.instanceOf(ConfigurationError);
    expect((error as Error).message).to.equal('Holder (CRM `hubspot`): association `tags` points to LooseTag, which is neither etlified for `hubspot` nor has a `hubspotId` property, so it can never obtain a CRM id');
  });
});

describe('to-many associations declared on both sides of one relation', () => {
  it('converge with the to-one side: a contact waiting for its company, a company linking its contacts', async () => {
    const { defineEntity, p } = await import('@mikro-orm/core');
    const { etlified } = await import('../../src/index.ts');
    const TeamSchema = defineEntity({ name: 'Team', properties: { id: p.integer().primary(), domain: p.string(), players: () => p.oneToMany(Player).mappedBy('team') } });
    class Team extends etlified(TeamSchema.class, {
      hubspot: { serializer: t => ({ domain: t.domain }), objectType: 'companies', idProperty: 'domain', associations: [{ relation: 'players' }] },
    }) {}
    TeamSchema.setClass(Team);
    const PlayerSchema = defineEntity({ name: 'Player', properties: { id: p.integer().primary(), email: p.string(), team: () => p.manyToOne(Team).nullable() } });
    class Player extends etlified(PlayerSchema.class, {
      hubspot: { serializer: x => ({ email: x.email }), objectType: 'contacts', idProperty: 'email', associations: [{ relation: 'team' }] },
    }) {}
    PlayerSchema.setClass(Player);

    const db = await createTestDatabase('etlify_two_sided');
    const sim = await startHubspotSimulator({ rateLimit: false, searchRateLimit: false, uniqueProperties: { companies: ['domain'] } });
    const etlify = new Etlify({ crms: { hubspot: { adapter: new HubspotAdapter({ accessToken: 'token', baseUrl: sim.url }), rateLimit: false, jobs: { batchDelayMs: 20 } } } });
    const orm = await MikroORM.init({ clientUrl: db.url, entities: [Team, Player], extensions: [etlify] });
    const workers: Runner[] = [];
    try {
      await orm.schema.create();
      await migrateEtlify(orm);
      const execute = (sql: string, params: unknown[] = []) => orm.em.getConnection().execute(sql, params);
      const crmIdOf = async (type: string, id: number) =>
        (await execute('select crm_id from crm_synchronisations where resource_type = ? and resource_id = ?', [type, String(id)]))[0]?.crm_id as string;
      for (let i = 0; i < 2; i++) workers.push(await runWorker(orm, { handleSignals: false, pollInterval: 50, sweepSchedule: false }));
      const em = orm.em.fork();
      const [red, blue] = ['red', 'blue'].map(name => em.create(Team, { domain: `${name}.example` }));
      const players = Array.from({ length: 4 }, (_, n) => em.create(Player, { email: `p${n}@teams.example`, team: n < 2 ? red : blue }));
      await em.flush();
      const drained = () => waitFor('the queue to drain', () => queueDrained(execute), 20_000);
      const check = async () => {
        for (const team of [red!, blue!]) {
          const expected = await Promise.all(players.filter(x => x.team === team).map(x => crmIdOf('Player', x.id)));
          const teamId = await crmIdOf('Team', team.id);
          expect(sim.associations('companies', teamId, 'contacts').map(l => l.toObjectId), team.domain).to.have.members(expected);
          for (const id of expected) expect(sim.associations('contacts', id, 'companies').map(l => l.toObjectId)).to.deep.equal([teamId]);
        }
      };
      await drained();
      await check();
      players[0]!.team = blue!;
      players[3]!.team = red!;
      await em.flush();
      await drained();
      await check();
    } finally {
      await Promise.all(workers.map(w => w.stop()));
      await orm.close(true);
      await db.drop();
      await sim.close();
    }
  });
});
