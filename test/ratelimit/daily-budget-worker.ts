// A worker process for the daily-budget test: `node daily-budget-worker.ts <databaseUrl> <hubspotUrl> <portalTimeZone>`.
// HubSpot's daily limit is learnt from the simulator's headers; background work keeps 20 % in reserve.
import { MikroORM } from '@mikro-orm/postgresql';
import { Etlify, HubspotAdapter, NullAdapter, runWorker } from '../../src/index.ts';
import { entities } from '../support/model.ts';

const [databaseUrl, hubspotUrl, portalTimeZone] = process.argv.slice(2);
const etlify = new Etlify({
  crms: {
    hubspot: {
      adapter: new HubspotAdapter({ accessToken: 'daily-budget-token', baseUrl: hubspotUrl, portalTimeZone }),
      rateLimit: false, dailyBudget: { reserveShare: 0.2 }, jobs: { batchDelayMs: 0, batchSize: 10 },
    },
    airtable: { adapter: new NullAdapter(), enabled: false },
  },
});
const orm = await MikroORM.init({ clientUrl: databaseUrl, entities, extensions: [etlify] });
await runWorker(orm, { pollInterval: 50, handleSignals: true });
console.log('worker started');
