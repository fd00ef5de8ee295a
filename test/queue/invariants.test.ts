import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MikroORM } from '@mikro-orm/postgresql';
import { expect } from 'chai';
import pg from 'pg';
import { Etlify, migrateEtlify, RateLimitedError, reset, runWorker, syncStale, TransientCrmError, UnknownOutcomeError, type SyncEvent } from '../../src/index.ts';
import { RecordingAdapter } from '../../src/testing/index.ts';
import { overlappingWrites } from '../support/convergence/scenario.ts';
import { entities, User } from '../support/model.ts';
import { freePort, startEmbeddedPostgres } from '../support/postgres.ts';
import { queueHarness } from '../support/queue-harness.ts';
import { waitFor } from '../support/wait.ts';

/** The convergence invariants of docs/worker.md, one at a time, each against the real queue. */
describe('queue invariants', () => {
  const h = queueHarness({ accessToken: 'invariants-token', unknownOutcomeWaitMs: 2_000 });
  const { execute, drained, deletesWon, hubspotVia, start } = h;
  const contact = (email: string) => h.simulator!.objects('contacts').find(c => c.properties.email === email);

  it('exclusive per record: an inline sync waits for the worker holding the record, never overlapping it', async () => {
    // a long batching delay: the second change waits in the queue, so the inline sync is the one to send it
    const crm = await hubspotVia({ faults: { delayMs: 600 } }, { batchDelayMs: 1_000 });
    await start(2);
    const em = h.app.orm.em.fork();
    const user = em.create(User, { email: 'busy@example.test', firstName: 'queued' });
    await em.flush();
    await waitFor('the worker to send', () => crm.requests.length > 0, 5_000);
    user.firstName = 'inline';
    await em.flush();
    expect(await user.hubspotSync({ inline: true })).to.equal('synced');
    await drained();
    expect(overlappingWrites(crm)).to.deep.equal([]);
    expect(contact('busy@example.test')!.properties.firstname).to.equal('inline');
  });

  it('an inline sync of an unchanged record answers without claiming it: nothing is written or sent', async () => {
    h.app.etlify.registerCrm('hubspot', { adapter: h.app.hubspot });
    const em = h.app.orm.em.fork();
    const user = em.create(User, { email: 'steady@example.test' });
    await em.flush();
    expect(await user.hubspotSync({ inline: true })).to.equal('synced');
    // another worker holds the record: a sync that had to send would wait for it
    await execute(`insert into etlify_record_queue (crm_name, lane, resource_type, resource_id, kind, entity, due_at, claim_token, claimed_until)
                   values ('hubspot', 'record', 'User', '${user.id}', 'sync', 'User', 'infinity', 'elsewhere', now() + interval '1 minute')`);
    const [before] = await execute(`select updated_at from crm_synchronisations where resource_id = '${user.id}'`);
    const started = Date.now();
    expect(await user.hubspotSync({ inline: true })).to.equal('not_modified');
    expect(Date.now() - started).to.be.below(1_000);
    expect(await execute(`select updated_at from crm_synchronisations where resource_id = '${user.id}'`)).to.deep.equal([before]);
    expect(h.app.hubspot.calls).to.have.length(1);
  });

  it('unknown outcomes stay unknown: a write that timed out is not overtaken by the next one', async () => {
    // the CRM answers after 2.5 s, the adapter gives up after 1 s, the CRM applies the write anyway
    const crm = await hubspotVia({ faults: { delayMs: 2_500 } });
    const retried: SyncEvent[] = [];
    h.app.etlify.events.on('retried', e => retried.push(e));
    await start();
    const em = h.app.orm.em.fork();
    const user = em.create(User, { email: 'late@example.test', firstName: 'v1' });
    await em.flush();
    await waitFor('v1 to be sent', () => crm.requests.length === 1);
    crm.setFaults({});
    user.firstName = 'v2';
    await em.flush();
    await waitFor('v1 to time out', () => retried.length > 0, 5_000);
    expect(retried[0]!.error).to.match(/^UnknownOutcomeError/);
    const [row] = await execute("select last_digest, last_outcome from crm_synchronisations where resource_id = (select id::text from app_user)");
    expect(row).to.deep.equal({ last_digest: null, last_outcome: 'uncertain' });
    await drained();
    const [v1, v2] = crm.requests.filter(r => r.path.endsWith('/batch/upsert'));
    expect(v2!.receivedAt, 'v2 is sent only once v1 can no longer land after it').to.be.at.least(v1!.appliedAt!);
    expect(contact('late@example.test')!.properties.firstname).to.equal('v2');
    expect(await user.hubspotSync({ inline: true })).to.equal('not_modified');
  });

  it('deletes win: a record removed while its first sync is in flight does not stay in the CRM', async () => {
    const crm = await hubspotVia({ faults: { delayMs: 500 } });
    await start();
    const em = h.app.orm.em.fork();
    const user = em.create(User, { email: 'short-lived@example.test' });
    await em.flush();
    await waitFor('the create to be sent', () => crm.requests.length === 1);
    em.remove(user);
    await em.flush();
    await deletesWon();
  });

  it('deletes win even over a create whose outcome is unknown: the object is found by its unique property', async () => {
    // the CRM applies the create, then the connection breaks: Etlify never learns the object's id
    const crm = await hubspotVia({ faults: { resetAfterApplyProbability: 1 } });
    await start();
    const em = h.app.orm.em.fork();
    const user = em.create(User, { email: 'lost-id@example.test' });
    await em.flush();
    await waitFor('the create to land', () => crm.objects('contacts').length === 1);
    crm.setFaults({});
    em.remove(user);
    await em.flush();
    await deletesWon();
  });

  it('coalescing: 50 flushes of one record 10 ms apart, while its first write is held in flight, make at most 2 CRM writes, the last with the last value', async () => {
    // The CRM answers no write before the burst is over, so however slowly the machine runs the flushes,
    // every change made after the first claim waits in the queue and merges into one write after it.
    // How many writes a burst makes in real time (<= 3 with the default batchDelayMs) is bench/burst-coalescing's figure.
    let burstOver!: () => void;
    const adapter = new RecordingAdapter({ holdUntil: new Promise<void>(resolve => { burstOver = resolve; }) });
    h.app.etlify.registerCrm('hubspot', { adapter, jobs: { batchDelayMs: 250 } });
    await start(2);
    const em = h.app.orm.em.fork();
    const user = em.create(User, { email: 'burst@example.test', firstName: 'v0' });
    await em.flush();
    for (let i = 1; i <= 50; i++) {
      user.firstName = `v${i}`;
      await em.flush();
      await new Promise(resolve => setTimeout(resolve, 10));
    }
    burstOver();
    await drained();
    const writes = adapter.calls.filter(c => c.method.endsWith('psert')).flatMap(c => c.payloads);
    expect(writes.length).to.be.within(1, 2);
    expect(writes.at(-1)!.firstname).to.equal('v50');
  });

  it('retries are per record: one record failing does not slow another, and a Retry-After is honoured even by syncStale', async () => {
    let rateLimitedAt = 0;
    const adapter = new RecordingAdapter({
      fail: payload => {
        if (payload.email === 'flaky@example.test') return new TransientCrmError('503 Service Unavailable', { status: 503 });
        if (payload.email === 'limited@example.test' && !rateLimitedAt) { rateLimitedAt = Date.now(); return new RateLimitedError('429', 2_500); }
        return undefined;
      },
    });
    h.app.etlify.registerCrm('hubspot', { adapter, jobs: { batchDelayMs: 0 } });
    await start();
    const em = h.app.orm.em.fork();
    em.create(User, { email: 'flaky@example.test' });
    const limited = em.create(User, { email: 'limited@example.test' });
    await em.flush();
    await waitFor('the 429', () => rateLimitedAt > 0);
    // asking again during the wait the CRM asked for changes nothing
    await syncStale(h.app.orm);
    await limited.hubspotSync();
    const healthy = em.create(User, { email: 'healthy@example.test' });
    await em.flush();
    const healthyFlushed = Date.now();
    await waitFor('the healthy record', () => [...adapter.table('contacts').values()].some(c => c.email === 'healthy@example.test'), 5_000);
    expect(Date.now() - healthyFlushed, 'not held back by the failing record').to.be.below(1_500);
    await waitFor('the rate-limited record', () => [...adapter.table('contacts').values()].some(c => c.email === 'limited@example.test'), 10_000);
    const sends = adapter.calls.flatMap(c => c.payloads).filter(p => p.email === 'limited@example.test');
    expect(sends).to.have.length(2);
    // read between two of its attempts: a send is recorded before its outcome counts it
    const counted = async () => {
      const flakySends = adapter.calls.flatMap(c => c.payloads).filter(p => p.email === 'flaky@example.test').length;
      const [{ attempts }] = await execute("select attempts from etlify_record_queue where resource_id = (select id::text from app_user where email = 'flaky@example.test')");
      return { attempts, flakySends, settled: flakySends === adapter.calls.flatMap(c => c.payloads).filter(p => p.email === 'flaky@example.test').length };
    };
    let count = await counted();
    for (const deadline = Date.now() + 5_000; (!count.settled || count.attempts !== count.flakySends) && Date.now() < deadline;) count = await counted();
    expect(count.attempts, 'the failing record counts its own attempts').to.equal(count.flakySends);
    // the CRM holds the record a moment before its claim ends and its queue row goes
    await waitFor('only the failing record left in the queue', async () =>
      (await execute("select 1 from etlify_record_queue where resource_id <> (select id::text from app_user where email = 'flaky@example.test')")).length === 0, 5_000);
  });

  it('one CRM object, one record: emails HubSpot treats as equal are refused before anything is sent', async () => {
    const crm = await hubspotVia();
    const em = h.app.orm.em.fork();
    const first = em.create(User, { email: 'user5@example.com', firstName: 'First' });
    await em.flush();
    expect(await first.hubspotSync({ inline: true })).to.equal('synced');
    const second = em.create(User, { email: ' USER5@example.com', firstName: 'Second' });
    await em.flush();
    const sent = crm.requests.length;
    expect(await second.hubspotSync({ inline: true })).to.equal('error');
    expect(crm.requests.length, 'nothing was sent for the second record').to.equal(sent);
    expect(contact('user5@example.com')!.properties.firstname).to.equal('First');
    const [row] = await execute(`select last_error, last_synced_at, error_count from crm_synchronisations where resource_id = '${second.id}'`);
    expect(row.last_error).to.include(`User ${second.id}`).and.to.include(`User ${first.id}`);
    expect(row.last_synced_at, 'a failing record stays stale').to.equal(null);
    // retried by the next stale run, released by reset, and synced once the conflict is fixed
    expect((await syncStale(h.app.orm, { inline: true })).results.error).to.equal(1);
    await execute(`update crm_synchronisations set error_count = 3 where resource_id = '${second.id}'`);
    expect(await reset(h.app.orm, { entity: 'User', ids: [String(second.id)] })).to.equal(1);
    second.email = 'user6@example.com';
    await em.flush();
    expect(await second.hubspotSync({ inline: true })).to.equal('synced');
    expect(await first.hubspotSync({ inline: true })).to.equal('not_modified');
  });

  it('a worker started before the migrations fails at once, saying what to run', async () => {
    await execute('drop table etlify_record_queue');
    const started = Date.now();
    let error: Error | undefined;
    await runWorker(h.app.orm, { handleSignals: false }).catch(e => { error = e; });
    expect(error?.name).to.equal('ConfigurationError');
    expect(error?.message).to.match(/etlify migrate/).and.to.include('etlify_record_queue');
    expect(Date.now() - started).to.be.below(5_000);
  });

  it('a worker whose database stays away stops with DatabaseUnavailableError (a shorter outage it rides out and syncs after)', async function () {
    this.timeout(90_000);
    const folder = mkdtempSync(join(tmpdir(), 'etlify-db-away-'));
    const port = await freePort();
    let server = await startEmbeddedPostgres({ dataDir: join(folder, 'data'), port });
    const etlify = new Etlify({ crms: { hubspot: { adapter: new RecordingAdapter(), jobs: { batchDelayMs: 0 } }, airtable: { adapter: new RecordingAdapter(), enabled: false } } });
    const orm = await MikroORM.init({ clientUrl: server.url, entities, extensions: [etlify] });
    try {
      await orm.schema.create();
      await migrateEtlify(orm);
      const worker = await runWorker(orm, { handleSignals: false, pollInterval: 50, databaseTimeoutMs: 3_000 });
      let ended: unknown = 'running';
      worker.promise.then(() => { ended = 'resolved'; }, error => { ended = error; });
      // running for a moment first: an outage during graphile-worker 0.18's first look-up of its task
      // ids leaves that failure cached (the WorkerStalledError test below), which is another story
      await waitFor('the worker to poll', async () => (await orm.em.getConnection().execute(`select count(*)::int as n from graphile_worker._private_tasks`))[0].n > 0, 5_000);
      await new Promise(resolve => setTimeout(resolve, 300));
      await server.stop(); // a short outage: ridden out
      server = await startEmbeddedPostgres({ dataDir: join(folder, 'data'), port });
      await new Promise(resolve => setTimeout(resolve, 1_500));
      expect(ended).to.equal('running');
      // and it syncs again. Not at once: a job fetch that met "the database system is starting up"
      // (57P03) sleeps in graphile-worker's retry, 1.5–4.5 s, then 2.25–6.75 s, then 3.4–10 s.
      const em = orm.em.fork();
      em.create(User, { email: 'after-restart@example.test' });
      await em.flush();
      const synced = (etlify.crms.get('hubspot').adapter as RecordingAdapter).table('contacts');
      await waitFor('the sync after the restart', () => synced.size === 1, 25_000);
      await server.stop(); // and one that lasts
      const stoppedAt = Date.now();
      await waitFor('the worker to give up', () => ended !== 'running', 15_000);
      expect((ended as Error).name).to.equal('DatabaseUnavailableError');
      expect((ended as Error).message).to.match(/unreachable for \d+ s/);
      // counted from the last answer, which came up to one probe interval (750 ms) before the stop
      expect(Date.now() - stoppedAt).to.be.within(2_000, 12_000);
    } finally {
      await orm.close(true).catch(() => {});
      await server.stop().catch(() => {});
      rmSync(folder, { recursive: true, force: true });
    }
  });

  it('a worker whose job fetches keep failing while the database answers stops with WorkerStalledError, not silently', async function () {
    this.timeout(60_000);
    // graphile-worker 0.18 keeps its first look-up of its task ids, a failure included: make that one fail
    const locker = new pg.Client({ connectionString: h.app.url });
    await locker.connect();
    try {
      await locker.query('begin');
      await locker.query('lock table graphile_worker._private_tasks in share mode');
      // a pool of its own: the connection cut off below is the worker's, never one the test flushes on
      const starting = runWorker(h.app.orm, { connectionString: h.app.url, handleSignals: false, pollInterval: 50, sweepSchedule: false });
      const lookUp = `from pg_stat_activity where wait_event_type = 'Lock' and query like 'insert into %_private_tasks%'`;
      await waitFor("the worker's first look-up to wait on the lock", async () => (await execute(`select 1 ${lookUp}`)).length > 0, 10_000);
      await execute(`select pg_terminate_backend(pid) ${lookUp}`);
      await locker.query('rollback');
      const worker = await starting;
      let ended: unknown = 'running';
      worker.promise.then(() => { ended = 'resolved'; }, error => { ended = error; });
      const em = h.app.orm.em.fork();
      em.create(User, { email: 'stalled@example.test' });
      await em.flush();
      await waitFor('the worker to stop', () => ended !== 'running', 30_000);
      expect((ended as Error).name).to.equal('WorkerStalledError');
      expect((ended as Error).message).to.match(/^graphile-worker has failed to fetch jobs for \d+ s while PostgreSQL answers \(terminating connection due to administrator command\)/);
      expect(h.app.hubspot.calls, 'the worker really was stalled').to.deep.equal([]);
    } finally {
      await locker.end();
    }
  });

  it('UnknownOutcomeError is what an HTTP adapter reports for a write that timed out', async () => {
    // the CRM answers only once the adapter (1 s timeout) has given up: no race between a delay and the timeout
    let timedOut!: () => void;
    const crm = await hubspotVia({ faults: { holdUntil: new Promise<void>(resolve => { timedOut = resolve; }) } });
    const em = h.app.orm.em.fork();
    const user = em.create(User, { email: 'timeout@example.test' });
    await em.flush();
    const adapter = h.app.etlify.crms.get('hubspot').adapter;
    const error = await adapter.upsert({ objectType: 'contacts', idProperty: 'email', payload: { email: user.email }, crmId: '101' }).catch(e => e);
    timedOut();
    expect(error).to.be.instanceOf(UnknownOutcomeError);
    expect(crm.requests.map(r => r.method), 'the write was sent, then timed out').to.deep.equal(['PATCH']);
  });
});
