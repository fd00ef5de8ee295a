// Breaker (break17): HubSpot merges met through the public API after the fact — by `reconcile`, and by
// a merged-away record that is reset without values of its own. Ledger view: after each scenario the
// CRM's contact holds the values of the one record that follows it, and each record's sync state says
// what the CRM holds.
import { defineEntity, p } from '@mikro-orm/core';
import { MikroORM } from '@mikro-orm/postgresql';
import { expect } from 'chai';
import { Etlify, etlified, HubspotAdapter, migrateEtlify, reconcile, reset, runWorkerOnce, syncStale } from '../../src/index.ts';
import { startHubspotSimulator, type HubspotSimulator } from '../../src/testing/index.ts';
import { createTestDatabase } from '../support/postgres.ts';
import { waitFor } from '../support/wait.ts';

const FanSchema = defineEntity({
  name: 'Fan',
  properties: {
    id: p.integer().primary(),
    email: p.string(),
    name: p.string(),
    updatedAt: p.datetime().onCreate(() => new Date()).onUpdate(() => new Date()),
  },
});
class Fan extends etlified(FanSchema.class, {
  hubspot: { objectType: 'contacts', idProperty: 'email', serializer: (x) => ({ email: x.email, firstname: x.name }) },
}) {}
FanSchema.setClass(Fan);

