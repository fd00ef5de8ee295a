import { spawn } from 'node:child_process';
import { expect } from 'chai';
import type { Runner } from 'graphile-worker';
import { runWorker } from '../../src/index.ts';
import { HubspotAdapter } from '../../src/adapters/hubspot/index.ts';
import { NullAdapter } from '../../src/index.ts';
import { startHubspotSimulator, type HubspotSimulator } from '../../src/testing/simulators.ts';
import { createTestApp, type TestApp } from '../support/app.ts';
import { User } from '../support/model.ts';
import { queueDrained, waitFor } from '../support/wait.ts';

describe('worker crash (kill -9 in the middle of a batch)', () => {
  let app: TestApp;
  let simulator: HubspotSimulator;
  let worker: Runner | undefined;

  before(async () => {
    simulator = await startHubspotSimulator({ rateLimit: false, faults: { delayMs: 400 } });
    app = await createTestApp({
      etlify: {
        crms: {
          hubspot: { adapter: new HubspotAdapter({ accessToken: 'crash-test-token', baseUrl: simulator.url }), jobs: { batchDelayMs: 0, unknownOutcomeWaitMs: 2_000 } },
          airtable: { adapter: new NullAdapter(), enabled: false },
        },
      },
    });
  });
  after(async () => { await worker?.stop(); await app?.close(); await simulator?.close(); });

  it('loses nothing and duplicates nothing after a restart; the dead worker\'s records are taken over within 60 s', async function () {
    this.timeout(120_000);
    const em = app.orm.em.fork();
    for (let i = 0; i < 300; i++) em.create(User, { email: `crash${i}@example.test` });
    await em.flush();

    const child = spawn(process.execPath, ['test/support/worker-process.ts', app.url, simulator.url], { stdio: ['ignore', 'pipe', 'inherit'] });
    const exited = new Promise(resolve => child.once('exit', resolve));
    await waitFor('the child worker to send a batch', () => simulator.requests.some(r => r.path.endsWith('/batch/upsert')), 20_000);
    child.kill('SIGKILL');
    await exited;
    const killedAt = Date.now();
    const [{ synced }] = await app.orm.em.getConnection().execute(`select count(*)::int as synced from crm_synchronisations where crm_id is not null`);
    expect(synced, 'the crash happened mid-way').to.be.below(300);

    simulator.setFaults({});
    worker = await runWorker(app.orm, { handleSignals: false, pollInterval: 50, claimLeaseMs: 500 });
    // the child held its claim with the default 30 s lease: its records wait for the lease and the
    // unknown-outcome wait (the batch it sent may still land), then go out again
    await waitFor('the queue to drain', () => queueDrained(sql => app.orm.em.getConnection().execute(sql)), 60_000);
    expect(Date.now() - killedAt).to.be.below(60_000);

    const contacts = simulator.objects('contacts');
    const emails = contacts.map(c => c.properties.email);
    expect(new Set(emails).size, 'no duplicate objects').to.equal(contacts.length);
    expect(contacts).to.have.length(300);
    const rows = await app.orm.em.getConnection().execute(`select crm_id from crm_synchronisations where crm_name = 'hubspot' and crm_id is not null`);
    expect(rows).to.have.length(300);
    expect(new Set(rows.map(r => r.crm_id)).size).to.equal(300);
  });
});
