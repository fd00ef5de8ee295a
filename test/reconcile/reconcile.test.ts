import { defineEntity, p } from '@mikro-orm/core';
import { MikroORM } from '@mikro-orm/postgresql';
import { expect } from 'chai';
import { ConfigurationError, Etlify, etlified, HubspotAdapter, lastReconcileResults, reconcile, resetDailyBudget, runWorkerOnce, syncStale, type ReconcileResult } from '../../src/index.ts';
import { AirtableAdapter, RateLimitedError } from '../../src/index.ts';
import { ReconcileBudget } from '../../src/reconcile/budget.ts';
import { RecordingAdapter, startAirtableSimulator, type AirtableSimulator, type HubspotSimulator } from '../../src/testing/index.ts';
import { loadTombstones, writeTombstones } from '../../src/state/tombstones.ts';
import { createHubspotTestApp, createTestApp, type TestApp } from '../support/app.ts';

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

// Airtable leaves empty cells out of its answers: false, "" and null all come back absent.
const SubscriberSchema = defineEntity({
  name: 'Subscriber',
  properties: { id: p.integer().primary(), email: p.string(), age: p.integer(), active: p.boolean(), joined: p.datetime(), note: p.string().nullable() },
});
class Subscriber extends etlified(SubscriberSchema.class, {
  airtable: { serializer: s => ({ Email: s.email, Age: s.age, Active: s.active, Joined: s.joined, Note: s.note ?? '' }), objectType: 'Subscribers', idProperty: 'Email' },
}) {}
SubscriberSchema.setClass(Subscriber);

const UNTOUCHED = 1_000;

