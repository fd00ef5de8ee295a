import { defineEntity, p } from '@mikro-orm/core';
import { MikroORM } from '@mikro-orm/postgresql';
import { expect } from 'chai';
import type { Runner } from 'graphile-worker';
import { ConfigurationError, declareCrms, Etlify, etlified, migrateEtlify, runWorker, syncStale } from '../../src/index.ts';
import { RecordingAdapter } from '../../src/testing/index.ts';
import { createTestApp, type TestApp } from '../support/app.ts';
import { Company, entities, Investment, User } from '../support/model.ts';
import { createTestDatabase } from '../support/postgres.ts';
import { queueDrained, waitFor } from '../support/wait.ts';

// Every path by which a change made through MikroORM can reach the database, and what capture queues
// for it (issue 17, cases 1 to 5).

const etlifyWithBothCrms = () => new Etlify({ crms: { hubspot: { adapter: new RecordingAdapter() }, airtable: { adapter: new RecordingAdapter() } } });

describe('capture: configurations it cannot work with are refused', () => {
  for (const [option, value] of [['implicitTransactions', false], ['disableTransactions', true]] as const) {
    it(`fails MikroORM.init with \`${option}: ${value}\`, naming the option`, async () => {
      const error = await MikroORM.init({ clientUrl: process.env.DATABASE_URL, entities, extensions: [etlifyWithBothCrms()], [option]: value }).catch(e => e);
      expect(error).to.be.instanceOf(ConfigurationError);
      expect(error.message).to.include(`MikroORM option \`${option}: ${value}\` is not supported`);
    });
  }

  describe('a configuration changed after init', () => {
    let app: TestApp;
    before(async () => { app = await createTestApp(); });
    after(async () => { await app.close(); });

    it('fails the flush of an etlified entity outside a transaction instead of losing its change', async () => {
      app.orm.config.set('implicitTransactions', false);
      try {
        const em = app.orm.em.fork();
        em.create(User, { email: 'untransacted@example.test' });
        const error = await em.flush().catch(e => e);
        expect(error).to.be.instanceOf(ConfigurationError);
        expect(error.message).to.include('`implicitTransactions: false`');
        // inside an explicit transaction, capture works
        await app.orm.em.fork().transactional(async tx => { tx.create(User, { email: 'explicit@example.test' }); });
      } finally {
        app.orm.config.set('implicitTransactions', true);
      }
      const users = await app.orm.em.getConnection().execute('select email from app_user');
      expect(users.map(u => u.email)).to.deep.equal(['explicit@example.test']);
      const [{ n }] = await app.orm.em.getConnection().execute(`select count(*)::int as n from etlify_sync_requests`);
      expect(n).to.equal(2);
    });
  });
});

// A model where every foreign-key action occurs: staff keep their firm (`on delete set null`, MikroORM's
// default for a nullable many-to-one), contractors go with it (`cascade`), auditors forbid its removal
// (`restrict`); members and labels are linked many-to-many, each side depending on the other.
const FirmSchema = defineEntity({
  name: 'Firm',
  properties: { id: p.integer().primary(), name: p.string(), staff: () => p.oneToMany(Staff).mappedBy('firm') },
});
class Firm extends FirmSchema.class {}
FirmSchema.setClass(Firm);

const StaffSchema = defineEntity({
  name: 'Staff',
  properties: { id: p.integer().primary(), email: p.string(), firm: () => p.manyToOne(Firm).nullable().inversedBy('staff') },
});
class Staff extends etlified(StaffSchema.class, {
  hubspot: { serializer: s => ({ email: s.email, company: s.firm?.name ?? null }), objectType: 'contacts', idProperty: 'email', dependencies: ['firm'] },
}) {}
StaffSchema.setClass(Staff);

const ContractorSchema = defineEntity({
  name: 'Contractor',
  properties: { id: p.integer().primary(), email: p.string(), firm: () => p.manyToOne(Firm).deleteRule('cascade') },
});
class Contractor extends etlified(ContractorSchema.class, {
  hubspot: { serializer: c => ({ email: c.email, company: c.firm.name }), objectType: 'contractors', idProperty: 'email', dependencies: ['firm'] },
}) {}
ContractorSchema.setClass(Contractor);

const AuditorSchema = defineEntity({
  name: 'Auditor',
  properties: { id: p.integer().primary(), email: p.string(), firm: () => p.manyToOne(Firm).nullable().deleteRule('restrict') },
});
class Auditor extends etlified(AuditorSchema.class, {
  hubspot: { serializer: a => ({ email: a.email, company: a.firm?.name ?? null }), objectType: 'auditors', idProperty: 'email', dependencies: ['firm'] },
}) {}
AuditorSchema.setClass(Auditor);

