// reconcile against 100,000 synced contacts in the HubSpot simulator, 1 % of them edited in HubSpot.
// The simulator and the sync state are seeded directly (a sync of 100,000 records through the worker
// would measure the worker). The JSON line's value is the CRM requests reconcile made (batch reads of
// 100 ids: 1,000, plus the count of objects Etlify never created), with records checked per second and
// the differences found, which must equal the edits.
import { defineEntity, p } from '@mikro-orm/core';
import { MikroORM } from '@mikro-orm/postgresql';
import { Etlify, etlified, HubspotAdapter, migrateEtlify, reconcile } from '../src/index.ts';
import { startHubspotSimulator } from '../src/testing/index.ts';
import { collectingLogger } from '../test/support/app.ts';
import { createTestDatabase } from '../test/support/postgres.ts';
import { report } from './report.ts';
import { progress, round } from './support/app.ts';
import { benchPostgres } from './support/postgres.ts';

const CONTACTS = Number(process.env.BENCH_RECORDS ?? 100_000);
const EDITED_EVERY = 100;

const ContactSchema = defineEntity({
  name: 'Contact',
  properties: { id: p.integer().primary(), email: p.string(), firstName: p.string(), age: p.integer(), vip: p.boolean() },
});
class Contact extends etlified(ContactSchema.class, {
  hubspot: { serializer: c => ({ email: c.email, firstname: c.firstName, age: c.age, vip: c.vip }), objectType: 'contacts', idProperty: 'email' },
}) {}
ContactSchema.setClass(Contact);

const pg = await benchPostgres();
const sim = await startHubspotSimulator({ rateLimit: false, searchRateLimit: false });
const db = await createTestDatabase('etlify_bench_reconcile');
const etlify = new Etlify({ logger: collectingLogger(), crms: { hubspot: { adapter: new HubspotAdapter({ accessToken: 'bench', baseUrl: sim.url }), rateLimit: false } } });
const orm = await MikroORM.init({ clientUrl: db.url, entities: [Contact], extensions: [etlify] });
try {
  await orm.schema.create();
  await migrateEtlify(orm);
  const connection = orm.em.getConnection();
  await connection.execute(`insert into contact (id, email, first_name, age, vip)
    select i, 'Contact' || i || '@Example.com', 'First ' || i, 20 + i % 50, i % 3 = 0 from generate_series(1, ${CONTACTS}) as i`);
  const crmIds: string[] = [];
  let edited = 0;
  for (let i = 1; i <= CONTACTS; i++) {
    const id = sim.create('contacts', { email: `contact${i}@example.com`, firstname: `First ${i}`, age: String(20 + (i % 50)), vip: String(i % 3 === 0) });
    crmIds.push(id);
    if (i % EDITED_EVERY === 0) {
      sim.edit('contacts', id, { firstname: `Edited ${i}` });
      edited += 1;
    }
  }
  await connection.execute(`insert into crm_synchronisations (resource_type, resource_id, crm_name, crm_id, object_type, last_digest, last_synced_at, last_outcome)
    select 'Contact', i::text, 'hubspot', (?::text[])[i], 'contacts', md5(i::text), now(), 'synced' from generate_series(1, ${CONTACTS}) as i`, [`{${crmIds.join(',')}}`]);
  progress(`${CONTACTS} contacts in the database and the simulator, ${edited} edited in HubSpot; reconciling`);
  sim.requests.length = 0;
  const started = performance.now();
  const result = await reconcile(orm, { crm: 'hubspot' });
  const seconds = (performance.now() - started) / 1000;
  const [unit] = result.units;
  if (result.differences !== edited || unit!.counts.divergent !== edited || unit!.counts.inSync !== CONTACTS - edited) {
    throw new Error(`reconcile found ${JSON.stringify(unit!.counts)}, expected ${edited} divergent and ${CONTACTS - edited} in sync`);
  }
  if (sim.requests.length !== result.requests) throw new Error(`the simulator saw ${sim.requests.length} requests, reconcile counted ${result.requests}`);
  report({
    bench: 'reconcile', metric: 'crm_requests_for_100k_contacts', value: result.requests, unit: 'requests', target: '<= 1010',
    contacts: CONTACTS, records_per_second: round(unit!.checked / seconds, 0), seconds: round(seconds, 1), differences: result.differences, seeded: edited,
  });
} finally {
  await orm.close(true);
  await db.drop();
  await sim.close();
  await pg.stop();
}
