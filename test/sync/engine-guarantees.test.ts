import { expect } from 'chai';
import pg from 'pg';
import { MockAgent } from 'undici';
import { defineEntity, p } from '@mikro-orm/core';
import { etlified, HubspotAdapter, syncStale } from '../../src/index.ts';
import { associationEntities, Member, Org } from '../support/association-model.ts';
import { Company, entities, User } from '../support/model.ts';
import { queueHarness } from '../support/queue-harness.ts';
import { waitFor } from '../support/wait.ts';

let serialized = 0;
const NoteSchema = defineEntity({
  name: 'Note',
  properties: { id: p.integer().primary(), text: p.string(), updatedAt: p.datetime().onCreate(() => new Date()).onUpdate(() => new Date()) },
});
class Note extends etlified(NoteSchema.class, { hubspot: { serializer: n => { serialized++; return { text: n.text }; }, objectType: 'notes' } }) {}
NoteSchema.setClass(Note);

/**
 * What the engine guarantees (docs/worker.md#what-the-engine-guarantees), each case of issue 17 that
 * belongs to the engine against the real queue and the HubSpot simulator.
 */
describe('engine guarantees', () => {
  const h = queueHarness({ accessToken: 'engine-token', unknownOutcomeWaitMs: 500, simulator: { searchRateLimit: false } });
  const { execute, drained, deletesWon, hubspotVia, start } = h;

  it('a create answered 504 (a gateway timeout) is an unknown outcome: the removed record\'s object is found and deleted', async () => {
    // HubSpot applies the create, then its gateway answers 504: Etlify never learns the object's id
    const crm = await hubspotVia({ faults: { serverErrorAfterApplyProbability: 1, serverErrorStatus: 504 } });
    await start();
    const em = h.app.orm.em.fork();
    const user = em.create(User, { email: 'gateway@example.test' });
    await em.flush();
    await waitFor('the create to land', () => crm.objects('contacts').length === 1);
    await waitFor('the 504 to be recorded', async () => (await execute("select 1 from crm_synchronisations where last_outcome = 'uncertain'")).length === 1);
    crm.setFaults({});
    em.remove(user);
    await em.flush();
    await deletesWon();
  });

  it('an unknown-outcome create keeps its identity until resolved: an idProperty changed before the retry orphans nothing', async () => {
    // the CRM applies the create, then the connection breaks: Etlify never learns the object's id
    const crm = await hubspotVia({ faults: { resetAfterApplyProbability: 1 } });
    await start();
    const em = h.app.orm.em.fork();
    const user = em.create(User, { email: 'before@example.test' });
    await em.flush();
    await waitFor('the create to land', () => crm.objects('contacts').length === 1);
    await waitFor('the unknown outcome to be recorded', async () => (await execute("select 1 from crm_synchronisations where last_outcome = 'uncertain'")).length === 1);
    crm.setFaults({});
    user.email = 'after@example.test';
    await em.flush();
    await drained();
    const [contact, ...others] = crm.objects('contacts');
    expect(others, 'no second object').to.deep.equal([]);
    expect(contact!.properties.email).to.equal('after@example.test');
    expect(await execute('select crm_id, id_key from crm_synchronisations')).to.deep.equal([{ crm_id: contact!.id, id_key: 'after@example.test' }]);
    em.remove(user);
    await em.flush();
    await drained();
    expect(crm.objects('contacts')).to.deep.equal([]);
  });

  it('an identity reservation moves only once the CRM accepted the new value', async () => {
    const crm = await hubspotVia({ rejectProperty: (_type, properties) => properties.email === 'refused@example.test' ? 'email refused' : undefined });
    const em = h.app.orm.em.fork();
    const a = em.create(User, { email: 'x@example.test', firstName: 'A' });
    await em.flush();
    expect(await a.hubspotSync({ inline: true })).to.equal('synced');
    a.email = 'refused@example.test';
    await em.flush();
    expect(await a.hubspotSync({ inline: true })).to.equal('error');
    // A's object still files x@: another record taking x@ would write into it
    const c = em.create(User, { email: 'x@example.test', firstName: 'C' });
    await em.flush();
    expect(await c.hubspotSync({ inline: true })).to.equal('error');
    expect(crm.objects('contacts').map(o => [o.properties.email, o.properties.firstname])).to.deep.equal([['x@example.test', 'A']]);
  });

  it('a legal hand-over in one flush succeeds: A gives up x@, B takes it', async () => {
    const crm = await hubspotVia();
    const em = h.app.orm.em.fork();
    const a = em.create(User, { email: 'x@example.test', firstName: 'A' });
    await em.flush();
    expect(await a.hubspotSync({ inline: true })).to.equal('synced');
    a.email = 'z@example.test';
    em.create(User, { email: 'x@example.test', firstName: 'B' });
    await em.flush();
    const { results } = await syncStale(h.app.orm, { inline: true });
    expect(results).to.include({ synced: 2, error: 0 });
    expect(crm.objects('contacts').map(o => [o.properties.email, o.properties.firstname]).sort()).to.deep.equal([['x@example.test', 'B'], ['z@example.test', 'A']]);
    expect(await execute('select id_key, next_id_key, error_count from crm_synchronisations order by id_key')).to.deep.equal([
      { id_key: 'x@example.test', next_id_key: null, error_count: 0 }, { id_key: 'z@example.test', next_id_key: null, error_count: 0 },
    ]);
  });

  it('a raw-SQL change committed across a sync\'s snapshot is found by the stale finder', async () => {
    h.app.etlify.registerCrm('hubspot', { adapter: h.app.hubspot });
    const em = h.app.orm.em.fork();
    const company = em.create(Company, { name: 'Acme v1' });
    const user = em.create(User, { email: 'raw@example.test', company });
    await em.flush();
    await syncStale(h.app.orm, { inline: true, incremental: true });
    // a transaction begins (its now() is fixed here), a sync then reads the record, then it commits
    const raw = new pg.Client({ connectionString: h.app.url });
    await raw.connect();
    try {
      await raw.query('begin');
      await raw.query(`update app_user set last_name = 'from SQL', updated_at = now() where id = $1`, [user.id]);
      company.name = 'Acme v2';
      await em.flush();
      expect(await user.hubspotSync({ inline: true })).to.equal('synced');
      await raw.query('commit');
    } finally {
      await raw.end();
    }
    const contact = () => [...h.app.hubspot.table('contacts').values()];
    expect(contact()).to.deep.equal([{ email: 'raw@example.test', firstname: null, lastname: null, company: 'Acme v2', invested: 0 }]);
    // the sweep finds it (the incremental one: its watermark predates the open transaction)
    expect((await syncStale(h.app.orm, { inline: true, incremental: true })).perEntity).to.include({ User: 1 });
    expect(contact()).to.deep.equal([{ email: 'raw@example.test', firstname: null, lastname: 'from SQL', company: 'Acme v2', invested: 0 }]);
  });

  describe('a create whose association step fails', () => {
    // every v4 association request is answered 503 while `blocked`; the rest reaches the simulator
    let blocked = true;
    let agent: MockAgent;
    const member = (email: string) => h.simulator!.objects('contacts').filter(c => c.properties.email === email);

    beforeEach(async () => {
      const simulator = await h.startSimulator({ uniqueProperties: { companies: ['domain'] } });
      agent = new MockAgent();
      agent.enableNetConnect();
      agent.get(simulator.url).intercept({ path: path => blocked && path.includes('/crm/associations/2026-03/'), method: 'POST' })
        .reply(503, { status: 'error', message: 'Service unavailable', category: 'SERVICE_UNAVAILABLE' }).persist();
      blocked = true;
      const adapter = new HubspotAdapter({ accessToken: 'engine-token', baseUrl: simulator.url, dispatcher: agent });
      await h.replaceApp({
        etlify: { crms: { hubspot: { adapter, rateLimit: false, deleteOnRemove: true, jobs: { batchDelayMs: 20 } } } },
        orm: { entities: associationEntities },
      });
      await start();
    });
    afterEach(() => agent.close());

    const createMember = async (email: string) => {
      const em = h.app.orm.em.fork();
      const org = em.create(Org, { name: 'Acme', domain: 'acme.example' });
      await em.flush();
      await waitFor('the org to be synced', () => h.simulator!.objects('companies').length === 1);
      const created = em.create(Member, { email, org });
      await em.flush();
      await waitFor('the contact to be created', () => member(email).length === 1);
      // the association failed: the sync row still knows the object it created
      const crmId = member(email)[0]!.id;
      await waitFor('the created object\'s id to be kept', async () => (await execute(`select 1 from crm_synchronisations where resource_type = 'Member' and crm_id = '${crmId}'`)).length === 1);
      return { em, created, crmId };
    };

    it('keeps the new CRM id: the retry after a changed idProperty updates that object, no twin', async () => {
      const { em, created, crmId } = await createMember('first@example.com');
      created.email = 'second@example.com';
      await em.flush();
      blocked = false;
      await drained();
      expect(h.simulator!.objects('contacts').map(c => [c.id, c.properties.email])).to.deep.equal([[crmId, 'second@example.com']]);
      expect(h.simulator!.associations('contacts', crmId, 'companies').map(a => a.toObjectId)).to.deep.equal([h.simulator!.objects('companies')[0]!.id]);
    });

    it('keeps the new CRM id: a record removed before the retry leaves no orphan', async () => {
      const { em, created } = await createMember('gone@example.com');
      em.remove(created);
      await em.flush();
      blocked = false;
      await drained();
      expect(h.simulator!.objects('contacts')).to.deep.equal([]);
      expect(await execute("select * from crm_synchronisations where resource_type = 'Member'")).to.deep.equal([]);
    });
  });

  it('an inline sync of a changed record runs the serializer once', async () => {
    await h.replaceApp({ orm: { entities: [...entities, Note] } });
    const em = h.app.orm.em.fork();
    const note = em.create(Note, { text: 'v1' });
    await em.flush();
    serialized = 0;
    expect(await note.hubspotSync({ inline: true })).to.equal('synced');
    expect(serialized).to.equal(1);
    note.text = 'v2';
    await em.flush();
    expect(await note.hubspotSync({ inline: true })).to.equal('synced');
    expect(serialized).to.equal(2);
    expect(await note.hubspotSync({ inline: true })).to.equal('not_modified');
    expect(serialized).to.equal(3);
    expect([...h.app.hubspot.table('notes').values()]).to.deep.equal([{ text: 'v2' }]);
  });
});
