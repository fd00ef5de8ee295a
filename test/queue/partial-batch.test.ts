import { expect } from 'chai';
import { queueHarness } from '../support/queue-harness.ts';
import { User } from '../support/model.ts';
import { waitFor } from '../support/wait.ts';

/**
 * Found by the convergence bench (docs/performance.md#convergence): HubSpot's `batchUpsert` sends a
 * chunk in several requests (`batch/update` for records with a stored id, then `batch/upsert` for the
 * others). When a later request failed transiently, the whole call threw: the records the earlier
 * request had written were retried as if nothing had been sent, so their digest went on describing
 * the CRM's previous value. A record changed back to that value was then "not modified", and its
 * contact kept the value in between for good.
 */
describe('a batch the CRM takes in part', () => {
  const q = queueHarness({ accessToken: 'partial-token', unknownOutcomeWaitMs: 1_000 });

  it('records written before a later request of their batch fails keep what was written: changed back, they are sent again', async function () {
    this.timeout(60_000);
    const crm = await q.hubspotVia();
    await q.start();
    const em = q.app.orm.em.fork();
    const known = em.create(User, { email: 'known@example.test', firstName: 'v1' });
    await em.flush();
    await q.drained();
    expect(crm.objects('contacts').map(c => c.properties.firstname)).to.deep.equal(['v1']);

    // one chunk: `known` goes by its stored id (batch/update, applied), `fresh` by email (batch/upsert, refused)
    crm.setFaults({ serverErrorProbability: 1, paths: /batch\/upsert/ });
    known.firstName = 'v2';
    em.create(User, { email: 'fresh@example.test', firstName: 'new' });
    await em.flush();
    await waitFor('v2 to be written while the upsert of the same batch is refused', () =>
      crm.objects('contacts').some(c => c.properties.firstname === 'v2') && crm.requests.some(r => r.path.endsWith('/batch/upsert') && r.status === 503), 20_000);

    known.firstName = 'v1';
    await em.flush();
    crm.setFaults({});
    await q.drained(30_000);
    expect(crm.objects('contacts').map(c => `${c.properties.email} ${c.properties.firstname}`).sort())
      .to.deep.equal(['fresh@example.test new', 'known@example.test v1']);
  });
});
