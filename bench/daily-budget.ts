// A first load under HubSpot's daily limit (issue 22 item 5). 100,000 contacts the application had
// before Etlify (raw SQL: nothing captured) are queued by `syncStale()` and sent by a worker to the
// HubSpot simulator, whose portal allows BENCH_DAILY_LIMIT (500) requests a day. Etlify learns the
// limit from `X-HubSpot-RateLimit-Daily`; the first load is background work, so it stops at 80 % of
// the day (reserveShare 0.2) with no record counted as failed and no DAILY 429. Each simulated
// midnight (`resetDailyUsage()` plus `resetDailyBudget()`, Etlify's day starting over) lets it go on
// until every contact is in HubSpot. Headline: records counted as failed (target 0).
import type { Runner } from 'graphile-worker';
import { HubspotAdapter, NullAdapter, resetDailyBudget, runWorker, syncStale } from '../src/index.ts';
import { startHubspotSimulator } from '../src/testing/index.ts';
import { queueDrained } from '../test/support/wait.ts';
import { report } from './report.ts';
import { createBenchApp, progress } from './support/app.ts';
import { benchPostgres } from './support/postgres.ts';

const RECORDS = Number(process.env.BENCH_RECORDS ?? 100_000);
const DAILY_LIMIT = Number(process.env.BENCH_DAILY_LIMIT ?? 500);
const RESERVE_SHARE = 0.2;
const STOPS_AT = Math.floor(DAILY_LIMIT * (1 - RESERVE_SHARE));

const pg = await benchPostgres();
const simulator = await startHubspotSimulator({ rateLimit: false, searchRateLimit: false, dailyLimit: DAILY_LIMIT });
const app = await createBenchApp({
  etlify: {
    crms: {
      hubspot: {
        adapter: new HubspotAdapter({ accessToken: 'bench-token', baseUrl: simulator.url, portalTimeZone: 'UTC' }),
        rateLimit: false, dailyBudget: { reserveShare: RESERVE_SHARE }, jobs: { batchDelayMs: 0 },
      },
      airtable: { adapter: new NullAdapter(), enabled: false },
    },
  },
});
let worker: Runner | undefined;
try {
  await app.execute(`insert into app_user (email, status, created_at, updated_at)
    select 'first-load-' || i || '@example.com', 'active', now(), now() from generate_series(1, ${RECORDS}) i`);
  const queued = await syncStale(app.orm, { entities: ['User'], crm: 'hubspot' });
  if (queued.total !== RECORDS) throw new Error(`expected ${RECORDS} stale users, got ${queued.total}`);
  const started = Date.now();
  worker = await runWorker(app.orm, { handleSignals: false, pollInterval: 100 });

  /** The day is over for the worker: every record left waits for the next day, none is being sent. */
  const dayDone = async () => {
    for (;;) {
      if (await queueDrained(sql => app.execute(sql))) return true;
      // one statement, one snapshot: a worker's ingest moves the inbox into the queue in between two
      const [row] = await app.execute<{ busy: number }>(`select (select count(*) from etlify_record_queue
        where crm_name = 'hubspot' and (claim_token is not null or not_before < now() + interval '30 minutes'))::int
        + (select count(*) from etlify_sync_requests)::int as busy`);
      if (row!.busy === 0) return false;
      await new Promise(resolve => setTimeout(resolve, 250));
    }
  };
  const synced = async () => (await app.execute<{ n: number }>(`select count(crm_id)::int as n from crm_synchronisations where crm_name = 'hubspot'`))[0]!.n;

  const perDay: { requests: number; synced: number }[] = [];
  for (let before = 0; ;) {
    const finished = await dayDone();
    const now = await synced();
    perDay.push({ requests: simulator.usedToday, synced: now - before });
    progress(`day ${perDay.length}: ${simulator.usedToday} of ${DAILY_LIMIT} requests, ${now - before} contacts (${now} in all) after ${Math.round((Date.now() - started) / 1000)} s`);
    before = now;
    if (finished) break;
    if (perDay.length > Math.ceil(RECORDS / 100 / STOPS_AT) + 2) throw new Error(`not finished after ${perDay.length} days`);
    // the portal's midnight
    simulator.resetDailyUsage();
    await resetDailyBudget(app.orm, 'hubspot');
  }

  const [failed] = await app.execute<{ records: number; attempts: number }>(
    `select (select count(*) from crm_synchronisations where error_count > 0)::int as records,
            (select coalesce(max(attempts), 0) from etlify_record_queue)::int as attempts`);
  const contacts = simulator.objects('contacts').length;
  if (contacts !== RECORDS) throw new Error(`expected ${RECORDS} contacts in HubSpot, found ${contacts}`);
  const daily429 = simulator.requests.filter(request => request.status === 429).length;
  report({
    bench: 'daily-budget',
    metric: 'records_counted_as_failed',
    value: failed!.records,
    unit: 'records',
    target: '0',
    records: RECORDS,
    daily_limit: DAILY_LIMIT,
    background_stops_at: STOPS_AT,
    requests_day1: perDay[0]!.requests,
    contacts_day1: perDay[0]!.synced,
    requests_per_day: perDay.map(day => day.requests),
    days_to_finish: perDay.length,
    requests_total: perDay.reduce((sum, day) => sum + day.requests, 0),
    daily_429s: daily429,
    contacts_in_hubspot: contacts,
    seconds: Math.round((Date.now() - started) / 1000),
  });
} finally {
  await worker?.stop();
  await app.close();
  await simulator.close();
  await pg.stop();
}
