// What Etlify's change capture adds to `em.flush()`: 1,000 changed users flushed by an ORM with Etlify
// plugged in (both CRMs of the sample model enabled: 2,000 sync requests written in the flush's own
// transaction) versus the same flush by an ORM without Etlify (same entity classes, same schema, a
// separate database on the same server). The two are measured alternately, in the same run; per kind
// (updates of existing rows, creates) the median of the per-repetition ratios; the headline is the larger.
import type { EntityManager } from '@mikro-orm/core';
import { performance } from 'node:perf_hooks';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { NullAdapter } from '../src/index.ts';
import { User } from '../test/support/model.ts';
import { report } from './report.ts';
import { createBenchApp, median, progress, round, type BenchApp } from './support/app.ts';
import { benchPostgres } from './support/postgres.ts';

const ROWS = 1_000;
const WARMUP = 5;
const REPETITIONS = 121;

// Each timed flush starts on a clean heap, so a collection owed to the previous flush's garbage lands
// on neither variant (a flush's own garbage still counts).
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

const pg = await benchPostgres();
const apps: BenchApp[] = [];
try {
  const withEtlify = await createBenchApp({
    prefix: 'etlify_bench_on',
    etlify: { crms: { hubspot: { adapter: new NullAdapter() }, airtable: { adapter: new NullAdapter() } } },
  });
  apps.push(withEtlify);
  const plain = await createBenchApp({ prefix: 'etlify_bench_off', etlify: false });
  apps.push(plain);
  const variants = { etlify: withEtlify, plain } as const;
  type Variant = keyof typeof variants;

  for (const app of apps) {
    const em = app.orm.em.fork();
    for (let i = 0; i < ROWS; i++) em.create(User, { email: `flush${i}@example.com`, firstName: 'Ada', lastName: 'Lovelace' });
    await em.flush();
  }

  /** Loads the 1,000 users (untimed), changes each one, and times the flush alone. */
  const update = async (app: BenchApp, rep: number): Promise<number> => {
    const em: EntityManager = app.orm.em.fork();
    const users = await em.find(User, { email: { $like: 'flush%' } }, { orderBy: { id: 'asc' } });
    if (users.length !== ROWS) throw new Error(`expected ${ROWS} users, found ${users.length}`);
    users.forEach((user, i) => { user.firstName = `Ada ${rep}.${i}`; });
    gc();
    const start = performance.now();
    await em.flush();
    return performance.now() - start;
  };
  /** Times the flush of 1,000 new users. */
  const create = async (app: BenchApp, rep: number): Promise<number> => {
    const em: EntityManager = app.orm.em.fork();
    for (let i = 0; i < ROWS; i++) em.create(User, { email: `new${rep}.${i}@example.com`, firstName: 'Grace' });
    gc();
    const start = performance.now();
    await em.flush();
    return performance.now() - start;
  };

  const times = { update: { etlify: [] as number[], plain: [] as number[] }, create: { etlify: [] as number[], plain: [] as number[] } };
  for (let rep = 0; rep < WARMUP + REPETITIONS; rep++) {
    // Alternate which ORM goes first, so drift and cache effects hit both alike.
    const order: Variant[] = rep % 2 ? ['plain', 'etlify'] : ['etlify', 'plain'];
    for (const [kind, run] of [['update', update], ['create', create]] as const) {
      for (const variant of order) {
        const ms = await run(variants[variant], rep);
        if (rep >= WARMUP) times[kind][variant].push(ms);
      }
    }
    if (rep === WARMUP - 1) progress('warm-up done');
  }

  // The capture really happened: every user has its requests.
  const [{ n }] = await withEtlify.execute<{ n: number }>(
    'select count(distinct (q.crm_name, t.id))::int as n from etlify_sync_requests q, unnest(q.resource_ids) as t(id)');
  const expected = 2 * ROWS * (1 + WARMUP + REPETITIONS); // every user created (seed + creates), for both CRMs
  if (n !== expected) throw new Error(`expected ${expected} sync requests, found ${n}`);

  const ratio = (kind: 'update' | 'create') => median(times[kind].etlify.map((ms, i) => ms / times[kind].plain[i]!));
  report({
    bench: 'flush-overhead',
    metric: 'flush_overhead_ratio',
    // the larger of the two: creates must cost no more than updates do
    value: round(Math.max(ratio('update'), ratio('create'))),
    unit: 'ratio',
    target: '<= 1.10',
    update_ratio: round(ratio('update')),
    rows: ROWS,
    crms: 2,
    repetitions: REPETITIONS,
    update_etlify_ms: round(median(times.update.etlify)),
    update_plain_ms: round(median(times.update.plain)),
    create_ratio: round(ratio('create')),
    create_ratios: times.create.etlify.map((ms, i) => round(ms / times.create.plain[i]!)),
    create_etlify_ms: round(median(times.create.etlify)),
    create_plain_ms: round(median(times.create.plain)),
  });
} finally {
  for (const app of apps) await app.close();
  await pg.stop();
}