const LabelSchema = defineEntity({
  name: 'Label',
  properties: { id: p.integer().primary(), name: p.string(), members: () => p.manyToMany(Associate).mappedBy('labels') },
});
class Label extends LabelSchema.class {}
LabelSchema.setClass(Label);

const AssociateSchema = defineEntity({
  name: 'Associate',
  properties: { id: p.integer().primary(), email: p.string(), labels: () => p.manyToMany(Label).inversedBy('members') },
});
class Associate extends AssociateSchema.class {}
AssociateSchema.setClass(Associate);
declareCrms(Label, {
  hubspot: { serializer: l => ({ name: l.name, members: l.members.getItems().map(m => m.email).sort().join(';') }), objectType: 'labels', dependencies: ['members'] },
});
declareCrms(Associate, {
  hubspot: { serializer: a => ({ email: a.email, labels: a.labels.getItems().map(l => l.name).sort().join(';') }), objectType: 'associates', idProperty: 'email', dependencies: ['labels'] },
});

describe('capture: changes the database makes on its own, and collections never loaded', () => {
  let orm: MikroORM;
  let crm: RecordingAdapter;
  let worker: Runner;
  let drop: () => Promise<void>;
  const execute = (sql: string) => orm.em.getConnection().execute(sql);
  const drained = () => waitFor('the queue to drain', () => queueDrained(execute), 15_000);
  /** What the CRM holds of one object type, one line per object (`show` picks the fields), sorted. */
  const crmHolds = (objectType: string, show: (payload: Record<string, unknown>) => unknown) => [...crm.table(objectType).values()].map(show).map(String).sort();

  before(async () => {
    const db = await createTestDatabase('etlify_capture_paths');
    drop = db.drop;
    crm = new RecordingAdapter();
    const etlify = new Etlify({ crms: { hubspot: { adapter: crm, deleteOnRemove: true, jobs: { batchDelayMs: 20 } } } });
    orm = await MikroORM.init({ clientUrl: db.url, entities: [Firm, Staff, Contractor, Auditor, Label, Associate], extensions: [etlify] });
    await orm.schema.create();
    await migrateEtlify(orm);
    worker = await runWorker(orm, { handleSignals: false, pollInterval: 50 });
  });
  after(async () => { await worker.stop(); await orm.close(true); await drop(); });

  it('em.remove of a dependency target: `set null` dependents sync, `cascade` dependents are deleted, `restrict` refuses the flush', async () => {
    const em = orm.em.fork();
    const acme = em.create(Firm, { name: 'Acme' });
    const globex = em.create(Firm, { name: 'Globex' });
    em.create(Staff, { email: 'ada@acme.test', firm: acme });
    em.create(Staff, { email: 'bob@acme.test', firm: acme });
    em.create(Staff, { email: 'cy@globex.test', firm: globex });
    em.create(Contractor, { email: 'dee@acme.test', firm: acme });
    em.create(Contractor, { email: 'eve@globex.test', firm: globex });
    const auditor = em.create(Auditor, { email: 'fay@acme.test', firm: acme });
    await em.flush();
    await drained();
    expect(crmHolds('contacts', c => c.company)).to.deep.equal(['Acme', 'Acme', 'Globex']);

    // restrict: the removal fails, nothing changes, nothing is queued
    const other = orm.em.fork();
    other.remove(other.getReference(Firm, acme.id));
    expect(await other.flush().catch(e => e)).to.be.instanceOf(Error);
    expect(await queueDrained(execute)).to.equal(true);

    auditor.firm = null;
    await em.flush();
    // removed from a fresh EntityManager: nothing of the firm's staff is loaded
    const fresh = orm.em.fork();
    fresh.remove(await fresh.findOneOrFail(Firm, acme.id));
    await fresh.flush();
    await drained();
    expect(crmHolds('contacts', c => `${c.email} ${c.company}`)).to.deep.equal(['ada@acme.test null', 'bob@acme.test null', 'cy@globex.test Globex']);
    expect(crmHolds('contractors', c => c.email)).to.deep.equal(['eve@globex.test']);
    expect(crmHolds('auditors', c => `${c.email} ${c.company}`)).to.deep.equal(['fay@acme.test null']);
    const [{ n }] = await execute(`select count(*)::int as n from crm_synchronisations where resource_type = 'Contractor'`);
    expect(n).to.equal(1);
  });

  it('em.remove of a dependency target inside em.transactional: found before the delete too', async () => {
    const em = orm.em.fork();
    const initech = em.create(Firm, { name: 'Initech' });
    em.create(Staff, { email: 'gil@initech.test', firm: initech });
    await em.flush();
    await drained();
    await orm.em.fork().transactional(async tx => {
      tx.create(Staff, { email: 'hal@initech.test', firm: tx.getReference(Firm, initech.id) });
      await tx.flush();
      tx.remove(tx.getReference(Firm, initech.id));
    });
    await drained();
    expect(crmHolds('contacts', c => `${c.email} ${c.company}`).filter(c => c.includes('initech')))
      .to.deep.equal(['gil@initech.test null', 'hal@initech.test null']);
  });

  it('em.remove of a many-to-many target: the records linked to it sync without it, from either side', async () => {
    const em = orm.em.fork();
    const [red, blue] = [em.create(Label, { name: 'red' }), em.create(Label, { name: 'blue' })];
    const ann = em.create(Associate, { email: 'ann@example.test' });
    const ben = em.create(Associate, { email: 'ben@example.test' });
    ann.labels.set([red, blue]);
    ben.labels.set([red]);
    await em.flush();
    await drained();
    expect(crmHolds('associates', a => `${a.email} ${a.labels}`)).to.deep.equal(['ann@example.test blue;red', 'ben@example.test red']);

    const fresh = orm.em.fork();
    fresh.remove(fresh.getReference(Label, red.id));
    await fresh.flush();
    await drained();
    expect(crmHolds('associates', a => `${a.email} ${a.labels}`)).to.deep.equal(['ann@example.test blue', 'ben@example.test ']);

    // the owning side removed: the label's member list shrinks
    const again = orm.em.fork();
    again.remove(again.getReference(Associate, ann.id));
    await again.flush();
    await drained();
    expect(crmHolds('labels', l => `${l.name}:${l.members}`)).to.deep.equal(['blue:']);
  });

  it('a collection never loaded: add from either side, set and removeAll queue every record whose links changed', async () => {
    const em = orm.em.fork();
    const [green, amber, teal] = [em.create(Label, { name: 'green' }), em.create(Label, { name: 'amber' }), em.create(Label, { name: 'teal' })];
    const cal = em.create(Associate, { email: 'cal@example.test' });
    const dot = em.create(Associate, { email: 'dot@example.test' });
    cal.labels.set([green]);
    await em.flush();
    await drained();
    const holds = () => ({
      associates: crmHolds('associates', a => `${a.email} ${a.labels}`).filter(a => /^(cal|dot)@/.test(a)),
      labels: crmHolds('labels', l => `${l.name}:${l.members}`).filter(l => /^(green|amber|teal):/.test(l)),
    });
    expect(holds()).to.deep.equal({ associates: ['cal@example.test green', 'dot@example.test '], labels: ['amber:', 'green:cal@example.test', 'teal:'] });

    // the owning side, loaded without its collection
    let fresh = orm.em.fork();
    const cal1 = await fresh.findOneOrFail(Associate, cal.id);
    expect(cal1.labels.isInitialized()).to.equal(false);
    cal1.labels.add(fresh.getReference(Label, amber.id));
    await fresh.flush();
    await drained();
    expect(holds()).to.deep.equal({ associates: ['cal@example.test amber;green', 'dot@example.test '], labels: ['amber:cal@example.test', 'green:cal@example.test', 'teal:'] });

    // the inverse side, loaded without its collection
    fresh = orm.em.fork();
    const teal1 = await fresh.findOneOrFail(Label, teal.id);
    teal1.members.add(fresh.getReference(Associate, dot.id));
    await fresh.flush();
    await drained();
    expect(holds()).to.deep.equal({ associates: ['cal@example.test amber;green', 'dot@example.test teal'], labels: ['amber:cal@example.test', 'green:cal@example.test', 'teal:dot@example.test'] });

    // set() on a collection never loaded replaces links nobody loaded
    fresh = orm.em.fork();
    (await fresh.findOneOrFail(Associate, cal.id)).labels.set([fresh.getReference(Label, teal.id)]);
    await fresh.flush();
    await drained();
    expect(holds()).to.deep.equal({ associates: ['cal@example.test teal', 'dot@example.test teal'], labels: ['amber:', 'green:', 'teal:cal@example.test;dot@example.test'] });

    // removeAll() too
    fresh = orm.em.fork();
    (await fresh.findOneOrFail(Associate, dot.id)).labels.removeAll();
    await fresh.flush();
    await drained();
    expect(holds()).to.deep.equal({ associates: ['cal@example.test teal', 'dot@example.test '], labels: ['amber:', 'green:', 'teal:cal@example.test'] });
  });
});

