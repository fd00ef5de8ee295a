import { hash } from 'node:crypto';
import stringify from 'fast-json-stable-stringify';
import type { CrmPayload } from '../interfaces.ts';

/**
 * Turns a serializer's output into the JSON value that is both digested and sent, so the digest always
 * describes exactly what the CRM received. Dates become ISO-8601 UTC strings (`toJSON`), bigints their
 * decimal string, `undefined` properties disappear (as in `JSON.stringify`), and values JSON cannot
 * carry faithfully (functions, symbols, non-finite numbers, class instances without `toJSON`) are
 * rejected with the path that holds them. Keys come out sorted.
 */
export function normalizePayload(payload: CrmPayload): CrmPayload {
  return canonicalize(payload).payload;
}

/**
 * `normalizePayload`, telling whether `JSON.stringify` of the result is already the key-sorted form:
 * true unless some key is integer-like, which JavaScript objects always enumerate first.
 */
export function canonicalize(payload: CrmPayload): { payload: CrmPayload; sorted: boolean } {
  const state = { sorted: true };
  try {
    return { payload: normalizeValue(payload, state) as CrmPayload, sorted: state.sorted };
  } catch (error) {
    if (!(error instanceof UnsupportedValue)) throw error;
    const path = error.path.reduce((p, s) => typeof s === 'number' ? `${p}[${s}]` : p ? `${p}.${s}` : s, '');
    throw new TypeError(`${path ? `payload.${path}` : 'the payload'} ${error.message}`);
  }
}

/** Thrown deep inside a payload; each level adds its key on the way out (no path strings otherwise). */
class UnsupportedValue extends Error {
  path: (string | number)[] = [];
}

function normalizeValue(value: unknown, state: { sorted: boolean }): unknown {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return value;
    case 'number':
      if (!Number.isFinite(value)) throw new UnsupportedValue(`is ${value}, which JSON cannot carry`);
      return value;
    case 'bigint':
      return value.toString();
    case 'object': {
      if (value === null) return null;
      if (Array.isArray(value)) {
        const out = new Array(value.length);
        for (let i = 0; i < value.length; i++) out[i] = value[i] === undefined ? null : child(value[i], i, state);
        return out;
      }
      const proto = Object.getPrototypeOf(value);
      if (proto !== Object.prototype && proto !== null) {
        if (value instanceof Date) return value.toJSON();
        const toJSON = (value as { toJSON?: unknown }).toJSON;
        if (typeof toJSON === 'function') return normalizeValue(toJSON.call(value), state);
        throw new UnsupportedValue(`is a ${proto?.constructor?.name ?? 'non-plain object'}; serializers must return plain JSON values`);
      }
      const out: Record<string, unknown> = {};
      for (const key of sortedKeys(value)) {
        // JSON.parse makes `__proto__` an own key; assigned to a plain object it would become its
        // prototype, and a property read (the idProperty) would then find another record's value
        if (key === '__proto__') throw Object.assign(new UnsupportedValue(`is a key JavaScript takes as an object's prototype; rename it (no CRM field can be called __proto__)`), { path: [key] });
        const item = (value as Record<string, unknown>)[key];
        if (item === undefined) continue;
        if (state.sorted && isIntegerLike(key)) state.sorted = false;
        out[key] = child(item, key, state);
      }
      return out;
    }
    default:
      throw new UnsupportedValue(`is a ${typeof value}; serializers must return plain JSON values`);
  }
}

function child(value: unknown, key: string | number, state: { sorted: boolean }): unknown {
  if (typeof value !== 'object' || value === null) {
    if (typeof value === 'string' || typeof value === 'boolean' || value === null) return value;
  }
  try {
    return normalizeValue(value, state);
  } catch (error) {
    if (error instanceof UnsupportedValue) error.path.unshift(key);
    throw error;
  }
}

const INTEGER_LIKE = /^(?:0|[1-9]\d*)$/;

/** Payloads of one serializer share their key order: the sorted order is computed once per shape. */
const sortedShapes = new Map<string, string[]>();

function sortedKeys(object: object): string[] {
  const keys = Object.keys(object);
  if (keys.length < 2) return keys;
  // JSON-encoded, not joined: keys may hold any character, and a joined list of one object's keys
  // could spell another's (['a\0b', 'c'] and ['a', 'b\0c']), whose fields would then be dropped
  const shape = JSON.stringify(keys);
  let sorted = sortedShapes.get(shape);
  if (!sorted) {
    if (sortedShapes.size >= 10_000) sortedShapes.clear();
    sortedShapes.set(shape, sorted = [...keys].sort());
  }
  return sorted;
}

function isIntegerLike(key: string): boolean {
  const first = key.charCodeAt(0);
  return first >= 48 && first <= 57 && INTEGER_LIKE.test(key);
}

/**
 * SHA-256 (lowercase hex) of the key-sorted compact JSON of a normalized payload. Insensitive to key
 * order at every depth, sensitive to array order and to any value. `{b: 2, a: 1}` →
 * `43258cff783fe7036d8a43033f830adfc60ec037382473548ac742b888292777` (same as the Ruby gem).
 */
export function payloadDigest(normalized: CrmPayload): string {
  return sha256(stringify(normalized));
}

/** The digest of a value from `canonicalize`: the same bytes as `payloadDigest`, faster when sorted. */
export function canonicalDigest(canonical: { payload: CrmPayload; sorted: boolean }): string {
  return sha256(canonical.sorted ? JSON.stringify(canonical.payload) : stringify(canonical.payload));
}

function sha256(text: string): string {
  // one-shot hashing: about 2.5× faster than createHash().update().digest() for payload-sized input
  return hash('sha256', text, 'hex');
}
