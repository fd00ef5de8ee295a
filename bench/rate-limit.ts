// A rate-limited CRM shared by two worker processes. The HubSpot simulator allows 100 requests per
// rolling 10 s (like HubSpot's TEN_SECONDLY_ROLLING burst limit) and answers 429 beyond; two child
// processes run `runWorker` with the real HubspotAdapter and the same CRM budget (`rateLimit: 100 per
// 10 s`, kept in PostgreSQL), and sync 20,000 new users in batches of 100 (200 batch requests).
//
// A sliding window admits `maxRequests` at once, then each slot again `perMs` after its last use: at
// the ceiling every request k > 100 is sent exactly 10 s after request k − 100. The headline is that
// ideal over the measured mean of t(k) − t(k − 100) (as the simulator saw the requests arrive), i.e.
// the steady-state rate as a fraction of the ceiling of 1,000 records/s — unlike records ÷ (last −
// first request), it does not count the free first burst of 100 requests as throughput. `http_429`
// counts the simulator's 429 answers (target 0).
//
// By default a CPU hog (one busy-looping process per core, BENCH_CPU_HOG=0 turns it off) runs during the
// sync: late answers on a busy machine must not earn a 429.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { HubspotAdapter, NullAdapter } from '../src/index.ts';
import { startHubspotSimulator, type HubspotSimulator } from '../src/testing/index.ts';
import { User } from '../test/support/model.ts';
import { report } from './report.ts';
import { createBenchApp, progress, round, type BenchApp } from './support/app.ts';
import { benchPostgres } from './support/postgres.ts';

const RECORDS = Number(process.env.BENCH_RECORDS ?? 20_000);
const BATCH = 100;
const MAX_REQUESTS = 100;
const PER_MS = 10_000;
const WORKERS = 2;
const TIMEOUT_MS = 100_000;
const CEILING_RECORDS_PER_SEC = (MAX_REQUESTS * BATCH * 1000) / PER_MS;
const CPU_HOGS = process.env.BENCH_CPU_HOG === '0' ? 0 : availableParallelism();

