// A worker in its own process, for the crash tests:
// `node worker-process.ts <databaseUrl> <hubspotUrl> [claimLeaseMs] [rateLimit: 'none' for no request budget] [deadWorkerAfterMs]`.
import { MikroORM } from '@mikro-orm/postgresql';
import { Etlify, NullAdapter, runWorker } from '../../src/index.ts';
import { HubspotAdapter } from '../../src/adapters/hubspot/index.ts';
import { entities } from './model.ts';

const [databaseUrl, hubspotUrl, leaseMs, rateLimit, deadWorkerAfterMs] = process.argv.slice(2);
const etlify = new Etlify({
  crms: {
    hubspot: { adapter: new HubspotAdapter({ accessToken: 'crash-test-token', baseUrl: hubspotUrl }), deleteOnRemove: true, ...(rateLimit === 'none' ? { rateLimit: false as const } : {}), jobs: { batchDelayMs: 0 } },
    airtable: { adapter: new NullAdapter(), enabled: false },
  },
});
const orm = await MikroORM.init({ clientUrl: databaseUrl, entities, extensions: [etlify] });
await runWorker(orm, { pollInterval: 50, claimLeaseMs: leaseMs ? Number(leaseMs) : undefined, deadWorkerAfterMs: deadWorkerAfterMs ? Number(deadWorkerAfterMs) : undefined });
console.log('worker started');
