// How fast the dashboard loads with 1,000,000 sync rows and 14 days of history, in a real browser
// (Debian's chromium through playwright-core), against `etlify dashboard`'s own server:
// - 1,000,000 rows in crm_synchronisations (1 % failing, 0.2 % parked,
//   5 error reasons), 5,000 records in the record queue (a fifth of them retrying) and 1,000 ids in the inbox;
// - 14 days of per-minute counts and queue samples for three entities (60,480 rows each) and
//   1,000,000 attempts in the attempt log.
// Metric: the median time from navigation to the data drawn (tiles, tables and charts), over 5
// loads after a first, cold one. Target < 1000 ms. Also reported: the cold load, the 14-day range,
// a record search, and how many sequential scans of crm_synchronisations the loads caused (0: every
// read goes through an index).
// DASHBOARD_SCREENSHOT=<file.png> also saves a screenshot of the page (docs/operations.md's).
import { mkdirSync } from 'node:fs';
import { loadavg } from 'node:os';
import { dirname } from 'node:path';
import { NullAdapter } from '../src/index.ts';
import { chartData } from '../src/observe/dashboard/charts.ts';
import { crmOverviews } from '../src/observe/dashboard/overview.ts';
import { searchRecords } from '../src/observe/dashboard/search.ts';
import { startDashboard } from '../src/observe/dashboard/server.ts';
import { launchBrowser } from '../test/support/browser.ts';
import { report } from './report.ts';
import { createBenchApp, median, progress, round } from './support/app.ts';
import { benchPostgres } from './support/postgres.ts';

const ROWS = Number(process.env.BENCH_ROWS ?? 1_000_000);
const LOADS = 5;

