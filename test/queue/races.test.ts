import { expect } from 'chai';
import type { Runner } from 'graphile-worker';
import { HubspotAdapter, runWorker } from '../../src/index.ts';
import { startHubspotSimulator, type HubspotSimulator } from '../../src/testing/index.ts';
import { createTestApp, type TestApp } from '../support/app.ts';
import { User } from '../support/model.ts';
import { queueDrained, waitFor } from '../support/wait.ts';

/** The queue's races and faults (issue 17): each case against the real queue and a HubSpot simulator. */
describe('queue races', () => {
  let app: TestApp;
  let simulator: HubspotSimulator | undefined;
  const workers: Runner[] = [];
  const execute = (sql: string) => app.orm.em.getConnection().execute(sql);
  const drained = (timeoutMs = 20_000) => waitFor('the queue to drain', () => queueDrained(execute), timeoutMs);
  const hubspotVia = async (faults: Parameters<typeof startHubspotSimulator>[0] = {}, jobs = {}) => {
    simulator = await startHubspotSimulator({ rateLimit: false, ...faults });
    const adapter = new HubspotAdapter({ accessToken: 'races-token', baseUrl: simulator.url, timeoutMs: 1_000 });
    app.etlify.registerCrm('hubspot', { adapter, rateLimit: false, deleteOnRemove: true, jobs: { batchDelayMs: 20, unknownOutcomeWaitMs: 2_000, ...jobs } });
    return simulator;
  };

  beforeEach(async () => {
    app = await createTestApp();
    app.etlify.registerCrm('airtable', { adapter: app.airtable, enabled: false });
  });
  afterEach(async () => {
    await Promise.all(workers.splice(0).map(w => w.stop()));
    await app.close();
    await simulator?.close();
    simulator = undefined;
  });

  it('deletes win over an in-flight sync: a removal, then a sync asked for after it, both merged while the record is in flight', async () => {
    const crm = await hubspotVia({ faults: { delayMs: 600 } });
    workers.push(await runWorker(app.orm, { handleSignals: false, pollInterval: 50 }));
    const em = app.orm.em.fork();
    const user = em.create(User, { email: 'edited-then-removed@example.test', firstName: 'v1' });
    await em.flush();
    await waitFor('the create to be in flight', () => crm.requests.some(r => r.path.endsWith('/batch/upsert')), 5_000);
    em.remove(user);
    await em.flush();
    // a sync asked for after the removal (a late job of the application, a dependency's change)
    expect(await user.hubspotSync()).to.equal('queued');
    await waitFor('both requests to merge into the claimed row', async () =>
      (await execute("select 1 from etlify_record_queue where kind = 'delete' and resync and claim_token is not null")).length > 0, 5_000);
    await drained();
    expect(crm.objects('contacts')).to.deep.equal([]);
    expect(await execute('select * from crm_synchronisations')).to.deep.equal([]);
  });
});
