import { MikroORM } from '@mikro-orm/postgresql';
import { expect } from 'chai';
import { HUBSPOT_API_VERSIONS, HubspotAdapter, type HubspotApiVersion } from '../../src/adapters/hubspot/index.ts';
import { ConfigurationError, Etlify, migrateEtlify, planSync, syncStale } from '../../src/index.ts';
import type { BatchItemResult } from '../../src/interfaces.ts';
import { RecordingAdapter, startHubspotSimulator, type HubspotSimulator } from '../../src/testing/index.ts';
import { ASSOCIATION_READ_PAGE } from '../../src/testing/hubspot-associations.ts';
import { associationEntities, Member, Opportunity, Org } from '../support/association-model.ts';
import { createTestDatabase } from '../support/postgres.ts';

const DEFAULT_CONTACT_TO_COMPANY = { associationCategory: 'HUBSPOT_DEFINED', associationTypeId: 279 };
const PRIMARY_DEAL_TO_COMPANY = { associationCategory: 'HUBSPOT_DEFINED', associationTypeId: 5 };

function ok(result: BatchItemResult | undefined): string {
  if (!result?.ok) throw new Error(`expected a successful item, got ${result ? result.error.message : 'nothing'}`);
  return result.crmId;
}

describe('HubSpot associations', () => {
  let sim: HubspotSimulator;
  let adapter: HubspotAdapter;

  before(async () => {
    sim = await startHubspotSimulator({ rateLimit: false, searchRateLimit: false, uniqueProperties: { companies: ['domain'] } });
    adapter = new HubspotAdapter({ accessToken: 'token', baseUrl: sim.url });
  });
  afterEach(() => sim.reset());
  after(async () => {
    await adapter.close();
    await sim.close();
  });

  const calls = () => sim.requests.map((request) => `${request.method} ${request.path}`);
  const companies = async (...domains: string[]) => {
    const results = await adapter.batchUpsert({ objectType: 'companies', idProperty: 'domain', items: domains.map((domain) => ({ payload: { domain } })) });
    sim.requests.length = 0;
    return results.map(ok);
  };
  const linked = (type: string, id: string, to: string) => sim.associations(type, id, to);

  it('speaks every apiVersion through its own paths, and refuses an unknown one naming the versions', async () => {
    const expected: Record<HubspotApiVersion, string[]> = {
      '2026-03': ['POST /crm/objects/2026-03/companies/batch/upsert', 'POST /crm/objects/2026-03/contacts/batch/upsert', 'POST /crm/associations/2026-03/contacts/companies/batch/associate/default', 'POST /crm/objects/2026-03/contacts/search', 'POST /crm/associations/2026-03/contacts/companies/batch/read', 'DELETE /crm/objects/2026-03/contacts/1'],
      '2026-09': ['POST /crm/objects/2026-09/companies/batch/upsert', 'POST /crm/objects/2026-09/contacts/batch/upsert', 'POST /crm/associations/2026-09/contacts/companies/batch/associate/default', 'POST /crm/objects/2026-09/contacts/search', 'POST /crm/associations/2026-09/contacts/companies/batch/read', 'DELETE /crm/objects/2026-09/contacts/1'],
      v3: ['POST /crm/v3/objects/companies/batch/upsert', 'POST /crm/v3/objects/contacts/batch/upsert', 'POST /crm/v4/associations/contacts/companies/batch/associate/default', 'POST /crm/v3/objects/contacts/search', 'POST /crm/v4/associations/contacts/companies/batch/read', 'DELETE /crm/v3/objects/contacts/1'],
    };
    for (const apiVersion of HUBSPOT_API_VERSIONS) {
      sim.reset();
      const versioned = new HubspotAdapter({ accessToken: 'token', baseUrl: sim.url, apiVersion });
      const [acme] = await versioned.batchUpsert({ objectType: 'companies', idProperty: 'domain', items: [{ payload: { domain: 'acme.example' } }] });
      const associations = [{ toObjectType: 'companies', toIds: [ok(acme)] }];
      const [contact] = await versioned.batchUpsert({ objectType: 'contacts', idProperty: 'email', items: [{ payload: { email: 'v@example.com' }, associations }] });
      await versioned.upsert({ objectType: 'contacts', idProperty: 'email', payload: { email: 'v@example.com' }, associations });
      await versioned.delete({ objectType: 'contacts', crmId: '1' });
      await versioned.close();
      expect(calls().filter((call) => !call.startsWith('PATCH')), apiVersion).to.deep.equal(expected[apiVersion]);
      expect(linked('contacts', ok(contact), 'companies'), apiVersion).to.deep.equal([{ toObjectId: ok(acme), types: [DEFAULT_CONTACT_TO_COMPANY] }]);
    }
    expect(() => new HubspotAdapter({ accessToken: 'token', apiVersion: '2025-09' as never }))
      .to.throw(ConfigurationError, "HubspotAdapter: `apiVersion` must be one of '2026-03', '2026-09', 'v3'; got \"2025-09\"");
  });

  it('associates upserted objects in one v4 request, reads before changing, and sends nothing more when unchanged', async () => {
    const [acme, beta] = await companies('acme.example', 'beta.example');
    const items = (to: string) => [1, 2].map((n) => ({ payload: { email: `m${n}@example.com` }, associations: [{ toObjectType: 'companies', toIds: [to] }] }));

    const created = (await adapter.batchUpsert({ objectType: 'contacts', idProperty: 'email', items: items(acme!) })).map(ok);
    expect(calls()).to.deep.equal(['POST /crm/objects/2026-03/contacts/batch/upsert', 'POST /crm/associations/2026-03/contacts/companies/batch/associate/default']);
    for (const id of created) expect(linked('contacts', id, 'companies')).to.deep.equal([{ toObjectId: acme, types: [DEFAULT_CONTACT_TO_COMPANY] }]);

    sim.requests.length = 0;
    await adapter.batchUpsert({ objectType: 'contacts', idProperty: 'email', items: created.map((crmId, n) => ({ ...items(acme!)[n]!, crmId })) });
    expect(calls()).to.deep.equal(['POST /crm/objects/2026-03/contacts/batch/update', 'POST /crm/associations/2026-03/contacts/companies/batch/read']);

    sim.requests.length = 0;
    await adapter.batchUpsert({ objectType: 'contacts', idProperty: 'email', items: created.map((crmId, n) => ({ ...items(beta!)[n]!, crmId })) });
    expect(calls().slice(1)).to.deep.equal([
      'POST /crm/associations/2026-03/contacts/companies/batch/read',
      'POST /crm/associations/2026-03/contacts/companies/batch/labels/archive',
      'POST /crm/associations/2026-03/contacts/companies/batch/associate/default',
    ]);
    for (const id of created) expect(linked('contacts', id, 'companies').map((a) => a.toObjectId)).to.deep.equal([beta]);

    await adapter.upsert({ objectType: 'contacts', crmId: created[0], payload: { email: 'm1@example.com' }, associations: [{ toObjectType: 'companies', toIds: [] }] });
    expect(linked('contacts', created[0]!, 'companies')).to.deep.equal([]);
  });

  it('handles a large collection: creates in requests of 1,000, reads every page of the object\'s associations, archives only what left', async () => {
    const [acme] = await companies('acme.example');
    const contacts = (await adapter.batchUpsert({ objectType: 'contacts', idProperty: 'email', items: Array.from({ length: 1_100 }, (_, n) => ({ payload: { email: `c${n}@acme.example` } })) })).map(ok);
    sim.requests.length = 0;
    const linkTo = (toIds: string[]) => adapter.upsert({ objectType: 'companies', crmId: acme, payload: { domain: 'acme.example' }, associations: [{ toObjectType: 'contacts', toIds }] });

    await linkTo(contacts);
    expect(calls()).to.deep.equal([
      `PATCH /crm/objects/2026-03/companies/${acme}`,
      'POST /crm/associations/2026-03/companies/contacts/batch/read',
      'POST /crm/associations/2026-03/companies/contacts/batch/associate/default',
      'POST /crm/associations/2026-03/companies/contacts/batch/associate/default',
    ]);
    expect(sim.requests.slice(2).map((r) => (r.body as { inputs: unknown[] }).inputs.length)).to.deep.equal([1_000, 100]);
    expect(linked('companies', acme!, 'contacts')).to.have.length(1_100);

    sim.requests.length = 0;
    const leaving = contacts[1_050]!;
    await linkTo(contacts.filter((id) => id !== leaving));
    // HubSpot pages each object's associations (ASSOCIATION_READ_PAGE per answer here): the cursor goes back as the input's `after`
    expect(calls()).to.deep.equal([
      `PATCH /crm/objects/2026-03/companies/${acme}`,
      'POST /crm/associations/2026-03/companies/contacts/batch/read',
      'POST /crm/associations/2026-03/companies/contacts/batch/read',
      'POST /crm/associations/2026-03/companies/contacts/batch/read',
      'POST /crm/associations/2026-03/companies/contacts/batch/labels/archive',
    ]);
    const reads = sim.requests.slice(1, 4).map((r) => (r.body as { inputs: Array<{ id: string; after?: string }> }).inputs);
    expect(reads.map((inputs) => inputs.map((input) => input.after))).to.deep.equal([[undefined], [String(ASSOCIATION_READ_PAGE)], [String(2 * ASSOCIATION_READ_PAGE)]]);
    expect((sim.requests[4]!.body as { inputs: Array<{ to: { id: string } }> }).inputs.map((input) => input.to.id)).to.deep.equal([leaving]);
    expect(linked('companies', acme!, 'contacts')).to.have.length(1_099);
  });

  it('leaves an association marked unchanged alone on an object that existed, and gives it to an object it creates', async () => {
    const [acme] = await companies('acme.example');
    const { crmId } = await adapter.upsert({ objectType: 'deals', payload: { dealname: 'D' } });
    sim.requests.length = 0;
    await adapter.upsert({ objectType: 'deals', crmId, payload: { dealname: 'D' }, associations: [{ toObjectType: 'companies', toIds: [acme!], unchanged: true }] });
    expect(calls()).to.deep.equal([`PATCH /crm/objects/2026-03/deals/${crmId}`]);
    expect(linked('deals', crmId, 'companies')).to.deep.equal([]);
    const [created] = await adapter.batchUpsert({ objectType: 'deals', items: [{ payload: { dealname: 'E' }, associations: [{ toObjectType: 'companies', toIds: [acme!], unchanged: true }] }] });
    expect(linked('deals', ok(created), 'companies').map((a) => a.toObjectId)).to.deep.equal([acme]);
  });

  it('creates deals with their typed association inline (batch/create), with no v4 request', async () => {
    const [acme] = await companies('acme.example');
    const type = { category: 'HUBSPOT_DEFINED' as const, typeId: 5 };
    const results = await adapter.batchUpsert({
      objectType: 'deals',
      items: [{ payload: { dealname: 'One' }, associations: [{ toObjectType: 'companies', toIds: [acme!], type }] }, { payload: { dealname: 'Two' } }],
    });
    expect(calls()).to.deep.equal(['POST /crm/objects/2026-03/deals/batch/create']);
    expect(linked('deals', ok(results[0]), 'companies')).to.deep.equal([{ toObjectId: acme, types: [PRIMARY_DEAL_TO_COMPANY] }]);
    expect(linked('deals', ok(results[1]), 'companies')).to.deep.equal([]);
  });

  it('leaves associations of other types alone', async () => {
    const [acme] = await companies('acme.example');
    const { crmId } = await adapter.upsert({ objectType: 'deals', payload: { dealname: 'D' }, associations: [{ toObjectType: 'companies', toIds: [acme!] }] });
    await adapter.upsert({ objectType: 'deals', crmId, payload: { dealname: 'D' }, associations: [{ toObjectType: 'companies', toIds: [acme!], type: { category: 'HUBSPOT_DEFINED', typeId: 5 } }] });
    expect(linked('deals', crmId, 'companies')[0]!.types).to.have.deep.members([{ associationCategory: 'HUBSPOT_DEFINED', associationTypeId: 341 }, PRIMARY_DEAL_TO_COMPANY]);
    await adapter.upsert({ objectType: 'deals', crmId, payload: { dealname: 'D' }, associations: [{ toObjectType: 'companies', toIds: [], type: { category: 'HUBSPOT_DEFINED', typeId: 5 } }] });
    expect(linked('deals', crmId, 'companies')[0]!.types).to.deep.equal([{ associationCategory: 'HUBSPOT_DEFINED', associationTypeId: 341 }]);
  });

  it('fails only the item whose association HubSpot refuses', async () => {
    const [acme] = await companies('acme.example');
    const results = await adapter.batchUpsert({
      objectType: 'contacts',
      idProperty: 'email',
      items: [
        { payload: { email: 'good@example.com' }, associations: [{ toObjectType: 'companies', toIds: [acme!] }] },
        { payload: { email: 'bad@example.com' }, associations: [{ toObjectType: 'companies', toIds: ['999999'] }] },
      ],
    });
    ok(results[0]);
    expect(results[1]!.ok).to.equal(false);
    expect(sim.objects('contacts')).to.have.length(2);
    // the contact exists all the same: its id goes with the failure, so a retry does not create a twin
    const bad = sim.objects('contacts').find((c) => c.properties.email === 'bad@example.com')!;
    expect(results[1]).to.include({ crmId: bad.id });
  });

  it('refuses an Airtable-style `field` in a HubSpot declaration', () => {
    const config = { serializer: () => ({}), objectType: 'contacts', associations: [{ relation: 'org', field: 'Company' }] } as never;
    expect(adapter.checkDeclaration(config)).to.equal('association `org`: `field` is for Airtable\'s linked-record fields; HubSpot associations take a `type`');
  });

  describe('declared on entities', () => {
    let orm: MikroORM;
    let drop: () => Promise<void>;

    before(async () => {
      const db = await createTestDatabase();
      drop = db.drop;
      const etlify = new Etlify({ crms: { hubspot: { adapter, rateLimit: false } } });
      orm = await MikroORM.init({ clientUrl: db.url, entities: associationEntities, extensions: [etlify] });
      await orm.schema.create();
      await migrateEtlify(orm);
    });
    after(async () => {
      await orm.close(true);
      await drop();
    });

    it('waits for the associated record’s CRM id, associates, and follows the relation when it changes', async () => {
      const em = orm.em.fork();
      const acme = em.create(Org, { name: 'Acme', domain: 'acme.example' });
      const beta = em.create(Org, { name: 'Beta', domain: 'beta.example' });
      const ann = em.create(Member, { email: 'ann@example.com', org: acme });
      const deal = em.create(Opportunity, { title: 'Big', org: acme });
      await em.flush();

      expect(await ann.hubspotSync({ inline: true })).to.equal('buffered');
      await syncStale(orm, { inline: true, entities: ['Org'] });
      expect(await ann.hubspotSync({ inline: true })).to.equal('synced');
      expect(await deal.hubspotSync({ inline: true })).to.equal('synced');
      const crmId = async (record: object, id: number) =>
        (await em.getConnection().execute(`select crm_id from crm_synchronisations where resource_type = ? and resource_id = ?`, [record.constructor.name, String(id)]))[0].crm_id as string;
      const [annId, acmeId, betaId, dealId] = [await crmId(ann, ann.id), await crmId(acme, acme.id), await crmId(beta, beta.id), await crmId(deal, deal.id)];
      expect(linked('contacts', annId, 'companies')).to.deep.equal([{ toObjectId: acmeId, types: [DEFAULT_CONTACT_TO_COMPANY] }]);
      expect(linked('deals', dealId, 'companies')).to.deep.equal([{ toObjectId: acmeId, types: [PRIMARY_DEAL_TO_COMPANY] }]);

      sim.requests.length = 0;
      expect(await ann.hubspotSync({ inline: true })).to.equal('not_modified');
      expect(sim.requests).to.deep.equal([]);
      // the dry run digests associations as the engine does: nothing to send means `unchanged`
      expect((await planSync(orm, 'hubspot', 'Member', [String(ann.id)])).map(p => p.action)).to.deep.equal(['unchanged']);
      expect((await planSync(orm, 'hubspot', 'Opportunity', [String(deal.id)])).map(p => p.action)).to.deep.equal(['unchanged']);

      ann.org = beta;
      await em.flush();
      expect(await ann.hubspotSync({ inline: true })).to.equal('synced');
      expect(linked('contacts', annId, 'companies').map((a) => a.toObjectId)).to.deep.equal([betaId]);
      ann.org = null;
      await em.flush();
      expect(await ann.hubspotSync({ inline: true })).to.equal('synced');
      expect(linked('contacts', annId, 'companies')).to.deep.equal([]);
    });

    it('is refused at MikroORM.init for an adapter without associations', async () => {
      const etlify = new Etlify({ crms: { hubspot: { adapter: new RecordingAdapter() } } });
      const error = await MikroORM.init({ clientUrl: process.env.DATABASE_URL, entities: associationEntities, extensions: [etlify] }).catch((e: unknown) => e);
      expect(error).to.be.instanceOf(ConfigurationError);
      expect((error as Error).message).to.match(/^(Member|Opportunity) \(CRM `hubspot`\): association `org`: the adapter of `hubspot` does not support associations$/);
    });
  });
});
