// Values in staleScope filters, payload versions and keyset cursors reach PostgreSQL bound, whatever
// characters they hold: no second formatting pass reads a `?` inside them as a placeholder.
import { defineEntity, p } from '@mikro-orm/core';
import { expect } from 'chai';
import { etlified, planSync, status } from '../../src/index.ts';
import { definePayloadVersions } from '../../src/payload/index.ts';
import { findStaleIds, staleQuerySql, syncStale } from '../../src/stale/index.ts';
import { RecordingAdapter } from '../../src/testing/index.ts';
import { createTestApp, type TestApp } from '../support/app.ts';

const timestamps = {
  createdAt: p.datetime().onCreate(() => new Date()),
  updatedAt: p.datetime().onCreate(() => new Date()).onUpdate(() => new Date()),
};
const TENANTS = ['a?b', 'a??b', 'a\\?b', `o'?"b`];

const ScopedSchema = defineEntity({ name: 'Scoped', properties: { id: p.integer().primary(), tenant: p.string(), ...timestamps } });
class Scoped extends etlified(ScopedSchema.class, {
  hubspot: { serializer: s => ({ tenant: s.tenant }), objectType: 'scoped', staleScope: () => ({ tenant: { $in: TENANTS } }) },
}) {}
ScopedSchema.setClass(Scoped);

const ScopedUuidSchema = defineEntity({ name: 'ScopedUuid', properties: { id: p.uuid().primary().onCreate(() => crypto.randomUUID()), tenant: p.string(), ...timestamps } });
class ScopedUuid extends etlified(ScopedUuidSchema.class, {
  hubspot: { serializer: s => ({ tenant: s.tenant }), objectType: 'scoped', staleScope: () => ({ tenant: { $in: TENANTS } }) },
}) {}
ScopedUuidSchema.setClass(ScopedUuid);

describe('values reach PostgreSQL bound', () => {
  let app: TestApp;
  let hubspot: RecordingAdapter;
  beforeEach(async () => {
    hubspot = new RecordingAdapter();
    app = await createTestApp({
      etlify: {
        crms: { hubspot: { adapter: hubspot, payloadVersion: 'v?1' }, airtable: { adapter: new RecordingAdapter() } },
        payloadVersions: definePayloadVersions({ format: 'string', current: 'v?1' }),
      },
      orm: { entities: [Scoped, ScopedUuid] },
    });
  });
  afterEach(async () => { await app.close(); });

  for (const [name, Entity] of [['integer', Scoped], ['uuid', ScopedUuid]] as const) {
    it(`a staleScope value with ?, ??, \\? and quotes selects exactly its records (${name} keys): find, status, plan, full sweep`, async () => {
      const em = app.orm.em.fork();
      const inScope = TENANTS.map(tenant => em.create(Entity as typeof Scoped, { tenant }));
      // what the values would become if a second pass read their `?` as a placeholder
      for (const tenant of ['aundefinedb', 'a', 'b', 'other']) em.create(Entity as typeof Scoped, { tenant });
      await em.flush();
      const expected = inScope.map(r => String(r.id)).sort();

      expect((await findStaleIds(app.orm, { crm: 'hubspot', entity: name === 'integer' ? 'Scoped' : 'ScopedUuid' })).sort()).to.deep.equal(expected);
      const entity = name === 'integer' ? 'Scoped' : 'ScopedUuid';
      const [unit] = await status(app.orm, { crm: 'hubspot', entities: [entity] });
      expect(unit).to.include({ total: TENANTS.length, stale: TENANTS.length });
      const plan = await planSync(app.orm, 'hubspot', entity, expected);
      expect(plan.map(r => r.action)).to.deep.equal(TENANTS.map(() => 'create'));
      expect(staleQuerySql(app.orm, entity, 'hubspot')).to.include(`'a?b'`);

      const stats = await syncStale(app.orm, { crm: 'hubspot', entities: [entity], inline: true });
      expect(stats.total).to.equal(TENANTS.length);
      expect(hubspot.calls.flatMap(c => c.payloads).map(p => p.tenant).sort()).to.deep.equal([...TENANTS].sort());
      // a keyset cursor holding a `?` is a value too: PostgreSQL sees it as it is
      const error = await findStaleIds(app.orm, { crm: 'hubspot', entity, after: '?' }).catch((e: Error) => e);
      expect(String(error)).to.include(`invalid input syntax for type ${name}: "?"`);
    });
  }

  it('refuses a NUL character with an error saying so', async () => {
    const error = await findStaleIds(app.orm, { crm: 'hubspot', entity: 'Scoped', after: 'a\u0000' }).catch((e: Error) => e);
    expect(String(error)).to.match(/NUL character/);
  });
});

describe('column types from metadata', () => {
  it('go into cast(… as type) only when they are plain SQL type names', async () => {
    const { sqlType } = await import('../../src/stale/finder.ts');
    for (const type of ['integer', 'uuid', 'timestamptz', 'timestamp(3) with time zone', 'character varying(255)', 'int8']) expect(sqlType(type)).to.equal(type);
    for (const type of ['int); drop table users; --', 'text"', "uuid' or '1", 'integer -- x']) expect(() => sqlType(type)).to.throw(/not a plain SQL type name/);
  });
});
