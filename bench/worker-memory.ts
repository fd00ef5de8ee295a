// Peak memory of a worker process syncing 100,000 records: 100,000 users (with a company and 0–5
// investments each, the sample model's dependencies) inserted by SQL and queued by `syncStale`, drained
// by one `runWorker` process (concurrency 4, batches of 100) into a zero-latency CRM that keeps
// nothing. The headline is the worker's peak RSS (VmHWM from /proc, Linux), read once every record has
// a CRM id.
//
// The worker sizes its heap as `etlify worker` does (`sizeHeapForWorker`; BENCH_HEAP=default keeps
// V8's defaults, as a worker inside an application process has them). It runs compiled JavaScript,
// as a deployed worker does (the package ships `dist/`): Node's TypeScript stripping, which the
// repository's own scripts use, adds about 30 MB to a process. BENCH_WORKER_SOURCE=ts runs it from
// the TypeScript sources instead.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { NullAdapter, syncStale } from '../src/index.ts';
import { report } from './report.ts';
import { createBenchApp, progress, round, type BenchApp } from './support/app.ts';
import { benchPostgres } from './support/postgres.ts';

const RECORDS = Number(process.env.BENCH_RECORDS ?? 100_000);
/** Extra Node flags for the worker process, e.g. `--max-old-space-size=96` (space-separated). */
const WORKER_FLAGS = (process.env.BENCH_WORKER_FLAGS ?? '').split(' ').filter(Boolean);
const TIMEOUT_MS = 600_000;

/** Compiles a script and what it imports to JavaScript (under node_modules/.cache, so packages resolve); returns the compiled script. */
function compiled(script: string): string {
  const root = fileURLToPath(new URL('..', import.meta.url));
  const outDir = `${root}node_modules/.cache/etlify-bench`;
  const tsc = `${root}node_modules/typescript/bin/tsc`;
  execFileSync(process.execPath, [tsc, '-p', `${root}tsconfig.json`, '--noEmit', 'false', '--declaration', 'false', '--outDir', outDir], { stdio: 'inherit' });
  return `${outDir}/${script.slice(root.length).replace(/\.ts$/, '.js')}`;
}

const pg = await benchPostgres();
let app: BenchApp | undefined;
let child: ChildProcess | undefined;
const status = (pid: number, field: string) => Number(/(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find(l => l.startsWith(field)) ?? '')?.[1] ?? NaN) / 1024;
try {
  app = await createBenchApp({ etlify: { crms: { hubspot: { adapter: new NullAdapter() }, airtable: { adapter: new NullAdapter(), enabled: false } } } });
  const old = `now() - interval '1 day'`;
  await app.execute(`insert into company (name, domain, created_at, updated_at) select 'Company ' || g, 'c' || g || '.test', ${old}, ${old} from generate_series(1, 1000) g`);
  await app.execute(`insert into app_user (email, first_name, last_name, status, company_id, created_at, updated_at)
    select 'user' || g || '@example.test', 'First' || g, 'Last' || g, 'active', 1 + g % 1000, ${old}, ${old} from generate_series(1, ${RECORDS}) g`);
  await app.execute(`insert into investment (amount, user_id, created_at, updated_at)
    select 100 * k, u, ${old}, ${old} from generate_series(1, 5) k, generate_series(1, ${RECORDS}) u where k <= (u::bigint * 7919) % 6`);
  await app.execute('vacuum analyze');
  const queued = await syncStale(app.orm, { crm: 'hubspot', entities: ['User'] });
  progress(`${queued.total} users queued`);

  const source = fileURLToPath(new URL(process.env.BENCH_WORKER_SCRIPT ?? './support/memory-worker.ts', import.meta.url));
  const [script, nodeFlags] = process.env.BENCH_WORKER_SOURCE === 'ts' ? [source, process.execArgv] : [compiled(source), []];
  child = spawn(process.execPath, [...nodeFlags, ...WORKER_FLAGS, script, app.url], { stdio: ['ignore', 'pipe', 'inherit'] });
  // the worker's other output (e.g. BENCH_WORKER_FLAGS=--trace-gc) goes to stderr
  const lines = createInterface({ input: child.stdout! });
  const started = new Promise<void>((resolve, reject) => {
    lines.on('line', line => { if (line.includes('worker started')) resolve(); else process.stderr.write(`${line}\n`); });
    child!.once('exit', code => reject(new Error(`the worker exited (${code}) before it started`)));
  });
  await started;
  const startedRss = status(child.pid!, 'VmRSS');
  const startedAt = performance.now();
  for (;;) {
    const [{ n }] = await app.execute<{ n: number }>(`select count(*)::int as n from crm_synchronisations where crm_name = 'hubspot' and crm_id is not null`);
    if (n >= RECORDS) break;
    if (performance.now() - startedAt > TIMEOUT_MS) throw new Error(`timed out: ${n} of ${RECORDS} synced`);
    await new Promise(resolve => setTimeout(resolve, 200));
  }
  const seconds = (performance.now() - startedAt) / 1000;
  const peak = status(child.pid!, 'VmHWM');
  report({
    bench: 'worker-memory',
    metric: 'peak_rss_mb',
    value: Math.round(peak),
    unit: 'MB',
    target: '<= 200',
    records: RECORDS,
    rss_after_start_mb: Math.round(startedRss),
    rss_at_end_mb: Math.round(status(child.pid!, 'VmRSS')),
    records_per_sec: Math.round(RECORDS / seconds),
    worker_flags: WORKER_FLAGS.join(' '),
    heap: process.env.BENCH_HEAP === 'default' ? "V8's defaults" : 'sizeHeapForWorker',
    worker_source: process.env.BENCH_WORKER_SOURCE === 'ts' ? 'TypeScript (type stripping)' : 'compiled JavaScript',
    seconds: round(seconds, 1),
  });
} finally {
  if (child && child.exitCode === null) {
    const exited = once(child, 'exit');
    child.kill('SIGTERM');
    const timer = setTimeout(() => child!.kill('SIGKILL'), 5_000);
    await exited;
    clearTimeout(timer);
  }
  await app?.close();
  await pg.stop();
}
