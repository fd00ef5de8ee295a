// Requests to-many associations cost (issue 22 item 7), through the real HubspotAdapter to the HubSpot
// simulator, with test/support/to-many-model.ts (a firm's staff: a one-to-many collection declared as an
// association):
// - first load: 10,000 contacts, then 100 companies each associated with its 100 contacts
//   (`syncStale({ inline: true })`); the companies are created, so their associations are created
//   without any read: 100 + 1 + 10 requests. Target <= 115.
// - change: 10 companies each lose one contact and gain a new one, drained by the worker: one batch
//   each for the companies' write, the association read, the archive and the create. Target <= 4
//   (the new contacts' own create is counted apart).
// - unchanged: all 100 companies queued again and drained: nothing is sent. Target 0.
import { AirtableAdapter, HubspotAdapter, runWorker, syncStale } from '../src/index.ts';
import { startHubspotSimulator } from '../src/testing/index.ts';
import { Firm, Staffer, toManyEntities } from '../test/support/to-many-model.ts';
import { queueDrained, waitFor } from '../test/support/wait.ts';
import { report } from './report.ts';
import { createBenchApp, progress } from './support/app.ts';
import { benchPostgres } from './support/postgres.ts';

const FIRMS = 100;
const STAFF_PER_FIRM = Number(process.env.BENCH_STAFF_PER_FIRM ?? 100);
const CHANGED = 10;

const pg = await benchPostgres();
const simulator = await startHubspotSimulator({ rateLimit: false, searchRateLimit: false, uniqueProperties: { companies: ['domain'] } });
const app = await createBenchApp({
  etlify: {
    crms: {
      hubspot: { adapter: new HubspotAdapter({ accessToken: 'bench-token', baseUrl: simulator.url }), rateLimit: false, jobs: { batchDelayMs: 20 } },
      // declared by the model, never called
      airtable: { adapter: new AirtableAdapter({ accessToken: 'bench-token', baseId: 'appBench', baseUrl: 'http://127.0.0.1:9' }), enabled: false },
    },
  },
  orm: { entities: toManyEntities },
});
try {
  const count = (suffix: string) => simulator.requests.filter((request) => request.path.endsWith(suffix)).length;
  let em = app.orm.em.fork();
  const firms = Array.from({ length: FIRMS }, (_, f) => em.create(Firm, { name: `Firm ${f}`, domain: `f${f}.example` }));
  for (let i = 0; i < FIRMS * STAFF_PER_FIRM; i++) em.create(Staffer, { email: `s${i}@example.com`, name: `S ${i}`, firm: firms[i % FIRMS] });
  await em.flush();
  await app.execute('delete from etlify_sync_requests');
  // members first: the companies then link them all at creation
  await syncStale(app.orm, { inline: true, entities: ['Staffer'] });
  await syncStale(app.orm, { inline: true, entities: ['Firm'] });
  const firstLoad = simulator.requests.length;
  const linked = simulator.objects('companies').reduce((n, c) => n + simulator.associations('companies', c.id, 'contacts').length, 0);
  if (linked !== FIRMS * STAFF_PER_FIRM) throw new Error(`expected ${FIRMS * STAFF_PER_FIRM} associations, found ${linked}`);
  progress(`first load: ${firstLoad} requests (${count('/batch/associate/default')} association creates, ${count('/batch/read')} reads)`);

  em = app.orm.em.fork();
  const changed = await em.find(Firm, { domain: { $in: Array.from({ length: CHANGED }, (_, f) => `f${f}.example`) } }, { populate: ['staff'] });
  for (const firm of changed) {
    firm.staff.getItems()[0]!.firm = null;
    em.create(Staffer, { email: `new-${firm.id}@example.com`, name: 'New', firm });
  }
  await em.flush();
  simulator.requests.length = 0;
  const worker = await runWorker(app.orm, { handleSignals: false, pollInterval: 50, sweepSchedule: false });
  try {
    await waitFor('the change to drain', () => queueDrained(sql => app.execute(sql)), 120_000);
    const contactCreates = simulator.requests.filter((request) => request.path.startsWith('/crm/objects/2026-03/contacts/')).length;
    const change = simulator.requests.length - contactCreates;
    progress(`change of ${CHANGED} companies: ${change} requests (${count('/batch/labels/archive')} archive, ${count('/batch/associate/default')} create), plus ${contactCreates} for the new contacts`);

    simulator.requests.length = 0;
    em = app.orm.em.fork();
    for (const firm of await em.find(Firm, {})) await firm.hubspotSync();
    await waitFor('the re-queued companies to drain', () => queueDrained(sql => app.execute(sql)), 120_000);
    const unchanged = simulator.requests.length;
    progress(`${FIRMS} unchanged companies queued again: ${unchanged} requests`);

    report({
      bench: 'to-many-associations',
      metric: 'requests_for_10_companies_changing_members',
      value: change,
      unit: 'requests',
      target: '<= 4',
      first_load_requests: firstLoad,
      first_load_target: '<= 115',
      unchanged_requests: unchanged,
      unchanged_target: '0',
    });
  } finally {
    await worker.stop();
  }
} finally {
  await app.close();
  await simulator.close();
  await pg.stop();
}
