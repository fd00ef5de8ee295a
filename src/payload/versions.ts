/**
 * Payload version formats: parsing, canonical string form and ordering. Every format is compared by
 * its own typed order, never by sorting the raw strings (the request_migrations gem sorts its keys
 * lexically, so "1.10" lands before "1.9").
 */
import { ConfigurationError } from '../errors.ts';

export type PayloadVersionFormat = 'semver' | 'date' | 'integer' | 'float' | 'string';

/** A version as users write it: `'2.0'`, `'2026-03-01'`, `3`, `1.5`, `'v2-beta'`. */
export type PayloadVersionInput = string | number;

export const PAYLOAD_VERSION_FORMATS: readonly PayloadVersionFormat[] = Object.freeze(['semver', 'date', 'integer', 'float', 'string']);

/**
 * A parsed version. `rank` is what the comparator sees: a tuple compared element by element, numbers
 * numerically and strings by UTF-16 code unit (not `localeCompare`, whose order depends on the
 * machine's locale), a shorter tuple first when it is a prefix of the other.
 */
export interface ParsedPayloadVersion {
  readonly format: PayloadVersionFormat;
  /** Canonical string form: two spellings of one version (`'1.0'`, `'1.0.0'`) get the same one. */
  readonly normalized: string;
  readonly rank: readonly (number | string)[];
}

/** The value is not a well-formed version of the format (bad semver, 2026-02-30, `1.5` as an integer). */
export class InvalidPayloadVersionError extends ConfigurationError {
  override name = 'InvalidPayloadVersionError';
  readonly version: unknown;
  readonly format: PayloadVersionFormat;
  constructor(version: unknown, format: PayloadVersionFormat, reason: string, source?: string) {
    super(`Invalid ${format} payload version ${show(version)}${at(source)}: ${reason}`);
    this.version = version;
    this.format = format;
  }
}

/** The value is well formed but is neither the current version nor a key of `versions`. */
export class UnsupportedPayloadVersionError extends ConfigurationError {
  override name = 'UnsupportedPayloadVersionError';
  readonly version: unknown;
  readonly format: PayloadVersionFormat;
  readonly supported: readonly string[];
  constructor(version: unknown, format: PayloadVersionFormat, supported: readonly string[], source?: string) {
    super(`Unsupported ${format} payload version ${show(version)}${at(source)}: supported versions are ${supported.join(', ')}`);
    this.version = version;
    this.format = format;
    this.supported = supported;
  }
}

/** Parses `value` in `format`; `source` says where the value came from, for the error message. */
export function parsePayloadVersion(format: PayloadVersionFormat, value: unknown, source?: string): ParsedPayloadVersion {
  const parser = PARSERS[format];
  const result = parser(value);
  if (typeof result === 'string') throw new InvalidPayloadVersionError(value, format, result, source);
  return { format, normalized: result.normalized, rank: result.rank };
}

/** Negative when `a` is older than `b`, positive when newer, 0 when they are the same version. */
export function compareParsedVersions(a: ParsedPayloadVersion, b: ParsedPayloadVersion): number {
  const length = Math.min(a.rank.length, b.rank.length);
  for (let i = 0; i < length; i++) {
    const x = a.rank[i]!;
    const y = b.rank[i]!;
    if (x !== y) return x < y ? -1 : 1;
  }
  return a.rank.length - b.rank.length;
}

export function isPayloadVersionFormat(value: unknown): value is PayloadVersionFormat {
  return (PAYLOAD_VERSION_FORMATS as readonly unknown[]).includes(value);
}

type ParseResult = { normalized: string; rank: (number | string)[] } | string;

const SEMVER = /^(0|[1-9]\d*)\.(0|[1-9]\d*)(?:\.(0|[1-9]\d*))?(?:-([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?$/;
const SEMVER_HINT = 'expected MAJOR.MINOR[.PATCH][-PRERELEASE] without leading zeros, e.g. "1.10" or "2.0.0-beta.1"';
const DATE = /^(\d{4})-(\d{2})-(\d{2})$/;
const INTEGER = /^\d+$/;
const FLOAT = /^\d+(?:\.\d+)?$/;

const PARSERS: Record<PayloadVersionFormat, (value: unknown) => ParseResult> = {
  semver(value) {
    // A number cannot be a semver: the literal 1.10 is the number 1.1.
    if (typeof value !== 'string') return `semver versions must be strings (${SEMVER_HINT})`;
    const match = SEMVER.exec(value);
    if (!match) return SEMVER_HINT;
    const [major, minor, patch] = [match[1]!, match[2]!, match[3] ?? '0'].map(Number) as [number, number, number];
    if (![major, minor, patch].every(Number.isSafeInteger)) return 'a component is too large';
    const prerelease = match[4]?.split('.') ?? [];
    if (prerelease.some((id) => /^0\d+$/.test(id))) return 'numeric prerelease identifiers must not have leading zeros';
    // A release ranks above its prereleases (1 vs 0); each prerelease identifier is tagged so a
    // numeric one ranks below an alphanumeric one, as semver 2.0.0 §11 says.
    const rank: (number | string)[] = [major, minor, patch, prerelease.length === 0 ? 1 : 0];
    for (const id of prerelease) rank.push(...(/^\d+$/.test(id) ? [0, Number(id)] : [1, id]));
    const normalized = `${major}.${minor}.${patch}${prerelease.length ? `-${prerelease.join('.')}` : ''}`;
    return { normalized, rank };
  },
  date(value) {
    if (typeof value !== 'string') return 'date versions must be strings in YYYY-MM-DD form';
    const match = DATE.exec(value);
    if (!match) return 'expected YYYY-MM-DD, e.g. "2026-03-01"';
    const [year, month, day] = [match[1]!, match[2]!, match[3]!].map(Number) as [number, number, number];
    if (month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month)) return 'no such calendar date';
    return { normalized: value, rank: [year, month, day] };
  },
  integer(value) {
    const n = typeof value === 'number' ? value : typeof value === 'string' && INTEGER.test(value) ? Number(value) : NaN;
    if (!Number.isSafeInteger(n) || n < 0) return 'expected a non-negative integer, e.g. 3 or "3"';
    return { normalized: String(n), rank: [n] };
  },
  float(value) {
    const n = typeof value === 'number' ? value : typeof value === 'string' && FLOAT.test(value) ? Number(value) : NaN;
    if (!Number.isFinite(n) || n < 0) return 'expected a finite non-negative decimal number, e.g. 1.5 or "1.25"';
    return { normalized: String(n), rank: [n] };
  },
  string(value) {
    if (typeof value !== 'string' || value === '') return 'expected a non-empty string';
    return { normalized: value, rank: [value] };
  },
};

function daysInMonth(year: number, month: number): number {
  if (month === 2) return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0 ? 29 : 28;
  return [4, 6, 9, 11].includes(month) ? 30 : 31;
}

function show(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number') return String(value);
  if (value === undefined) return 'undefined';
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}

function at(source: string | undefined): string {
  return source ? ` (${source})` : '';
}
