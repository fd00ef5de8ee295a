// Requests a first load costs. `syncStale({ inline: true })` sends, through the real HubspotAdapter to
// the HubSpot simulator:
// - 10,000 deals without a unique property (neither a stored id nor an idProperty value): batch/create,
//   100 per request. Target ≤ 110 requests (one per record before).
// - 100 companies, then 10,000 contacts each associated with one of them (test/support/association-model:
//   the declared association is created once both sides have CRM ids, with the v4 batch endpoint).
//   Target ≤ 220 requests in all.
import { HubspotAdapter, NullAdapter, syncStale } from '../src/index.ts';
import { startHubspotSimulator } from '../src/testing/index.ts';
import { associationEntities, Member, Org } from '../test/support/association-model.ts';
import { Deal } from '../test/support/model.ts';
import { report } from './report.ts';
import { createBenchApp, progress } from './support/app.ts';
import { benchPostgres } from './support/postgres.ts';

const RECORDS = Number(process.env.BENCH_RECORDS ?? 10_000);
const COMPANIES = 100;

const pg = await benchPostgres();
const simulator = await startHubspotSimulator({ rateLimit: false, searchRateLimit: false, uniqueProperties: { companies: ['domain'] } });
const crms = () => ({
  hubspot: { adapter: new HubspotAdapter({ accessToken: 'bench-token', baseUrl: simulator.url }), rateLimit: false as const },
  airtable: { adapter: new NullAdapter(), enabled: false },
});
const app = await createBenchApp({ etlify: { crms: crms() } });
const associated = await createBenchApp({ etlify: { crms: crms() }, orm: { entities: associationEntities } });
try {
  const count = (prefix: string) => simulator.requests.filter((request) => request.path.startsWith(prefix)).length;

  let em = app.orm.em.fork();
  for (let i = 0; i < RECORDS; i++) em.create(Deal, { title: `Deal ${i}`, company: null });
  await em.flush();
  const deals = await syncStale(app.orm, { inline: true, entities: ['Deal'] });
  if (deals.results.synced !== RECORDS) throw new Error(`expected ${RECORDS} deals synced, got ${JSON.stringify(deals.results)}`);
  const dealRequests = simulator.requests.length;
  progress(`${RECORDS} deals: ${dealRequests} requests (${count('/crm/objects/2026-03/deals/batch/create')} batch/create)`);

  simulator.requests.length = 0;
  em = associated.orm.em.fork();
  const orgs = Array.from({ length: COMPANIES }, (_, i) => em.create(Org, { name: `Company ${i}`, domain: `c${i}.example` }));
  for (let i = 0; i < RECORDS; i++) em.create(Member, { email: `first-load-${i}@example.com`, org: orgs[i % COMPANIES] });
  await em.flush();
  // companies first: members wait for their company's CRM id (they would be buffered otherwise)
  const companies = await syncStale(associated.orm, { inline: true, entities: ['Org'] });
  const contacts = await syncStale(associated.orm, { inline: true, entities: ['Member'] });
  if (companies.results.synced + contacts.results.synced !== RECORDS + COMPANIES) {
    throw new Error(`expected ${RECORDS + COMPANIES} synced, got ${JSON.stringify([companies.results, contacts.results])}`);
  }
  const linked = simulator.objects('contacts').filter((c) => simulator.associations('contacts', c.id, 'companies').length === 1).length;
  if (linked !== RECORDS) throw new Error(`expected ${RECORDS} contacts associated with their company, found ${linked}`);
  const contactRequests = simulator.requests.length;
  const associationRequests = count('/crm/associations/2026-03/');
  progress(`${COMPANIES} companies + ${RECORDS} contacts: ${contactRequests} requests (${associationRequests} association batches)`);

  report({
    bench: 'first-load',
    metric: 'requests_for_10k_deals_without_unique_property',
    value: dealRequests,
    unit: 'requests',
    target: '<= 110',
    contacts_with_company_requests: contactRequests,
    contacts_with_company_target: '<= 220',
    association_requests: associationRequests,
  });
} finally {
  await app.close();
  await associated.close();
  await simulator.close();
  await pg.stop();
}
