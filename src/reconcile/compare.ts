import type { CrmAdapter, CrmPayload } from '../interfaces.ts';

/** One property that differs: what a sync would send, and what the CRM holds. */
export interface FieldDiff {
  database: unknown;
  crm: unknown;
}

/** Default stored form: JSON text; null, undefined and "" are all empty. */
function plainForm(value: unknown): string | null {
  if (value === null || value === undefined || value === '') return null;
  return typeof value === 'string' ? value : JSON.stringify(value);
}

/**
 * The properties of `payload` the CRM holds differently, compared in the form the CRM stores values
 * (`storedForm` of the adapter). Only the payload's own properties are compared: whatever else the CRM
 * object carries belongs to someone else.
 */
export function diffPayload(adapter: CrmAdapter, objectType: string, payload: CrmPayload, crm: Record<string, unknown>): Record<string, FieldDiff> {
  const form = (property: string, value: unknown) => adapter.storedForm ? adapter.storedForm(objectType, property, value) : plainForm(value);
  const diff: Record<string, FieldDiff> = {};
  for (const [property, value] of Object.entries(payload)) {
    // own properties only: a field named like an Object.prototype member (`constructor`) is data
    const stored = Object.hasOwn(crm, property) ? crm[property] : undefined;
    if (form(property, value) !== form(property, stored)) diff[property] = { database: value, crm: stored ?? null };
  }
  return diff;
}
