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
import { chartData } from '../src/observe/dashboard/charts.ts';
import { crmOverviews } from '../src/observe/dashboard/overview.ts';
import { searchRecords } from '../src/observe/dashboard/search.ts';
import { startDashboard } from '../src/observe/dashboard/server.ts';
import { launchBrowser } from '../test/support/browser.ts';
import { report } from './report.ts';
import { createBenchApp, median, progress, round } from './support/app.ts';
import { DASHBOARD_CRMS, seedDashboardData } from './support/dashboard-data.ts';
import { benchPostgres } from './support/postgres.ts';

const ROWS = Number(process.env.BENCH_ROWS ?? 1_000_000);
const LOADS = 5;

const pg = await benchPostgres();
const app = await createBenchApp({
  etlify: { crms: DASHBOARD_CRMS },
});
const dashboard = await startDashboard(app.orm, { port: 0 });
const browser = await launchBrowser();
try {
  let started = Date.now();
  await seedDashboardData(app.execute, ROWS);
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
