// Merges made in HubSpot: merging two contacts creates a new contact with a new id, and both old ids
// answer with it. A record follows the merge (its stored id moves, nothing is created, the event and the
// attempt history say so); two records whose contacts were merged into one never fight over it.
import { defineEntity, p } from '@mikro-orm/core';
import { MikroORM } from '@mikro-orm/postgresql';
import { expect } from 'chai';
import { attemptsOf, Etlify, etlified, HubspotAdapter, migrateEtlify, reconcile, reset, runWorkerOnce, syncStale, type MergeEvent } from '../../src/index.ts';
import { startHubspotSimulator, type HubspotSimulator } from '../../src/testing/index.ts';
import { createTestDatabase } from '../support/postgres.ts';
import { waitFor } from '../support/wait.ts';

const PersonSchema = defineEntity({
  name: 'Person',
  properties: {
    id: p.integer().primary(),
    email: p.string(),
    name: p.string(),
    updatedAt: p.datetime().onCreate(() => new Date()).onUpdate(() => new Date()),
  },
});
class Person extends etlified(PersonSchema.class, {
  hubspot: { objectType: 'contacts', idProperty: 'email', serializer: (x) => ({ email: x.email, firstname: x.name }) },
}) {}
PersonSchema.setClass(Person);

describe('HubSpot merges', () => {
  let sim: HubspotSimulator;
  let orm: MikroORM;
  let drop: () => Promise<void>;
  const merged: MergeEvent[] = [];

  before(async () => {
    sim = await startHubspotSimulator({ rateLimit: false, searchRateLimit: false });
    const db = await createTestDatabase();
    drop = db.drop;
    const adapter = new HubspotAdapter({ accessToken: 't', baseUrl: sim.url });
    const etlify = new Etlify({ crms: { hubspot: { adapter, rateLimit: false } }, logger: { info() {}, warn() {}, error() {} } });
    etlify.events.on('record:merged', (event) => merged.push(event));
    orm = await MikroORM.init({ clientUrl: db.url, entities: [Person], extensions: [etlify] });
    await orm.schema.create();
    await migrateEtlify(orm);
  });
  afterEach(async () => {
    sim.reset();
    merged.length = 0;
    await orm.em.getConnection().execute('truncate crm_synchronisations, etlify_attempts, "person"');
  });
  after(async () => {
    await orm.close(true);
    await drop();
    await sim.close();
  });

  const crmIdOf = async (id: number) =>
    ((await orm.em.getConnection().execute(`select crm_id from crm_synchronisations where resource_id = ?`, [String(id)]))[0] as { crm_id: string | null }).crm_id;
  const creates = () => sim.requests.filter((r) => r.method === 'POST' && /\/contacts(\/batch\/(create|upsert))?$/.test(r.path)).length;

  it('a record follows a merge: the update lands on the merged contact, its stored id moves, nothing is created, the event and the attempt history say so (single and batch writes)', async () => {
    const em = orm.em.fork();
    const ann = em.create(Person, { email: 'ann@example.com', name: 'Ann' });
    const bob = em.create(Person, { email: 'bob@example.com', name: 'Bob' });
    await em.flush();
    await syncStale(orm, { inline: true });
    const [annId, bobId] = [(await crmIdOf(ann.id))!, (await crmIdOf(bob.id))!];
    // a salesperson merges each with a contact Etlify does not manage, ours primary or not
    const annMerged = sim.merge('contacts', sim.create('contacts', { email: 'ann.work@example.com' }), annId);
    const bobMerged = sim.merge('contacts', bobId, sim.create('contacts', { email: 'robert@example.com' }));
    const createsBefore = creates();

    ann.name = 'Ann 2';
    bob.name = 'Bob 2';
    await em.flush();
    expect(await ann.hubspotSync({ inline: true })).to.equal('synced'); // one by one: PATCH by the old id
    expect((await syncStale(orm, { inline: true })).results).to.deep.include({ synced: 1, error: 0 }); // batch/update by the old id

    expect([await crmIdOf(ann.id), await crmIdOf(bob.id)]).to.deep.equal([annMerged, bobMerged]);
    expect(creates()).to.equal(createsBefore);
    expect(sim.objects('contacts').map((c) => [c.id, c.properties.firstname])).to.deep.equal([[annMerged, 'Ann 2'], [bobMerged, 'Bob 2']]);
    expect(merged.map(({ id, mergedFrom, mergedInto, crmId, heldBy }) => ({ id, mergedFrom, mergedInto, crmId, heldBy })).sort((a, b) => a.id.localeCompare(b.id))).to.deep.equal([
      { id: String(ann.id), mergedFrom: annId, mergedInto: annMerged, crmId: annMerged, heldBy: undefined },
      { id: String(bob.id), mergedFrom: bobId, mergedInto: bobMerged, crmId: bobMerged, heldBy: undefined },
    ]);
    const [latest] = await attemptsOf(em, { resourceId: String(ann.id) });
    expect(latest).to.include({ outcome: 'synced', crmId: annMerged, error: `hubspot merged object ${annId} into ${annMerged}: the record follows ${annMerged}` });

    // the next change is an ordinary update of the merged contact; reconcile finds both in sync
    ann.name = 'Ann 3';
    await em.flush();
    expect(await ann.hubspotSync({ inline: true })).to.equal('synced');
    expect(merged).to.have.length(2);
    const report = await reconcile(orm);
    expect(report.units[0]!.counts).to.deep.include({ inSync: 2, divergent: 0, missing: 0, merged: 0 });
  });

  it('two records whose contacts were merged into one: the first to sync follows it and keeps its values, the other is parked, never re-created nor sent again until reset', async () => {
    const em = orm.em.fork();
    const cy = em.create(Person, { email: 'cy@example.com', name: 'Cy' });
    const dee = em.create(Person, { email: 'dee@example.com', name: 'Dee' });
    await em.flush();
    await syncStale(orm, { inline: true });
    const deeOld = (await crmIdOf(dee.id))!;
    const into = sim.merge('contacts', (await crmIdOf(cy.id))!, deeOld);
    const createsBefore = creates();

    cy.name = 'Cy 2';
    dee.name = 'Dee 2';
    await em.flush();
    // one batch: both writes land on the merged contact; Cy (first) follows it, Dee is merged away
    expect((await syncStale(orm, { inline: true })).results).to.deep.include({ synced: 1, error: 1 });
    expect(await crmIdOf(cy.id)).to.equal(into);
    const [row] = await em.getConnection().execute(`select crm_id, merged_into, error_count, last_error from crm_synchronisations where resource_id = ?`, [String(dee.id)]);
    expect(row).to.include({ crm_id: null, merged_into: into, error_count: 3 }); // parked at once (maxSyncErrors 3)
    expect(row.last_error).to.equal(`MergedAwayError: hubspot merged Person ${dee.id}'s object ${deeOld} into ${into}, which Person ${cy.id} follows: Person ${dee.id} is no longer sent, `
      + 'or it would overwrite that object (or, found again by its unique value or re-created, undo the merge). Merge or remove one of the two records, or give it values of its own and reset it (`etlify reset`)');
    expect(merged.find((e) => e.id === String(dee.id))).to.deep.include({ mergedFrom: deeOld, mergedInto: into, crmId: null, heldBy: `Person ${cy.id}` });
    // the worker sends Cy again (queued by the merge), putting Cy's values back over Dee's
    await waitFor("Cy's values back on the merged contact", async () => {
      await runWorkerOnce(orm);
      return sim.objects('contacts').map((c) => [c.id, c.properties.email, c.properties.firstname]).join() === [into, 'cy@example.com', 'Cy 2'].join();
    });
    expect(sim.objects('contacts')).to.have.length(1);

    // Dee changes: nothing is sent for it (no update of Cy's contact, no search, no new contact)
    const requests = sim.requests.length;
    dee.name = 'Dee 3';
    await em.flush();
    expect(await dee.hubspotSync({ inline: true })).to.equal('error');
    expect((await syncStale(orm, { inline: true })).results).to.deep.include({ synced: 0 });
    expect(sim.requests.length).to.equal(requests);
    expect(creates()).to.equal(createsBefore);
    expect((await reconcile(orm)).units[0]!.counts).to.deep.include({ inSync: 1, skipped: 1, missing: 0 });

    // someone decides: Dee gets an address of its own and is reset; it gets a contact of its own
    dee.email = 'dee.new@example.com';
    await em.flush();
    expect(await reset(orm, { entity: 'Person', ids: [dee.id] })).to.equal(1);
    expect(await dee.hubspotSync({ inline: true })).to.equal('synced');
    expect(sim.objects('contacts').map((c) => c.properties.email)).to.deep.equal(['cy@example.com', 'dee.new@example.com']);
  });

  it('reconcile, before any sync met the merge: both records are reported merged, and a repair relinks one of them (the other meets the merge when it syncs)', async () => {
    const em = orm.em.fork();
    const eve = em.create(Person, { email: 'eve@example.com', name: 'Eve' });
    const fay = em.create(Person, { email: 'fay@example.com', name: 'Fay' });
    await em.flush();
    await syncStale(orm, { inline: true });
    const into = sim.merge('contacts', (await crmIdOf(eve.id))!, (await crmIdOf(fay.id))!);
    const report = await reconcile(orm, { repair: true });
    expect(report.units[0]!.counts).to.deep.include({ merged: 2, missing: 0, divergent: 0 });
    expect([await crmIdOf(eve.id), await crmIdOf(fay.id)].filter((id) => id === into)).to.have.length(1);
    await waitFor('the repairs', async () => {
      await runWorkerOnce(orm);
      const rows = await em.getConnection().execute(`select merged_into from crm_synchronisations where merged_into is not null`);
      return rows.length === 1;
    });
    expect(sim.objects('contacts')).to.have.length(1);
  });
});