const pg = await benchPostgres();
let simulator: HubspotSimulator | undefined;
let app: BenchApp | undefined;
const children: ChildProcess[] = [];
let sampler: NodeJS.Timeout | undefined;
try {
  simulator = await startHubspotSimulator({ rateLimit: { maxRequests: MAX_REQUESTS, perMs: PER_MS }, searchRateLimit: false });
  app = await createBenchApp({
    etlify: {
      crms: {
        // the app process only captures changes; the two children sync them
        hubspot: { adapter: new HubspotAdapter({ accessToken: 'bench-token', baseUrl: simulator.url }), rateLimit: { maxRequests: MAX_REQUESTS, perMs: PER_MS } },
        airtable: { adapter: new NullAdapter(), enabled: false },
      },
    },
  });
  for (let offset = 0; offset < RECORDS; offset += 2_000) {
    const em = app.orm.em.fork();
    for (let i = offset; i < Math.min(RECORDS, offset + 2_000); i++) em.create(User, { email: `rl${i}@example.com`, firstName: `First${i}` });
    await em.flush();
  }
  progress(`${RECORDS} users flushed; starting ${WORKERS} worker processes`);

  // Arrival time of every request the simulator records (sampled every 5 ms, in this process).
  const arrivals: number[] = [];
  sampler = setInterval(() => {
    const now = performance.now();
    while (arrivals.length < simulator!.requests.length) arrivals.push(now);
  }, 5);

  const script = fileURLToPath(new URL('./support/rate-limit-worker.ts', import.meta.url));
  for (let w = 0; w < WORKERS; w++) {
    const child = spawn(process.execPath, [...process.execArgv, script, app.url, simulator.url, String(MAX_REQUESTS), String(PER_MS)], { stdio: ['ignore', 'pipe', 'inherit'] });
    children.push(child);
    const [line] = await Promise.race([
      once(child.stdout!, 'data') as Promise<[Buffer]>,
      once(child, 'exit').then(([code]) => { throw new Error(`worker ${w} exited with ${code} before starting`); }),
    ]);
    if (!String(line).includes('worker started')) throw new Error(`worker ${w} said: ${line}`);
  }

  for (let h = 0; h < CPU_HOGS; h++) children.push(spawn(process.execPath, ['-e', 'for (;;) {}'], { stdio: 'ignore' }));
  if (CPU_HOGS) progress(`${CPU_HOGS} CPU hog process(es) running`);
  const started = performance.now();
  const eluStart = performance.eventLoopUtilization(); // this process runs the simulator
  let synced = 0;
  for (;;) {
    const [{ n }] = await app.execute<{ n: number }>(`select count(*)::int as n from crm_synchronisations where crm_name = 'hubspot' and crm_id is not null`);
    synced = n;
    if (synced >= RECORDS) break;
    if (performance.now() - started > TIMEOUT_MS) throw new Error(`timed out: ${synced} of ${RECORDS} synced after ${TIMEOUT_MS} ms`);
    await new Promise(resolve => setTimeout(resolve, 50));
  }
  await new Promise(resolve => setTimeout(resolve, 20)); // let the sampler see the last request
  clearInterval(sampler);
  const simulatorBusy = performance.eventLoopUtilization(eluStart).utilization;

  const requests = simulator.requests;
  const ok = requests.filter(r => r.status >= 200 && r.status < 300);
  const http429 = requests.filter(r => r.status === 429).length;
  const writes = requests.filter(r => r.path.endsWith('/batch/upsert') || r.path.endsWith('/batch/update'));
  const elapsed = arrivals.at(-1)! - arrivals[0]!;
  const idealMs = ((ok.length - MAX_REQUESTS) / MAX_REQUESTS) * PER_MS;
  const contacts = simulator.objects('contacts').length;
  if (contacts !== RECORDS) throw new Error(`the simulator holds ${contacts} contacts, expected ${RECORDS}`);
  // busiest rolling window of successful requests, as the simulator counts them
  const okTimes = requests.map((r, i) => [r, arrivals[i]!] as const).filter(([r]) => r.status >= 200 && r.status < 300).map(([, t]) => t);
  let busiest = 0;
  for (let i = 0, j = 0; i < okTimes.length; i++) {
    while (okTimes[i]! - okTimes[j]! >= PER_MS) j++;
    busiest = Math.max(busiest, i - j + 1);
  }
  // how long each of the window's slots took to be used again (PER_MS at the ceiling)
  const reuse = okTimes.slice(MAX_REQUESTS).map((t, k) => t - okTimes[k]!);
  const meanReuse = reuse.reduce((a, b) => a + b, 0) / Math.max(1, reuse.length);
  const sentOk = requests.filter(r => r.status >= 200 && r.status < 300 && /\/batch\/(upsert|update)$/.test(r.path));
  if (process.env.BENCH_DEBUG) {
    const buckets = new Map<number, number>();
    for (const t of okTimes) buckets.set(Math.floor((t - okTimes[0]!) / 1000), (buckets.get(Math.floor((t - okTimes[0]!) / 1000)) ?? 0) + 1);
    progress(`requests per second since the first: ${JSON.stringify(Object.fromEntries(buckets))}`);
  }
  report({
    bench: 'rate-limit',
    metric: 'ceiling_fraction',
    value: round(PER_MS / meanReuse),
    unit: 'ratio',
    target: '>= 0.9',
    http_429: http429,
    http_429_target: 0,
    records: RECORDS,
    workers: WORKERS,
    cpu_hogs: CPU_HOGS,
    requests: requests.length,
    successful_requests: ok.length,
    batch_writes: writes.length,
    first_to_last_request_ms: Math.round(elapsed),
    mean_slot_reuse_ms: Math.round(meanReuse),
    max_slot_reuse_ms: Math.round(Math.max(...reuse)),
    records_per_sec_first_to_last: Math.round((RECORDS * 1000) / elapsed),
    burst_adjusted_fraction: round(idealMs / elapsed),
    ceiling_records_per_sec: CEILING_RECORDS_PER_SEC,
    busiest_window_requests: busiest,
    duplicate_records_sent: sentOk.reduce((n, r) => n + ((r.body as { inputs?: unknown[] })?.inputs?.length ?? 0), 0) - RECORDS,
    simulator_event_loop_utilization: round(simulatorBusy),
    drained_after_ms: Math.round(performance.now() - started),
  });
} finally {
  if (sampler) clearInterval(sampler);
  await Promise.all(children.map(async child => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = once(child, 'exit');
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
    await exited;
    clearTimeout(timer);
  }));
  await app?.close();
  await simulator?.close();
  await pg.stop();
}
