// One worker process of the convergence scenario: `node worker.ts <databaseUrl> <hubspotUrl> <leaseMs> <deadWorkerAfterMs>`.
import { MikroORM } from '@mikro-orm/postgresql';
import { Etlify, HubspotAdapter, runWorker } from '../../../src/index.ts';
import { crmOptions } from './crm.ts';
import { entities } from './model.ts';

const [databaseUrl, hubspotUrl, leaseMs, deadWorkerAfterMs] = process.argv.slice(2);
const etlify = new Etlify({ crms: { hubspot: crmOptions(new HubspotAdapter({ accessToken: 'convergence-token', baseUrl: hubspotUrl!, timeoutMs: 1_000 })) } });
const orm = await MikroORM.init({ clientUrl: databaseUrl, entities, extensions: [etlify], pool: { max: 10 } });
const runner = await runWorker(orm, { pollInterval: 100, claimLeaseMs: Number(leaseMs), deadWorkerAfterMs: Number(deadWorkerAfterMs), databaseTimeoutMs: 60_000 });
console.log('ready');
await runner.promise;
await orm.close();
