import { defineEntity, p } from '@mikro-orm/core';
import { MikroORM } from '@mikro-orm/postgresql';
import { expect } from 'chai';
import { ConfigurationError, Etlify, etlified, HubspotAdapter, syncStale } from '../../src/index.ts';
import { RecordingAdapter, type HubspotSimulator } from '../../src/testing/index.ts';
import { createHubspotTestApp, type TestApp } from '../support/app.ts';

const timestamps = {
  createdAt: p.datetime().onCreate(() => new Date()),
  updatedAt: p.datetime().onCreate(() => new Date()).onUpdate(() => new Date()),
};

// Leads only enrich contacts that sales already created; signups only ever create.
const LeadSchema = defineEntity({ name: 'Lead', properties: { id: p.integer().primary(), email: p.string(), score: p.integer(), ...timestamps } });
class Lead extends etlified(LeadSchema.class, {
  hubspot: { serializer: l => ({ email: l.email, score: l.score }), objectType: 'contacts', idProperty: 'email', mode: 'update' },
}) {}
LeadSchema.setClass(Lead);

const SignupSchema = defineEntity({ name: 'Signup', properties: { id: p.integer().primary(), email: p.string(), source: p.string(), ...timestamps } });
class Signup extends etlified(SignupSchema.class, {
  hubspot: { serializer: s => ({ email: s.email, signup_source: s.source }), objectType: 'contacts', idProperty: 'email', mode: 'create' },
}) {}
SignupSchema.setClass(Signup);

describe('sync modes through Etlify', () => {
  let sim: HubspotSimulator;
  let app: TestApp & { simulator: HubspotSimulator };
  let orm: MikroORM;

  before(async () => {
    app = await createHubspotTestApp({ entities: [Lead, Signup] });
    ({ orm, simulator: sim } = app);
  });
  after(() => app.close());

  it('update: a record with nothing to enrich is skipped (not failed), then synced once the object exists', async () => {
    const em = orm.em.fork();
    const known = em.create(Lead, { email: 'known@example.com', score: 7 });
    const unknown = em.create(Lead, { email: 'unknown@example.com', score: 3 });
    await em.flush();
    const existing = await new HubspotAdapter({ accessToken: 'token', baseUrl: sim.url }).upsert({ objectType: 'contacts', payload: { email: 'known@example.com' } });

    expect(await known.hubspotSync({ inline: true })).to.equal('synced');
    expect(await unknown.hubspotSync({ inline: true })).to.equal('skipped');
    expect(sim.objects('contacts').map((c) => [c.id, c.properties.email, c.properties.score])).to.deep.equal([[existing.crmId, 'known@example.com', '7']]);
    const [row] = await em.getConnection().execute(`select last_outcome, error_count, crm_id from crm_synchronisations where resource_id = ?`, [String(unknown.id)]);
    expect(row).to.deep.include({ last_outcome: 'skipped', error_count: 0, crm_id: null });
  });

  it('create: existing objects are never written but linked; batches too', async () => {
    const em = orm.em.fork();
    await new HubspotAdapter({ accessToken: 'token', baseUrl: sim.url }).upsert({ objectType: 'contacts', payload: { email: 'sales@example.com', signup_source: 'sales' } });
    for (const email of ['sales@example.com', 'web1@example.com', 'web2@example.com']) em.create(Signup, { email, source: 'web' });
    await em.flush();
    const stats = await syncStale(orm, { inline: true, entities: ['Signup'] });
    expect(stats.results.synced).to.equal(3);
    const sources = Object.fromEntries(sim.objects('contacts').map((c) => [c.properties.email, c.properties.signup_source]));
    expect(sources).to.include({ 'sales@example.com': 'sales', 'web1@example.com': 'web', 'web2@example.com': 'web' });
  });

  it('is refused at MikroORM.init when the adapter does not support the mode', async () => {
    const etlify = new Etlify({ crms: { hubspot: { adapter: new RecordingAdapter() } } });
    const error = await MikroORM.init({ clientUrl: process.env.DATABASE_URL, entities: [Lead], extensions: [etlify] }).catch((e: unknown) => e);
    expect(error).to.be.instanceOf(ConfigurationError);
    expect((error as Error).message).to.equal('Lead (CRM `hubspot`): mode `update` is not supported by the adapter of `hubspot` (it supports: upsert)');
  });
});
