import { expect } from 'chai';
import type { Runner } from 'graphile-worker';
import { runWorker, TransientCrmError, ValidationError, type AdapterCallContext, type CrmAvailabilityEvent, type QuotaEvent, type SyncEvent, type UpsertRequest } from '../../src/index.ts';
import { RecordingAdapter } from '../../src/testing/index.ts';
import { createTestApp, type TestApp } from '../support/app.ts';
import { User } from '../support/model.ts';
import { queueDrained, waitFor } from '../support/wait.ts';

describe('events for alerts', () => {
  let app: TestApp;
  let worker: Runner | undefined;
  beforeEach(async () => { app = await createTestApp(); });
  afterEach(async () => { await worker?.stop(); worker = undefined; await app.close(); });

  it('record:parked, crm:unavailable then crm:available once per outage, quota:low once until it recovers', async () => {
    const inner = new RecordingAdapter({ batch: false });
    let down = true;
    let remaining = 5;
    app.etlify.registerCrm('hubspot', {
      maxSyncErrors: 1, jobs: { batchDelayMs: 20 },
      adapter: {
        upsert: async (request: UpsertRequest, context?: AdapterCallContext) => {
          if (down) throw new TransientCrmError('HubSpot answered 503', { status: 503, retryAfterMs: 100 });
          context?.onQuota?.('default', { remaining: remaining--, max: 100 });
          if (request.payload.email === 'poison@example.test') throw new ValidationError('INVALID_EMAIL');
          return inner.upsert(request);
        },
        delete: async () => true,
      },
    });
    app.etlify.registerCrm('airtable', { adapter: app.airtable, enabled: false });
    const seen: string[] = [];
    const unavailable: CrmAvailabilityEvent[] = [];
    const quota: QuotaEvent[] = [];
    const parked: SyncEvent[] = [];
    app.etlify.events.on('crm:unavailable', e => { seen.push('unavailable'); unavailable.push(e); });
    app.etlify.events.on('crm:available', () => seen.push('available'));
    app.etlify.events.on('quota:low', e => { seen.push('quota:low'); quota.push(e); });
    app.etlify.events.on('record:parked', e => { parked.push(e); });
    worker = await runWorker(app.orm, { handleSignals: false, pollInterval: 50, sweepSchedule: false });
    const em = app.orm.em.fork();
    for (const email of ['a@example.test', 'b@example.test', 'poison@example.test']) em.create(User, { email });
    await em.flush();
    // several failed claims while it is down: one event
    await waitFor('two failed attempts', async () => (await app.orm.em.getConnection().execute(`select max(attempts)::int as n from etlify_record_queue`))[0].n >= 2, 15_000);
    down = false;
    await waitFor('the queue to drain', () => queueDrained(sql => app.orm.em.getConnection().execute(sql)), 15_000);
    expect(seen.filter(s => s !== 'quota:low')).to.deep.equal(['unavailable', 'available']);
    expect(unavailable[0]).to.include({ crm: 'hubspot' });
    expect(unavailable[0]!.reason).to.match(/TransientCrmError: HubSpot answered 503/);
    // 5 %, then less: one event, with the lowest share a claim saw
    expect(quota).to.have.length(1);
    expect(quota[0]).to.include({ crm: 'hubspot', bucket: 'default', max: 100 });
    expect(quota[0]!.remaining).to.be.within(3, 5);
    expect(parked.map(e => e.id)).to.have.length(1);
  });
});
