// Inline syncs per second of unchanged records: `await user.hubspotSync({ inline: true })` against the
// NullAdapter, one record after the other, when every record's stored digest already matches
// (`not_modified`). That is the cost of the pipeline around the CRM call: a fork, the sync-state read,
// the record load (with its dependencies), serialize + digest, and the outcome write. Baseline: what a
// user compares it with, a bare `em.fork().findOne(User, id, { populate })` of the same record with the
// same populate (its declared dependencies), passes interleaved; `vs_findone` is the ratio of medians.
import { performance } from 'node:perf_hooks';
import { NullAdapter } from '../src/index.ts';
import { declarationsOf } from '../src/entity/declarations.ts';
import { User } from '../test/support/model.ts';
import { report } from './report.ts';
import { createBenchApp, median, progress, round } from './support/app.ts';
import { benchPostgres } from './support/postgres.ts';

const RECORDS = Number(process.env.BENCH_RECORDS ?? 2_000);
const PASSES = Number(process.env.BENCH_PASSES ?? 3);

const pg = await benchPostgres();
const app = await createBenchApp({
  etlify: { crms: { hubspot: { adapter: new NullAdapter() }, airtable: { adapter: new NullAdapter(), enabled: false } } },
});
try {
  const em = app.orm.em.fork();
  const users = Array.from({ length: RECORDS }, (_, i) => em.create(User, { email: `inline${i}@example.com`, firstName: `First${i}`, lastName: `Last${i}` }));
  await em.flush();
  await app.execute('delete from etlify_sync_requests'); // no worker here: only the inline path runs

  const pass = async (expected: string) => {
    const start = performance.now();
    for (const user of users) {
      const result = await user.hubspotSync({ inline: true });
      if (result !== expected) throw new Error(`expected ${expected}, got ${result} for ${user.email}`);
    }
    return performance.now() - start;
  };
  const syncedMs = await pass('synced');
  progress(`first pass (synced): ${RECORDS} records in ${Math.round(syncedMs)} ms`);
  const populate = declarationsOf(User).get('hubspot')!.dependencies as never[];
  const findOnePass = async () => {
    const start = performance.now();
    for (const user of users) {
      if (!await app.orm.em.fork().findOne(User, user.id, { populate })) throw new Error(`user ${user.id} not found`);
    }
    return performance.now() - start;
  };
  const warm = await pass('not_modified'); // JIT and connection pool warm-up
  await findOnePass();
  progress(`warm-up pass (not_modified): ${Math.round(warm)} ms`);
  const notModified: number[] = [];
  const findOne: number[] = [];
  for (let i = 0; i < PASSES; i++) {
    notModified.push(await pass('not_modified'));
    findOne.push(await findOnePass());
    progress(`pass ${i + 1}/${PASSES}: not_modified ${Math.round(notModified.at(-1)!)} ms, findOne ${Math.round(findOne.at(-1)!)} ms`);
  }
  const notModifiedMs = median(notModified);
  const findOneMs = median(findOne);
  // The same with 4 callers at once (a web app serving requests in parallel): not the headline.
  const concurrentStart = performance.now();
  await Promise.all([0, 1, 2, 3].map(async k => {
    for (let i = k; i < users.length; i += 4) {
      const result = await users[i]!.hubspotSync({ inline: true });
      if (result !== 'not_modified') throw new Error(`expected not_modified, got ${result}`);
    }
  }));
  const concurrentMs = performance.now() - concurrentStart;
  const [{ n }] = await app.execute<{ n: number }>(`select count(*)::int as n from crm_synchronisations where crm_name = 'hubspot' and crm_id is not null`);
  if (n !== RECORDS) throw new Error(`expected ${RECORDS} sync rows, found ${n}`);

  const perSec = (RECORDS * 1000) / notModifiedMs;
  report({
    bench: 'inline-sync',
    metric: 'not_modified_per_sec',
    value: Math.round(perSec),
    unit: 'syncs/s',
    target: '>= 1000',
    records: RECORDS,
    per_sync_ms: round(notModifiedMs / RECORDS, 3),
    vs_findone: round(notModifiedMs / findOneMs),
    vs_findone_target: '<= 1.5',
    findone_per_sec: Math.round((RECORDS * 1000) / findOneMs),
    populate,
    synced_per_sec: Math.round((RECORDS * 1000) / syncedMs),
    not_modified_per_sec_4_callers: Math.round((RECORDS * 1000) / concurrentMs),
    adapter: 'NullAdapter',
  });
} finally {
  await app.close();
  await pg.stop();
}
