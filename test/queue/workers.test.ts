import { spawn, type ChildProcess } from 'node:child_process';
import { expect } from 'chai';
import { Logger, type Runner } from 'graphile-worker';
import { HubspotAdapter, runWorker } from '../../src/index.ts';
import { startHubspotSimulator, type HubspotSimulator } from '../../src/testing/index.ts';
import { createTestApp, type TestApp } from '../support/app.ts';
import { overlappingWrites } from '../support/convergence/scenario.ts';
import { User } from '../support/model.ts';
import { queueDrained, waitFor } from '../support/wait.ts';

/**
 * graphile-worker 0.18 keeps the jobs a killed worker had locked for 4 hours; Etlify's live-worker
 * registry releases them once the worker has gone unseen for `deadWorkerAfterMs`, and never counts a
 * worker paused for less than that as dead. Real worker processes, killed or stopped by signals.
 */
describe('jobs locked by dead workers', () => {
  let app: TestApp;
  let crm: HubspotSimulator;
  let child: ChildProcess | undefined;
  const workers: Runner[] = [];
  const execute = (sql: string, params: unknown[] = []) => app.orm.em.getConnection().execute(sql, params);
  /** The pools holding a job lock now (graphile-worker's `locked_by`: one id per worker process). */
  const lockingPools = async () => (await execute('select distinct locked_by from graphile_worker.jobs where locked_by is not null')).map(r => r.locked_by as string);
  const startChild = (deadWorkerAfterMs: number) => {
    // a 2 s claim lease, no request budget, and the bound under test
    child = spawn(process.execPath, ['test/support/worker-process.ts', app.url, crm.url, '2000', 'none', String(deadWorkerAfterMs)], { stdio: ['ignore', 'ignore', 'inherit'] });
    return new Promise(resolve => child!.once('exit', resolve));
  };
  /** The live worker's log lines (its release reports). */
  const lines: string[] = [];
  const logger = new Logger(() => (_level, message) => { lines.push(message); });
  const createUsers = async (n: number) => {
    const em = app.orm.em.fork();
    const users = Array.from({ length: n }, (_, i) => em.create(User, { email: `locked-${i}@example.test`, firstName: 'v1' }));
    await em.flush();
    return { em, users };
  };

  beforeEach(async () => {
    app = await createTestApp();
    app.etlify.registerCrm('airtable', { adapter: app.airtable, enabled: false });
  });
  afterEach(async () => {
    child?.kill('SIGKILL');
    child = undefined;
    lines.length = 0;
    await Promise.all(workers.splice(0).map(w => w.stop()));
    await app.close();
    await crm?.close();
  });

  it('a worker killed with kill -9 inside a job: a live worker releases the job within the bound, and the work completes', async function () {
    this.timeout(60_000);
    // the CRM answers slowly, so the child is inside its job (lock held, request in flight) when it dies
    crm = await startHubspotSimulator({ rateLimit: false, faults: { delayMs: 5_000 } });
    app.etlify.registerCrm('hubspot', { adapter: new HubspotAdapter({ accessToken: 'locked-token', baseUrl: crm.url }), rateLimit: false, deleteOnRemove: true, jobs: { batchDelayMs: 0, unknownOutcomeWaitMs: 1_000 } });
    const { em, users } = await createUsers(3);
    const exited = startChild(2_000);
    await waitFor('the child to send its batch', () => crm.requests.some(r => r.path.endsWith('/batch/upsert')), 20_000);
    const [dead] = await lockingPools();
    expect(dead, 'the child holds the job it runs').to.match(/^pool-/);
    // registered by its first heartbeat, right after graphile-worker started (it may fetch a job a moment before)
    await waitFor('the child to be registered', async () => (await execute('select pid from etlify_workers where pool_id = ?', [dead]))[0]?.pid === child!.pid, 10_000);
    child!.kill('SIGKILL');
    await exited;
    crm.setFaults({});
    // a change meanwhile: graphile-worker replaces the locked job (same key) with a new one and marks the
    // locked one spent (attempts = max_attempts): once released it would never run, so it is dropped
    users[0]!.firstName = 'v2';
    await em.flush();
    const [held] = await execute(`select count(*) filter (where attempts < max_attempts)::int as live, count(*) filter (where attempts >= max_attempts)::int as spent
                                    from graphile_worker.jobs where locked_by = ?`, [dead]);
    expect(held.live + held.spent).to.be.above(0);

    workers.push(await runWorker(app.orm, { handleSignals: false, pollInterval: 50, deadWorkerAfterMs: 2_000, logger }));
    // graphile-worker alone keeps this lock for 4 hours
    await waitFor('the dead worker\'s job to be released', async () => !(await lockingPools()).includes(dead!), 15_000);
    expect(await execute('select 1 from etlify_workers where pool_id = ?', [dead]), 'the dead worker is forgotten').to.deep.equal([]);
    expect(await execute('select 1 from graphile_worker.jobs where attempts >= max_attempts'), 'no spent job left behind').to.deep.equal([]);
    expect(lines.join('\n')).to.match(new RegExp(`${dead} \\(.*pid ${child!.pid}.*\\) counted as dead: ${held.live} of their Etlify job\\(s\\) released, ${held.spent} spent or superseded dropped`));
    await waitFor('the queue to drain', () => queueDrained(sql => execute(sql)), 30_000);
    expect(crm.objects('contacts').map(c => c.properties.firstname).sort()).to.deep.equal(['v1', 'v1', 'v2']);
    expect(overlappingWrites(crm)).to.deep.equal([]);
  });

  it('a worker paused (SIGSTOP) for less than the bound keeps its job; past the bound the job is released, and the resumed worker breaks nothing', async function () {
    this.timeout(60_000);
    crm = await startHubspotSimulator({ rateLimit: false, faults: { delayMs: 3_000 } });
    app.etlify.registerCrm('hubspot', { adapter: new HubspotAdapter({ accessToken: 'locked-token', baseUrl: crm.url }), rateLimit: false, deleteOnRemove: true, jobs: { batchDelayMs: 0, unknownOutcomeWaitMs: 4_000 } });
    const deadWorkerAfterMs = 6_000;
    await createUsers(2);
    const exited = startChild(deadWorkerAfterMs);
    await waitFor('the child to send its batch', () => crm.requests.some(r => r.path.endsWith('/batch/upsert')), 20_000);
    const [paused] = await lockingPools();
    child!.kill('SIGSTOP');
    const stoppedAt = Date.now();
    workers.push(await runWorker(app.orm, { handleSignals: false, pollInterval: 50, deadWorkerAfterMs, logger }));
    // the live worker judges others every 1.5 s; the child was last seen at most one beat before it stopped
    await new Promise(resolve => setTimeout(resolve, Math.max(0, stoppedAt + 3_000 - Date.now())));
    expect(await lockingPools(), 'a worker paused within the bound still holds its job').to.include(paused);
    expect(await execute('select 1 from etlify_workers where pool_id = ?', [paused]), 'and is still registered').to.have.length(1);

    await waitFor('the paused worker\'s job to be released past the bound', async () => !(await lockingPools()).includes(paused!), 20_000);
    // released, not dropped: it runs again, next to the paused run, which is safe because records are claimed under leases
    expect(lines.join('\n')).to.match(new RegExp(`${paused} \\(.*\\) counted as dead: [1-9]\\d* of their Etlify job\\(s\\) released`));
    crm.setFaults({});
    await waitFor('the queue to drain', () => queueDrained(sql => execute(sql)), 30_000);
    child!.kill('SIGCONT');
    // the resumed worker re-registers (and says it was counted as dead); its lost claim sends nothing
    await waitFor('the resumed worker to register again', async () => (await execute('select 1 from etlify_workers where pid = ?', [child!.pid])).length > 0, 15_000);
    await new Promise(resolve => setTimeout(resolve, 2_000));
    expect(crm.objects('contacts').map(c => c.properties.firstname)).to.deep.equal(['v1', 'v1']);
    expect(overlappingWrites(crm)).to.deep.equal([]);
    expect((await execute('select last_outcome from crm_synchronisations')).map(r => r.last_outcome)).to.deep.equal(['synced', 'synced']);
    child!.kill('SIGKILL');
    await exited;
  });
});
