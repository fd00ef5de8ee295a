import { expect } from 'chai';
import type { Runner } from 'graphile-worker';
import { HubspotAdapter, runWorker } from '../../src/index.ts';
import { startHubspotSimulator, type HubspotSimulator } from '../../src/testing/index.ts';
import { createTestApp, type TestApp } from '../support/app.ts';
import { User } from '../support/model.ts';
import { queueDrained, waitFor } from '../support/wait.ts';

/**
 * What the engine guarantees (docs/worker.md#what-the-engine-guarantees), each case of issue 17 that
 * belongs to the engine against the real queue and the HubSpot simulator.
 */
describe('engine guarantees', () => {
  let app: TestApp;
  let simulator: HubspotSimulator | undefined;
  const workers: Runner[] = [];
  const execute = (sql: string) => app.orm.em.getConnection().execute(sql);
  const drained = (timeoutMs = 20_000) => waitFor('the queue to drain', () => queueDrained(execute), timeoutMs);
  const start = async () => { workers.push(await runWorker(app.orm, { handleSignals: false, pollInterval: 50 })); };
  const hubspotVia = async (options: Parameters<typeof startHubspotSimulator>[0] = {}, jobs = {}) => {
    simulator = await startHubspotSimulator({ rateLimit: false, searchRateLimit: false, ...options });
    const adapter = new HubspotAdapter({ accessToken: 'engine-token', baseUrl: simulator.url, timeoutMs: 1_000 });
    app.etlify.registerCrm('hubspot', { adapter, rateLimit: false, deleteOnRemove: true, jobs: { batchDelayMs: 20, unknownOutcomeWaitMs: 500, ...jobs } });
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

  it('a create answered 504 (a gateway timeout) is an unknown outcome: the removed record\'s object is found and deleted', async () => {
    // HubSpot applies the create, then its gateway answers 504: Etlify never learns the object's id
    const crm = await hubspotVia({ faults: { serverErrorAfterApplyProbability: 1, serverErrorStatus: 504 } });
    await start();
    const em = app.orm.em.fork();
    const user = em.create(User, { email: 'gateway@example.test' });
    await em.flush();
    await waitFor('the create to land', () => crm.objects('contacts').length === 1);
    await waitFor('the 504 to be recorded', async () => (await execute("select 1 from crm_synchronisations where last_outcome = 'uncertain'")).length === 1);
    crm.setFaults({});
    em.remove(user);
    await em.flush();
    await drained();
    expect(crm.objects('contacts')).to.deep.equal([]);
    expect(await execute('select * from crm_synchronisations')).to.deep.equal([]);
  });
});
