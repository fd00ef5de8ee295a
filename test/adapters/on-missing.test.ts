// onMissing: what happens when the object behind a stored CRM id was deleted in the CRM.
import { defineEntity, p } from '@mikro-orm/core';
import { MikroORM } from '@mikro-orm/postgresql';
import { expect } from 'chai';
import { AirtableAdapter, ConfigurationError, Etlify, etlified, HubspotAdapter, migrateEtlify, MissingInCrmError, runWorkerOnce, syncStale } from '../../src/index.ts';
import { startAirtableSimulator, startHubspotSimulator, type HubspotSimulator } from '../../src/testing/index.ts';
import { createTestDatabase } from '../support/postgres.ts';
import { waitFor } from '../support/wait.ts';

const fields = { id: p.integer().primary(), title: p.string(), updatedAt: p.datetime().onCreate(() => new Date()).onUpdate(() => new Date()) };
const KeptSchema = defineEntity({ name: 'KeptDeal', properties: fields });
class KeptDeal extends etlified(KeptSchema.class, { hubspot: { objectType: 'deals', onMissing: 'fail', serializer: d => ({ dealname: d.title }) } }) {}
KeptSchema.setClass(KeptDeal);
const ContactSchema = defineEntity({ name: 'RemovedContact', properties: { ...fields, email: p.string() } });
class RemovedContact extends etlified(ContactSchema.class, { hubspot: { objectType: 'contacts', idProperty: 'email', serializer: c => ({ email: c.email, firstname: c.title }) } }) {}
ContactSchema.setClass(RemovedContact);
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
      // in a batch of mode `update` too (the refused batch is redone item by item, keeping the policy)
      const [item] = await adapter.batchUpsert({ objectType: 'People', idProperty: 'Email', mode: 'update', items: [{ payload: { Email: 'a@example.com' }, crmId }], onMissing: 'fail' });
      expect((item as { error: Error }).error).to.be.instanceOf(MissingInCrmError);
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

  it("a record removed while its sync meets a gone object never gets a new one ('recreate'): removed before the fallback, nothing is searched or created; removed during it, the new object is archived at once", async () => {
    const db = await createTestDatabase();
    const adapter = new HubspotAdapter({ accessToken: 't', baseUrl: sim.url });
    const etlify = new Etlify({ crms: { hubspot: { adapter, rateLimit: false } }, logger: { info() {}, warn() {}, error() {} } });
    const orm = await MikroORM.init({ clientUrl: db.url, entities: [RemovedContact], extensions: [etlify] });
    try {
      await orm.schema.create();
      await migrateEtlify(orm);
      const em = orm.em.fork();
      const early = em.create(RemovedContact, { title: 'Early', email: 'early@example.com' });
      const late = em.create(RemovedContact, { title: 'Late', email: 'late@example.com' });
      await em.flush();
      await syncStale(orm, { inline: true });
      for (const { id } of sim.objects('contacts')) sim.archive('contacts', id); // a salesperson deletes both
      const synced = sim.requests.length;

      // each record is removed (no deleteOnRemove: the CRM keeps objects) while its sync is at the CRM:
      // `early` while its update by stored id is answered 404, `late` while the search that follows it runs
      const removeWhileHeld = async (record: RemovedContact, paths: RegExp) => {
        record.title += ' 2';
        await em.flush();
        let release!: () => void;
        sim.setFaults({ holdUntil: new Promise<void>(resolve => (release = resolve)), paths });
        const syncing = syncStale(orm, { inline: true });
        await waitFor('the held request', () => sim.requests.some(r => paths.test(r.path) && r.status === -1));
        const other = orm.em.fork();
        other.remove(await other.findOneOrFail(RemovedContact, record.id));
        await other.flush();
        release();
        await syncing;
        sim.setFaults({});
      };
      await removeWhileHeld(early, /batch\/update$/);
      const posted = (pattern: RegExp) => sim.requests.slice(synced).filter(r => r.method === 'POST' && pattern.test(r.path)).length;
      expect(posted(/\/search$/) + posted(/\/contacts$/) + posted(/batch\/(create|upsert)$/)).to.equal(0);
      await removeWhileHeld(late, /\/search$/);
      expect(posted(/\/contacts$/)).to.equal(1); // created before the removal was seen,
      expect(sim.objects('contacts')).to.deep.equal([]); // and archived at once
      // the forgets queued by the removals drop the sync rows, and leave no object behind
      await waitFor('the forgets', async () => {
        await runWorkerOnce(orm);
        return (await em.getConnection().execute('select count(*)::int as n from crm_synchronisations'))[0].n === 0;
      });
      expect(sim.objects('contacts')).to.deep.equal([]);
    } finally {
      await orm.close(true);
      await db.drop();
    }
  });
});
