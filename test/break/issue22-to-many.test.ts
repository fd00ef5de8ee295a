// Breaking to-many associations (issue 22 item 7) the way users meet them: members that never get a
// CRM id, changes made outside the ORM and found by the sweep, members coming and going while the
// owner's sync is in flight, and association writes whose outcome is unknown. Real PostgreSQL,
// graphile-worker and the HubSpot simulator misbehaving.
import { MikroORM } from '@mikro-orm/postgresql';
import { expect } from 'chai';
import type { Runner } from 'graphile-worker';
import { AirtableAdapter, Etlify, HubspotAdapter, migrateEtlify, runWorker, status, syncStale } from '../../src/index.ts';
import { startHubspotSimulator, type HubspotSimulator } from '../../src/testing/index.ts';
import { createTestDatabase } from '../support/postgres.ts';
import { Firm, Staffer, toManyEntities } from '../support/to-many-model.ts';
import { queueDrained, waitFor } from '../support/wait.ts';

describe('break: to-many associations under faults', () => {
  let orm: MikroORM;
  let drop: () => Promise<void>;
  let hubspot: HubspotSimulator;
  const workers: Runner[] = [];
  const execute = (sql: string, params: unknown[] = []) => orm.em.getConnection().execute(sql, params);
  const crmIdOf = async (record: object & { id: number }) =>
    (await execute(`select crm_id from crm_synchronisations where resource_type = ? and resource_id = ? and crm_name = 'hubspot'`, [record.constructor.name, String(record.id)]))[0]?.crm_id as string | undefined;
  const linked = async (firm: Firm) => hubspot.associations('companies', (await crmIdOf(firm))!, 'contacts').map(l => l.toObjectId).sort();

  before(async () => {
    const db = await createTestDatabase('etlify_break_to_many');
    drop = db.drop;
    hubspot = await startHubspotSimulator({
      rateLimit: false, searchRateLimit: false, uniqueProperties: { companies: ['domain'] },
      // a contact HubSpot refuses whatever is tried: it never gets a CRM id
      rejectProperty: (type, properties) => type === 'contacts' && String(properties.email).startsWith('refused') ? 'refused by a rule of the portal' : undefined,
    });
    const etlify = new Etlify({
      crms: {
        hubspot: { adapter: new HubspotAdapter({ accessToken: 'token', baseUrl: hubspot.url, timeoutMs: 1_000 }), rateLimit: false, dailyBudget: false, jobs: { batchDelayMs: 20, unknownOutcomeWaitMs: 300 } },
        airtable: { adapter: new AirtableAdapter({ accessToken: 'token', baseId: 'appBreak22', baseUrl: hubspot.url }), enabled: false },
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
  });

  // Was a bug: the member's buffer row (which only queues the owner again once the member has its
  // id) was read by the stale finder and `status` as "the owner waits for a dependency": the owner,
  // synced and not waiting, was left out of the sweep and `syncStale` while the row lived (24 h,
  // renewed at each of its syncs) and counted `buffered`.
  it('an owner with a member that never gets a CRM id is still found by syncStale when changed outside the ORM', async () => {
    const em = orm.em.fork();
    const firm = em.create(Firm, { name: 'Stale', domain: 'stale.example' });
    const ann = em.create(Staffer, { email: 'ann@stale.example', name: 'ann', firm });
    const refused = em.create(Staffer, { email: 'refused@stale.example', name: 'rex', firm });
    await em.flush();
    expect(await ann.hubspotSync({ inline: true })).to.equal('synced');
    expect(await refused.hubspotSync({ inline: true })).to.equal('error');
    expect(await firm.hubspotSync({ inline: true })).to.equal('synced');
    expect(await linked(firm)).to.deep.equal([await crmIdOf(ann)]);

    // renamed by raw SQL (an import, a data fix): the sweep is the documented recovery path
    await execute(`update firm set name = 'Stale & Co', updated_at = now() + interval '1 second' where id = ?`, [firm.id]);
    const [firms] = await status(orm, { crm: 'hubspot', entities: ['Firm'] });
    expect(firms).to.include({ synced: 1, buffered: 0, stale: 1 });
    expect((await syncStale(orm, { entities: ['Firm'], crm: 'hubspot', inline: true })).results.synced).to.equal(1);
    expect(hubspot.objects('companies').find(c => c.properties.domain === 'stale.example')?.properties.name).to.equal('Stale & Co');
  });

  it('a member that joins and leaves while the owner\'s sync is in flight: the CRM ends with the database\'s members (two workers)', async function () {
    this.timeout(30_000);
    const em = orm.em.fork();
    const firm = em.create(Firm, { name: 'Flight', domain: 'flight.example' });
    const [ann, bob] = ['ann', 'bob'].map(name => em.create(Staffer, { email: `${name}@flight.example`, name, firm }));
    await em.flush();
    for (const record of [ann!, bob!, firm]) expect(await record.hubspotSync({ inline: true })).to.equal('synced');
    await execute('delete from etlify_sync_requests');

    // the owner's next sync reads HubSpot's links; HubSpot answers only once the test lets it
    let release!: () => void;
    hubspot.setFaults({ holdUntil: new Promise<void>(resolve => { release = resolve; }), paths: /companies\/contacts\/batch\/read$/ });
    const cyd = em.create(Staffer, { email: 'cyd@flight.example', name: 'cyd', firm });
    bob!.firm = null;
    await em.flush();
    workers.push(await runWorker(orm, { handleSignals: false, pollInterval: 50 }), await runWorker(orm, { handleSignals: false, pollInterval: 50 }));
    await waitFor('the owner\'s read to be in flight', () => hubspot.requests.some(r => r.path.endsWith('companies/contacts/batch/read')), 10_000);
    // while it is: cyd leaves again, bob comes back, and a new member joins
    cyd.firm = null;
    bob!.firm = firm;
    const dan = em.create(Staffer, { email: 'dan@flight.example', name: 'dan', firm });
    await em.flush();
    hubspot.setFaults({});
    release();
    await waitFor('the queue to drain', () => queueDrained(execute), 20_000);
    const members = await Promise.all([ann!, bob!, dan].map(s => crmIdOf(s)));
    expect(await linked(firm)).to.deep.equal(members.sort());
  });

  it('an archive whose outcome is unknown, then the member back: HubSpot ends with the link', async function () {
    this.timeout(30_000);
    const em = orm.em.fork();
    const firm = em.create(Firm, { name: 'Unknown', domain: 'unknown.example' });
    const [ann, bob] = ['ann', 'bob'].map(name => em.create(Staffer, { email: `${name}@unknown.example`, name, firm }));
    await em.flush();
    for (const record of [ann!, bob!, firm]) expect(await record.hubspotSync({ inline: true })).to.equal('synced');
    await execute('delete from etlify_sync_requests');

    // bob leaves; HubSpot archives the link late, after the client gave up
    let release!: () => void;
    hubspot.setFaults({ holdUntil: new Promise<void>(resolve => { release = resolve; }), paths: /batch\/labels\/archive$/ });
    bob!.firm = null;
    await em.flush();
    workers.push(await runWorker(orm, { handleSignals: false, pollInterval: 50 }), await runWorker(orm, { handleSignals: false, pollInterval: 50 }));
    await waitFor('the archive to be sent', () => hubspot.requests.some(r => r.path.endsWith('/batch/labels/archive')), 10_000);
    // bob is back before anyone knows whether the archive landed
    bob!.firm = firm;
    await em.flush();
    await new Promise(resolve => setTimeout(resolve, 1_500)); // past the client's timeout
    hubspot.setFaults({});
    release(); // the archive lands now
    await waitFor('the queue to drain', () => queueDrained(execute), 20_000);
    await new Promise(resolve => setTimeout(resolve, 500));
    await waitFor('the queue to drain', () => queueDrained(execute), 20_000);
    expect(await linked(firm)).to.deep.equal([await crmIdOf(ann!), await crmIdOf(bob!)].sort());
  });
});
