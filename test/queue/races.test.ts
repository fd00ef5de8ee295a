import { spawn } from 'node:child_process';
import { expect } from 'chai';
import pg from 'pg';
import { RateLimitedError, runWorker, TransientCrmError } from '../../src/index.ts';
import { RecordingAdapter } from '../../src/testing/index.ts';
import { overlappingWrites } from '../support/convergence/scenario.ts';
import { User } from '../support/model.ts';
import { queueHarness } from '../support/queue-harness.ts';
import { waitFor } from '../support/wait.ts';

/** The queue's races and faults (issue 17): each case against the real queue and a HubSpot simulator. */
describe('queue races', () => {
  const h = queueHarness({ accessToken: 'races-token', unknownOutcomeWaitMs: 2_000 });
  const { execute, drained, deletesWon, hubspotVia, start, workers } = h;

  it('deletes win over an in-flight sync: a removal, then a sync asked for after it, both merged while the record is in flight', async () => {
    const crm = await hubspotVia({ faults: { delayMs: 600 } });
    await start();
    const em = h.app.orm.em.fork();
    const user = em.create(User, { email: 'edited-then-removed@example.test', firstName: 'v1' });
    await em.flush();
    await waitFor('the create to be in flight', () => crm.requests.some(r => r.path.endsWith('/batch/upsert')), 5_000);
    em.remove(user);
    await em.flush();
    // a sync asked for after the removal (a late job of the application, a dependency's change)
    expect(await user.hubspotSync()).to.equal('queued');
    await waitFor('both requests to merge into the claimed row', async () =>
      (await execute("select 1 from etlify_record_queue where kind = 'delete' and resync and claim_token is not null")).length > 0, 5_000);
    await deletesWon();
  });
  it('deletes win after a kill -9 during a first create: the removal merged before the lease ends still finds the object', async function () {
    this.timeout(60_000);
    const crm = await hubspotVia({ faults: { delayMs: 800 } });
    const em = h.app.orm.em.fork();
    const user = em.create(User, { email: 'killed-create@example.test' });
    await em.flush();
    // another process claims the record (a 3 s lease) and sends its create; it dies before the answer
    const child = spawn(process.execPath, ['test/support/worker-process.ts', h.app.url, crm.url, '3000'], { stdio: ['ignore', 'ignore', 'inherit'] });
    const exited = new Promise(resolve => child.once('exit', resolve));
    await waitFor('the child to send the create', () => crm.requests.some(r => r.path.endsWith('/batch/upsert')), 20_000);
    child.kill('SIGKILL');
    await exited;
    await waitFor('the create to land anyway', () => crm.objects('contacts').length === 1, 5_000);
    em.remove(user);
    await em.flush();
    await start();
    await waitFor('the removal to merge into the dead claim', async () =>
      (await execute("select 1 from etlify_record_queue where kind = 'delete' and claim_token is not null")).length > 0, 5_000);
    await deletesWon(30_000);
  });

  it('deletes win when the database fails after a successful create: the unknown outcome is kept in the sync state', async () => {
    const crm = await hubspotVia();
    // the outcome write fails once the CRM has the object (a database failover at the wrong moment)
    await execute(`create function fail_outcome() returns trigger language plpgsql as $$
                   begin if new.last_outcome = 'synced' then raise exception 'the database failed'; end if; return new; end $$;
                   create trigger fail_outcome before insert or update on crm_synchronisations for each row execute function fail_outcome()`);
    await start();
    const em = h.app.orm.em.fork();
    const user = em.create(User, { email: 'unrecorded-create@example.test' });
    await em.flush();
    await waitFor('the failed outcome write', async () =>
      (await execute("select 1 from etlify_record_queue where last_error like '%the database failed%'")).length > 0, 10_000);
    await execute('drop trigger fail_outcome on crm_synchronisations');
    expect(crm.objects('contacts')).to.have.length(1);
    em.remove(user);
    await em.flush();
    await deletesWon();
  });
  it('a worker paused past its lease (SIGSTOP) sends nothing and writes nothing when it resumes: the newer claim\'s result stands', async function () {
    this.timeout(60_000);
    const crm = await hubspotVia();
    const em = h.app.orm.em.fork();
    const user = em.create(User, { email: 'paused@example.test', firstName: 'v1' });
    await em.flush();
    // hold the other process between reading the record (v1) and sending it: its identity reservation waits on this lock
    const locker = new pg.Client({ connectionString: h.app.url });
    await locker.connect();
    // no request budget: nothing but the lease stands between reading the record and sending it
    const child = spawn(process.execPath, ['test/support/worker-process.ts', h.app.url, crm.url, '2000', 'none'], { stdio: ['ignore', 'ignore', 'inherit'] });
    const exited = new Promise(resolve => child.once('exit', resolve));
    try {
      await execute(`insert into crm_synchronisations (resource_type, resource_id, crm_name) values ('User', '${user.id}', 'hubspot')`);
      await locker.query('begin');
      await locker.query(`select 1 from crm_synchronisations where resource_id = '${user.id}' for update`);
      await waitFor('the child to have read v1 and wait to reserve its identity', async () =>
        (await execute("select 1 from pg_stat_activity where wait_event_type = 'Lock' and query like '%reserved as (%'")).length > 0, 20_000);
      child.kill('SIGSTOP');
      await locker.query('rollback');
      user.firstName = 'v2';
      await em.flush();
      await start();
      await waitFor('v2 to be sent once the paused claim is recovered', () => crm.objects('contacts')[0]?.properties.firstname === 'v2', 20_000);
      await drained();
      child.kill('SIGCONT');
      // the resumed process finds its lease lost on the monotonic clock: what it held is not sent
      await new Promise(resolve => setTimeout(resolve, 2_000));
      expect(crm.objects('contacts').map(c => c.properties.firstname)).to.deep.equal(['v2']);
      expect(crm.requests.filter(r => r.path.endsWith('/batch/upsert'))).to.have.length(1);
      expect(overlappingWrites(crm)).to.deep.equal([]);
      const [row] = await execute(`select last_outcome from crm_synchronisations where resource_id = '${user.id}'`);
      expect(row.last_outcome).to.equal('synced');
      expect(await user.hubspotSync({ inline: true }), 'the sync state still describes v2').to.equal('not_modified');
    } finally {
      child.kill('SIGKILL');
      await exited;
      await locker.end();
    }
  });
  it('no work without a wake-up: records an inline sync gives up on are run by the worker already running, when due', async function () {
    this.timeout(30_000);
    let failures = 3;
    const adapter = new RecordingAdapter({ fail: () => failures-- > 0 ? new TransientCrmError('503 Service Unavailable', { status: 503 }) : undefined });
    h.app.etlify.registerCrm('hubspot', { adapter, jobs: { batchDelayMs: 0 } });
    const em = h.app.orm.em.fork();
    const user = em.create(User, { email: 'given-up@example.test' });
    await em.flush();
    // only the inline sync: the flush's own request and wake-up are not there
    await execute('delete from etlify_sync_requests; delete from graphile_worker._private_jobs');
    // running before the inline sync, and without the sweep: only a job can bring it to the record
    await start(1, { sweepSchedule: false });
    expect(await user.hubspotSync({ inline: true }), 'three attempts, then it gives up').to.equal('error');
    expect(adapter.table('contacts').size).to.equal(0);
    await waitFor('the worker to run what the inline sync left', () => adapter.table('contacts').size === 1, 15_000);
    await drained();
  });
  it('no work without a wake-up: a change merged while an inline sync holds its record is run when due, not at the end of the lease', async function () {
    this.timeout(30_000);
    const adapter = new RecordingAdapter({ latencyMs: 1_500 });
    h.app.etlify.registerCrm('hubspot', { adapter, jobs: { batchDelayMs: 0 } });
    const em = h.app.orm.em.fork();
    const user = em.create(User, { email: 'inline-then-changed@example.test', firstName: 'v1' });
    await em.flush();
    await execute('delete from etlify_sync_requests; delete from graphile_worker._private_jobs');
    await start(1, { sweepSchedule: false });
    const inline = user.hubspotSync({ inline: true });
    await waitFor('the inline sync to send', () => adapter.calls.length > 0, 5_000);
    // the worker merges this change into the row the inline sync holds, finds nothing due before that
    // claim's lease ends (30 s), and schedules itself for then
    const other = h.app.orm.em.fork();
    (await other.findOneOrFail(User, user.id)).firstName = 'v2';
    await other.flush();
    await waitFor('the change to merge into the held row', async () =>
      (await execute('select 1 from etlify_record_queue where generation > 1 and claim_token is not null')).length > 0, 5_000);
    expect(await inline).to.equal('synced');
    await waitFor('the change to reach the CRM well before the lease ends', () => [...adapter.table('contacts').values()].some(c => c.firstname === 'v2'), 10_000);
    await drained();
  });
  it('concurrent ingests and claims never deadlock: three workers, a writer changing 400 records over and over', async function () {
    this.timeout(90_000);
    h.app.etlify.registerCrm('hubspot', { adapter: new RecordingAdapter({ latencyMs: 5 }), jobs: { batchDelayMs: 0, batchSize: 50 } });
    const failures: string[] = [];
    for (let i = 0; i < 3; i++) {
      const worker = await runWorker(h.app.orm, { handleSignals: false, pollInterval: 20, concurrency: 4, sweepSchedule: false });
      worker.events.on('job:error', ({ error }) => failures.push(String((error as Error)?.message ?? error)));
      workers.push(worker);
    }
    const em = h.app.orm.em.fork();
    const users = Array.from({ length: 400 }, (_, i) => em.create(User, { email: `busy${i}@example.test`, firstName: 'v0' }));
    await em.flush();
    for (let round = 1; round <= 30; round++) {
      // a few records at a time, in an order of their own: requests land in the inbox while claims end
      for (const user of users.filter((_, i) => (i * 7 + round) % 2 === 0)) user.firstName = `v${round}`;
      await em.flush();
      await new Promise(resolve => setTimeout(resolve, 30));
    }
    await drained(60_000);
    expect(failures.filter(f => /deadlock/.test(f))).to.deep.equal([]);
  });
  it('a record\'s attempts count only its own failures: a 429 of its batch makes it wait, uncounted', async function () {
    this.timeout(30_000);
    let limited = 3;
    // thrown: the whole batch call is answered 429
    const adapter = new RecordingAdapter({ fail: () => { if (limited > 0) { limited--; throw new RateLimitedError('429 Too Many Requests', 300); } return undefined; } });
    h.app.etlify.registerCrm('hubspot', { adapter, jobs: { batchDelayMs: 0 } });
    await start();
    const em = h.app.orm.em.fork();
    for (let i = 0; i < 5; i++) em.create(User, { email: `limited${i}@example.test` });
    await em.flush();
    await waitFor('the 429s to have been answered', () => limited === 0, 15_000);
    const attempts = (await execute('select attempts from etlify_record_queue')).map(r => r.attempts);
    expect(attempts.filter(a => a > 0), 'no attempt counted for a rate limit').to.deep.equal([]);
    await drained();
    expect(adapter.table('contacts').size).to.equal(5);
  });
});
