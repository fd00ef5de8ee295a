import { expect } from 'chai';
import { createTestApp, type TestApp } from '../support/app.ts';
import { Company, User } from '../support/model.ts';

describe('smoke', () => {
  let app: TestApp;
  before(async () => { app = await createTestApp(); });
  after(async () => { await app?.close(); });
  it('syncs inline', async () => {
    const em = app.orm.em.fork();
    const c = em.create(Company, { name: 'Acme', domain: 'acme.test' });
    const u = em.create(User, { email: 'a@acme.test', firstName: 'Ada', company: c });
    await em.flush();
    expect(await u.hubspotSync({ inline: true })).to.equal('synced');
    expect(await u.hubspotSync({ inline: true })).to.equal('not_modified');
    console.log(app.hubspot.calls);
  });
});
