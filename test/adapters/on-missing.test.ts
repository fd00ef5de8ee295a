// onMissing: what happens when the object behind a stored CRM id was deleted in the CRM.
import { defineEntity, p } from '@mikro-orm/core';
import { MikroORM } from '@mikro-orm/postgresql';
import { expect } from 'chai';
import { AirtableAdapter, ConfigurationError, Etlify, etlified, HubspotAdapter, migrateEtlify, MissingInCrmError, syncStale } from '../../src/index.ts';
import { startAirtableSimulator, startHubspotSimulator, type HubspotSimulator } from '../../src/testing/index.ts';
import { createTestDatabase } from '../support/postgres.ts';

const fields = { id: p.integer().primary(), title: p.string(), updatedAt: p.datetime().onCreate(() => new Date()).onUpdate(() => new Date()) };
const KeptSchema = defineEntity({ name: 'KeptDeal', properties: fields });
class KeptDeal extends etlified(KeptSchema.class, { hubspot: { objectType: 'deals', onMissing: 'fail', serializer: d => ({ dealname: d.title }) } }) {}
KeptSchema.setClass(KeptDeal);
const RecreatedSchema = defineEntity({ name: 'RecreatedDeal', properties: fields });
class RecreatedDeal extends etlified(RecreatedSchema.class, { hubspot: { objectType: 'deals', serializer: d => ({ dealname: d.title }) } }) {}
RecreatedSchema.setClass(RecreatedDeal);

describe("onMissing: 'recreate' | 'fail'", () => {
  let sim: HubspotSimulator;
  before(async () => { sim = await startHubspotSimulator({ rateLimit: false, searchRateLimit: false }); });
  afterEach(() => sim.reset());
  after(() => sim.close());

  it("HubSpot: 'fail' neither searches nor creates for a gone stored id (single and batch); the default re-creates", async () => {
    const adapter = new HubspotAdapter({ accessToken: 't', baseUrl: sim.url });
    const { crmId } = await adapter.upsert({ objectType: 'contacts', idProperty: 'email', payload: { email: 'gone@example.com' } });
    await adapter.delete({ objectType: 'contacts', crmId });
    const payload = { email: 'gone@example.com', firstname: 'Again' };
    const single = await adapter.upsert({ objectType: 'contacts', idProperty: 'email', payload, crmId, onMissing: 'fail' }).catch((e: Error) => e);
    expect(single).to.be.instanceOf(MissingInCrmError);
    expect((single as Error).message).to.equal(`HubSpot contacts object ${crmId} is gone (archived or deleted in HubSpot); onMissing is 'fail', so it is not re-created (declare onMissing: 'recreate' to re-create it)`);
    const [batched] = await adapter.batchUpsert({ objectType: 'contacts', idProperty: 'email', items: [{ payload, crmId }], onMissing: 'fail' });
    expect(batched).to.deep.include({ ok: false });
    expect((batched as { error: Error }).error).to.be.instanceOf(MissingInCrmError);
    expect(sim.objects('contacts')).to.deep.equal([]);
    const recreated = await adapter.upsert({ objectType: 'contacts', idProperty: 'email', payload, crmId });
    expect(recreated.crmId).to.not.equal(crmId);
    expect(sim.objects('contacts').map((c) => c.id)).to.deep.equal([recreated.crmId]);
    await adapter.close();
  });

  it("Airtable: 'fail' leaves a deleted record deleted", async () => {
    const air = await startAirtableSimulator({ rateLimit: false });
    const adapter = new AirtableAdapter({ accessToken: 't', baseId: air.baseId, baseUrl: air.url });
    try {
      const { crmId } = await adapter.upsert({ objectType: 'People', idProperty: 'Email', payload: { Email: 'a@example.com' } });
      await adapter.delete({ objectType: 'People', crmId });
      const error = await adapter.upsert({ objectType: 'People', idProperty: 'Email', payload: { Email: 'a@example.com' }, crmId, onMissing: 'fail' }).catch((e: Error) => e);
      expect(error).to.be.instanceOf(MissingInCrmError);
      expect(air.objects('People')).to.deep.equal([]);
    } finally {
      await adapter.close();
      await air.close();
    }
  });

  it('through Etlify, per entity: the failing one is counted and not re-created, the other is re-created; a bad value is refused at init', async () => {
    const db = await createTestDatabase();
    const adapter = new HubspotAdapter({ accessToken: 't', baseUrl: sim.url });
    const etlify = new Etlify({ crms: { hubspot: { adapter, rateLimit: false } }, logger: { info() {}, warn() {}, error() {} } });
    const orm = await MikroORM.init({ clientUrl: db.url, entities: [KeptDeal, RecreatedDeal], extensions: [etlify] });
    try {
      await orm.schema.create();
      await migrateEtlify(orm);
      const em = orm.em.fork();
      const kept = em.create(KeptDeal, { title: 'Kept' });
      const other = em.create(RecreatedDeal, { title: 'Other' });
      await em.flush();
      await syncStale(orm, { inline: true });
      const ids = sim.objects('deals').map((d) => d.id);
      for (const id of ids) await adapter.delete({ objectType: 'deals', crmId: id }); // a salesperson deletes both
      kept.title = 'Kept 2';
      other.title = 'Other 2';
      await em.flush();
      const { results } = await syncStale(orm, { inline: true });
      expect(results).to.deep.include({ synced: 1, error: 1 });
      expect(sim.objects('deals').map((d) => d.properties.dealname)).to.deep.equal(['Other 2']);
      const [row] = await em.getConnection().execute(`select error_count, last_error from crm_synchronisations where resource_type = 'KeptDeal'`);
      expect(row.error_count).to.equal(1);
      expect(row.last_error).to.match(/^MissingInCrmError: HubSpot deals object \d+ is gone/);
    } finally {
      await orm.close(true);
      await db.drop();
    }
    const Bad = defineEntity({ name: 'BadDeal', properties: fields });
    expect(() => etlified(Bad.class, { hubspot: { objectType: 'deals', onMissing: 'skip' as never, serializer: () => ({}) } }))
      .to.throw(ConfigurationError, /onMissing must be 'recreate' or 'fail' \(got "skip"\)/);
  });
});
