import { expect } from 'chai';
import { ConfigurationError, definePayloadVersions, Etlify, findStaleIds, NullAdapter, syncStale } from '../../src/index.ts';
import { RecordingAdapter } from '../../src/testing/index.ts';
import { createTestApp, type TestApp } from '../support/app.ts';
import { User } from '../support/model.ts';

const payloadVersions = definePayloadVersions({
  format: 'date',
  current: '2026-09-01',
  versions: {
    '2026-03-01': [{
      description: 'contacts used first_name before 2026-09',
      objectTypes: ['contacts'],
      steps: [{ migrate: p => { p.first_name = p.firstname; delete p.firstname; } }],
    }],
  },
});

describe('payload versions in the sync pipeline', () => {
  let app: TestApp;
  let hubspot: RecordingAdapter;
  beforeEach(async () => {
    hubspot = new RecordingAdapter();
    app = await createTestApp({ etlify: { payloadVersions, crms: { hubspot: { adapter: hubspot, payloadVersion: '2026-03-01' }, airtable: { adapter: new NullAdapter() } } } });
  });
  afterEach(async () => { await app.close(); });

  const version = async (id: number) => (await app.orm.em.getConnection().execute(
    `select payload_version from crm_synchronisations where resource_id = ? and crm_name = 'hubspot'`, [String(id)]))[0].payload_version;

  it('sends the pinned shape, stores its version, and re-pinning resyncs with the new shape', async () => {
    const em = app.orm.em.fork();
    const user = em.create(User, { email: 'v@example.test', firstName: 'Vera' });
    await em.flush();
    expect(await user.hubspotSync({ inline: true })).to.equal('synced');
    expect(hubspot.calls[0]!.payloads[0]).to.include({ first_name: 'Vera' }).and.not.have.property('firstname');
    expect(await version(user.id)).to.equal('2026-03-01');
    expect(await user.hubspotSync({ inline: true })).to.equal('not_modified');

    app.etlify.registerCrm('hubspot', { adapter: hubspot }); // unpinned: the current shape
    expect(await user.hubspotSync({ inline: true })).to.equal('synced');
    expect(hubspot.calls[1]!.payloads[0]).to.include({ firstname: 'Vera' }).and.not.have.property('first_name');
    expect(hubspot.calls[1]!.crmIds).to.deep.equal(['contacts-1']);
    expect(await version(user.id)).to.equal('2026-09-01');
    expect(await user.hubspotSync({ inline: true })).to.equal('not_modified');
    expect(hubspot.calls).to.have.length(2);
  });

  it('re-pinning makes the CRM\'s records stale for the finder, which resyncs them with no manual step', async () => {
    const em = app.orm.em.fork();
    for (let i = 0; i < 3; i++) em.create(User, { email: `p${i}@example.test`, firstName: `P${i}` });
    await em.flush();
    expect((await syncStale(app.orm, { crm: 'hubspot', entities: ['User'], inline: true })).results.synced).to.equal(3);
    expect(await findStaleIds(app.orm, { crm: 'hubspot', entity: 'User' })).to.deep.equal([]);
    app.etlify.registerCrm('hubspot', { adapter: hubspot, payloadVersion: '2026-09-01' });
    expect(await findStaleIds(app.orm, { crm: 'hubspot', entity: 'User' })).to.have.length(3);
    const stats = await syncStale(app.orm, { crm: 'hubspot', entities: ['User'], inline: true });
    expect(stats.results.synced).to.equal(3);
    expect(hubspot.calls.flatMap(c => c.payloads).slice(-3).every(p => 'firstname' in p)).to.equal(true);
    expect(await findStaleIds(app.orm, { crm: 'hubspot', entity: 'User' })).to.deep.equal([]);
  });

  it('rejects an unknown pinned version at registration, naming it', () => {
    expect(() => app.etlify.registerCrm('hubspot', { adapter: hubspot, payloadVersion: '2025-01-01' }))
      .to.throw(ConfigurationError, /2025-01-01/);
    expect(() => new Etlify({ crms: { hubspot: { adapter: hubspot, payloadVersion: '2026-03-01' } } }))
      .to.throw(ConfigurationError, /needs `payloadVersions`/);
  });
});
