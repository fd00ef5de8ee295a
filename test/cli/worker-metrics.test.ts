import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';
import { expect } from 'chai';
import { MikroORM } from '@mikro-orm/postgresql';
import parsePrometheusTextFormat from 'parse-prometheus-text-format';
import { migrateEtlify } from '../../src/index.ts';
import { startHubspotSimulator, type HubspotSimulator } from '../../src/testing/index.ts';
import { etlifyFromSources, fixture } from '../support/cli.ts';
import { entities, User } from '../support/model.ts';
import { createTestDatabase } from '../support/postgres.ts';
import { waitFor } from '../support/wait.ts';

interface Family { name: string; metrics: { labels?: Record<string, string>; value?: string }[] }

describe('etlify worker --metrics-port', function () {
  this.timeout(60_000);
  let db: { url: string; drop(): Promise<void> };
  let simulator: HubspotSimulator;

  before(async () => {
    db = await createTestDatabase('etlify_worker_metrics');
    simulator = await startHubspotSimulator({ rateLimit: false, searchRateLimit: false, accessToken: 'cli-token' });
    const orm = await MikroORM.init({ clientUrl: db.url, entities });
    await orm.schema.create();
    await migrateEtlify(orm);
    const em = orm.em.fork();
    for (let i = 0; i < 3; i++) em.create(User, { email: `metrics${i}@example.test` });
    await em.flush();
    await orm.close();
  });
  after(async () => { await simulator.close(); await db.drop(); });

  it('serves the Prometheus metrics of the records this worker syncs, until SIGINT', async () => {
    const env = { ...process.env, DATABASE_URL: db.url, CLI_HUBSPOT_URL: simulator.url };
    await promisify(execFile)(process.execPath, [...etlifyFromSources, 'sync', '--entity', 'User'], { cwd: fixture, env });
    const child = spawn(process.execPath, [...etlifyFromSources, 'worker', '--metrics-port', '0'], { cwd: fixture, env, stdio: ['ignore', 'ignore', 'pipe'] });
    try {
      // it prints where, on stderr
      let url = '';
      for await (const line of createInterface({ input: child.stderr! })) {
        const found = /metrics on (http:\/\/127\.0\.0\.1:\d+\/metrics)$/.exec(line);
        if (found) { url = found[1]!; break; }
      }
      const scrape = async () => new Map((parsePrometheusTextFormat(await (await fetch(url)).text()) as Family[]).map(f => [f.name, f]));
      const synced = async () => Number((await scrape()).get('etlify_records_total')?.metrics.find(m => m.labels?.outcome === 'synced')?.value ?? 0);
      await waitFor('the worker to sync the three users', async () => await synced() === 3, 30_000);
      const families = await scrape();
      const ok = families.get('etlify_crm_requests_total')!.metrics.find(m => m.labels?.crm === 'hubspot' && m.labels?.status === '200');
      expect(Number(ok?.value)).to.equal(simulator.requests.length);
      expect((await fetch(url.replace('/metrics', '/'))).status).to.equal(404);
    } finally {
      child.kill('SIGINT');
    }
    const [code] = await once(child, 'exit');
    expect(code).to.equal(0);
  });
});
