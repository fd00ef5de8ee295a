import { expect } from 'chai';
import { ConfigurationError, SerializationError } from '../../src/errors.ts';
import type { CrmPayload } from '../../src/interfaces.ts';
import {
  definePayloadVersions,
  migratePayload,
  PayloadMigrationError,
  PayloadMigrator,
  UnsupportedPayloadVersionError,
  type PayloadMigration,
  type PayloadMigrationContext,
  type PayloadVersionFormat,
  type PayloadVersionInput,
} from '../../src/payload/index.ts';

/** A migration that appends its version to `payload.trail`, so a test can read the order applied. */
function mark(version: string): PayloadMigration {
  return { description: `mark ${version}`, steps: [{ migrate: (p) => { p.trail = [...(p.trail as string[]), version]; } }] };
}

function trailOf(format: PayloadVersionFormat, current: PayloadVersionInput, keys: string[], to: PayloadVersionInput): string[] {
  const versions = definePayloadVersions({ format, current, versions: Object.fromEntries(keys.map((k) => [k, [mark(k)]])) });
  return versions.migrate({ trail: [] }, { to }).trail as string[];
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null) {
    for (const item of Object.values(value)) deepFreeze(item);
    Object.freeze(value);
  }
  return value;
}

describe('payload migrations: ordering', () => {
  it('semver: newest first by numeric components, 1.10 before 1.9 (the lexical-sort trap)', () => {
    // A lexical sort would put "1.9" first, and a lexical range test would drop "1.10" altogether.
    expect(trailOf('semver', '2.0', ['1.9', '1.10', '1.2'], '1.2')).to.deep.equal(['1.10', '1.9', '1.2']);
    expect(trailOf('semver', '10.0.0', ['2.0.0', '9.0.0'], '2.0.0')).to.deep.equal(['9.0.0', '2.0.0']);
    expect(trailOf('semver', '2.0', ['1.9', '1.10'], '1.10')).to.deep.equal(['1.10']);
  });

  it('date: newest date first', () => {
    expect(trailOf('date', '2026-03-01', ['2024-10-01', '2025-12-01', '2025-09-15'], '2024-10-01'))
      .to.deep.equal(['2025-12-01', '2025-09-15', '2024-10-01']);
  });

  it('integer: 10 before 9 before 2', () => {
    expect(trailOf('integer', 11, ['9', '10', '2'], 2)).to.deep.equal(['10', '9', '2']);
  });

  it('float: 1.5 before 1.25, and "1.10" (= 1.1) after 1.9', () => {
    expect(trailOf('float', 2, ['1.25', '1.5', '1.10', '1.9'], '1.1')).to.deep.equal(['1.9', '1.5', '1.25', '1.10']);
  });

  it('string: lexical, so "b" before "a" and "9" before "10"', () => {
    expect(trailOf('string', 'c', ['a', 'b'], 'a')).to.deep.equal(['b', 'a']);
    expect(trailOf('string', 'z', ['10', '9'], '10')).to.deep.equal(['9', '10']);
  });

  it('applies the range [to, from): versions older than `from` and at or newer than `to`', () => {
    const keys = ['1.0', '1.1', '1.2', '1.3'];
    const versions = definePayloadVersions({ format: 'semver', current: '2.0', versions: Object.fromEntries(keys.map((k) => [k, [mark(k)]])) });
    expect(versions.migrate({ trail: [] }, { from: '1.3', to: '1.1' }).trail).to.deep.equal(['1.2', '1.1']);
    expect(versions.migrate({ trail: [] }, { from: '1.3', to: '1.3' }).trail).to.deep.equal([]);
    expect(versions.migrate({ trail: [] }, { to: '1.3' }).trail).to.deep.equal(['1.3']);
  });

  it('gives the right shape only when applied newest first', () => {
    // 2.0 calls it `name`, 1.1 called it `full_name`, 1.0 called it `label`. Running 1.0's migration
    // first would find no `full_name`, and the payload would end up with `full_name`, not `label`.
    const versions = definePayloadVersions({
      format: 'semver',
      current: '2.0',
      versions: {
        '1.0': [{ description: 'full_name was renamed name in 1.1', steps: [{ migrate: ({ full_name, ...rest }) => ({ ...rest, label: full_name }) }] }],
        '1.1': [{ description: 'name was renamed full_name in 2.0', steps: [{ migrate: ({ name, ...rest }) => ({ ...rest, full_name: name }) }] }],
      },
    });
    expect(versions.migrate({ name: 'Ada Lovelace' }, { to: '1.0' })).to.deep.equal({ label: 'Ada Lovelace' });
    expect(versions.migrate({ name: 'Ada Lovelace' }, { to: '1.1' })).to.deep.equal({ full_name: 'Ada Lovelace' });
  });

  it("runs one version's migrations in declared order, and each migration's steps in order", () => {
    const push = (tag: string) => ({ migrate: (p: CrmPayload) => { (p.trail as string[]).push(tag); } });
    const versions = definePayloadVersions({
      format: 'semver',
      current: '2.0',
      versions: {
        '1.0': [
          { description: 'first', steps: [push('a1'), push('a2'), push('a3')] },
          { description: 'second', steps: [push('b1'), push('b2')] },
        ],
      },
    });
    expect(versions.migrate({ trail: [] }, { to: '1.0' }).trail).to.deep.equal(['a1', 'a2', 'a3', 'b1', 'b2']);
  });
});