describe('capture: writes outside the unit of work', () => {
  let app: TestApp;
  let worker: Runner;
  const execute = (sql: string, params: unknown[] = []) => app.orm.em.getConnection().execute(sql, params);
  const drained = () => waitFor('the queue to drain', () => queueDrained(sql => execute(sql)), 15_000);
  const contacts = () => [...app.hubspot.table('contacts').values()].map(c => `${c.email} ${c.firstname} ${c.company}`).sort();
  const syncRows = async () => (await execute(`select resource_id from crm_synchronisations where resource_type = 'User' and crm_name = 'hubspot' order by 1`)).map(r => r.resource_id);

  before(async () => {
    app = await createTestApp();
    app.etlify.registerCrm('hubspot', { adapter: app.hubspot, deleteOnRemove: true, jobs: { batchDelayMs: 20 } });
    app.etlify.registerCrm('airtable', { adapter: app.airtable, enabled: false });
    worker = await runWorker(app.orm, { handleSignals: false, pollInterval: 50 });
  });
  after(async () => { await worker.stop(); await app.close(); });

  it('em.nativeUpdate and em.nativeDelete are invisible to capture; etlify.markChanged queues their syncs and deletes', async () => {
    const em = app.orm.em.fork();
    const acme = em.create(Company, { name: 'Acme', domain: 'acme.test' });
    const [ada, bob] = [em.create(User, { email: 'ada@acme.test', firstName: 'Ada', company: acme }), em.create(User, { email: 'bob@acme.test', firstName: 'Bob', company: acme })];
    await em.flush();
    await drained();
    expect(contacts()).to.deep.equal(['ada@acme.test Ada Acme', 'bob@acme.test Bob Acme']);

    // MikroORM 7 emits no event for native writes: nothing is queued by them
    await em.nativeUpdate(User, { id: ada.id }, { firstName: 'Augusta' });
    await em.nativeUpdate(Company, { id: acme.id }, { name: 'Acme Inc' });
    await em.nativeDelete(User, { id: bob.id });
    expect(await queueDrained(sql => execute(sql))).to.equal(true);

    // inside a transaction, the requests go with it: rolled back, nothing is queued
    await em.transactional(async tx => {
      await tx.nativeUpdate(User, { id: ada.id }, { lastName: 'King' });
      expect(await app.etlify.markChanged(tx, User, [ada.id])).to.deep.equal({ changed: 1, removed: 0 });
      throw new Error('rolled back');
    }).catch(() => {});
    expect(await queueDrained(sql => execute(sql))).to.equal(true);

    expect(await app.etlify.markChanged(em, User, [ada.id, bob.id])).to.deep.equal({ changed: 1, removed: 1 });
    expect(await app.etlify.markChanged(em, Company, [acme.id])).to.deep.equal({ changed: 1, removed: 0 });
    await drained();
    expect(contacts()).to.deep.equal(['ada@acme.test Augusta Acme Inc']);
    expect(await syncRows()).to.deep.equal([String(ada.id)]);
  });

  it('a record removed by raw SQL: the sweep\'s full scan finds its sync row and queues its delete', async () => {
    const em = app.orm.em.fork();
    const cy = em.create(User, { email: 'cy@example.test', firstName: 'Cy' });
    await em.flush();
    await drained();
    expect(contacts()).to.include('cy@example.test Cy null');
    await execute('delete from app_user where id = ?', [cy.id]);
    const stats = await syncStale(app.orm);
    expect(stats.vanished).to.equal(1);
    await drained();
    expect(contacts()).not.to.include('cy@example.test Cy null');
    expect(await syncRows()).not.to.include(String(cy.id));
    expect((await syncStale(app.orm)).vanished).to.equal(0);
  });

  it('em.upsert and em.upsertMany are captured (MikroORM reports them record by record)', async () => {
    const em = app.orm.em.fork();
    const dee = em.create(User, { email: 'dee@example.test', firstName: 'Dee' });
    await em.flush();
    await drained();
    await em.upsert(User, { id: dee.id, email: 'dee@example.test', firstName: 'Deirdre' });
    await em.upsertMany(User, [{ id: dee.id + 1000, email: 'eve@example.test', firstName: 'Eve' }, { id: dee.id + 1001, email: 'fay@example.test', firstName: 'Fay' }]);
    await drained();
    expect(contacts().filter(c => /^(dee|eve|fay)@/.test(c))).to.deep.equal(['dee@example.test Deirdre null', 'eve@example.test Eve null', 'fay@example.test Fay null']);
  });

  it('markChanged refuses an entity Etlify does not know, naming it', async () => {
    const error = await app.etlify.markChanged(app.orm.em.fork(), 'Nope', [1]).catch(e => e);
    expect(error.message).to.equal('markChanged: Nope is not an etlified entity, nor one an etlified entity depends on');
    // a dependency target is accepted: its dependents are what changes
    expect(await app.etlify.markChanged(app.orm.em.fork(), Investment, [])).to.deep.equal({ changed: 0, removed: 0 });
  });
});
