import { createHash } from 'node:crypto';
import stringify from 'fast-json-stable-stringify';
import type { CrmPayload } from '../interfaces.ts';

/**
 * Turns a serializer's output into the JSON value that is both digested and sent, so the digest always
 * describes exactly what the CRM received. Dates become ISO-8601 UTC strings (`toJSON`), bigints their
 * decimal string, `undefined` properties disappear (as in `JSON.stringify`), and values JSON cannot
 * carry faithfully (functions, symbols, non-finite numbers, class instances without `toJSON`) are
 * rejected with the path that holds them.
 */
export function normalizePayload(payload: CrmPayload): CrmPayload {
  return normalizeValue(payload, '') as CrmPayload;
}

function normalizeValue(value: unknown, path: string): unknown {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return value;
    case 'number':
      if (!Number.isFinite(value)) throw new TypeError(`${describe(path)} is ${value}, which JSON cannot carry`);
      return value;
    case 'bigint':
      return value.toString();
    case 'object': {
      if (value === null) return null;
      if (Array.isArray(value)) return value.map((item, i) => item === undefined ? null : normalizeValue(item, `${path}[${i}]`));
      const toJSON = (value as { toJSON?: unknown }).toJSON;
      if (typeof toJSON === 'function') return normalizeValue(toJSON.call(value), path);
      const proto = Object.getPrototypeOf(value);
      if (proto !== Object.prototype && proto !== null) {
        throw new TypeError(`${describe(path)} is a ${proto?.constructor?.name ?? 'non-plain object'}; serializers must return plain JSON values`);
      }
      const out: Record<string, unknown> = {};
      for (const [key, item] of Object.entries(value)) {
        if (item !== undefined) out[key] = normalizeValue(item, path ? `${path}.${key}` : key);
      }
      return out;
    }
    default:
      throw new TypeError(`${describe(path)} is a ${typeof value}; serializers must return plain JSON values`);
  }
}

function describe(path: string): string {
  return path ? `payload.${path}` : 'the payload';
}

/**
 * SHA-256 (lowercase hex) of the key-sorted compact JSON of a normalized payload. Insensitive to key
 * order at every depth, sensitive to array order and to any value. `{b: 2, a: 1}` →
 * `43258cff783fe7036d8a43033f830adfc60ec037382473548ac742b888292777` (same as the Ruby gem).
 */
export function payloadDigest(normalized: CrmPayload): string {
  return createHash('sha256').update(stringify(normalized)).digest('hex');
}
