import { expect } from 'chai';
import type { Runner } from 'graphile-worker';
import { Etlify, RateLimitedError, runWorker, ValidationError, type AdapterCallContext, type UpsertRequest } from '../../src/index.ts';
import { attemptsOf, countsPerMinute, errorsByReason, historyTick, queueDepth, queueSamples, pruneHistory, sampleQueue } from '../../src/observe/index.ts';
import { RecordingAdapter } from '../../src/testing/index.ts';
import { createTestApp, type TestApp } from '../support/app.ts';
import { User } from '../support/model.ts';
import { queueDrained, waitFor } from '../support/wait.ts';

describe('history: per-minute counts, queue samples and the attempt log', () => {
  let app: TestApp;
  let worker: Runner | undefined;
  const execute = (sql: string, params: unknown[] = []) => app.orm.em.getConnection().execute(sql, params);
  const drained = () => waitFor('the queue to drain', () => queueDrained(execute), 15_000);
  const hourAgo = () => new Date(Date.now() - 3600_000);

  /** A CRM that reports its requests like the built-in adapters, rejects one email and rate-limits another once. */
  function misbehavingCrm() {
    const inner = new RecordingAdapter({ batch: false });
    let limited = false;
    const requests: number[] = [];
    return {
      requests,
      inner,
      adapter: {
        upsert: async (request: UpsertRequest, context?: AdapterCallContext) => {
          const email = request.payload.email;
          const status = email === 'poison@example.test' ? 400 : email === 'flaky@example.test' && !limited ? 429 : 200;
          context?.onResponse?.(status, 7);
          requests.push(status);
          if (status === 400) throw new ValidationError('Property values were not valid: INVALID_EMAIL');
          if (status === 429) { limited = true; throw new RateLimitedError('HubSpot rate limit', 50); }
          return inner.upsert(request);
        },
        delete: async (_request: unknown, context?: AdapterCallContext) => { context?.onResponse?.(204, 3); requests.push(204); return true; },
      },
    };
  }

  beforeEach(async () => { app = await createTestApp(); });
  afterEach(async () => { await worker?.stop(); worker = undefined; await app.close(); });

  it('counts each outcome per minute, logs each attempt, and groups errors by reason', async () => {
    const crm = misbehavingCrm();
    app.etlify.registerCrm('hubspot', { adapter: crm.adapter, maxSyncErrors: 1, deleteOnRemove: true, jobs: { batchDelayMs: 20 } });
    app.etlify.registerCrm('airtable', { adapter: app.airtable, enabled: false });
    worker = await runWorker(app.orm, { handleSignals: false, pollInterval: 50, sweepSchedule: false });
    const em = app.orm.em.fork();
    const flaky = em.create(User, { email: 'flaky@example.test' });
    const poison = em.create(User, { email: 'poison@example.test' });
    const gone = em.create(User, { email: 'gone@example.test' });
    for (let i = 0; i < 3; i++) em.create(User, { email: `ok${i}@example.test` });
    await em.flush();
    await drained();
    em.remove(gone);
    await em.flush();
    await drained();

    const counts = await countsPerMinute(app.orm.em, { from: hourAgo(), crm: 'hubspot' });
    const total = (key: keyof (typeof counts)[number]) => counts.reduce((sum, c) => sum + (c[key] as number), 0);
    expect(counts.every(c => c.entity === 'User' && c.minute.getSeconds() === 0)).to.equal(true);
    expect({ synced: total('synced'), failed: total('failed'), parked: total('parked'), retried: total('retried'), deleted: total('deleted') })
      .to.deep.equal({ synced: 5, failed: 1, parked: 1, retried: 1, deleted: 1 });
    expect(total('requests')).to.equal(crm.requests.length);
    expect(total('rateLimited')).to.equal(crm.requests.filter(s => s === 429).length).and.equal(1);
    expect(total('requestMs')).to.equal(7 * (crm.requests.length - 1) + 3);

    const flakyCrmId = crm.inner.table('contacts').keys().next().value === undefined ? undefined
      : (await execute(`select crm_id from crm_synchronisations where resource_id = ?`, [String(flaky.id)]))[0].crm_id;
    const byRecord = await attemptsOf(app.orm.em, { resourceId: String(flaky.id) });
    expect(byRecord.map(a => [a.outcome, a.crmId])).to.deep.equal([['synced', flakyCrmId], ['retried', null]]);
    expect(byRecord[1]!.error).to.match(/RateLimitedError: HubSpot rate limit/);
    expect(byRecord.every(a => a.crm === 'hubspot' && a.kind === 'sync' && a.requests >= 1)).to.equal(true);
    const byCrmId = await attemptsOf(app.orm.em, { crmId: flakyCrmId });
    expect(byCrmId.map(a => a.outcome)).to.deep.equal(['synced', 'retried']);
    const goneAttempts = await attemptsOf(app.orm.em, { resourceId: String(gone.id) });
    expect(goneAttempts.map(a => [a.kind, a.outcome])).to.deep.equal([['delete', 'deleted'], ['sync', 'synced']]);

    const errors = await errorsByReason(app.orm.em, { from: hourAgo() });
    expect(errors.map(e => [e.outcome, e.count, e.resourceIds])).to.have.deep.members([
      ['parked', 1, [String(poison.id)]], ['retried', 1, [String(flaky.id)]]]);

    const [depth] = await queueDepth(app.orm.em, { hubspot: 1 });
    expect(depth).to.include({ crm: 'hubspot', entity: 'User', queued: 0, retrying: 0, parked: 1, oldestWaitingAt: null });
    expect(depth!.lastError).to.match(/INVALID_EMAIL/);
  });

  it('samples the queue depth: waiting records, their age, retries and parked ones', async () => {
    app.etlify.registerCrm('hubspot', { adapter: app.hubspot, maxSyncErrors: 2 });
    const em = app.orm.em.fork();
    const before = new Date(Date.now() - 1000);
    for (let i = 0; i < 3; i++) em.create(User, { email: `q${i}@example.test` });
    await em.flush();
    // one record parked, one being retried (as a failed attempt leaves them)
    await execute(`insert into crm_synchronisations (resource_type, resource_id, crm_name, error_count, last_error, last_error_at)
                   values ('User', '999', 'hubspot', 2, 'ValidationError: bad phone', now() - interval '20 minutes')`);
    await execute(`insert into etlify_record_queue (crm_name, lane, resource_type, resource_id, kind, entity, due_at, attempts, last_error)
                   values ('hubspot', 'record', 'User', '998', 'sync', 'User', now() - interval '10 minutes', 2, 'TransientCrmError: 502 Bad Gateway')`);
    const sampled = await sampleQueue(app.orm.em, { hubspot: 2 });
    const samples = await queueSamples(app.orm.em, { from: hourAgo(), crm: 'hubspot' });
    expect(samples).to.deep.equal(sampled.map(({ lastError: _e, lastErrorAt: _a, ...s }) => ({ ...samples[0]!, ...s })));
    const users = samples.find(s => s.entity === 'User')!;
    // three new records in the inbox plus the one being retried; a second airtable CRM is not asked for
    expect(users).to.include({ queued: 4, retrying: 1, parked: 1 });
    expect(users.oldestWaitingAt!.getTime()).to.be.below(before.getTime() - 9 * 60_000);
    // the latest error of either kind: the retried one failed after the parked one
    expect(sampled.find(s => s.entity === 'User')!.lastError).to.equal('TransientCrmError: 502 Bad Gateway');
  });

  it('reads up to the database\'s now when no end is given: a row stamped after the application\'s clock is not missed', async () => {
    // the database stamps rows with its own clock; one running a second ahead of the application's (or the
    // same millisecond with microseconds, which a Date truncates) stamps rows "after" the caller's now
    await execute(`insert into etlify_queue_samples (sampled_at, crm_name, entity, queued, retrying, parked) values (now() + interval '1 second', 'hubspot', 'User', 3, 0, 0)`);
    await execute(`insert into etlify_history_minutes (minute, crm_name, entity, synced) values (date_trunc('minute', now() + interval '1 minute'), 'hubspot', 'User', 2)`);
    await execute(`insert into etlify_attempts (at, crm_name, entity, resource_id, kind, outcome, error) values (now() + interval '1 second', 'hubspot', 'User', '7', 'sync', 'failed', 'TransientCrmError: 502')`);
    expect((await queueSamples(app.orm.em, { from: hourAgo() })).map(s => s.queued)).to.deep.equal([3]);
    expect((await countsPerMinute(app.orm.em, { from: hourAgo() })).map(c => c.synced)).to.deep.equal([2]);
    expect((await errorsByReason(app.orm.em, { from: hourAgo() })).map(e => e.resourceIds)).to.deep.equal([['7']]);
    // an explicit end still bounds the range
    expect(await queueSamples(app.orm.em, { from: hourAgo(), to: new Date(Date.now() - 60_000) })).to.deep.equal([]);
  });

  it('prunes what is older than the retention, and keeps nothing with history: false', async () => {
    await execute(`insert into etlify_history_minutes (minute, crm_name, entity, synced) values
                   (date_trunc('minute', now() - interval '15 days'), 'hubspot', 'User', 1), (date_trunc('minute', now() - interval '13 days'), 'hubspot', 'User', 2)`);
    await execute(`insert into etlify_attempts (at, crm_name, entity, resource_id, kind, outcome) values
                   (now() - interval '8 days', 'hubspot', 'User', '1', 'sync', 'synced'), (now() - interval '6 days', 'hubspot', 'User', '1', 'sync', 'synced')`);
    expect(await pruneHistory(app.orm.em, { countsDays: 30, attemptsDays: 30 })).to.equal(0);
    await historyTick(app.orm); // the worker's minute task: the default retention, 14 days of counts and 7 of attempts
    expect((await countsPerMinute(app.orm.em, { from: new Date(0) })).map(c => c.synced)).to.deep.equal([2]);
    expect(await attemptsOf(app.orm.em, { resourceId: '1' })).to.have.length(1);

    expect(() => new Etlify({ history: { countsDays: 0 } })).to.throw(/`history.countsDays` must be a positive number of days/);
    expect(() => new Etlify({ history: { days: 3 } as never })).to.throw(/unknown option `days`/);
    const quiet = await createTestApp({ etlify: { history: false, crms: { hubspot: { adapter: new RecordingAdapter(), jobs: { batchDelayMs: 20 } }, airtable: { adapter: new RecordingAdapter(), enabled: false } } } });
    const quietWorker = await runWorker(quiet.orm, { handleSignals: false, pollInterval: 50, sweepSchedule: false });
    try {
      const qem = quiet.orm.em.fork();
      qem.create(User, { email: 'quiet@example.test' });
      await qem.flush();
      await waitFor('the sync', () => queueDrained(sql => quiet.orm.em.getConnection().execute(sql)), 15_000);
      const [row] = await quiet.orm.em.getConnection().execute('select (select count(*) from etlify_attempts)::int + (select count(*) from etlify_history_minutes)::int as n');
      expect(row.n).to.equal(0);
    } finally {
      await quietWorker.stop();
      await quiet.close();
    }
  });
});
