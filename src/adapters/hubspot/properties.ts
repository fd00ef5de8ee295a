import { ValidationError } from '../../errors.ts';
import type { CrmPayload } from '../../interfaces.ts';

/** HubSpot refuses text values longer than this (what its CRM accepts in a property). */
export const MAX_PROPERTY_LENGTH = 65_536;

/**
 * The payload as HubSpot must receive it:
 * - `null` becomes `""`: HubSpot ignores `null` and clears a property only when sent `""`, so a
 *   serializer's `company?.name ?? null` would otherwise leave the old value in place;
 * - emails are trimmed and lowercased, as HubSpot stores and compares them, which keeps searches,
 *   batch ids and created objects consistent.
 */
export function normalizeProperties(payload: CrmPayload): CrmPayload {
  // fromEntries defines data properties: no key (not even `__proto__`) can set the object's prototype
  const properties: CrmPayload = Object.fromEntries(Object.entries(payload).map(([name, value]) => [name, value === null ? '' : value]));
  if (typeof properties.email === 'string') properties.email = properties.email.trim().toLowerCase();
  return properties;
}

/** Refuses, before sending, a value HubSpot would reject for its length, naming the property. */
export function checkPropertyLengths(objectType: string, payload: CrmPayload): void {
  for (const [name, value] of Object.entries(payload)) {
    const length = typeof value === 'string' ? value.length : typeof value === 'object' && value !== null ? JSON.stringify(value).length : 0;
    if (length > MAX_PROPERTY_LENGTH) {
      throw new ValidationError(`HubSpot ${objectType} property "${name}" holds ${length} characters; HubSpot accepts at most ${MAX_PROPERTY_LENGTH}`, { code: 'PROPERTY_TOO_LONG' });
    }
  }
}

/**
 * The value of the unique property as HubSpot compares it (trimmed; lowercased for `email`), or
 * undefined when there is none. Throws for values that cannot be a unique id (objects, arrays).
 */
export function uniqueValue(idProperty: string, value: unknown): string | undefined {
  if (value === null || value === undefined) return undefined;
  let text: string;
  if (typeof value === 'string') text = value.trim();
  else if ((typeof value === 'number' && Number.isFinite(value)) || typeof value === 'bigint' || typeof value === 'boolean') text = String(value);
  else throw new ValidationError(`HubSpot idProperty "${idProperty}" must hold a string or a number, got ${Array.isArray(value) ? 'an array' : typeof value}`);
  if (text === '') return undefined;
  return idProperty === 'email' ? text.toLowerCase() : text;
}

/** The payload without the unique property, for updates of an object found by it. */
export function withoutProperty(properties: CrmPayload, name: string): CrmPayload {
  const { [name]: _removed, ...rest } = properties;
  return rest;
}