describe('payload migrations: steps', () => {
  it('skips a step whose `if` returns false, and sees the earlier steps\' result in the next `if`', () => {
    const versions = definePayloadVersions({
      format: 'semver',
      current: '2.0',
      versions: {
        '1.0': [{
          description: 'lifecycle stage "evangelist" did not exist in 1.0',
          steps: [
            { if: (p) => p.stage === 'evangelist', migrate: (p) => { p.stage = 'customer'; } },
            { if: (p) => p.stage === 'customer', migrate: (p) => { p.customer = true; } },
          ],
        }],
      },
    });
    expect(versions.migrate({ stage: 'lead' }, { to: '1.0' })).to.deep.equal({ stage: 'lead' });
    expect(versions.migrate({ stage: 'evangelist' }, { to: '1.0' })).to.deep.equal({ stage: 'customer', customer: true });
  });

  it('accepts both styles: edit in place and return nothing, or return a new object', () => {
    const versions = definePayloadVersions({
      format: 'integer',
      current: 3,
      versions: {
        2: [{ description: 'in place', steps: [{ migrate: (p) => { p.inPlace = true; delete p.drop; } }] }],
        1: [{ description: 'returned', steps: [{ migrate: (p) => ({ returned: true, previous: p }) }] }],
      },
    });
    expect(versions.migrate({ drop: 1 }, { to: 2 })).to.deep.equal({ inPlace: true });
    expect(versions.migrate({ drop: 1 }, { to: 1 })).to.deep.equal({ returned: true, previous: { inPlace: true } });
  });

  it('passes the context: entity, objectType, from, to and the migration\'s version', () => {
    const seen: PayloadMigrationContext[] = [];
    const record = (context: PayloadMigrationContext) => { seen.push(context); };
    const versions = definePayloadVersions({
      format: 'semver',
      current: '2.0',
      versions: {
        '1.1': [{ description: 'a', steps: [{ if: (_p, c) => { record(c); return true; }, migrate: (_p, c) => record(c) }] }],
        '1.0': [{ description: 'b', steps: [{ migrate: (_p, c) => record(c) }] }],
      },
    });
    versions.migrate({}, { to: '1.0', entity: 'User', objectType: 'contacts' });
    const base = { entity: 'User', objectType: 'contacts', from: '2.0.0', to: '1.0.0' };
    expect(seen).to.deep.equal([{ ...base, version: '1.1.0' }, { ...base, version: '1.1.0' }, { ...base, version: '1.0.0' }]);
    expect(Object.isFrozen(seen[0])).to.equal(true);
  });

  it('never mutates the caller\'s payload, nested values included', () => {
    const versions = definePayloadVersions({
      format: 'semver',
      current: '2.0',
      versions: {
        '1.0': [{ description: 'flatten and edit', steps: [{ migrate: (p) => {
          const address = p.address as { city: string };
          address.city = address.city.toUpperCase();
          (p.tags as string[]).push('legacy');
          delete p.email;
        } }] }],
      },
    });
    const input = deepFreeze({ email: 'ada@example.com', address: { city: 'London' }, tags: ['vip'], at: 1 });
    const output = versions.migrate(input, { to: '1.0' });
    expect(output).to.deep.equal({ address: { city: 'LONDON' }, tags: ['vip', 'legacy'], at: 1 });
    expect(input).to.deep.equal({ email: 'ada@example.com', address: { city: 'London' }, tags: ['vip'], at: 1 });
  });

  it('keeps Dates and other structured values through the copy', () => {
    const versions = definePayloadVersions({ format: 'semver', current: '2.0', versions: { '1.0': [{ description: 'x', steps: [{ migrate: (p) => { p.x = 1; } }] }] } });
    const when = new Date('2026-01-02T03:04:05Z');
    const output = versions.migrate({ when, nested: [{ when }] }, { to: '1.0' });
    expect(output.when).to.be.instanceOf(Date).and.not.equal(when);
    expect((output.when as Date).getTime()).to.equal(when.getTime());
    expect((output.nested as { when: Date }[])[0]!.when).to.be.instanceOf(Date);
  });

  it('copies a cyclic payload too', () => {
    const versions = definePayloadVersions({ format: 'semver', current: '2.0', versions: { '1.0': [{ description: 'x', steps: [{ migrate: (p) => { p.x = 1; } }] }] } });
    const input: CrmPayload = { a: 1 };
    input.self = input;
    const output = versions.migrate(input, { to: '1.0' });
    expect(output.self).to.equal(output);
    expect(input).to.not.have.property('x');
  });

  it('returns the very same object when migrating to the current version, or when no step applies', () => {
    const versions = definePayloadVersions({
      format: 'semver',
      current: '2.0',
      versions: { '1.0': [{ description: 'never', steps: [{ if: () => false, migrate: () => ({}) }] }] },
    });
    const payload = { a: 1 };
    expect(versions.migrate(payload, { to: '2.0' })).to.equal(payload);
    expect(versions.migrate(payload, { to: '2.0.0', from: '2.0' })).to.equal(payload);
    expect(versions.migrate(payload, { to: '1.0' })).to.equal(payload);
    expect(versions.migrator({ to: '2.0' }).isIdentity).to.equal(true);
    expect(versions.migrator({ to: '1.0' }).isIdentity).to.equal(false);
  });
});

