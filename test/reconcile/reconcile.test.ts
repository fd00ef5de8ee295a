import { defineEntity, p } from '@mikro-orm/core';
import { MikroORM } from '@mikro-orm/postgresql';
import { expect } from 'chai';
import { Etlify, etlified, HubspotAdapter, lastReconcileResults, migrateEtlify, reconcile, runWorkerOnce, syncStale, type ReconcileResult } from '../../src/index.ts';
import { startHubspotSimulator, type HubspotSimulator } from '../../src/testing/index.ts';
import { createTestDatabase } from '../support/postgres.ts';

const timestamps = {
  createdAt: p.datetime().onCreate(() => new Date()),
  updatedAt: p.datetime().onCreate(() => new Date()).onUpdate(() => new Date()),
};

// Values HubSpot stores differently from how they are sent: numbers, booleans, dates, emails in
// another case, empty strings and nulls.
const MemberSchema = defineEntity({
  name: 'Member',
  properties: {
    id: p.integer().primary(), email: p.string(), firstName: p.string(), age: p.integer(), score: p.double(),
    vip: p.boolean(), birthday: p.datetime(), note: p.string().nullable(), ...timestamps,
  },
});
class Member extends etlified(MemberSchema.class, {
  hubspot: {
    serializer: m => ({ email: m.email, firstname: m.firstName, age: m.age, score: m.score, vip: m.vip, birthday: m.birthday, note: m.note, nickname: m.id % 2 ? '' : null }),
    objectType: 'contacts', idProperty: 'email',
  },
}) {}
MemberSchema.setClass(Member);

// HubSpot does not keep company domains unique: duplicates by hand are possible.
const FirmSchema = defineEntity({ name: 'Firm', properties: { id: p.integer().primary(), name: p.string(), domain: p.string(), ...timestamps } });
class Firm extends etlified(FirmSchema.class, {
  hubspot: { serializer: f => ({ name: f.name, domain: f.domain }), objectType: 'companies', idProperty: 'domain' },
}) {}
FirmSchema.setClass(Firm);

const UNTOUCHED = 1_000;

