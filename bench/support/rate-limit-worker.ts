// One worker process of bench/rate-limit.ts: `node bench/support/rate-limit-worker.ts <databaseUrl>
// <hubspotUrl> <maxRequests> <perMs>`. The real HubspotAdapter, pointed at the simulator, with the
// CRM's request budget shared through PostgreSQL. Prints "worker started" once it polls for jobs, and
// stops gracefully on SIGTERM.
import { MikroORM } from '@mikro-orm/postgresql';
import { Etlify, HubspotAdapter, NullAdapter, runWorker } from '../../src/index.ts';
import { collectingLogger } from '../../test/support/app.ts';
import { entities } from '../../test/support/model.ts';

const [databaseUrl, hubspotUrl, maxRequests, perMs] = process.argv.slice(2);
if (!databaseUrl || !hubspotUrl) throw new Error('usage: rate-limit-worker.ts <databaseUrl> <hubspotUrl> [maxRequests] [perMs]');
const pollInterval = Number(process.env.BENCH_POLL_INTERVAL ?? 50);
const etlify = new Etlify({
  logger: collectingLogger(), // retried (rate-limited) chunks are expected here; keep stderr for real failures
  crms: {
    hubspot: {
      adapter: new HubspotAdapter({ accessToken: 'bench-token', baseUrl: hubspotUrl }),
      rateLimit: { maxRequests: Number(maxRequests ?? 100), perMs: Number(perMs ?? 10_000) },
      jobs: { batchDelayMs: 0, batchSize: 100 },
    },
    airtable: { adapter: new NullAdapter(), enabled: false },
  },
});
const orm = await MikroORM.init({ clientUrl: databaseUrl, entities, extensions: [etlify], pool: { max: 10 } });
const runner = await runWorker(orm, { pollInterval, concurrency: 4, handleSignals: false, sweepSchedule: false });
process.once('SIGTERM', () => {
  void runner.stop().finally(() => orm.close(true)).finally(() => process.exit(0));
});
console.log('worker started');