describe('break17: merges met after the fact (reconcile, reset)', () => {
  let sim: HubspotSimulator;
  let orm: MikroORM;
  let drop: () => Promise<void>;

  before(async () => {
    sim = await startHubspotSimulator({ rateLimit: false, searchRateLimit: false });
    const db = await createTestDatabase();
    drop = db.drop;
    const adapter = new HubspotAdapter({ accessToken: 't', baseUrl: sim.url });
    const etlify = new Etlify({ crms: { hubspot: { adapter, rateLimit: false, deleteOnRemove: true, jobs: { batchDelayMs: 0 } } }, logger: { info() {}, warn() {}, error() {} } });
    orm = await MikroORM.init({ clientUrl: db.url, entities: [Fan], extensions: [etlify] });
    await orm.schema.create();
    await migrateEtlify(orm);
  });
  afterEach(async () => {
    sim.reset();
    await orm.em.getConnection().execute('truncate crm_synchronisations, etlify_attempts, etlify_record_queue, etlify_sync_requests, "fan"');
  });
  after(async () => {
    await orm.close(true);
    await drop();
    await sim.close();
  });

  const stateOf = async (id: number) =>
    (await orm.em.getConnection().execute(`select crm_id, merged_into, last_digest from crm_synchronisations where resource_id = ?`, [String(id)]))[0] as { crm_id: string | null; merged_into: string | null; last_digest: string | null };
  const drained = () => waitFor('the queue to drain', async () => {
    await runWorkerOnce(orm);
    const [row] = await orm.em.getConnection().execute('select (select count(*) from etlify_record_queue) + (select count(*) from etlify_sync_requests) as n');
    return Number(row.n) === 0;
  });
  const contacts = () => sim.objects('contacts').map((c) => [c.id, c.properties.email, c.properties.firstname]);

  /** Cy and Dee synced, then HubSpot merges Dee's contact into Cy's; returns the merged contact's id. */
  const syncedThenMerged = async () => {
    const em = orm.em.fork();
    const cy = em.create(Fan, { email: 'cy@example.com', name: 'Cy' });
    const dee = em.create(Fan, { email: 'dee@example.com', name: 'Dee' });
    await em.flush();
    await syncStale(orm, { inline: true });
    const into = sim.merge('contacts', (await stateOf(cy.id)).crm_id!, (await stateOf(dee.id)).crm_id!);
    return { em, cy, dee, into };
  };
  /** The same, then both change: Cy follows the merge and Dee is merged away. */
  const mergedAway = async () => {
    const merged = await syncedThenMerged();
    merged.cy.name = 'Cy 2';
    merged.dee.name = 'Dee 2';
    await merged.em.flush();
    await syncStale(orm, { inline: true });
    await drained();
    expect(await stateOf(merged.dee.id)).to.deep.include({ crm_id: null, merged_into: merged.into });
    return merged;
  };

  it('reconcile --repair of a record whose contact was merged into one another record already follows: the record is merged away, and the next reconcile finds nothing to repair', async () => {
    const { em, cy, dee, into } = await syncedThenMerged();
    // Cy changes and follows the merge; Dee never changes, so only reconcile can meet its merge
    cy.name = 'Cy 2';
    await em.flush();
    expect(await cy.hubspotSync({ inline: true })).to.equal('synced');
    expect((await stateOf(cy.id)).crm_id).to.equal(into);

    const first = await reconcile(orm, { repair: true });
    expect(first.units[0]!.counts).to.deep.include({ merged: 1 });
    await drained();

    // Dee met the merge: merged away (no id of its own, parked), Cy's values on the contact
    expect(await stateOf(dee.id)).to.deep.include({ crm_id: null, merged_into: into });
    expect(contacts()).to.deep.equal([[into, 'cy@example.com', 'Cy 2']]);
    // on the old main Dee's repair left its row untouched: the digest still matched, the queued sync
    // was "not modified", and every later reconcile reported the same merge and "repaired" it again
    const second = await reconcile(orm, { repair: true });
    expect(second.units[0]!.counts).to.deep.include({ merged: 0, divergent: 0, skipped: 1, inSync: 1 });
  });

  it('a merged-away record reset without values of its own: its write that lands on the other record\'s contact is undone (the follower is sent again), nothing diverges silently', async () => {
    const { cy, dee, into } = await mergedAway();
    expect(contacts()).to.deep.equal([[into, 'cy@example.com', 'Cy 2']]);

    // a user resets Dee without giving it an address of its own (the docs say not to; people will)
    expect(await reset(orm, { entity: 'Fan', ids: [dee.id] })).to.equal(1);
    await dee.hubspotSync({ inline: true });
    await drained();

    // whatever Dee's own result, the merged contact ends with the values of the record that follows it
    // (Cy), and Cy's state claims nothing the CRM does not hold
    expect((await stateOf(cy.id)).crm_id).to.equal(into);
    expect(sim.objects('contacts').filter((c) => c.id === into).map((c) => c.properties.firstname)).to.deep.equal(['Cy 2']);
    const report = await reconcile(orm);
    // on the old main Cy was "divergent" (Dee's name on its contact, Cy's digest claiming its own)
    expect(report.units[0]!.counts).to.deep.include({ inSync: 1, divergent: 0, merged: 0 });
    // Dee is not silent: it failed, naming the conflict (and reconcile lists it as missing)
    const [row] = await orm.em.getConnection().execute('select crm_id, last_error from crm_synchronisations where resource_id = ?', [String(dee.id)]);
    expect(row.crm_id).to.equal(null);
    expect(row.last_error).to.match(new RegExp(`CRM id ${into} is already linked to another Fan`));
  });

  it('the record a merged-away record gave way to is removed (deleteOnRemove): the merged contact goes, and the merged-away record, no longer in anyone\'s way, gets a contact of its own', async () => {
    const { em, cy, dee, into } = await mergedAway();

    // the docs' advice: "merge or remove one of the two records in your database" — here, the follower
    em.remove(cy);
    await em.flush();
    await drained();
    expect(sim.objects('contacts').map((c) => c.id)).not.to.include(into);
    // on the old main Dee stayed parked for good, naming a record that no longer exists, with no contact
    expect(contacts().map(([, email, name]) => [email, name])).to.deep.equal([['dee@example.com', 'Dee 2']]);
    expect(await stateOf(dee.id)).to.deep.include({ merged_into: null, crm_id: sim.objects('contacts')[0]!.id });
    expect((await reconcile(orm)).units[0]!.counts).to.deep.include({ inSync: 1, divergent: 0, missing: 0, merged: 0, skipped: 0 });
  });
});