describe('payload migrations: targeting', () => {
  const versions = definePayloadVersions({
    format: 'semver',
    current: '2.0',
    versions: {
      '1.0': [
        { description: 'users only', entities: ['User'], steps: [{ migrate: (p) => { p.user = true; } }] },
        { description: 'contacts and leads only', objectTypes: ['contacts', 'leads'], steps: [{ migrate: (p) => { p.contact = true; } }] },
        { description: 'user contacts only', entities: ['User'], objectTypes: ['contacts'], steps: [{ migrate: (p) => { p.both = true; } }] },
      ],
    },
  });

  it('applies a migration only to the entities and object types it names', () => {
    expect(versions.migrate({}, { to: '1.0', entity: 'User', objectType: 'contacts' })).to.deep.equal({ user: true, contact: true, both: true });
    expect(versions.migrate({}, { to: '1.0', entity: 'User', objectType: 'deals' })).to.deep.equal({ user: true });
    expect(versions.migrate({}, { to: '1.0', entity: 'Company', objectType: 'leads' })).to.deep.equal({ contact: true });
    expect(versions.migrate({}, { to: '1.0', entity: 'Company', objectType: 'companies' })).to.deep.equal({});
  });

  it('refuses to guess when a targeted migration is reached without the entity or object type', () => {
    expect(() => versions.migrate({}, { to: '1.0', objectType: 'contacts' }))
      .to.throw(ConfigurationError, /"users only" \(version 1\.0\.0\) targets entities User, but no `entity` was given/);
    expect(() => versions.migrate({}, { to: '1.0', entity: 'Company' }))
      .to.throw(ConfigurationError, /"contacts and leads only" \(version 1\.0\.0\) targets objectTypes contacts, leads, but no `objectType` was given/);
  });
});

