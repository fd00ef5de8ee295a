// Breaker (break17): an application server whose clock runs ahead of the database's (a VM whose clock
// drifted, a container restored from a snapshot). Every time the queue compares is the database's, so
// a change must reach a running worker as if the clocks agreed: the wake-up's delay counts from the
// database's now, not from the application's.
import { expect } from 'chai';
import { User } from '../support/model.ts';
import { queueHarness } from '../support/queue-harness.ts';
import { waitFor } from '../support/wait.ts';

describe('break17: clock skew between the application and the database', () => {
  const harness = queueHarness({ accessToken: 'break17-clock', unknownOutcomeWaitMs: 1_000 });

  it('a change flushed by a process whose clock runs ten minutes ahead is synced by a running worker without waiting ten minutes', async function () {
    this.timeout(60_000);
    const crm = await harness.hubspotVia();
    await harness.start(1, { sweepSchedule: false });
    const em = harness.app.orm.em.fork();
    const realNow = Date.now;
    Date.now = () => realNow() + 10 * 60_000;
    try {
      em.create(User, { email: 'skew@example.test', firstName: 'v1' });
      await em.flush();
    } finally {
      Date.now = realNow;
    }
    // on the old main the wake-up job was due ten minutes later (run_at from Date.now): nothing ran
    await waitFor('the user to reach the CRM', () => crm.objects('contacts').length === 1, 20_000);
    expect(crm.objects('contacts').map(c => c.properties.firstname)).to.deep.equal(['v1']);
  });
});
