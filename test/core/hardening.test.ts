// One bad record fails alone, and nothing in a serializer's output can route a write to another
// record's CRM object: the sync engine against the HubSpot simulator, through the public API.
import { defineEntity, p } from '@mikro-orm/core';
import { MikroORM } from '@mikro-orm/postgresql';
import { expect } from 'chai';
import { Etlify, etlified, HubspotAdapter, migrateEtlify, planSync, syncStale } from '../../src/index.ts';
import { startHubspotSimulator, type HubspotSimulator } from '../../src/testing/index.ts';
import { createTestDatabase } from '../support/postgres.ts';

const timestamps = {
  createdAt: p.datetime().onCreate(() => new Date()),
  updatedAt: p.datetime().onCreate(() => new Date()).onUpdate(() => new Date()),
};

// The serializer copies user-supplied JSON, as serializers often do.
const ImportedSchema = defineEntity({ name: 'Imported', properties: { id: p.integer().primary(), json: p.text(), ...timestamps } });
class Imported extends etlified(ImportedSchema.class, {
  hubspot: { serializer: i => JSON.parse(i.json), objectType: 'contacts', idProperty: 'email' },
}) {}
ImportedSchema.setClass(Imported);

const GuardedSchema = defineEntity({ name: 'Guarded', properties: { id: p.integer().primary(), email: p.string(), ...timestamps } });
class Guarded extends etlified(GuardedSchema.class, {
  hubspot: {
    serializer: g => ({ email: g.email }), objectType: 'contacts', idProperty: 'email',
    syncIf: g => { if (g.email.startsWith('bad')) throw new Error('syncIf exploded'); return true; },
  },
}) {}
GuardedSchema.setClass(Guarded);

