// HubSpot's official client (@hubspot/api-client) drives the simulator through the operations Etlify
// and typical users rely on: if the simulator drifts from what the real client sends or expects
// (paths, query parameters, body and answer shapes), these fail. They run once per API version the
// adapter speaks: the client has no date-based release yet (HubSpot/hubspot-api-nodejs#689), so for
// dated versions a middleware moves its numbered paths to their dated twins, which HubSpot documents
// as taking the same bodies.
import { Client } from '@hubspot/api-client';
import { AssociationSpecAssociationCategoryEnum } from '@hubspot/api-client/lib/codegen/crm/associations/v4/index.js';
import { expect } from 'chai';
import { HUBSPOT_API_VERSIONS, type HubspotApiVersion } from '../../src/adapters/hubspot/index.ts';
import { startHubspotSimulator, type HubspotSimulator } from '../../src/testing/index.ts';

const TOKEN = 'conformance-token';
const HUBSPOT_DEFINED = AssociationSpecAssociationCategoryEnum.HubspotDefined;

/** The numbered path's twin in `version`: `/crm/v3/objects/…` → `/crm/objects/2026-03/…`, `/crm/v4/associations/…` → `/crm/associations/2026-03/…`. */
function inVersion(version: HubspotApiVersion, path: string): string {
  if (version === 'v3') return path;
  return path.replace('/crm/v3/objects/', `/crm/objects/${version}/`).replace('/crm/v4/associations/', `/crm/associations/${version}/`);
}

function clientFor(version: HubspotApiVersion, basePath: string): Client {
  const middleware = [{
    pre: (context: { getUrl(): string; setUrl(url: string): void }) => {
      context.setUrl(inVersion(version, context.getUrl()));
      return context;
    },
    post: (context: unknown) => context,
  }];
  return new Client({ accessToken: TOKEN, basePath, middleware });
}