describe('payload migrations: errors', () => {
  function failing(migrate: (p: CrmPayload) => unknown, condition?: (p: CrmPayload) => unknown) {
    const step = { migrate: migrate as (p: CrmPayload) => CrmPayload, ...(condition ? { if: condition as (p: CrmPayload) => boolean } : {}) };
    return definePayloadVersions({
      format: 'semver',
      current: '2.0',
      versions: { '1.1': [{ description: 'split full name', steps: [{ migrate: () => {} }, step] }] },
    });
  }

  it('rejects a step returning a non-object, naming the migration, its version and the step', () => {
    for (const [result, shown] of [[null, 'null'], ['x', 'string "x"'], [42, 'number 42'], [[1], 'an array'], [Promise.resolve({}), 'a Promise']] as const) {
      const versions = failing(() => result);
      let thrown: unknown;
      try {
        versions.migrate({}, { to: '1.1' });
      } catch (error) {
        thrown = error;
      }
      expect(thrown).to.be.instanceOf(PayloadMigrationError).and.to.be.instanceOf(SerializationError);
      const error = thrown as PayloadMigrationError;
      expect(error.message).to.include('"split full name" (version 1.1.0, step #2) returned').and.to.include(shown);
      expect([error.version, error.description, error.step]).to.deep.equal(['1.1.0', 'split full name', 2]);
    }
  });

  it('wraps an exception thrown by a step or a condition, keeping the cause', () => {
    const boom = new Error('no full name');
    try {
      failing(() => { throw boom; }).migrate({}, { to: '1.1' });
      expect.fail('should throw');
    } catch (error) {
      expect(error).to.be.instanceOf(PayloadMigrationError);
      expect((error as Error).message).to.equal('Payload migration "split full name" (version 1.1.0, step #2) threw: no full name');
      expect((error as Error).cause).to.equal(boom);
    }
    expect(() => failing(() => {}, () => { throw boom; }).migrate({}, { to: '1.1' })).to.throw(PayloadMigrationError, /step #2\) `if` threw: no full name/);
  });

  it('rejects an `if` that returns something other than a boolean', () => {
    expect(() => failing(() => {}, (p) => p.email).migrate({ email: 'a@b.c' }, { to: '1.1' }))
      .to.throw(PayloadMigrationError, /`if` returned string "a@b\.c" instead of a boolean/);
  });

  it('rejects unknown, malformed and upward targets', () => {
    const versions = failing(() => {});
    expect(() => versions.migrate({}, { to: '1.0' })).to.throw(UnsupportedPayloadVersionError, /"1\.0" \(to\)/);
    expect(() => versions.migrate({}, { to: '1' })).to.throw(ConfigurationError, /Invalid semver payload version "1" \(to\)/);
    expect(() => versions.migrate({}, { from: '1.1', to: '2.0' })).to.throw(ConfigurationError, /cannot migrate from 1\.1\.0 up to 2\.0\.0/);
  });

  it('rejects a payload that is not a plain object', () => {
    const versions = failing(() => {});
    expect(() => versions.migrate(null as unknown as CrmPayload, { to: '1.1' })).to.throw(SerializationError, /got null/);
    expect(() => versions.migrate([] as unknown as CrmPayload, { to: '1.1' })).to.throw(SerializationError, /got an array/);
  });
});

describe('payload migrations: entry points', () => {
  const versions = definePayloadVersions({
    format: 'semver',
    current: '2.0',
    versions: { '1.0': [{ description: 'name became full_name in 2.0', steps: [{ migrate: ({ full_name, ...rest }) => ({ ...rest, name: full_name }) }] }] },
  });

  it('migratePayload is the standalone form of versions.migrate', () => {
    expect(migratePayload({ full_name: 'Ada' }, { versions, to: '1.0' })).to.deep.equal({ name: 'Ada' });
    expect(migratePayload({ name: 'Ada' }, { versions, from: '1.0', to: '1.0' })).to.deep.equal({ name: 'Ada' });
  });

  it('versions.migrator caches one migrator per pair, whatever the spelling', () => {
    const migrator = versions.migrator({ to: '1.0' });
    expect(versions.migrator({ to: '1.0' })).to.equal(migrator);
    expect(versions.migrator({ from: '2.0.0', to: '1.0.0' })).to.equal(migrator);
    expect([migrator.from, migrator.to]).to.deep.equal(['2.0.0', '1.0.0']);
    expect(migrator.migrate({ full_name: 'Ada' })).to.deep.equal({ name: 'Ada' });
  });

  it('a PayloadMigrator can be built directly', () => {
    const migrator = new PayloadMigrator({ versions, to: '1.0' });
    expect(migrator.migrate({ full_name: 'Ada' }, { entity: 'User' })).to.deep.equal({ name: 'Ada' });
  });

  it('a number stays an invalid semver even after the same string was cached', () => {
    versions.migrator({ to: '1.0' });
    expect(() => versions.migrator({ to: 1.0 })).to.throw(ConfigurationError, /semver versions must be strings/);
  });
});
