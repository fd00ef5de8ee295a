// The stale finder at scale: 1,000,000 users (10,000 companies, 0–5 investments each, one sync row
// each), 1% made stale directly, through a company and through an investment. Times the finder's
// generated SQL against a hand-written expert query over the same data (median of 3 each), then syncs
// ~100,000 stale records inline into a zero-latency batch adapter (peak RSS, records/s), then runs
// again over unchanged data, which must not call the adapter at all.
import { MikroORM } from '@mikro-orm/postgresql';
import { performance } from 'node:perf_hooks';
import pg from 'pg';
import { Etlify, migrateEtlify, type BatchItemResult, type BatchUpsertRequest, type CrmAdapter, type UpsertResult } from '../src/index.ts';
import { syncStale } from '../src/stale/index.ts';
import { staleQuery } from '../src/stale/finder.ts';
import { staleUnits } from '../src/stale/units.ts';
import { entities } from '../test/support/model.ts';
import { createTestDatabase, startEmbeddedPostgres, type EmbeddedServer } from '../test/support/postgres.ts';
import { report } from './report.ts';

const USERS = 1_000_000;
const COMPANIES = 10_000;
const RUNS = 3;

/** Answers every batch at once, in order, and only counts. */
class CountingAdapter implements CrmAdapter {
  readonly maxBatchSize = 1000;
  calls = 0;
  #next = 0;
  async upsert(): Promise<UpsertResult> {
    this.calls++;
    return { crmId: `c-${++this.#next}` };
  }
  async delete(): Promise<boolean> {
    this.calls++;
    return true;
  }
  async batchUpsert(request: BatchUpsertRequest): Promise<BatchItemResult[]> {
    this.calls++;
    return request.items.map(item => ({ ok: true, crmId: item.crmId || `c-${++this.#next}` }));
  }
}

const log = (message: string) => console.error(`[stale-finder] ${message}`);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const round = (n: number, digits = 2) => Math.round(n * 10 ** digits) / 10 ** digits;

let server: EmbeddedServer | undefined;
if (!process.env.DATABASE_URL) {
  log('starting embedded PostgreSQL');
  server = await startEmbeddedPostgres();
  process.env.DATABASE_URL = server.url;
}
const db = await createTestDatabase('etlify_bench');
const adapter = new CountingAdapter();
const etlify = new Etlify({ crms: { hubspot: { adapter }, airtable: { adapter: new CountingAdapter(), enabled: false } } });
const orm = await MikroORM.init({ clientUrl: db.url, entities, extensions: [etlify], pool: { max: 6 } });
const client = new pg.Client({ connectionString: db.url });
await client.connect();

