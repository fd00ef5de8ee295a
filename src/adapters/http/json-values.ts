import { ValidationError } from '../../errors.ts';

/** Narrowing helpers for JSON bodies whose shape a CRM does not guarantee. */

export type ResponseHeaders = Record<string, string | string[] | undefined>;

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * `record[key]` if `record` has that key itself, else undefined: a routing value (an `idProperty`, a
 * field an answer is matched on) is never found on a prototype (`constructor`, `toString`, …).
 */
export function ownValue(record: object, key: string): unknown {
  return Object.hasOwn(record, key) ? (record as Record<string, unknown>)[key] : undefined;
}

/**
 * One path segment: encoded (`/`, `?`, `#`, `%` … cannot change the path), and refused when empty or
 * a dot segment (`.`, `..`), which URL normalization would resolve however it is encoded — a write
 * meant for one object would reach its parent collection. Refused before anything is sent; the
 * error names the value (`what`: "CRM id", "object type").
 */
export function pathSegment(value: string, what: string): string {
  if (value === '' || value === '.' || value === '..') throw new ValidationError(`${what} ${JSON.stringify(value)} cannot be a URL path segment; nothing was sent`);
  return encodeURIComponent(value);
}

/** A non-empty string field, or undefined. */
export function stringField(value: unknown): string | undefined {
  return typeof value === 'string' && value !== '' ? value : undefined;
}

/** An id the CRM may send as a string or a number, as a non-empty string. */
export function idField(value: unknown): string | undefined {
  if (typeof value === 'number' && Number.isFinite(value)) return String(value);
  return stringField(value);
}

export function headerValue(headers: ResponseHeaders, name: string): string | undefined {
  const value = headers[name.toLowerCase()];
  return Array.isArray(value) ? value[0] : value;
}

export function numericHeader(headers: ResponseHeaders, name: string): number | undefined {
  const value = headerValue(headers, name);
  if (value === undefined || value.trim() === '') return undefined;
  const parsed = Number(value);
  return Number.isFinite(parsed) ? parsed : undefined;
}