describe('reconcile against the HubSpot simulator', function () {
  this.timeout(120_000);
  let sim: HubspotSimulator;
  let orm: MikroORM;
  let drop: () => Promise<void>;
  const crmIdOf = async (entity: string, id: number) =>
    (await orm.em.getConnection().execute('select crm_id from crm_synchronisations where resource_type = ? and resource_id = ?', [entity, String(id)]))[0]?.crm_id as string;

  before(async () => {
    sim = await startHubspotSimulator({ rateLimit: false, searchRateLimit: false });
    const db = await createTestDatabase();
    drop = db.drop;
    const etlify = new Etlify({
      crms: { hubspot: { adapter: new HubspotAdapter({ accessToken: 'token', baseUrl: sim.url }), rateLimit: false, deleteOnRemove: true, jobs: { batchDelayMs: 0 } } },
    });
    orm = await MikroORM.init({ clientUrl: db.url, entities: [Member, Firm], extensions: [etlify] });
    await orm.schema.create();
    await migrateEtlify(orm);
  });
  after(async () => {
    await orm?.close(true);
    await drop?.();
    await sim?.close();
  });

  it('finds exactly the differences seeded in the CRM, repairs them through the queue, then reports 0', async () => {
    const em = orm.em.fork();
    for (let i = 1; i <= UNTOUCHED + 5; i++) {
      em.create(Member, {
        id: i, email: `Member${i}@Example.COM`, firstName: `First ${i}`, age: 20 + (i % 50), score: i / 4, vip: i % 3 === 0,
        birthday: new Date(Date.UTC(1980 + (i % 30), i % 12, 1 + (i % 28))), note: i % 5 === 0 ? '' : i % 7 === 0 ? null : `note ${i}`,
      });
    }
    em.create(Firm, { id: 1, name: 'Acme', domain: 'acme.example' });
    em.create(Firm, { id: 2, name: 'Globex', domain: 'globex.example' });
    await em.flush();
    await runWorkerOnce(orm);
    const synced = await syncStale(orm, { inline: true });
    expect(synced.total).to.equal(0);
    expect(sim.objects('contacts')).to.have.length(UNTOUCHED + 5);

    // every category, by editing the CRM (or the database behind the ORM's back) directly
    const edited = UNTOUCHED + 1;
    expect(sim.edit('contacts', await crmIdOf('Member', edited), { firstname: 'Changed in HubSpot' })).to.equal(true);
    const archived = UNTOUCHED + 2;
    expect(sim.archive('contacts', await crmIdOf('Member', archived))).to.equal(true);
    const merged = UNTOUCHED + 3;
    const mergedFrom = await crmIdOf('Member', merged);
    const stray = sim.create('contacts', { email: 'stray@example.com', firstname: 'Stray' });
    const mergeAnswer = await fetch(`${sim.url}/crm/v3/objects/contacts/merge`, {
      method: 'POST', headers: { authorization: 'Bearer token', 'content-type': 'application/json' },
      body: JSON.stringify({ primaryObjectId: mergedFrom, objectIdToMerge: stray }),
    });
    const mergedInto = ((await mergeAnswer.json()) as { id: string }).id;
    expect(mergedInto).to.not.equal(mergedFrom);
    const duplicate = sim.create('companies', { name: 'Acme (typed by hand)', domain: 'acme.example' });
    // a removal whose delete did not hold: the object came back from HubSpot's recycle bin
    const restored = UNTOUCHED + 4;
    const restoredId = await crmIdOf('Member', restored);
    const removing = em.fork();
    removing.remove(await removing.findOneOrFail(Member, restored));
    await removing.flush();
    await runWorkerOnce(orm);
    expect(sim.objects('contacts').some(c => c.id === restoredId)).to.equal(false);
    expect(sim.restore('contacts', restoredId)).to.equal(true);
    // a record deleted with SQL, outside the ORM: its object stays
    const sqlDeleted = UNTOUCHED + 5;
    const sqlDeletedId = await crmIdOf('Member', sqlDeleted);
    await orm.em.getConnection().execute('delete from member where id = ?', [sqlDeleted]);
    // a property the mapping does not own, changed by a salesperson: not a difference
    sim.edit('contacts', await crmIdOf('Member', 10), { lifecyclestage: 'customer' });
    // an object Etlify never created
    sim.create('contacts', { email: 'walk-in@example.com' });

    sim.requests.length = 0;
    const first = await reconcile(orm);
    const members = first.units.find(u => u.entity === 'Member')!;
    const firms = first.units.find(u => u.entity === 'Firm')!;
    expect(members.counts).to.deep.include({ divergent: 1, missing: 1, merged: 1, duplicates: 0, orphans: 2, inSync: UNTOUCHED });
    expect(members.examples.divergent).to.deep.equal([{ id: String(edited), crmId: await crmIdOf('Member', edited), diff: { firstname: { database: `First ${edited}`, crm: 'Changed in HubSpot' } } }]);
    expect(members.examples.missing.map(f => f.id)).to.deep.equal([String(archived)]);
    expect(members.examples.merged).to.deep.equal([{ id: String(merged), crmId: mergedFrom, answeredId: mergedInto }]);
    expect(members.examples.orphans.map(f => [f.id, f.answeredId]).sort()).to.deep.equal([[String(restored), restoredId], [String(sqlDeleted), sqlDeletedId]].sort());
    expect(firms.counts).to.deep.include({ duplicates: 1, inSync: 2, divergent: 0, missing: 0 });
    expect(firms.examples.duplicates).to.deep.equal([{ id: '1', crmId: await crmIdOf('Firm', 1), others: [duplicate] }]);
    // 1,000 + 3 stored ids in 100s, the 2 orphans, and one count: the walk-in and the stray merged away are not Etlify's
    expect(members.counts.unmanaged).to.equal(1);
    expect(first.differences).to.equal(6);
    // reads only: 1,003 stored ids in pages of 500 (5 + 5 + 1 batch reads), the orphans' read and a count; for
    // firms, whether HubSpot keeps domains unique (it does not), a read, a duplicate lookup and a count
    const calls = sim.requests.map(r => `${r.method} ${r.path}`).reduce((n, call) => ({ ...n, [call]: (n[call] ?? 0) + 1 }), {} as Record<string, number>);
    expect(calls).to.deep.equal({
      'POST /crm/v3/objects/contacts/batch/read': 12, 'POST /crm/v3/objects/contacts/search': 1,
      'GET /crm/v3/properties/companies/domain': 1, 'POST /crm/v3/objects/companies/batch/read': 1, 'POST /crm/v3/objects/companies/search': 2,
    });
    expect(first.requests).to.equal(17);

    const repaired = await reconcile(orm, { repair: true });
    expect(repaired.differences).to.equal(6);
    expect(repaired.units.find(u => u.entity === 'Member')!.repairs).to.deep.equal({ syncs: 3, deletes: 2 });
    await runWorkerOnce(orm);
    expect(sim.objects('contacts').find(c => c.properties.email === `member${archived}@example.com`)).to.not.equal(undefined);
    expect(sim.objects('contacts').some(c => [restoredId, sqlDeletedId].includes(c.id))).to.equal(false);
    expect(await crmIdOf('Member', merged)).to.equal(mergedInto);

    const second = await reconcile(orm);
    // the hand-made duplicate is not Etlify's to delete: it stays reported until someone merges it
    expect(summary(second)).to.deep.equal({ Member: {}, Firm: { duplicates: 1 } });
    sim.archive('companies', duplicate);
    const third = await reconcile(orm);
    expect(third.differences).to.equal(0);
    expect((await lastReconcileResults(orm.em.fork())).map(r => [r.entity, r.differences])).to.deep.equal([['Firm', 0], ['Member', 0]]);
  });
});

function summary(result: ReconcileResult): Record<string, Record<string, number>> {
  return Object.fromEntries(result.units.map(u => [u.entity, Object.fromEntries(
    (['divergent', 'missing', 'merged', 'duplicates', 'orphans'] as const).filter(c => u.counts[c] > 0).map(c => [c, u.counts[c]]))]));
}