try {
  await orm.schema.create();
  await migrateEtlify(orm);

  log('generating data');
  let t = performance.now();
  const old = `now() - interval '10 days'`;
  await client.query(`insert into company (name, domain, created_at, updated_at)
    select 'Company ' || g, 'c' || g || '.test', ${old}, ${old} from generate_series(1, ${COMPANIES}) g`);
  await client.query(`insert into app_user (email, first_name, status, company_id, created_at, updated_at)
    select 'user' || g || '@example.test', 'User', 'active', 1 + g % ${COMPANIES}, ${old}, ${old} from generate_series(1, ${USERS}) g`);
  // 0–5 investments per user, spread over the table (the k-th investment of every user, then the next k)
  await client.query(`insert into investment (amount, user_id, created_at, updated_at)
    select 100 * k, u, ${old}, ${old} from generate_series(1, 5) k, generate_series(1, ${USERS}) u where k <= (u::bigint * 7919) % 6`);
  await client.query(`insert into crm_synchronisations (resource_type, resource_id, crm_name, crm_id, last_synced_at, last_outcome)
    select 'User', g::text, 'hubspot', 'c-' || g, now() - interval '1 day', 'synced' from generate_series(1, ${USERS}) g`);
  // 10,000 stale (1%): 4,000 directly, 3,000 through 30 companies, 3,000 through one investment each
  await client.query(`update app_user set updated_at = now() where id % 250 = 1`);
  await client.query(`update company set updated_at = now() where id in (select 1 + g * 97 from generate_series(1, 30) g)`);
  await client.query(`update investment set updated_at = now() where id in (
    select min(i.id) from investment i where i.user_id % 250 = 7 and i.user_id % ${COMPANIES} not in (select (1 + g * 97) - 1 from generate_series(1, 30) g) group by i.user_id limit 3000)`);
  await client.query('vacuum analyze');
  const [{ investments }] = (await client.query('select count(*)::int as investments from investment')).rows;
  const generateSeconds = (performance.now() - t) / 1000;
  log(`data ready in ${round(generateSeconds, 1)} s (${investments} investments)`);

  const em = orm.em.fork();
  const [unit] = staleUnits(etlify, orm.getMetadata(), { crm: 'hubspot', entities: ['User'] });
  const finder = staleQuery(em, unit!);
  const finderSql = em.getPlatform().formatQuery(finder.sql, finder.params);
  const expertSql = `
    select x.id from (
      select u.id from app_user u
        left join crm_synchronisations s on s.resource_type = 'User' and s.crm_name = 'hubspot' and s.resource_id = u.id::text
        left join company c on c.id = u.company_id
       where s.id is null
          or (s.error_count < 3 and coalesce(s.last_synced_at, 'epoch') < greatest(u.updated_at, c.updated_at))
      union
      select u.id from investment i
        join app_user u on u.id = i.user_id
        join crm_synchronisations s on s.resource_type = 'User' and s.crm_name = 'hubspot' and s.resource_id = u.id::text
       where s.error_count < 3 and i.updated_at > coalesce(s.last_synced_at, 'epoch')
    ) x order by x.id`;

  const time = async (text: string) => {
    const start = performance.now();
    const { rows } = await client.query(text);
    return { ms: performance.now() - start, ids: rows.map(r => Number(r.id)) };
  };
  const finderMs: number[] = [];
  const expertMs: number[] = [];
  let expected: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    // interleaved so cache warmth and drift hit both alike
    const e = await time(expertSql);
    const f = await time(finderSql);
    expertMs.push(e.ms);
    finderMs.push(f.ms);
    if (e.ids.join() !== f.ids.join()) throw new Error(`the finder returned ${f.ids.length} ids, the expert query ${e.ids.length}`);
    expected = f.ids;
  }
  if (expected.length !== 10_000) throw new Error(`expected 10,000 stale users, found ${expected.length}`);
  const ratio = median(finderMs) / median(expertMs);
  log(`finder ${round(median(finderMs))} ms, expert ${round(median(expertMs))} ms, ratio ${round(ratio)}`);

  // ~100,000 stale records, synced inline into the zero-latency adapter
  await client.query(`update app_user set updated_at = now() where id % 10 = 0`);
  await client.query('analyze app_user');
  let peakRss = process.memoryUsage.rss();
  const sampler = setInterval(() => { peakRss = Math.max(peakRss, process.memoryUsage.rss()); }, 20);
  t = performance.now();
  const stats = await syncStale(orm, { crm: 'hubspot', entities: ['User'], inline: true, batchSize: 1000 });
  const syncSeconds = (performance.now() - t) / 1000;
  clearInterval(sampler);
  peakRss = Math.max(peakRss, process.memoryUsage.rss());
  if (stats.results.synced !== stats.total) throw new Error(`inline sync: ${JSON.stringify(stats.results)}`);
  log(`synced ${stats.total} records in ${round(syncSeconds, 1)} s, ${adapter.calls} adapter calls, peak RSS ${round(peakRss / 2 ** 20, 0)} MB`);

  const callsBefore = adapter.calls;
  const second = await syncStale(orm, { crm: 'hubspot', entities: ['User'], inline: true, batchSize: 1000 });
  const secondRunCalls = adapter.calls - callsBefore;

  report({
    bench: 'stale-finder',
    metric: 'finder_ratio',
    value: round(ratio),
    unit: 'ratio',
    target: '<= 1.3',
    users: USERS,
    companies: COMPANIES,
    investments,
    stale: expected.length,
    finderMs: round(median(finderMs)),
    expertMs: round(median(expertMs)),
    syncedRecords: stats.total,
    rssMb: round(peakRss / 2 ** 20, 0),
    rssTarget: '<= 300',
    recordsPerSec: Math.round(stats.total / syncSeconds),
    secondRunCalls,
    secondRunFound: second.total,
  });
} finally {
  await client.end();
  await orm.close(true);
  await db.drop();
  await server?.stop();
}
