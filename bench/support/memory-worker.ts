// One worker process of bench/worker-memory.ts: `node bench/support/memory-worker.ts <databaseUrl>`.
// runWorker with the sample model, its heap sized like `etlify worker` sizes it (sizeHeapForWorker), and a
// zero-latency batch CRM that keeps nothing (so the process's memory is Etlify's and MikroORM's).
// Prints "worker started" once it polls, stops on SIGTERM.
import { MikroORM } from '@mikro-orm/postgresql';
import { Etlify, NullAdapter, runWorker, sizeHeapForWorker, type BatchItemResult, type BatchUpsertRequest, type CrmAdapter, type UpsertResult } from '../../src/index.ts';
import { collectingLogger } from '../../test/support/app.ts';
import { entities } from '../../test/support/model.ts';

/** Answers every batch at once and keeps only a counter. */
class ForgetfulAdapter implements CrmAdapter {
  readonly maxBatchSize = 100;
  #next = 0;
  async upsert(): Promise<UpsertResult> { return { crmId: `c-${++this.#next}` }; }
  async delete(): Promise<boolean> { return true; }
  async batchUpsert(request: BatchUpsertRequest): Promise<BatchItemResult[]> {
    return request.items.map(item => ({ ok: true, crmId: item.crmId || `c-${++this.#next}` }));
  }
}

// a process that is only a worker, as `etlify worker` runs it (BENCH_HEAP=default keeps V8's sizing)
if (process.env.BENCH_HEAP !== 'default') sizeHeapForWorker();

const [databaseUrl] = process.argv.slice(2);
if (!databaseUrl) throw new Error('usage: memory-worker.ts <databaseUrl>');
const etlify = new Etlify({
  logger: collectingLogger(),
  crms: { hubspot: { adapter: new ForgetfulAdapter(), jobs: { batchDelayMs: 0 } }, airtable: { adapter: new NullAdapter(), enabled: false } },
});
const orm = await MikroORM.init({ clientUrl: databaseUrl, entities, extensions: [etlify], pool: { max: 10 } });
const runner = await runWorker(orm, { pollInterval: 50, concurrency: Number(process.env.BENCH_CONCURRENCY ?? 4), handleSignals: false, sweepSchedule: false });
process.once('SIGTERM', () => {
  void runner.stop().finally(() => orm.close(true)).finally(() => process.exit(0));
});
console.log('worker started');
