import { expect } from 'chai';
import { ConfigurationError } from '../../src/errors.ts';
import {
  definePayloadVersions,
  InvalidPayloadVersionError,
  type PayloadMigration,
  type PayloadVersionsDefinition,
} from '../../src/payload/index.ts';

const keep = { migrate: () => {} };
const ok: PayloadMigration = { description: 'ok', steps: [keep] };

/** Runs `definePayloadVersions` on a definition TypeScript would reject, as a JS user could write it. */
function define(definition: unknown) {
  return () => definePayloadVersions(definition as PayloadVersionsDefinition);
}

describe('definePayloadVersions', () => {
  it('accepts a definition with only a current version', () => {
    const versions = definePayloadVersions({ format: 'integer', current: 3 });
    expect(versions.current).to.equal('3');
    expect(versions.supported).to.deep.equal(['3']);
    expect(versions.changes).to.deep.equal([]);
  });

  it('lists changes newest first by the typed order, whatever the key order', () => {
    const versions = definePayloadVersions({ format: 'integer', current: 10, versions: { 2: [ok], 9: [ok], 1: [] } });
    expect(versions.changes.map((c) => c.version)).to.deep.equal(['9', '2', '1']);
  });

  it('rejects an unknown format, naming it and the valid ones', () => {
    expect(define({ format: 'calver', current: '1' })).to.throw(ConfigurationError, /unknown format "calver"; expected one of semver, date, integer, float, string/);
  });

  it('rejects a malformed current version or key, naming it', () => {
    expect(define({ format: 'semver', current: '2' })).to.throw(InvalidPayloadVersionError, /semver payload version "2" \(current\)/);
    expect(define({ format: 'semver', current: '2.0', versions: { '1.x': [] } })).to.throw(InvalidPayloadVersionError, /"1\.x" \(key of `versions`\)/);
    expect(define({ format: 'date', current: '2026-03-01', versions: { '2026-02-30': [] } })).to.throw(InvalidPayloadVersionError, /"2026-02-30"/);
  });

  it('rejects a key newer than the current version', () => {
    expect(define({ format: 'semver', current: '1.9', versions: { '1.10': [] } }))
      .to.throw(ConfigurationError, /version "1\.10" is newer than the current version "1\.9"/);
  });

  it('rejects migrations listed under the current version', () => {
    expect(define({ format: 'semver', current: '2.0', versions: { '2.0.0': [ok] } }))
      .to.throw(ConfigurationError, /version "2\.0\.0" is the current version/);
  });

  it('rejects two spellings of one version', () => {
    expect(define({ format: 'semver', current: '2.0', versions: { '1.0': [], '1.0.0': [ok] } }))
      .to.throw(ConfigurationError, /versions "1\.0" and "1\.0\.0" are the same semver version \(1\.0\.0\)/);
  });

  it('rejects migrations without a description or steps, naming the version and position', () => {
    expect(define({ format: 'semver', current: '2.0', versions: { '1.0': [ok, { steps: [keep] }] } }))
      .to.throw(ConfigurationError, /version "1\.0", migration #2 needs a non-empty `description`/);
    expect(define({ format: 'semver', current: '2.0', versions: { '1.0': [{ description: '  ', steps: [keep] }] } }))
      .to.throw(ConfigurationError, /needs a non-empty `description`/);
    expect(define({ format: 'semver', current: '2.0', versions: { '1.0': [{ description: 'split name' }] } }))
      .to.throw(ConfigurationError, /migration #1 \("split name"\) needs a non-empty `steps` array/);
    expect(define({ format: 'semver', current: '2.0', versions: { '1.0': [{ description: 'split name', steps: [] }] } }))
      .to.throw(ConfigurationError, /needs a non-empty `steps` array/);
  });

  it('rejects malformed steps', () => {
    expect(define({ format: 'semver', current: '2.0', versions: { '1.0': [{ description: 'd', steps: [keep, {}] }] } }))
      .to.throw(ConfigurationError, /\("d"\), step #2 needs a `migrate` function/);
    expect(define({ format: 'semver', current: '2.0', versions: { '1.0': [{ description: 'd', steps: [{ if: true, migrate: () => {} }] }] } }))
      .to.throw(ConfigurationError, /step #1: `if` must be a function/);
  });

  it('rejects misspelt options instead of silently dropping a targeting', () => {
    expect(define({ format: 'semver', current: '2.0', versions: { '1.0': [{ description: 'd', objectType: ['contacts'], steps: [keep] }] } }))
      .to.throw(ConfigurationError, /unknown option `objectType`; expected `description`, `entities`, `objectTypes`, `steps`/);
    expect(define({ format: 'semver', current: '2.0', versions: { '1.0': [{ description: 'd', steps: [{ migrate: () => {}, when: () => true }] }] } }))
      .to.throw(ConfigurationError, /unknown option `when`/);
    expect(define({ format: 'semver', current: '2.0', version: {} })).to.throw(ConfigurationError, /unknown option `version`/);
  });

  it('rejects an empty or non-string targeting list', () => {
    expect(define({ format: 'semver', current: '2.0', versions: { '1.0': [{ description: 'd', entities: [], steps: [keep] }] } }))
      .to.throw(ConfigurationError, /`entities` must be a non-empty array of non-empty strings/);
    expect(define({ format: 'semver', current: '2.0', versions: { '1.0': [{ description: 'd', objectTypes: 'contacts', steps: [keep] }] } }))
      .to.throw(ConfigurationError, /`objectTypes` must be a non-empty array/);
  });

  it('rejects a version whose migrations are not an array', () => {
    expect(define({ format: 'semver', current: '2.0', versions: { '1.0': ok } })).to.throw(ConfigurationError, /version "1\.0" must list its migrations in an array/);
  });

  it('is not affected by later edits to the definition objects', () => {
    const steps = [{ migrate: (p: Record<string, unknown>) => { p.touched = true; } }];
    const migration = { description: 'touch', entities: ['User'], steps };
    const versions = definePayloadVersions({ format: 'semver', current: '2.0', versions: { '1.0': [migration] } });
    steps.length = 0;
    migration.entities.push('Company');
    expect(versions.migrate({}, { to: '1.0', entity: 'User' })).to.deep.equal({ touched: true });
    expect(versions.migrate({}, { to: '1.0', entity: 'Company' })).to.deep.equal({});
  });
});
