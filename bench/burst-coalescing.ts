// Burst coalescing: 50 flushes of one user, 10 ms apart, with the default batching delay (250 ms),
// synced by two turnkey workers (concurrency 4 each) into a zero-latency CRM. Counts the CRM writes of
// that user per run (5 runs; the headline is the worst) and checks that the last write carries the
// last value.
import type { Runner } from 'graphile-worker';
import { NullAdapter, runWorker } from '../src/index.ts';
import { RecordingAdapter, waitForSyncQueue } from '../src/testing/index.ts';
import { User } from '../test/support/model.ts';
import { report } from './report.ts';
import { createBenchApp, progress, type BenchApp } from './support/app.ts';
import { benchPostgres } from './support/postgres.ts';

const RUNS = 5;
const FLUSHES = 50;
const pg = await benchPostgres();
let app: BenchApp | undefined;
const workers: Runner[] = [];
try {
  const hubspot = new RecordingAdapter();
  app = await createBenchApp({
    etlify: { crms: { hubspot: { adapter: hubspot }, airtable: { adapter: new NullAdapter(), enabled: false } } },
    orm: { pool: { max: 16 } },
  });
  for (let i = 0; i < 2; i++) workers.push(await runWorker(app.orm, { handleSignals: false }));
  const writes: number[] = [];
  for (let run = 0; run < RUNS; run++) {
    const em = app.orm.em.fork();
    const user = em.create(User, { email: `burst${run}@example.com`, firstName: 'v0' });
    await em.flush();
    const started = Date.now();
    for (let i = 1; i <= FLUSHES; i++) {
      user.firstName = `v${i}`;
      await em.flush();
      await new Promise(resolve => setTimeout(resolve, 10));
    }
    progress(`run ${run + 1}: ${FLUSHES} flushes in ${Date.now() - started} ms`);
    await waitForSyncQueue(app.orm, { timeoutMs: 30_000 });
    const sent = hubspot.calls.filter(c => c.method.endsWith('psert')).flatMap(c => c.payloads).filter(p => p.email === user.email);
    if (sent.at(-1)?.firstname !== `v${FLUSHES}`) throw new Error(`run ${run + 1}: the last write carried ${JSON.stringify(sent.at(-1)?.firstname)}, not v${FLUSHES}`);
    writes.push(sent.length);
  }
  report({
    bench: 'burst-coalescing',
    metric: 'crm_writes_per_burst',
    value: Math.max(...writes),
    unit: 'writes',
    target: '<= 3',
    per_run: writes,
    flushes: FLUSHES,
    flush_gap_ms: 10,
    batch_delay_ms: 250,
    workers: 2,
  });
} finally {
  await Promise.all(workers.map(w => w.stop()));
  await app?.close();
  await pg.stop();
}
