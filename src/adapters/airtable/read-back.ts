/** What `reconcile` needs from Airtable apart from the HTTP calls: records as objects, stored forms. */
import type { CrmObject } from '../../interfaces.ts';
import { dateInstant } from '../http/date-instant.ts';
import { idField, isRecord } from '../http/json-values.ts';

/** A listed record with only the fields asked for (absent: empty, as Airtable leaves empty cells out). */
export function airtableObject(record: Record<string, unknown>, fields: readonly string[]): CrmObject | undefined {
  const crmId = idField(record.id);
  if (crmId === undefined) return undefined;
  const cells = isRecord(record.fields) ? record.fields : {};
  return { crmId, properties: Object.fromEntries(fields.map((name) => [name, cells[name] ?? null])) };
}

/** The key a lookup files a value under: the default identity (`identityOf` is not defined for Airtable). */
export function lookupKey(value: unknown): string | undefined {
  return value === null || value === undefined || value === '' ? undefined : String(value);
}


/**
 * How Airtable keeps a value, as a comparable string: empty cells (`""`, `[]`, `false`, `null`) are
 * left out of its answers, so they compare as empty; dates and date-times as the instant (a date field
 * answers `2024-01-01`, a date-time field `2024-01-01T00:00:00.000Z`); numbers by value; arrays
 * (multiple selects, linked records) item by item.
 */
export function airtableStoredForm(value: unknown): string | null {
  if (value === null || value === undefined || value === '' || value === false) return null;
  if (Array.isArray(value)) return value.length === 0 ? null : JSON.stringify(value.map(airtableStoredForm));
  if (typeof value === 'object') return JSON.stringify(value);
  if (typeof value === 'number' || typeof value === 'bigint' || typeof value === 'boolean') return String(value);
  const text = String(value);
  const instant = dateInstant(text);
  return instant === undefined ? text : String(instant);
}