const pg = await benchPostgres();
const app = await createBenchApp({
  etlify: {
    crms: {
      hubspot: { adapter: new NullAdapter(), rateLimit: { maxRequests: 190, perMs: 10_000, buckets: { search: { maxRequests: 4, perMs: 1000 } } } },
      airtable: { adapter: new NullAdapter(), rateLimit: { maxRequests: 5, perMs: 1000 } },
    },
  },
});
const dashboard = await startDashboard(app.orm, { port: 0 });
const browser = await launchBrowser();
try {
  let started = Date.now();
  await app.execute(`insert into crm_synchronisations (resource_type, resource_id, crm_name, crm_id, object_type, last_digest, last_synced_at, error_count, last_error, last_error_at, last_outcome)
    select case when i % 10 = 0 then 'Company' else 'User' end, i::text, case when i % 4 = 1 then 'airtable' else 'hubspot' end,
           case when i % 100 = 0 then null else 'c' || i end, 'contacts',
           case when i % 100 = 0 then null else md5(i::text) end, now() - (i % 20000) * interval '1 minute',
           case when i % 500 = 0 then 3 when i % 100 = 0 then 1 else 0 end,
           case when i % 100 = 0 then 'ValidationError: HubSpot POST /crm/v3/objects/contacts/batch/upsert rejected item ' || (i % 97) || ': Property values were not valid: ' || (array['email is not a valid email address', 'lifecyclestage has no option "prospect"', 'property "fax" does not exist', 'lastname is longer than 65536 characters', 'company must be an object id'])[(i / 100) % 5 + 1] end,
           case when i % 100 = 0 then now() - (i % 5000) * interval '1 second' end,
           case when i % 100 = 0 then 'error' else 'synced' end
      from generate_series(1, ?) i`, [ROWS]);
  await app.execute(`insert into etlify_record_queue (crm_name, lane, resource_type, resource_id, kind, entity, first_requested_at, due_at, not_before, attempts, last_error)
    select 'hubspot', 'record', 'User', (2000000 + i)::text, 'sync', 'User', now() - i * interval '1 second', now() + interval '1 minute',
           case when i % 5 = 0 then now() + interval '30 seconds' else '-infinity' end, case when i % 5 = 0 then 2 else 0 end,
           case when i % 5 = 0 then 'TransientCrmError: HubSpot answered 503 Service Unavailable' end
      from generate_series(1, 5000) i`);
  await app.execute(`insert into etlify_sync_requests (kind, crm_name, entity, resource_ids, requested_at)
    select 'sync', 'hubspot', 'User', array(select (3000000 + r * 10 + k)::text from generate_series(1, 10) k), now() - r * interval '1 second'
      from generate_series(1, 100) r`);
  await app.execute(`insert into etlify_rate_limits (crm_name, bucket, sent_at)
    values ('hubspot', 'default', array(select now() - k * interval '50 milliseconds' from generate_series(1, 120) k))`);
  await app.execute(`insert into etlify_history_minutes (minute, crm_name, entity, synced, not_modified, failed, parked, retried, deleted, rate_limited, requests, request_ms, max_request_ms)
    select date_trunc('minute', now()) - m * interval '1 minute', 'hubspot', e,
           (50 + 40 * sin(m / 180.0))::int, m % 13, m % 7, (m % 97 = 0)::int, m % 11, m % 3, (m % 60 = 0)::int * 5, 20, 20 * 120, 400
      from generate_series(0, 14 * 1440 - 1) m, unnest(array['User', 'Company', 'Deal']) e`);
  await app.execute(`insert into etlify_queue_samples (sampled_at, crm_name, entity, queued, retrying, parked, oldest_waiting_at)
    select date_trunc('minute', now()) - m * interval '1 minute', 'hubspot', e, (200 + 150 * cos(m / 240.0))::int, m % 17, 2000, now() - m * interval '1 minute' - interval '3 minutes'
      from generate_series(0, 14 * 1440 - 1) m, unnest(array['User', 'Company', 'Deal']) e`);
  await app.execute(`insert into etlify_attempts (at, crm_name, entity, resource_id, kind, outcome, error, crm_id, requests, duration_ms)
    select now() - (i % 604800) * interval '1 second', 'hubspot', 'User', (i % 900000 + 1)::text, 'sync',
           case when i % 100 = 0 then 'failed' else 'synced' end, case when i % 100 = 0 then 'ValidationError: rejected' end, 'c' || (i % 900000 + 1), 1, 120
      from generate_series(1, ?) i`, [ROWS]);
  await app.execute('vacuum analyze');
  progress(`${ROWS} sync rows, 14 days of history, ${ROWS} attempts written in ${Date.now() - started} ms`);

  const seqScans = async () => {
    await new Promise(resolve => setTimeout(resolve, 1200)); // statistics reach pg_stat a moment after the statements
    const [row] = await app.execute<{ n: number }>("select seq_scan::int as n from pg_stat_user_tables where relname = 'crm_synchronisations'");
    return row!.n;
  };
  const scansBefore = await seqScans();

  // the server's share: the JSON the page asks for on each load
  const api: number[] = [];
  for (let i = 0; i <= LOADS; i++) {
    started = performance.now();
    await (await fetch(`${dashboard.url}api/overview?range=hour`)).json();
    api.push(performance.now() - started);
  }
  progress(`api/overview (ms): ${api.map(n => Math.round(n)).join(', ')}`);
  // its parts, each alone: where the time goes
  const etlify = app.etlify!;
  const em = app.orm.em.fork({ useContext: false });
  const crmNames = etlify.crms.all().map(c => c.name);
  const timed = async (what: () => Promise<unknown>) => {
    const times: number[] = [];
    for (let i = 0; i < 5; i++) {
      const at = performance.now();
      await what();
      times.push(performance.now() - at);
    }
    return round(median(times));
  };
  const parts = {
    crm_overviews: await timed(() => crmOverviews(etlify, em)),
    charts_hour: await timed(() => chartData(em, crmNames, 'hour')),
    charts_14d: await timed(() => chartData(em, crmNames, '14d')),
    search: await timed(() => searchRecords(app.orm, em, '4242')),
    select_1: await timed(() => app.execute('select 1')),
  };
  progress(`parts (median ms): ${JSON.stringify(parts)}`);

  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  const drawn = () => page.waitForFunction(() => {
    const state = (window as any).etlifyDashboard;
    return state?.overview && state.charts['hubspot:outcomes'] && document.querySelector('section[data-crm="hubspot"] .parked tr');
  }, undefined, { timeout: 30_000 });
  const loads: number[] = [];
  for (let i = 0; i <= LOADS; i++) {
    started = Date.now();
    await page.goto(dashboard.url);
    await drawn();
    loads.push(Date.now() - started);
  }
  const [cold, ...warm] = loads;
  progress(`page loads (ms): cold ${cold}, then ${warm.join(', ')}`);

  started = Date.now();
  await page.click('#ranges button[data-range="14d"]');
  await page.waitForFunction(() => (window as any).etlifyDashboard.overview.charts.hubspot.range === '14d');
  const fourteenDays = Date.now() - started;

  started = Date.now();
  await page.fill('#search-term', '4242');
  await page.click('#search button');
  await page.waitForSelector('#results .record');
  const search = Date.now() - started;
  progress(`14-day range ${fourteenDays} ms, search ${search} ms`);
  const scans = (await seqScans()) - scansBefore;

  if (process.env.DASHBOARD_SCREENSHOT) {
    await page.click('#ranges button[data-range="day"]');
    await page.waitForFunction(() => (window as any).etlifyDashboard.overview.charts.hubspot.range === 'day');
    mkdirSync(dirname(process.env.DASHBOARD_SCREENSHOT), { recursive: true });
    await page.screenshot({ path: process.env.DASHBOARD_SCREENSHOT, clip: { x: 0, y: 0, width: 1280, height: 1100 }, fullPage: true });
    progress(`screenshot: ${process.env.DASHBOARD_SCREENSHOT}`);
  }

  report({
    bench: 'dashboard',
    metric: 'page_load_ms_1m_sync_rows',
    value: median(warm),
    unit: 'ms',
    target: '< 1000',
    cold_load_ms: cold!,
    api_overview_ms: round(median(api.slice(1))),
    api_parts_ms: parts,
    load_average: round(loadavg()[0]!),
    range_14d_ms: fourteenDays,
    search_ms: search,
    crm_synchronisations_seq_scans: scans,
    sync_rows: ROWS,
    attempts: ROWS,
    history_minutes_rows: 14 * 1440 * 3,
    load_ms: loads.map(n => round(n)),
  });
} finally {
  await browser.close();
  await dashboard.close();
  await app.close();
  await pg.stop();
}
