import { expect } from 'chai';
import type { Runner } from 'graphile-worker';
import { runWorker, ValidationError, type BatchUpsertRequest, type CrmAdapter } from '../../src/index.ts';
import { sweep } from '../../src/queue/sweep.ts';
import { syncStale, type StaleProgress } from '../../src/stale/index.ts';
import { RecordingAdapter } from '../../src/testing/index.ts';
import type { TestApp } from '../support/app.ts';
import { Company, Deal, User } from '../support/model.ts';
import { Link } from '../support/stale-model.ts';
import { queueDrained, waitFor } from '../support/wait.ts';
import { createStaleApp, sql, stale, touch } from './helpers.ts';

describe('syncStale', () => {
  let app: TestApp;
  let worker: Runner | undefined;
  beforeEach(async () => { app = await createStaleApp(); });
  afterEach(async () => { await worker?.stop(); worker = undefined; await app.close(); });

  const insertUsers = (count: number) =>
    sql(app, `insert into app_user (email, status, created_at, updated_at)
              select 'user' || g || '@example.test', 'active', now(), now() from generate_series(1, ?) g`, [count]);

  it('inline: 2,500 records in chunks of 1,000 — three batch calls, progress after each, stats by outcome', async () => {
    await insertUsers(2500);
    const progress: StaleProgress[] = [];
    const stats = await syncStale(app.orm, { crm: 'hubspot', entities: ['User'], inline: true, batchSize: 1000, onProgress: p => progress.push(p) });
    expect(app.hubspot.callsOf('batchUpsert').map(c => c.payloads.length)).to.deep.equal([1000, 1000, 500]);
    expect(progress).to.deep.equal([
      { done: 1000, total: 2500, entity: 'User', crm: 'hubspot' },
      { done: 2000, total: 2500, entity: 'User', crm: 'hubspot' },
      { done: 2500, total: 2500, entity: 'User', crm: 'hubspot' },
    ]);
    expect(stats).to.deep.equal({
      total: 2500, perEntity: { User: 2500 }, perCrm: { hubspot: 2500 }, errors: 0,
      results: { synced: 2500, not_modified: 0, skipped: 0, buffered: 0, error: 0, retry: 0 }, failures: [], scans: { 'User × hubspot': 'full' }, vanished: 0,
    });
    const [row] = await sql(app, `select count(*)::int as n, count(distinct crm_id)::int as ids from crm_synchronisations where crm_name = 'hubspot' and resource_type = 'User'`);
    expect(row).to.deep.equal({ n: 2500, ids: 2500 });

    // unchanged data: nothing to do, no CRM call; a changed payload alone is sent again
    app.hubspot.calls.length = 0;
    expect((await syncStale(app.orm, { crm: 'hubspot', inline: true })).total).to.equal(0);
    expect(app.hubspot.calls).to.have.length(0);
    await sql(app, `update app_user set updated_at = clock_timestamp() where id <= 3`);
    await sql(app, `update app_user set first_name = 'Changed', updated_at = clock_timestamp() where id = 1`);
    const again = await syncStale(app.orm, { crm: 'hubspot', inline: true });
    expect(again.results).to.include({ synced: 1, not_modified: 2 });
    expect(app.hubspot.sentPayloads).to.equal(1);
  });

  it('queued: requests go in by chunks, with the same stats and progress, and nothing is synced yet', async () => {
    await insertUsers(2500);
    const progress: number[] = [];
    const stats = await syncStale(app.orm, { crm: 'hubspot', entities: [User], batchSize: 1000, onProgress: p => progress.push(p.done) });
    expect(progress).to.deep.equal([1000, 2000, 2500]);
    expect(stats).to.deep.include({ total: 2500, perEntity: { User: 2500 }, errors: 0 });
    expect(stats.results.synced).to.equal(0);
    const [row] = await sql(app, `select count(*)::int as rows, sum(cardinality(resource_ids))::int as n from etlify_sync_requests where crm_name = 'hubspot' and entity = 'User' and kind = 'sync'`);
    expect(row).to.deep.equal({ rows: 3, n: 2500 }); // one row per chunk
    expect(app.hubspot.calls).to.have.length(0);
    const [jobs] = await sql(app, `select count(*)::int as n from graphile_worker.jobs where task_identifier = 'etlify_process'`);
    expect(jobs!.n).to.equal(1); // one wake-up job per CRM, whatever the number of chunks
  });

  it('a batch the CRM rejects as a whole is retried one by one: only the culprit is counted', async () => {
    const adapter = new RecordingAdapter({
      fail: p => { if (p.email === 'bad@example.test') throw new ValidationError('email is invalid'); return undefined; },
    });
    app.etlify.registerCrm('hubspot', { adapter });
    const em = app.orm.em.fork();
    for (const email of ['a@example.test', 'bad@example.test', 'c@example.test']) em.create(User, { email });
    await em.flush();
    const stats = await syncStale(app.orm, { crm: 'hubspot', entities: ['User'], inline: true });
    expect(stats.results).to.include({ synced: 2, error: 1 });
    expect(stats.errors).to.equal(1);
    expect(adapter.callsOf('batchUpsert')).to.have.length(1);
    expect(adapter.callsOf('upsert')).to.have.length(3);
    const rows = await sql(app, `select u.email, s.crm_id, s.error_count, s.last_error from crm_synchronisations s join app_user u on s.resource_id = u.id::text where s.crm_name = 'hubspot' order by u.id`);
    expect(rows.map(r => [r.email, r.crm_id !== null, r.error_count])).to.deep.equal([
      ['a@example.test', true, 0], ['bad@example.test', false, 1], ['c@example.test', true, 0],
    ]);
    expect(rows[1]!.last_error).to.equal('ValidationError: email is invalid');
  });

  it('maps batch results by position: ids that collide after CRM-side normalisation keep their own CRM id', async () => {
    // a CRM that lower-cases the id property and answers in input order
    let next = 0;
    const sent: string[] = [];
    const adapter: CrmAdapter = {
      upsert: async () => { throw new Error('single upserts are not expected here'); },
      delete: async () => true,
      batchUpsert: async (request: BatchUpsertRequest) => request.items.map(item => {
        sent.push(String(item.payload.email).toLowerCase());
        return { ok: true as const, crmId: `contact-${++next}` };
      }),
    };
    app.etlify.registerCrm('hubspot', { adapter });
    const em = app.orm.em.fork();
    const upper = em.create(User, { email: 'Ada@Example.test' });
    const lower = em.create(User, { email: 'ada@example.test' });
    await em.flush();
    await syncStale(app.orm, { crm: 'hubspot', entities: ['User'], inline: true });
    expect(sent).to.deep.equal(['ada@example.test', 'ada@example.test']);
    const rows = await sql(app, `select resource_id, crm_id from crm_synchronisations where crm_name = 'hubspot' order by resource_id::int`);
    expect(rows).to.deep.equal([{ resource_id: String(upper.id), crm_id: 'contact-1' }, { resource_id: String(lower.id), crm_id: 'contact-2' }]);
  });

  it('a three-record cycle of sync dependencies (A → B → C → A) ends fully synced, without looping', async () => {
    app.etlify.registerCrm('hubspot', { adapter: app.hubspot, jobs: { batchDelayMs: 20 } });
    const em = app.orm.em.fork();
    const a = em.create(Link, { name: 'A' });
    const b = em.create(Link, { name: 'B' });
    const c = em.create(Link, { name: 'C' });
    await em.flush();
    a.next = b; b.next = c; c.next = a;
    await em.flush();
    await sql(app, 'delete from etlify_sync_requests'); // leave the work to the stale finder

    const first = await syncStale(app.orm, { crm: 'hubspot', entities: ['Link'], inline: true });
    expect(first.results.buffered).to.equal(3);
    expect(await stale(app, 'Link')).to.deep.equal([]); // buffered records are not reported again
    expect((await sql(app, `select count(*)::int as n from etlify_pending_syncs`))[0]!.n).to.equal(3);

    worker = await runWorker(app.orm, { handleSignals: false, pollInterval: 50 });
    await waitFor('the queue to drain', () => queueDrained(text => sql(app, text)), 15_000);
    const rows = await sql(app, `select resource_id, crm_id from crm_synchronisations where resource_type = 'Link' and crm_name = 'hubspot' order by resource_id::int`);
    expect(rows.map(r => r.crm_id)).to.have.length(3).and.not.include(null);
    expect((await sql(app, `select count(*)::int as n from etlify_pending_syncs`))[0]!.n).to.equal(0);
    expect(app.hubspot.sentPayloads).to.be.at.most(6); // each sent once, plus at most one re-send with the partner's id
    expect(await stale(app, 'Link')).to.deep.equal([]);
  });

  it('an expired buffer row sends its record back to the finder and the sweep', async () => {
    app.etlify.registerCrm('hubspot', { adapter: app.hubspot, jobs: { batchDelayMs: 20 } });
    const em = app.orm.em.fork();
    const company = em.create(Company, { name: 'Acme', domain: 'acme.test' });
    const deal = em.create(Deal, { title: 'Big', company });
    await em.flush();
    await sql(app, 'delete from etlify_sync_requests');
    expect((await syncStale(app.orm, { crm: 'hubspot', entities: ['Deal'], inline: true })).results.buffered).to.equal(1);
    await sql(app, 'delete from etlify_sync_requests'); // the company's request is lost: only expiry can help now
    await sql(app, `update etlify_pending_syncs set expires_at = now() - interval '1 second'`);
    expect(await stale(app, 'Deal')).to.deep.equal([deal.id]);

    const woken: string[] = [];
    await sweep(app.orm, { addJob: async (_task: string, payload?: unknown) => { woken.push((payload as { crm: string }).crm); return undefined as never; } });
    const requests = await sql(app, `select distinct entity, unnest(resource_ids) as resource_id from etlify_sync_requests where crm_name = 'hubspot' order by entity`);
    expect(requests).to.deep.equal([{ entity: 'Company', resource_id: String(company.id) }, { entity: 'Deal', resource_id: String(deal.id) }]);
    expect(woken).to.include('hubspot');

    worker = await runWorker(app.orm, { handleSignals: false, pollInterval: 50 });
    await waitFor('the queue to drain', () => queueDrained(text => sql(app, text)), 15_000);
    const [row] = await sql(app, `select crm_id from crm_synchronisations where resource_type = 'Deal' and resource_id = ?`, [String(deal.id)]);
    expect(row!.crm_id).to.be.a('string');
  });

  it('the sweep queues records changed by raw SQL, and the worker syncs them', async () => {
    app.etlify.registerCrm('hubspot', { adapter: app.hubspot, jobs: { batchDelayMs: 20 } });
    app.etlify.registerCrm('airtable', { adapter: app.airtable, enabled: false });
    await insertUsers(3);
    await syncStale(app.orm, { crm: 'hubspot', inline: true });
    app.hubspot.calls.length = 0;
    await sql(app, `update app_user set first_name = 'Raw', updated_at = clock_timestamp() where id = 2`);
    await sweep(app.orm, { addJob: async () => undefined as never });
    expect(await sql(app, 'select entity, unnest(resource_ids) as resource_id from etlify_sync_requests')).to.deep.equal([{ entity: 'User', resource_id: '2' }]);
    worker = await runWorker(app.orm, { handleSignals: false, pollInterval: 50 });
    await waitFor('the queue to drain', () => queueDrained(text => sql(app, text)), 15_000);
    expect(app.hubspot.callsOf().flatMap(c => c.payloads.map(p => p.firstname))).to.deep.equal(['Raw']);
    await touch(app, 'app_user', 3);
    expect(await stale(app, 'User')).to.deep.equal([3]);
  });

  it('the worker schedules the incremental sweep by default; sweepSchedule false turns it off', async () => {
    const crontabs = async () => (await sql(app, 'select identifier from graphile_worker._private_known_crontabs order by identifier')).map(r => r.identifier);
    // graphile-worker registers a worker's crontab once its cron has started: an application line shows when
    const appProbe = { crontab: '0 0 1 1 * app_noop ?id=app_probe', taskList: { app_noop: async () => {} } };
    worker = await runWorker(app.orm, { handleSignals: false, pollInterval: 50, sweepSchedule: false, ...appProbe });
    await waitFor('the crontab to be registered', async () => (await crontabs()).includes('app_probe'), 10_000);
    // the history's minute job (on by default) stays; only the sweep is off
    expect(await crontabs()).to.deep.equal(['app_probe', 'etlify_history']);
    await worker.stop();
    worker = await runWorker(app.orm, { handleSignals: false, pollInterval: 50, ...appProbe });
    await waitFor('the sweep to be registered', async () => (await crontabs()).includes('etlify_sweep'), 10_000);
    expect(await crontabs()).to.deep.equal(['app_probe', 'etlify_history', 'etlify_sweep']);
  });

  it('rejects a nonsensical batch size', async () => {
    try {
      await syncStale(app.orm, { batchSize: 0 });
      expect.fail('expected a rejection');
    } catch (error) {
      expect((error as Error).message).to.match(/batchSize/);
    }
  });
});
