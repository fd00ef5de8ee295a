import { expect } from 'chai';
import { User } from '../support/model.ts';
import { queueHarness } from '../support/queue-harness.ts';
import { waitFor } from '../support/wait.ts';

/** Interleavings tried against issue 17's guarantees (break-17). */
describe('convergence under interleavings (break-17)', () => {
  const h = queueHarness({ accessToken: 'break-token', unknownOutcomeWaitMs: 1_000 });
  const { execute, drained, deletesWon, hubspotVia, start } = h;

  it('a record removed and another created with its idProperty in one flush: the CRM ends with the new record only', async function () {
    this.timeout(30_000);
    const crm = await hubspotVia();
    await start();
    const em = h.app.orm.em.fork();
    const old = em.create(User, { email: 'taken-over@example.test', firstName: 'old' });
    await em.flush();
    await drained();
    expect(crm.objects('contacts')).to.have.length(1);
    em.remove(old);
    const fresh = em.create(User, { email: 'taken-over@example.test', firstName: 'new' });
    await em.flush();
    await drained();
    const rows = await execute('select resource_id, crm_id, last_outcome, error_count, last_error from crm_synchronisations');
    const contacts = crm.objects('contacts');
    expect(contacts.map(c => c.properties.firstname), JSON.stringify({ rows, contacts })).to.deep.equal(['new']);
    expect(rows.map(r => r.resource_id)).to.deep.equal([String(fresh.id)]);
    expect(rows[0].crm_id).to.equal(contacts[0]!.id);
  });

  it('a delete answered 504, then a record created with the removed one\'s idProperty: the CRM ends with the new record only', async function () {
    this.timeout(40_000);
    const crm = await hubspotVia();
    await start();
    const em = h.app.orm.em.fork();
    const old = em.create(User, { email: 'recreated@example.test', firstName: 'old' });
    await em.flush();
    await drained();
    crm.setFaults({ serverErrorProbability: 1, serverErrorStatus: 504 });
    em.remove(old);
    await em.flush();
    await waitFor('the delete to be answered 504', () => crm.requests.some(r => r.method === 'DELETE' || r.path.includes('archive')), 5_000);
    const fresh = em.create(User, { email: 'recreated@example.test', firstName: 'new' });
    await em.flush();
    await new Promise(resolve => setTimeout(resolve, 300));
    crm.setFaults({});
    await drained(30_000);
    const rows = await execute('select resource_id, crm_id, last_outcome, error_count, last_error from crm_synchronisations');
    const contacts = crm.objects('contacts');
    expect(contacts.map(c => c.properties.firstname), JSON.stringify({ rows, contacts })).to.deep.equal(['new']);
    expect(rows.map(r => r.resource_id)).to.deep.equal([String(fresh.id)]);
    expect(rows[0].crm_id).to.equal(contacts[0]!.id);
  });

  it('em.nativeDelete then etlify.markChanged while the record\'s first create is in flight: the object does not survive', async function () {
    this.timeout(30_000);
    const crm = await hubspotVia({ faults: { delayMs: 600 } });
    await start();
    const em = h.app.orm.em.fork();
    const user = em.create(User, { email: 'native-deleted@example.test' });
    await em.flush();
    await waitFor('the create to be in flight', () => crm.requests.some(r => r.path.endsWith('/batch/upsert')), 5_000);
    await em.transactional(async tx => {
      await tx.nativeDelete(User, { id: user.id });
      expect(await h.app.etlify.markChanged(tx, User, [user.id])).to.deep.equal({ changed: 0, removed: 1 });
    });
    await deletesWon();
  });
});
