import { expect } from 'chai';
import { ConfigurationError } from '../../src/errors.ts';
import {
  definePayloadVersions,
  InvalidPayloadVersionError,
  UnsupportedPayloadVersionError,
  type PayloadVersionFormat,
  type PayloadVersionInput,
} from '../../src/payload/index.ts';

/** A definition of `format` with nothing but a current version, to reach its comparator and parser. */
function formatOf(format: PayloadVersionFormat, current: PayloadVersionInput) {
  return definePayloadVersions({ format, current });
}

/** Asserts that `versions` are listed oldest first by the format's order. */
function expectAscending(format: PayloadVersionFormat, current: PayloadVersionInput, versions: PayloadVersionInput[]): void {
  const defined = formatOf(format, current);
  for (let i = 0; i + 1 < versions.length; i++) {
    expect(defined.compare(versions[i]!, versions[i + 1]!), `${versions[i]} < ${versions[i + 1]}`).to.equal(-1);
    expect(defined.compare(versions[i + 1]!, versions[i]!), `${versions[i + 1]} > ${versions[i]}`).to.equal(1);
  }
}

function expectInvalid(format: PayloadVersionFormat, current: PayloadVersionInput, value: unknown): void {
  const defined = formatOf(format, current);
  let thrown: unknown;
  try {
    defined.normalize(value as PayloadVersionInput);
  } catch (error) {
    thrown = error;
  }
  expect(thrown, `${String(value)} should be rejected`).to.be.instanceOf(InvalidPayloadVersionError);
  expect(thrown).to.be.instanceOf(ConfigurationError);
  const error = thrown as InvalidPayloadVersionError;
  expect(error.format).to.equal(format);
  expect(Object.is(error.version, value), `error.version is ${String(error.version)}`).to.equal(true);
  expect(error.message).to.include(format).and.to.include(typeof value === 'string' ? JSON.stringify(value) : String(value));
}

describe('payload versions: formats', () => {
  describe('semver', () => {
    it('compares each component numerically, not lexically', () => {
      expectAscending('semver', '99.0', ['1.2', '1.9', '1.10', '1.11', '2.0.0', '9.0.0', '10.0.0']);
    });

    it('treats a missing patch as 0', () => {
      const versions = formatOf('semver', '2.0');
      expect(versions.compare('1.0', '1.0.0')).to.equal(0);
      expect(versions.normalize('1.0')).to.equal('1.0.0');
      expect(versions.current).to.equal('2.0.0');
    });

    it('orders prereleases as semver 2.0.0 §11 does', () => {
      expectAscending('semver', '3.0', [
        '1.0.0-alpha', '1.0.0-alpha.1', '1.0.0-alpha.beta', '1.0.0-beta', '1.0.0-beta.2', '1.0.0-beta.11', '1.0.0-rc.1', '1.0.0',
      ]);
      expect(formatOf('semver', '3.0').normalize('2.1-rc.1')).to.equal('2.1.0-rc.1');
    });

    it('rejects malformed versions, and numbers (1.10 as a number is 1.1)', () => {
      for (const bad of ['1', '1.x', '01.0', '1.01', 'v1.0', '1.0.0.0', '1.0.0+build.1', '1.0.0-', '1.0.0-01', '', ' 1.0']) {
        expectInvalid('semver', '2.0', bad);
      }
      expectInvalid('semver', '2.0', 1.1);
    });
  });

  describe('date', () => {
    it('orders by calendar date', () => {
      expectAscending('date', '2030-01-01', ['2024-12-31', '2025-01-01', '2025-02-28', '2025-10-01', '2026-03-01']);
    });

    it('accepts 29 February in leap years only', () => {
      const versions = formatOf('date', '2030-01-01');
      expect(versions.normalize('2024-02-29')).to.equal('2024-02-29');
      expect(versions.normalize('2000-02-29')).to.equal('2000-02-29');
      expectInvalid('date', '2030-01-01', '2023-02-29');
      expectInvalid('date', '2030-01-01', '1900-02-29');
    });

    it('rejects impossible or mis-shaped dates', () => {
      for (const bad of ['2026-02-30', '2026-04-31', '2026-13-01', '2026-00-10', '2026-01-00', '2026-2-1', '20260201', '2026/02/01', 'March 2026']) {
        expectInvalid('date', '2030-01-01', bad);
      }
      expectInvalid('date', '2030-01-01', 20260201);
    });
  });

  describe('integer', () => {
    it('compares numerically (9 < 10), whether given as numbers or strings', () => {
      expectAscending('integer', 100, [1, 2, 9, 10, 11]);
      expectAscending('integer', 100, ['1', '2', '9', '10', '11']);
      const versions = formatOf('integer', 100);
      expect(versions.compare(10, '10')).to.equal(0);
      expect(versions.normalize('007')).to.equal('7');
    });

    it('rejects non-integers', () => {
      for (const bad of ['1.5', 1.5, -1, '-1', 'abc', '', Number.NaN, Number.POSITIVE_INFINITY, '1e3']) expectInvalid('integer', 100, bad);
    });
  });

  describe('float', () => {
    it('compares numerically: 1.25 < 1.5, and "1.10" is 1.1, older than 1.9', () => {
      expectAscending('float', 10, [1, 1.1, 1.25, 1.5, 1.9, 2, 9.5, 10]);
      expectAscending('float', 10, ['1.10', '1.25', '1.5', '1.9']);
      const versions = formatOf('float', 10);
      expect(versions.normalize('1.50')).to.equal('1.5');
      expect(versions.compare('2', 2.0)).to.equal(0);
    });

    it('rejects NaN, infinities and non-numbers', () => {
      for (const bad of [Number.NaN, Number.POSITIVE_INFINITY, 'NaN', 'abc', '', '1.', '.5', '1e3', '-1.5', -1.5]) expectInvalid('float', 10, bad);
    });
  });

  describe('string', () => {
    it('compares lexically by code unit ("10" < "9" here, by design)', () => {
      expectAscending('string', 'zulu', ['10', '9', 'Beta', 'alpha', 'beta', 'v10', 'v9']);
    });

    it('rejects an empty string and numbers', () => {
      expectInvalid('string', 'b', '');
      expectInvalid('string', 'b', 3);
    });
  });
});

