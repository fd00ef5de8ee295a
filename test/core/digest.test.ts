import { expect } from 'chai';
import { normalizePayload, payloadDigest } from '../../src/index.ts';
import { canonicalDigest, canonicalize } from '../../src/sync/digest.ts';

const digest = (payload: Record<string, unknown>) => payloadDigest(normalizePayload(payload));

describe('payload digest', () => {
  it('matches the Ruby gem reference vector', () => {
    expect(digest({ b: 2, a: 1 })).to.equal('43258cff783fe7036d8a43033f830adfc60ec037382473548ac742b888292777');
  });

  it('ignores key order at every depth but not array order or values', () => {
    const a = digest({ x: { b: [1, { d: 1, c: 2 }], a: null }, y: 'z' });
    expect(digest({ y: 'z', x: { a: null, b: [1, { c: 2, d: 1 }] } })).to.equal(a);
    expect(digest({ y: 'z', x: { a: null, b: [{ c: 2, d: 1 }, 1] } })).to.not.equal(a);
    expect(digest({ y: 'Z', x: { a: null, b: [1, { c: 2, d: 1 }] } })).to.not.equal(a);
  });

  it('gives dates their ISO-8601 UTC form and bigints their decimal string', () => {
    const normalized = normalizePayload({ at: new Date('2026-01-02T03:04:05.678Z'), big: 12345678901234567890n, nested: [new Date(0)] });
    expect(normalized).to.deep.equal({ at: '2026-01-02T03:04:05.678Z', big: '12345678901234567890', nested: ['1970-01-01T00:00:00.000Z'] });
    expect(digest({ at: new Date('2026-01-02T03:04:05.678Z') })).to.equal(digest({ at: '2026-01-02T03:04:05.678Z' }));
  });

  it('drops undefined properties like JSON does, and nulls undefined array items', () => {
    expect(normalizePayload({ a: undefined, b: [undefined, 1] })).to.deep.equal({ b: [null, 1] });
    expect(digest({ a: undefined, b: 1 })).to.equal(digest({ b: 1 }));
  });

  it('the pipeline\'s fast digest gives the same bytes, integer-like keys included', () => {
    const payloads = [
      { b: 2, a: 1 },
      { z: { y: [3, { b: 1, a: 2 }], x: 'é' }, a: null },
      { 10: 'ten', 9: 'nine', a: { 2: 'x', 1: 'y' } },
      { '01': 'not an index', '1': 'index', b: true },
    ];
    for (const payload of payloads) {
      expect(canonicalDigest(canonicalize(payload))).to.equal(payloadDigest(normalizePayload(payload)));
    }
    expect(canonicalize({ 10: 'x' }).sorted).to.equal(false);
    expect(canonicalize({ a: 'x' }).sorted).to.equal(true);
  });

  it('rejects values JSON cannot carry, naming where they are', () => {
    expect(() => normalizePayload({ a: { f: () => 1 } })).to.throw(TypeError, /payload\.a\.f is a function/);
    expect(() => normalizePayload({ n: Number.NaN })).to.throw(TypeError, /payload\.n is NaN/);
    expect(() => normalizePayload({ m: new Map() })).to.throw(TypeError, /payload\.m is a Map/);
  });
});