describe('reconcile against the HubSpot simulator', function () {
  this.timeout(120_000);
  let sim: HubspotSimulator;
  let app: TestApp & { simulator: HubspotSimulator };
  let orm: MikroORM;
  const crmIdOf = async (entity: string, id: number) =>
    (await orm.em.getConnection().execute('select crm_id from crm_synchronisations where resource_type = ? and resource_id = ?', [entity, String(id)]))[0]?.crm_id as string;

  before(async () => {
    app = await createHubspotTestApp({ entities: [Member, Firm], crm: { deleteOnRemove: true, jobs: { batchDelayMs: 0 } } });
    ({ orm, simulator: sim } = app);
  });
  after(() => app?.close());

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
      'POST /crm/objects/2026-03/contacts/batch/read': 12, 'POST /crm/objects/2026-03/contacts/search': 1,
      'GET /crm/properties/2026-03/companies/domain': 1, 'POST /crm/objects/2026-03/companies/batch/read': 1, 'POST /crm/objects/2026-03/companies/search': 2,
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

describe('reconcile runs', function () {
  this.timeout(120_000);
  let sim: HubspotSimulator;
  let app: TestApp & { simulator: HubspotSimulator };
  let orm: MikroORM;

  before(async () => {
    app = await createHubspotTestApp({ entities: [Member, Firm] });
    ({ orm, simulator: sim } = app);
    const em = orm.em.fork();
    for (let i = 1; i <= 450; i++) {
      em.create(Member, { id: i, email: `run${i}@example.com`, firstName: `Run ${i}`, age: 30, score: 1.5, vip: false, birthday: new Date(Date.UTC(1990, 0, 1)), note: null });
    }
    await em.flush();
    await orm.em.getConnection().execute('delete from etlify_sync_requests');
    await syncStale(orm, { inline: true, entities: ['Member'] });
    sim.edit('contacts', sim.objects('contacts')[400]!.id, { firstname: 'Edited' });
  });
  after(() => app?.close());

  it('resumes an interrupted run at the page after the last one saved, and counts the whole run once', async () => {
    const stop = new AbortController();
    let pages = 0;
    const interrupted = reconcile(orm, { entities: ['Member'], pageSize: 100, signal: stop.signal, onProgress: () => { if (++pages === 2) stop.abort(); } });
    const error = await interrupted.then(() => undefined, (e: Error) => e);
    expect(error?.name).to.equal('AbortError');
    sim.requests.length = 0;
    const resumed = await reconcile(orm, { entities: ['Member'], pageSize: 100 });
    const [unit] = resumed.units;
    expect(unit!.resumed).to.equal(true);
    expect(unit!.checked).to.equal(450);
    expect(unit!.counts).to.deep.include({ inSync: 449, divergent: 1 });
    // pages 3 to 5 only (records 201–450) and the count
    expect(sim.requests.map(r => r.path)).to.deep.equal([...Array(3).fill('/crm/objects/2026-03/contacts/batch/read'), '/crm/objects/2026-03/contacts/search']);
    expect(unit!.requests).to.equal(2 + 4);
    const again = await reconcile(orm, { entities: ['Member'], pageSize: 100 });
    expect(again.units[0]!.resumed).to.equal(false);
  });

  it('leaves out CRMs whose adapter cannot read back, and refuses one named explicitly', async () => {
    Etlify.of(orm).registerCrm('hubspot', { adapter: new RecordingAdapter(), rateLimit: false });
    try {
      const result = await reconcile(orm, { entities: ['Member'] });
      expect(result.skippedCrms).to.deep.equal(['hubspot']);
      expect(result.units).to.deep.equal([]);
      const refused = await reconcile(orm, { crm: 'hubspot' }).then(() => undefined, (e: Error) => e);
      expect(refused).to.be.instanceOf(ConfigurationError);
      expect(refused!.message).to.include('`hubspot` cannot read objects back');
    } finally {
      Etlify.of(orm).registerCrm('hubspot', { adapter: new HubspotAdapter({ accessToken: 'token', baseUrl: sim.url }), rateLimit: false });
    }
  });

  it('is background work for the daily budget: stops at the reserve with a clear error, and the next run resumes', async () => {
    Etlify.of(orm).registerCrm('hubspot', { adapter: new HubspotAdapter({ accessToken: 'token', baseUrl: sim.url }), rateLimit: false, dailyBudget: { limit: 5, reserveShare: 0.2 } });
    try {
      // the setup's sync spent this day (HubSpot reports the portal's use, and Etlify follows it)
      sim.resetDailyUsage();
      await resetDailyBudget(orm, 'hubspot');
      sim.requests.length = 0;
      const stopped = await reconcile(orm, { entities: ['Member'], pageSize: 100 }).then(() => undefined, (e: Error) => e);
      expect(stopped?.name).to.equal('DailyBudgetStopError');
      expect(stopped!.message).to.match(/^reconcile stopped: daily budget of hubspot: 4 of 5 requests used today; background work \(sweep, syncStale\) stops at 4 .* run it again once the day ends, it resumes where it stopped$/);
      expect(sim.requests).to.have.length(4); // pages 1 to 4, nothing after the stop
      sim.resetDailyUsage(); // the next day
      await resetDailyBudget(orm, 'hubspot');
      const resumed = await reconcile(orm, { entities: ['Member'], pageSize: 100 });
      expect(resumed.units[0]).to.deep.include({ resumed: true, checked: 450 });
      expect(resumed.units[0]!.counts).to.deep.include({ inSync: 449, divergent: 1 });
      expect(sim.requests).to.have.length(4 + 2); // page 5 and the count
    } finally {
      Etlify.of(orm).registerCrm('hubspot', { adapter: new HubspotAdapter({ accessToken: 'token', baseUrl: sim.url }), rateLimit: false });
    }
  });

  it('stops at once when the CRM answers its daily limit (other apps spent the day), not after an hour\'s wait', async () => {
    // a CRM of its own: the day it spends is not the other tests' day
    const budget = new ReconcileBudget(orm.em.fork(), { ...Etlify.of(orm).crms.get('hubspot'), name: 'spent-by-others' }, 0.5);
    const daily429 = new RateLimitedError('HubSpot POST /crm/objects/2026-03/contacts/batch/read failed with status 429: You have reached your daily limit.', 3_600_000);
    let reads = 0;
    const read = async () => { reads++; budget.report('default', { dailyRemaining: 0, retryAfterMs: 3_600_000 }); throw daily429; };
    const stopped = await budget.retrying(read).then(() => undefined, (e: Error) => e);
    expect(stopped?.name).to.equal('DailyBudgetStopError');
    expect(stopped!.message).to.equal(`reconcile stopped: ${daily429.message}; run it again once the day ends, it resumes where it stopped`);
    expect(reads).to.equal(1);
  });

  it('--sample checks that many random records, without the count of unmanaged objects', async () => {
    const result = await reconcile(orm, { entities: ['Member'], sample: 40 });
    expect(result.units[0]!.checked).to.equal(40);
    expect(result.units[0]!.counts.unmanaged).to.equal(null);
  });

  it('reads through the shared budget and takes at most its share of the window', async () => {
    Etlify.of(orm).registerCrm('hubspot', { adapter: new HubspotAdapter({ accessToken: 'token', baseUrl: sim.url }), rateLimit: { maxRequests: 4, perMs: 1_000 } });
    sim.requests.length = 0;
    await reconcile(orm, { entities: ['Member'], pageSize: 50, budgetShare: 0.5 }); // 9 batch reads + 1 search, 2 a second
    const times = sim.requests.filter(r => !r.path.endsWith('/search')).map(r => r.receivedAt);
    expect(times).to.have.length(9);
    for (const time of times) expect(times.filter(t => t >= time && t < time + 1_000), 'requests within one second').to.have.length.at.most(2);
    const [row] = await orm.em.getConnection().execute(`select cardinality(sent_at) as n from etlify_rate_limits where crm_name = 'hubspot' and bucket = 'default'`);
    expect(row.n, 'the reads are in the shared window').to.be.at.least(1);
  });
});

describe('reconcile against the Airtable simulator', function () {
  this.timeout(120_000);
  let sim: AirtableSimulator;
  let app: TestApp;
  let orm: MikroORM;

  before(async () => {
    sim = await startAirtableSimulator({ rateLimit: false });
    const adapter = new AirtableAdapter({ accessToken: 'patAirtable', baseId: sim.baseId, baseUrl: sim.url });
    app = await createTestApp({ etlify: { crms: { airtable: { adapter, rateLimit: false, jobs: { batchDelayMs: 0 } } } }, orm: { entities: [Subscriber] } });
    orm = app.orm;
  });
  after(async () => {
    await app?.close();
    await sim?.close();
  });

  it('reads records back by RECORD_ID(), finds an edit, a deleted record and a duplicate by hand; repairs through the queue', async () => {
    const em = orm.em.fork();
    for (let i = 1; i <= 150; i++) {
      em.create(Subscriber, { id: i, email: `sub${i}@example.com`, age: 20 + (i % 9), active: i % 2 === 0, joined: new Date(Date.UTC(2024, i % 12, 1)), note: i % 3 ? null : `n${i}` });
    }
    await em.flush();
    await runWorkerOnce(orm);
    const records = sim.objects('Subscribers');
    expect(records).to.have.length(150);
    const idOf = (email: string) => records.find(r => r.fields.Email === email)!.id;
    const call = (method: string, path: string, body?: unknown) => fetch(`${sim.url}/v0/${sim.baseId}/Subscribers${path}`, {
      method, headers: { authorization: 'Bearer patAirtable', 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body),
    });
    await call('PATCH', `/${idOf('sub5@example.com')}`, { fields: { Age: 99 } });
    await call('DELETE', `/${idOf('sub6@example.com')}`);
    const twin = ((await (await call('POST', '', { fields: { Email: 'sub7@example.com', Age: 1 } })).json()) as { id: string }).id;

    const first = await reconcile(orm);
    const [unit] = first.units;
    expect(unit!.counts).to.deep.include({ inSync: 148, divergent: 1, missing: 1, duplicates: 1, merged: 0, orphans: 0 });
    expect(unit!.examples.divergent[0]!.diff).to.deep.equal({ Age: { database: 25, crm: 99 } });
    expect(unit!.examples.duplicates[0]).to.deep.include({ id: '7', others: [twin] });
    // 150 ids in formulas of at most 100 (2 lists), and the same for the duplicate lookups by Email
    expect(unit!.requests).to.equal(4);

    await reconcile(orm, { repair: true });
    await runWorkerOnce(orm);
    const second = await reconcile(orm);
    expect(second.units[0]!.counts).to.deep.include({ inSync: 150, divergent: 0, missing: 0, duplicates: 1 });
  });
});

describe('tombstones', () => {
  it('are kept tombstoneTtlMs: older ones are pruned as new ones are written, and not read back', async () => {
    const { orm, close } = await createTestApp({
      etlify: { crms: { hubspot: { adapter: new HubspotAdapter({ accessToken: 'token', baseUrl: 'http://127.0.0.1:9' }) } } },
      orm: { entities: [Member, Firm] },
    });
    try {
      const em = orm.em.fork();
      const stone = (id: string) => ({ resourceType: 'Member', resourceId: id, crmId: `crm-${id}`, objectType: 'contacts' });
      await writeTombstones(em, 'hubspot', [stone('1')], 300);
      expect((await loadTombstones(em, 'hubspot', 'Member', 300)).map(t => t.resourceId)).to.deep.equal(['1']);
      await new Promise(resolve => setTimeout(resolve, 400));
      expect(await loadTombstones(em, 'hubspot', 'Member', 300), 'expired: not read back').to.deep.equal([]);
      await writeTombstones(em, 'hubspot', [stone('2')], 300);
      const rows = await orm.em.getConnection().execute('select resource_id from etlify_tombstones order by 1');
      expect(rows.map(r => r.resource_id), 'the expired one is gone from the table').to.deep.equal(['2']);
    } finally {
      await close();
    }
  });
});