describe('payload versions: support', () => {
  const versions = definePayloadVersions({
    format: 'semver',
    current: '2.0',
    versions: { '1.10': [], '1.9': [], '1.0': [] },
  });

  it('supports the current version and the keys of `versions`, newest first', () => {
    expect(versions.supported).to.deep.equal(['2.0.0', '1.10.0', '1.9.0', '1.0.0']);
    for (const version of ['2.0', '2.0.0', '1.10', '1.9.0', '1.0']) expect(versions.isSupported(version), version).to.equal(true);
    for (const version of ['1.1', '3.0', 'junk', '']) expect(versions.isSupported(version), version).to.equal(false);
  });

  it('validate returns the normalized string to store', () => {
    expect(versions.validate('1.10')).to.equal('1.10.0');
    expect(versions.validate('2.0.0')).to.equal('2.0.0');
  });

  it('validate names an unknown version, the format, the supported list and the source', () => {
    expect(() => versions.validate('1.1', 'crms.hubspot.payloadVersion'))
      .to.throw(UnsupportedPayloadVersionError, /semver payload version "1\.1" \(crms\.hubspot\.payloadVersion\): supported versions are 2\.0\.0, 1\.10\.0, 1\.9\.0, 1\.0\.0/);
    try {
      versions.validate('3.0');
      expect.fail('3.0 should be unsupported');
    } catch (error) {
      expect(error).to.be.instanceOf(ConfigurationError);
      expect((error as UnsupportedPayloadVersionError).version).to.equal('3.0');
      expect((error as UnsupportedPayloadVersionError).supported).to.deep.equal(versions.supported);
    }
  });

  it('validate rejects a malformed version as invalid, not merely unsupported', () => {
    expect(() => versions.validate('1.x')).to.throw(InvalidPayloadVersionError, /Invalid semver payload version "1\.x"/);
  });

  it('compare orders well-formed versions even when unsupported, and rejects malformed ones', () => {
    expect(versions.compare('1.1', '1.10')).to.equal(-1);
    expect(() => versions.compare('1.1', 'nope')).to.throw(InvalidPayloadVersionError, /"nope"/);
  });
});