describe('hardening of the sync pipeline', () => {
  let sim: HubspotSimulator;
  let orm: MikroORM;
  let drop: () => Promise<void>;
  let victimId: string;

  before(async () => {
    sim = await startHubspotSimulator({ rateLimit: false, searchRateLimit: false });
    const db = await createTestDatabase();
    drop = db.drop;
    const etlify = new Etlify({ logger: { info() {}, warn() {}, error() {} }, crms: { hubspot: { adapter: new HubspotAdapter({ accessToken: 'token', baseUrl: sim.url }), rateLimit: false, maxSyncErrors: 2 } } });
    orm = await MikroORM.init({ clientUrl: db.url, entities: [Imported, Guarded], extensions: [etlify] });
    await orm.schema.create();
    await migrateEtlify(orm);
  });
  beforeEach(async () => {
    sim.reset();
    await orm.em.getConnection().execute('truncate imported, guarded, crm_synchronisations');
    victimId = (await new HubspotAdapter({ accessToken: 'token', baseUrl: sim.url }).upsert({ objectType: 'contacts', payload: { email: 'victim@x.test', firstname: 'Victim' } })).crmId;
  });
  after(async () => {
    await orm.close(true);
    await drop();
    await sim.close();
  });

  const rowOf = async (table: string, id: number) => (await orm.em.getConnection().execute(
    `select crm_id, error_count, last_error from crm_synchronisations where resource_type = ? and resource_id = ?`, [table, String(id)]))[0];
  const victim = () => sim.objects('contacts').find(c => c.id === victimId)!;

  for (const how of ['inline', 'in a batch'] as const) {
    it(`a __proto__ key in serializer output never reaches the victim's contact (${how})`, async () => {
      const em = orm.em.fork();
      const attacker = em.create(Imported, { json: '{"__proto__":{"email":"victim@x.test"},"firstname":"Mallory"}' });
      const nested = em.create(Imported, { json: '{"email":"n@x.test","address":{"__proto__":{"city":"Paris"}}}' });
      const fine = em.create(Imported, { json: '{"email":"fine@x.test","firstname":"Fine"}' });
      await em.flush();
      if (how === 'inline') {
        expect(await attacker.hubspotSync({ inline: true })).to.equal('error');
        expect(await fine.hubspotSync({ inline: true })).to.equal('synced');
      } else {
        const stats = await syncStale(orm, { inline: true, entities: ['Imported'] });
        expect(stats.results).to.include({ synced: 1, error: 2 });
      }
      expect(victim().properties).to.include({ email: 'victim@x.test', firstname: 'Victim' });
      const row = await rowOf('Imported', attacker.id);
      expect(row.crm_id).to.equal(null);
      expect(row.error_count).to.equal(1);
      expect(row.last_error).to.match(/Imported.*__proto__/);
      if (how !== 'inline') expect((await rowOf('Imported', nested.id)).last_error).to.match(/payload\.address\.__proto__/);
      expect(sim.objects('contacts').map(c => c.properties.email).sort()).to.deep.equal(['fine@x.test', 'victim@x.test']);
    });
  }

  it('idProperty is read as an own property: a missing one is never found on Object.prototype', async () => {
    const adapter = new HubspotAdapter({ accessToken: 'token', baseUrl: sim.url });
    // `constructor` is not in the payload: its value must not be Object.prototype.constructor
    const [result] = await adapter.batchUpsert!({ objectType: 'contacts', idProperty: 'constructor', items: [{ payload: { firstname: 'NoKey' } }] });
    expect(result!.ok, result!.ok ? '' : result!.error.message).to.equal(true);
    expect(JSON.stringify(sim.requests.map(r => r.body))).not.to.include('function Object');
    await adapter.close();
  });

  it("keys holding NUL cannot make one object's keys stand for another's: no field of another record is dropped", async () => {
    const em = orm.em.fork();
    // the attacker's nested keys, joined with NUL, spell the victim's key list
    const attacker = em.create(Imported, { json: '{"email":"m@x.test","notes":{"email\\u0000firstname":"x","lastname":"y"}}' });
    const victimRecord = em.create(Imported, { json: '{"email":"v2@x.test","firstname":"Vic","lastname":"Tim"}' });
    await em.flush();
    await attacker.hubspotSync({ inline: true });
    expect(await victimRecord.hubspotSync({ inline: true })).to.equal('synced');
    const { crm_id: crmId } = await rowOf('Imported', victimRecord.id);
    const contact = sim.objects('contacts').find(c => c.id === crmId)!;
    expect(contact.properties).to.include({ email: 'v2@x.test', firstname: 'Vic', lastname: 'Tim' });
  });

  it('a syncIf that throws fails its record alone: counted, parked after maxSyncErrors; plan reports it', async () => {
    const em = orm.em.fork();
    const bad = em.create(Guarded, { email: 'bad@x.test' });
    const goods = ['a@x.test', 'b@x.test', 'c@x.test'].map(email => em.create(Guarded, { email }));
    await em.flush();
    let stats = await syncStale(orm, { inline: true, entities: ['Guarded'] });
    expect(stats.results).to.include({ synced: 3, error: 1 });
    expect(sim.objects('contacts').map(c => c.properties.email)).to.include.members(goods.map(g => g.email));
    expect((await rowOf('Guarded', bad.id)).last_error).to.match(/syncIf.*exploded/);
    const plan = await planSync(orm, 'hubspot', 'Guarded', [String(bad.id), String(goods[0]!.id)]);
    expect(plan.map(r => r.action)).to.deep.equal(['error', 'unchanged']);
    expect(plan[0]!.error).to.match(/syncIf.*exploded/);

    // failing, not yet parked: the next sweep tries again
    stats = await syncStale(orm, { inline: true, entities: ['Guarded'] });
    expect(stats.results).to.include({ error: 1 });
    expect((await rowOf('Guarded', bad.id)).error_count).to.equal(2);
    stats = await syncStale(orm, { inline: true, entities: ['Guarded'] });
    expect(stats.total).to.equal(0); // parked
  });
});
