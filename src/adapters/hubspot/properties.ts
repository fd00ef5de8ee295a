import { ValidationError } from '../../errors.ts';
import type { CrmPayload } from '../../interfaces.ts';

/**
 * HubSpot stores emails trimmed and lowercased and compares them that way; sending them so keeps
 * searches, batch ids and created objects consistent. A null or absent email is left alone.
 */
export function normalizeProperties(payload: CrmPayload): CrmPayload {
  return typeof payload.email === 'string' ? { ...payload, email: payload.email.trim().toLowerCase() } : { ...payload };
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
