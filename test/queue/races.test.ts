import { spawn } from 'node:child_process';
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
  it('deletes win after a kill -9 during a first create: the removal merged before the lease ends still finds the object', async function () {
    this.timeout(60_000);
    const crm = await hubspotVia({ faults: { delayMs: 800 } });
    const em = app.orm.em.fork();
    const user = em.create(User, { email: 'killed-create@example.test' });
    await em.flush();
    // another process claims the record (a 3 s lease) and sends its create; it dies before the answer
    const child = spawn(process.execPath, ['test/support/worker-process.ts', app.url, crm.url, '3000'], { stdio: ['ignore', 'ignore', 'inherit'] });
    const exited = new Promise(resolve => child.once('exit', resolve));
    await waitFor('the child to send the create', () => crm.requests.some(r => r.path.endsWith('/batch/upsert')), 20_000);
    child.kill('SIGKILL');
    await exited;
    await waitFor('the create to land anyway', () => crm.objects('contacts').length === 1, 5_000);
    em.remove(user);
    await em.flush();
    workers.push(await runWorker(app.orm, { handleSignals: false, pollInterval: 50 }));
    await waitFor('the removal to merge into the dead claim', async () =>
      (await execute("select 1 from etlify_record_queue where kind = 'delete' and claim_token is not null")).length > 0, 5_000);
    await drained(30_000);
    expect(crm.objects('contacts')).to.deep.equal([]);
    expect(await execute('select * from crm_synchronisations')).to.deep.equal([]);
  });

  it('deletes win when the database fails after a successful create: the unknown outcome is kept in the sync state', async () => {
    const crm = await hubspotVia();
    // the outcome write fails once the CRM has the object (a database failover at the wrong moment)
    await execute(`create function fail_outcome() returns trigger language plpgsql as $$
                   begin if new.last_outcome = 'synced' then raise exception 'the database failed'; end if; return new; end $$;
                   create trigger fail_outcome before insert or update on crm_synchronisations for each row execute function fail_outcome()`);
    workers.push(await runWorker(app.orm, { handleSignals: false, pollInterval: 50 }));
    const em = app.orm.em.fork();
    const user = em.create(User, { email: 'unrecorded-create@example.test' });
    await em.flush();
    await waitFor('the failed outcome write', async () =>
      (await execute("select 1 from etlify_record_queue where last_error like '%the database failed%'")).length > 0, 10_000);
    await execute('drop trigger fail_outcome on crm_synchronisations');
    expect(crm.objects('contacts')).to.have.length(1);
    em.remove(user);
    await em.flush();
    await drained();
    expect(crm.objects('contacts')).to.deep.equal([]);
    expect(await execute('select * from crm_synchronisations')).to.deep.equal([]);
  });
});
