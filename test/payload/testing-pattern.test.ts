// The testing pattern documented in docs/payload-migrations.md, on the documentation's own example:
// one exact expectation per version, and a loop over every supported version and fixture.
import { expect } from 'chai';
import { definePayloadVersions, migratePayload } from '../../src/payload/index.ts';

const payloadVersions = definePayloadVersions({
  format: 'semver',
  current: '2.0',
  versions: {
    '1.1': [
      {
        description: 'full_name was split into firstname/lastname in 2.0',
        objectTypes: ['contacts'],
        steps: [
          {
            if: (payload) => 'firstname' in payload || 'lastname' in payload,
            migrate: ({ firstname, lastname, ...rest }) => ({
              ...rest,
              full_name: [firstname, lastname].filter(Boolean).join(' '),
            }),
          },
        ],
      },
    ],
    '1.0': [
      {
        description: 'phone_number was renamed phone in 1.1',
        steps: [
          {
            migrate: (payload) => {
              payload.phone_number = payload.phone;
              delete payload.phone;
            },
          },
        ],
      },
    ],
  },
});

const ada = { email: 'ada@example.com', firstname: 'Ada', lastname: 'Lovelace', phone: '+44 20 7946 0000' };
const acme = { name: 'Acme', phone: '+1 555 0100' };

describe('payload migrations: the documented testing pattern', () => {
  it('speaks each version of the contact shape', () => {
    const expected = {
      '2.0': ada,
      '1.1': { email: 'ada@example.com', full_name: 'Ada Lovelace', phone: '+44 20 7946 0000' },
      '1.0': { email: 'ada@example.com', full_name: 'Ada Lovelace', phone_number: '+44 20 7946 0000' },
    };
    for (const [version, shape] of Object.entries(expected)) {
      const migrated = migratePayload(ada, { versions: payloadVersions, to: version, entity: 'User', objectType: 'contacts' });
      expect(migrated, version).to.deep.equal(shape);
    }
  });

  it('leaves company payloads out of the contact-only migration', () => {
    expect(payloadVersions.migrate(acme, { to: '1.0', entity: 'Company', objectType: 'companies' }))
      .to.deep.equal({ name: 'Acme', phone_number: '+1 555 0100' });
  });

  it('migrates every fixture to every supported version without touching it', () => {
    const fixtures = [
      { payload: ada, entity: 'User', objectType: 'contacts' },
      { payload: acme, entity: 'Company', objectType: 'companies' },
    ];
    for (const { payload, entity, objectType } of fixtures) {
      const before = structuredClone(payload);
      for (const version of payloadVersions.supported) {
        expect(() => payloadVersions.migrate(payload, { to: version, entity, objectType }), `${entity} → ${version}`).not.to.throw();
      }
      expect(payload).to.deep.equal(before);
    }
  });
});
