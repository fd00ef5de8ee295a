import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { expect } from 'chai';
import type { Runner } from 'graphile-worker';
import parsePrometheusTextFormat from 'parse-prometheus-text-format';
import { etlifyDashboard, etlifyMetrics, RateLimitedError, runWorker, ValidationError, type AdapterCallContext, type UpsertRequest } from '../../src/index.ts';
import { RecordingAdapter } from '../../src/testing/index.ts';
import { createTestApp, type TestApp } from '../support/app.ts';
import { User } from '../support/model.ts';
import { queueDrained, waitFor } from '../support/wait.ts';

interface Family { name: string; type: string; metrics: { labels?: Record<string, string>; value?: string; count?: string; sum?: string; buckets?: Record<string, string> }[] }

describe('Prometheus metrics', () => {
  let app: TestApp;
  let worker: Runner | undefined;
  let server: Server;
  const execute = (sql: string) => app.orm.em.getConnection().execute(sql);

  /** Scrapes the handler mounted in a plain node:http server and parses the text format. */
  async function scrape(): Promise<Map<string, Family>> {
    const response = await fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}/metrics`);
    expect(response.status).to.equal(200);
    expect(response.headers.get('content-type')).to.match(/^text\/plain; version=0\.0\.4/);
    const families = parsePrometheusTextFormat(await response.text()) as Family[];
    return new Map(families.map(f => [f.name, f]));
  }
  const value = (families: Map<string, Family>, name: string, labels: Record<string, string>) =>
    Number(families.get(name)?.metrics.find(m => Object.entries(labels).every(([k, v]) => m.labels?.[k] === v))?.value ?? NaN);

  beforeEach(async () => {
    app = await createTestApp();
    server = createServer(etlifyMetrics(app.orm));
    await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve));
  });
  afterEach(async () => {
    await worker?.stop();
    worker = undefined;
    server.close();
    await app.close();
  });

  it('serves queue depth, parked records, outcomes, CRM requests by status, 429s and the end-to-end lag', async () => {
    const inner = new RecordingAdapter({ batch: false });
    let limited = false;
    const statuses: number[] = [];
    app.etlify.registerCrm('hubspot', {
      maxSyncErrors: 1, jobs: { batchDelayMs: 20 },
      adapter: {
        upsert: async (request: UpsertRequest, context?: AdapterCallContext) => {
          const status = request.payload.email === 'poison@example.test' ? 400 : request.payload.email === 'flaky@example.test' && !limited ? 429 : 200;
          statuses.push(status);
          context?.onResponse?.(status, 120);
          if (status === 400) throw new ValidationError('INVALID_EMAIL');
          if (status === 429) { limited = true; throw new RateLimitedError('slow down', 50); }
          return inner.upsert(request);
        },
        delete: async () => true,
      },
    });
    app.etlify.registerCrm('airtable', { adapter: app.airtable, enabled: false });
    worker = await runWorker(app.orm, { handleSignals: false, pollInterval: 50, sweepSchedule: false });
    const em = app.orm.em.fork();
    for (const email of ['flaky@example.test', 'poison@example.test', 'a@example.test', 'b@example.test']) em.create(User, { email });
    await em.flush();
    await waitFor('the queue to drain', () => queueDrained(execute), 15_000);
    await worker.stop();
    worker = undefined;
    // two changes nobody syncs yet
    em.create(User, { email: 'later1@example.test' });
    em.create(User, { email: 'later2@example.test' });
    await em.flush();

    const families = await scrape();
    const [db] = await execute(`select
        (select count(*) from crm_synchronisations where crm_name = 'hubspot' and last_outcome = 'synced')::int as synced,
        (select count(*) from crm_synchronisations where crm_name = 'hubspot' and error_count >= 1)::int as parked,
        (select sum(cardinality(resource_ids)) from etlify_sync_requests where crm_name = 'hubspot')::int as queued,
        (select extract(epoch from now() - min(requested_at)) from etlify_sync_requests)::float8 as waited`);
    const user = { crm: 'hubspot', entity: 'User' };
    expect(value(families, 'etlify_records_total', { ...user, outcome: 'synced' })).to.equal(db.synced).and.equal(3);
    expect(value(families, 'etlify_records_total', { ...user, outcome: 'parked' })).to.equal(db.parked).and.equal(1);
    expect(value(families, 'etlify_records_total', { ...user, outcome: 'retried' })).to.equal(1);
    expect(value(families, 'etlify_parked_records', user)).to.equal(db.parked);
    expect(value(families, 'etlify_queue_depth', user)).to.equal(db.queued).and.equal(2);
    expect(value(families, 'etlify_queue_retrying', user)).to.equal(0);
    expect(value(families, 'etlify_queue_oldest_waiting_seconds', user)).to.be.within(0, db.waited + 1);
    for (const status of [200, 400, 429]) {
      expect(value(families, 'etlify_crm_requests_total', { crm: 'hubspot', status: String(status) }), `status ${status}`).to.equal(statuses.filter(s => s === status).length);
    }
    expect(value(families, 'etlify_crm_rate_limited_total', { crm: 'hubspot' })).to.equal(1);
    // (the parser keeps a labelled histogram's buckets, not its _sum and _count: +Inf is the count)
    const latency = families.get('etlify_crm_request_duration_seconds')!.metrics[0]!.buckets!;
    expect(Number(latency['+Inf'])).to.equal(statuses.length);
    // every request reported 120 ms
    expect([Number(latency['0.1']), Number(latency['0.25'])]).to.deep.equal([0, statuses.length]);
    // the three records the CRM acknowledged, each from its change to the acknowledgement
    const lag = families.get('etlify_sync_lag_seconds')!;
    expect(lag.type).to.equal('HISTOGRAM');
    expect(Number(lag.metrics[0]!.buckets!['+Inf'])).to.equal(3);
    expect(Number(lag.metrics[0]!.buckets!['60'])).to.equal(3);

    // docs/operations.md's alert rules query only metrics this scrape has (a renamed metric would leave an alert silent)
    const rules = /```yaml\n((?:(?!```)[\s\S])*?- alert: [\s\S]*?)```/.exec(readFileSync(new URL('../../docs/operations.md', import.meta.url), 'utf8'))![1]!;
    const queried = [...new Set([...rules.matchAll(/\betlify_\w+/g)].map(m => m[0].replace(/_(bucket|sum|count)$/, '')))];
    expect(queried.length).to.equal(4);
    expect(queried.filter(name => !families.has(name))).to.deep.equal([]);
  });

  it('is served by the dashboard too, at /metrics under its mount', async () => {
    const em = app.orm.em.fork();
    em.create(User, { email: 'waiting@example.test' });
    await em.flush();
    const dashboard = createServer(etlifyDashboard(app.orm, { basePath: '/etlify' }));
    await new Promise<void>(resolve => dashboard.listen(0, '127.0.0.1', resolve));
    try {
      const response = await fetch(`http://127.0.0.1:${(dashboard.address() as AddressInfo).port}/etlify/metrics`);
      expect(response.status).to.equal(200);
      const families = new Map((parsePrometheusTextFormat(await response.text()) as Family[]).map(f => [f.name, f]));
      const [{ n }] = await execute("select count(*)::int as n from etlify_sync_requests") as { n: number }[];
      expect(n, 'the flush queued the user').to.be.greaterThan(0);
      expect(families.get('etlify_queue_depth')?.type).to.equal('GAUGE');
      expect(families.has('etlify_records_total')).to.equal(true);
    } finally {
      dashboard.close();
    }
  });
});
