import { MikroORM } from '@mikro-orm/postgresql';
import { defineEntity, p } from '@mikro-orm/core';
import { expect } from 'chai';
import { ConfigurationError, declareCrms, Etlify, etlified, NullAdapter } from '../../src/index.ts';
import { RecordingAdapter } from '../../src/testing/index.ts';
import { createTestApp } from '../support/app.ts';
import { entities, User } from '../support/model.ts';

describe('CRM registry and startup errors', () => {
  const adapter = new NullAdapter();

  it('rejects an adapter class instead of an instance', () => {
    expect(() => new Etlify({ crms: { hubspot: { adapter: NullAdapter as never } } }))
      .to.throw(ConfigurationError, 'CRM `hubspot`: `adapter` must be an instance, not a class (write `new NullAdapter({...})`)');
  });

  it('rejects an object that is not an adapter', () => {
    expect(() => new Etlify({ crms: { hubspot: { adapter: { upsert() {} } as never } } })).to.throw(ConfigurationError, /`adapter` must be an object with `upsert` and `delete`/);
  });

  it('accepts only booleans for enabled', () => {
    expect(() => new Etlify({ crms: { hubspot: { adapter, enabled: 'yes' as never } } }))
      .to.throw(ConfigurationError, 'CRM `hubspot`: `enabled` must be a boolean (true or false), got "yes"');
  });

  it('rejects unknown options, naming them', () => {
    expect(() => new Etlify({ crms: { hubspot: { adapter, retries: 3 } as never } })).to.throw(ConfigurationError, /CRM `hubspot`: unknown option `retries`/);
    expect(() => new Etlify({ crms: { hubspot: { adapter, jobs: { batchsize: 5 } as never } } })).to.throw(ConfigurationError, /unknown option `batchsize`/);
    expect(() => new Etlify({ maxErrors: 3 } as never)).to.throw(ConfigurationError, /Etlify: unknown option `maxErrors`/);
  });

  it('rejects CRM names that cannot become method names', () => {
    expect(() => new Etlify({ crms: { 'hub-spot': { adapter } } })).to.throw(ConfigurationError, /"hub-spot" is not a valid identifier/);
    expect(() => new Etlify({ crms: { '1crm': { adapter } } })).to.throw(ConfigurationError, /"1crm" is not a valid identifier/);
  });

  it('validates maxSyncErrors and rate limits', () => {
    expect(() => new Etlify({ maxSyncErrors: 0 })).to.throw(ConfigurationError, 'Etlify: `maxSyncErrors` must be a positive integer (got 0)');
    expect(() => new Etlify({ crms: { hubspot: { adapter, maxSyncErrors: 1.5 } } })).to.throw(ConfigurationError, /CRM `hubspot`: `maxSyncErrors` must be a positive integer/);
    expect(() => new Etlify({ crms: { hubspot: { adapter, rateLimit: { maxRequests: 10, perMs: 0 } } } })).to.throw(ConfigurationError, /rateLimit`.perMs must be a positive number/);
  });

  it('uses the adapter\'s documented rate limit unless told otherwise, and `false` turns it off', () => {
    const limited = { ...new NullAdapter(), upsert: adapter.upsert, delete: adapter.delete, defaultRateLimit: { maxRequests: 5, perMs: 1000, buckets: { search: { maxRequests: 1, perMs: 1000 } } } };
    const etlify = new Etlify({ crms: {
      a: { adapter: limited },
      b: { adapter: limited, rateLimit: { maxRequests: 50, perMs: 1000 } },
      c: { adapter: limited, rateLimit: false },
    } });
    expect(etlify.crms.get('a').rateLimit).to.deep.equal(limited.defaultRateLimit);
    expect(etlify.crms.get('b').rateLimit).to.deep.equal({ maxRequests: 50, perMs: 1000, buckets: { search: { maxRequests: 1, perMs: 1000 } } });
    expect(etlify.crms.get('c').rateLimit).to.equal(undefined);
    expect(() => new Etlify({ pendingSyncTtlMs: -1 })).to.throw(ConfigurationError, /`pendingSyncTtlMs` must be a positive number/);
  });

  it('applies the global maxSyncErrors default, overridable per CRM', () => {
    const etlify = new Etlify({ maxSyncErrors: 5, crms: { a: { adapter }, b: { adapter, maxSyncErrors: 2 } } });
    expect(etlify.crms.get('a').maxSyncErrors).to.equal(5);
    expect(etlify.crms.get('b').maxSyncErrors).to.equal(2);
    expect(new Etlify({ crms: { a: { adapter } } }).crms.get('a').maxSyncErrors).to.equal(3);
  });

  it('fails MikroORM.init when an entity uses an unregistered CRM', async () => {
    const etlify = new Etlify({ crms: { hubspot: { adapter } } });
    const error = await MikroORM.init({ clientUrl: process.env.DATABASE_URL, entities, extensions: [etlify] }).catch(e => e);
    expect(error).to.be.instanceOf(ConfigurationError);
    expect(error.message).to.equal('User (CRM `airtable`): CRM `airtable` is not registered (registered: hubspot)');
  });

  it('fails MikroORM.init on an unknown dependency name', async () => {
    const TypoSchema = defineEntity({ name: 'Typo', properties: { id: p.integer().primary(), name: p.string() } });
    class Typo extends etlified(TypoSchema.class, { hubspot: { serializer: t => ({ name: t.name }), objectType: 'contacts', dependencies: ['compnay'] } }) {}
    TypoSchema.setClass(Typo);
    const etlify = new Etlify({ crms: { hubspot: { adapter } } });
    const error = await MikroORM.init({ clientUrl: process.env.DATABASE_URL, entities: [Typo], extensions: [etlify] }).catch(e => e);
    expect(error).to.be.instanceOf(ConfigurationError);
    expect(error.message).to.equal('Typo (CRM `hubspot`): dependency `compnay`: Typo has no relation `compnay` (relations: none)');
  });

  it('names only relations the user declared, and an association as an association', async () => {
    const PersonSchema = defineEntity({ name: 'Person2', properties: { id: p.integer().primary(), email: p.string(), boss: () => p.manyToOne(PersonSchema.class).nullable() } });
    class Person2 extends etlified(PersonSchema.class, { hubspot: { serializer: x => ({ email: x.email }), objectType: 'contacts', dependencies: ['meetings'] } }) {}
    PersonSchema.setClass(Person2);
    // an owning many-to-many: MikroORM adds `Meeting2_people__inverse` to Person2's metadata
    const MeetingSchema = defineEntity({ name: 'Meeting2', properties: { id: p.integer().primary(), people: () => p.manyToMany(Person2).owner(), host: () => p.manyToOne(Person2) } });
    class Meeting2 extends etlified(MeetingSchema.class, { hubspot: { serializer: () => ({}), objectType: 'meetings', associations: [{ relation: 'host.boss' }] } }) {}
    MeetingSchema.setClass(Meeting2);
    const init = (entities: Function[]) => MikroORM.init({ clientUrl: process.env.DATABASE_URL, entities, extensions: [new Etlify({ crms: { hubspot: { adapter } } })] }).catch(e => e);

    const typo = await init([Person2, Meeting2]);
    expect(typo).to.be.instanceOf(ConfigurationError);
    expect(typo.message).to.equal('Person2 (CRM `hubspot`): dependency `meetings`: Person2 has no relation `meetings` (relations: boss)');
    declareCrms(Person2, { hubspot: { serializer: x => ({ email: x.email }), objectType: 'contacts' } });
    const nested = await init([Person2, Meeting2]);
    expect(nested.message).to.equal('Meeting2 (CRM `hubspot`): association `host.boss` must be a direct many-to-one, one-to-one, one-to-many or many-to-many relation');
  });

  it('rejects a declaration without a serializer or object type at class definition', () => {
    expect(() => etlified(class X {}, { hubspot: { objectType: 'contacts' } as never })).to.throw(ConfigurationError, /etlified\(X\)\.hubspot\.serializer must be a function/);
    expect(() => etlified(class X {}, { hubspot: { serializer: () => ({}), objectType: '' } })).to.throw(ConfigurationError, /objectType must be a non-empty string/);
    expect(() => etlified(class X {}, { hubspot: { serializer: () => ({}), objectType: 'c', syncif: () => true } as never })).to.throw(ConfigurationError, /unknown option `syncif`/);
  });

  it('re-registering a CRM takes effect at once for every entity', async () => {
    const app = await createTestApp();
    try {
      const em = app.orm.em.fork();
      const user = em.create(User, { email: 'rotate@example.test' });
      await em.flush();
      const rotated = new RecordingAdapter();
      app.etlify.registerCrm('hubspot', { adapter: rotated });
      expect(await user.hubspotSync({ inline: true })).to.equal('synced');
      expect(rotated.callsOf('upsert')).to.have.length(1);
      expect(app.hubspot.calls).to.have.length(0);
    } finally {
      await app.close();
    }
  });
});
