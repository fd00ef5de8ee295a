import { expect } from 'chai';
import type { Runner } from 'graphile-worker';
import { runWorker } from '../../src/index.ts';
import { createTestApp, type TestApp } from '../support/app.ts';
import { Company, User } from '../support/model.ts';

describe('queue smoke', () => {
  let app: TestApp; let worker: Runner;
  before(async () => { app = await createTestApp(); worker = await runWorker(app.orm, { handleSignals: false }); });
  after(async () => { await worker?.stop(); await app?.close(); });
  it('flush reaches the adapter', async () => {
    const em = app.orm.em.fork();
    const c = em.create(Company, { name: 'Acme', domain: 'acme.test' });
    em.create(User, { email: 'a@acme.test', firstName: 'Ada', company: c });
    await em.flush();
    const t0 = Date.now();
    while (app.hubspot.sentPayloads < 2 && Date.now() - t0 < 5000) await new Promise(r => setTimeout(r, 20));
    console.log(Date.now() - t0, app.hubspot.calls.map(c => [c.method, c.objectType, c.payloads.length]), app.airtable.calls.length);
    expect(app.hubspot.sentPayloads).to.equal(2);
  });
});