for (const apiVersion of HUBSPOT_API_VERSIONS) describe(`HubSpot simulator conformance (@hubspot/api-client, ${apiVersion} paths)`, () => {
  let sim: HubspotSimulator;
  let hubspot: Client;
  const path = (numbered: string) => inVersion(apiVersion, numbered);

  before(async () => {
    sim = await startHubspotSimulator({ accessToken: TOKEN, rateLimit: false, searchRateLimit: false, uniqueProperties: { companies: ['domain'] } });
    hubspot = clientFor(apiVersion, sim.url);
  });
  afterEach(function () {
    // every request went to this version's paths
    const prefixes = apiVersion === 'v3' ? ['/crm/v3/', '/crm/v4/'] : [`/crm/objects/${apiVersion}/`, `/crm/associations/${apiVersion}/`];
    if (this.currentTest?.state === 'passed') expect(sim.requests.map((r) => r.path).filter((p) => !prefixes.some((prefix) => p.startsWith(prefix)))).to.deep.equal([]);
    sim.reset();
  });
  after(() => sim.close());

  it('creates, reads (by id and by idProperty), updates, clears and archives a contact', async () => {
    const created = await hubspot.crm.contacts.basicApi.create({ properties: { email: 'Ann@Example.com', firstname: 'Ann' }, associations: [] });
    expect(created.id).to.match(/^\d+$/);
    expect(created.createdAt).to.be.instanceOf(Date);

    const byEmail = await hubspot.crm.contacts.basicApi.getById('ann@example.com', ['firstname'], undefined, undefined, false, 'email');
    expect(byEmail.id).to.equal(created.id);
    expect(byEmail.properties).to.deep.equal({ firstname: 'Ann' });

    await hubspot.crm.contacts.basicApi.update(created.id, { properties: { firstname: '' } });
    expect((await hubspot.crm.contacts.basicApi.getById(created.id, ['firstname'])).properties.firstname).to.equal('');

    await hubspot.crm.contacts.basicApi.archive(created.id);
    const gone = await hubspot.crm.contacts.basicApi.getById(created.id).catch((error: { code: number }) => error);
    expect(gone).to.have.property('code', 404);
    const archived = await hubspot.crm.contacts.basicApi.getById(created.id, ['email'], undefined, undefined, true);
    expect(archived.archived).to.equal(true);
    expect(archived.properties.email).to.equal('ann@example.com');
  });

  it('ignores null (HubSpot clears only on "")', async () => {
    const { id } = await hubspot.crm.contacts.basicApi.create({ properties: { email: 'keep@example.com', lastname: 'Kept' }, associations: [] });
    // The client's types allow strings only; apiRequest sends what a JS caller would.
    await hubspot.apiRequest({ method: 'PATCH', path: path(`/crm/v3/objects/contacts/${id}`), body: { properties: { lastname: null } } });
    expect((await hubspot.crm.contacts.basicApi.getById(id, ['lastname'])).properties.lastname).to.equal('Kept');
  });

  it('lists with limit, properties and the after cursor', async () => {
    const ids: string[] = [];
    for (const name of ['a', 'b', 'c']) ids.push((await hubspot.crm.companies.basicApi.create({ properties: { name, domain: `${name}.example` }, associations: [] })).id);
    const first = await hubspot.crm.companies.basicApi.getPage(2, undefined, ['name']);
    expect(first.results.map((c) => c.properties.name)).to.deep.equal(['a', 'b']);
    const second = await hubspot.crm.companies.basicApi.getPage(2, first.paging!.next!.after, ['name']);
    expect(second.results.map((c) => c.id)).to.deep.equal([ids[2]]);
    expect(second.paging).to.equal(undefined);
    const all = await hubspot.crm.companies.getAll(undefined, undefined, ['domain']);
    expect(all.map((c) => c.properties.domain)).to.deep.equal(['a.example', 'b.example', 'c.example']);
  });

  it('batch create, upsert, update, read and archive', async () => {
    const created = await hubspot.crm.deals.batchApi.create({
      inputs: [{ properties: { dealname: 'One' }, associations: [], objectWriteTraceId: 't0' }, { properties: { dealname: 'Two' }, associations: [] }],
    });
    expect(created.results.map((d) => d.properties.dealname)).to.deep.equal(['One', 'Two']);
    expect(created.results[0]!.objectWriteTraceId).to.equal('t0');

    const upserted = await hubspot.crm.contacts.batchApi.upsert({
      inputs: [{ id: 'bob@example.com', idProperty: 'email', properties: { firstname: 'Bob' } }],
    });
    expect(upserted.results[0]!.properties.email).to.equal('bob@example.com');
    expect(upserted.results[0]!._new).to.equal(true);

    const ids = created.results.map((d) => d.id);
    await hubspot.crm.deals.batchApi.update({ inputs: ids.map((id) => ({ id, properties: { amount: '10' } })) });
    const read = await hubspot.crm.deals.batchApi.read({ inputs: ids.map((id) => ({ id })), properties: ['amount'], propertiesWithHistory: [] });
    expect(read.results.map((d) => d.properties.amount)).to.deep.equal(['10', '10']);

    await hubspot.crm.deals.batchApi.archive({ inputs: [{ id: ids[0]! }] });
    expect(sim.objects('deals').map((d) => d.id)).to.deep.equal([ids[1]]);
  });

  it('merges two contacts into a new one: both old ids read, update and batch-read as it; the secondary email stays taken', async () => {
    const primary = await hubspot.crm.contacts.basicApi.create({ properties: { email: 'pat@example.com', firstname: 'Pat' }, associations: [] });
    const other = await hubspot.crm.contacts.basicApi.create({ properties: { email: 'patricia@example.com', lastname: 'Lee' }, associations: [] });
    const merged = await hubspot.crm.contacts.basicApi.merge({ primaryObjectId: primary.id, objectIdToMerge: other.id });
    expect(merged.id).to.not.be.oneOf([primary.id, other.id]);
    expect(merged.properties).to.include({ email: 'pat@example.com', firstname: 'Pat', lastname: 'Lee' });
    for (const old of [primary.id, other.id]) expect((await hubspot.crm.contacts.basicApi.getById(old, ['email'])).id).to.equal(merged.id);
    const updated = await hubspot.crm.contacts.basicApi.update(other.id, { properties: { firstname: 'Patty' } });
    expect(updated.id).to.equal(merged.id);
    const read = await hubspot.crm.contacts.batchApi.read({ inputs: [{ id: primary.id }], properties: ['firstname', 'hs_merged_object_ids'], propertiesWithHistory: [] });
    expect(read.results.map((c) => [c.id, c.properties.firstname, c.properties.hs_merged_object_ids?.split(';').sort()])).to.deep.equal([[merged.id, 'Patty', [primary.id, other.id].sort()]]);
    const taken = await hubspot.crm.contacts.basicApi.create({ properties: { email: 'patricia@example.com' }, associations: [] }).catch((error: { code: number }) => error);
    expect(taken).to.have.property('code', 409);
    expect(sim.objects('contacts').map((c) => c.id)).to.deep.equal([merged.id]);
  });

  it('refuses a whole batch create when one input conflicts', async () => {
    await hubspot.crm.contacts.basicApi.create({ properties: { email: 'taken@example.com' }, associations: [] });
    const refused = await hubspot.crm.contacts.batchApi
      .create({ inputs: [{ properties: { email: 'fresh@example.com' }, associations: [] }, { properties: { email: 'TAKEN@example.com' }, associations: [] }] })
      .catch((error: { code: number; body: { category: string } }) => error);
    expect(refused).to.have.property('code', 409);
    expect(sim.objects('contacts').map((c) => c.properties.email)).to.deep.equal(['taken@example.com']);
  });

  it('searches with filters, sorts, properties and paging', async () => {
    for (const [name, amount] of [['x', '30'], ['y', '10'], ['z', '20']] as const) {
      await hubspot.crm.deals.basicApi.create({ properties: { dealname: name, amount, pipeline: 'default' }, associations: [] });
    }
    const page = await hubspot.crm.deals.searchApi.doSearch({
      filterGroups: [{ filters: [{ propertyName: 'pipeline', operator: 'EQ' as never, value: 'default' }] }],
      sorts: ['amount'],
      properties: ['dealname'],
      limit: 2,
      after: '0',
    });
    expect(page.total).to.equal(3);
    expect(page.results.map((d) => d.properties.dealname)).to.have.members(['x', 'y']);
    expect(page.paging?.next?.after).to.equal('2');
  });

  it('associates on create and through the v4 batch endpoints, then reads and removes them', async () => {
    const company = await hubspot.crm.companies.basicApi.create({ properties: { name: 'Acme', domain: 'acme.example' }, associations: [] });
    const deal = await hubspot.crm.deals.basicApi.create({
      properties: { dealname: 'Big' },
      associations: [{ to: { id: company.id }, types: [{ associationCategory: HUBSPOT_DEFINED, associationTypeId: 341 }] }],
    });
    const contact = await hubspot.crm.contacts.basicApi.create({ properties: { email: 'c@acme.example' }, associations: [] });

    await hubspot.crm.associations.v4.batchApi.createDefault('contacts', 'companies', { inputs: [{ _from: { id: contact.id }, to: { id: company.id } }] });
    await hubspot.crm.associations.v4.batchApi.create('deals', 'contacts', {
      inputs: [{ _from: { id: deal.id }, to: { id: contact.id }, types: [{ associationCategory: HUBSPOT_DEFINED, associationTypeId: 3 }] }],
    });

    const fromCompany = await hubspot.crm.associations.v4.batchApi.getPage('companies', 'deals', { inputs: [{ id: company.id }] });
    expect(fromCompany.results[0]!.to.map((t) => [t.toObjectId, t.associationTypes.map((a) => a.typeId)])).to.deep.equal([[deal.id, [342]]]);
    expect(sim.associations('contacts', contact.id, 'companies')).to.deep.equal([
      { toObjectId: company.id, types: [{ associationCategory: 'HUBSPOT_DEFINED', associationTypeId: 279 }] },
    ]);

    await hubspot.crm.associations.v4.batchApi.archive('deals', 'companies', { inputs: [{ _from: { id: deal.id }, to: [{ id: company.id }] }] });
    expect(sim.associations('companies', company.id, 'deals')).to.deep.equal([]);
  });

  it('pages a company\'s many associations per object in batch read, and archives labels and several links at once (to-many associations)', async () => {
    const company = await hubspot.crm.companies.basicApi.create({ properties: { name: 'Big', domain: 'big.example' }, associations: [] });
    const contactIds: string[] = [];
    for (let batch = 0; batch < 6; batch++) {
      const created = await hubspot.crm.contacts.batchApi.create({ inputs: Array.from({ length: 100 }, (_, n) => ({ properties: { email: `c${batch * 100 + n}@big.example` }, associations: [] })) });
      contactIds.push(...created.results.map((c) => c.id));
    }
    const companyToContact = { associationCategory: HUBSPOT_DEFINED, associationTypeId: 280 };
    const created = await hubspot.crm.associations.v4.batchApi.create('companies', 'contacts', { inputs: contactIds.map((id) => ({ _from: { id: company.id }, to: { id }, types: [companyToContact] })) });
    expect(created.results).to.have.length(600);

    // each result carries its own paging; the cursor goes back as the input's `after`
    const seen: string[] = [];
    let after: string | undefined;
    let pages = 0;
    do {
      pages++;
      const page = await hubspot.crm.associations.v4.batchApi.getPage('companies', 'contacts', { inputs: [{ id: company.id, ...(after ? { after } : {}) }] });
      const [result] = page.results;
      seen.push(...result!.to.map((t) => String(t.toObjectId)));
      after = result!.paging?.next?.after;
    } while (after);
    expect(seen).to.have.members(contactIds);
    expect(pages).to.equal(2); // 500, then 100

    await hubspot.crm.associations.v4.batchApi.archiveLabels('companies', 'contacts', { inputs: [{ _from: { id: company.id }, to: { id: contactIds[0]! }, types: [companyToContact] }] });
    await hubspot.crm.associations.v4.batchApi.archive('companies', 'contacts', { inputs: [{ _from: { id: company.id }, to: contactIds.slice(1, 3).map((id) => ({ id })) }] });
    expect(sim.associations('companies', company.id, 'contacts')).to.have.length(597);
    expect(sim.associations('contacts', contactIds[1]!, 'companies')).to.deep.equal([]);
  });

  it('reports the rate-limit headers, daily ones included, and 429s as the client expects', async () => {
    const limited = await startHubspotSimulator({ accessToken: TOKEN, rateLimit: { maxRequests: 1, perMs: 60_000 }, dailyLimit: 500_000 });
    try {
      const client = clientFor(apiVersion, limited.url);
      const answer = await client.apiRequest({ method: 'GET', path: path('/crm/v3/objects/contacts?limit=1') });
      expect(answer.headers.get('x-hubspot-ratelimit-daily')).to.equal('500000');
      expect(answer.headers.get('x-hubspot-ratelimit-daily-remaining')).to.equal('499999');
      const refused = await client.crm.contacts.basicApi.getPage(1).catch((error: { code: number }) => error);
      expect(refused).to.have.property('code', 429);
    } finally {
      await limited.close();
    }
  });
});
