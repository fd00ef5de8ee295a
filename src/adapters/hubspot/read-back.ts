/**
 * What `reconcile` needs from HubSpot, apart from the HTTP calls (hubspot-adapter.ts makes them):
 * which object answered for which requested id, and how HubSpot stores a value.
 */
import type { CrmObject } from '../../interfaces.ts';
import { dateInstant } from '../http/date-instant.ts';
import { idField, isRecord } from '../http/json-values.ts';

/**
 * HubSpot lists the ids merged into an object in this property (`;`-separated). Since merges of
 * contacts and companies create a new object, reading an old id answers with the merged object under
 * its new id: this property tells which requested id it answers for.
 */
export const MERGED_IDS_PROPERTY = 'hs_merged_object_ids';

function objectsOf(body: unknown): Array<Record<string, unknown>> {
  return isRecord(body) && Array.isArray(body.results) ? body.results.filter(isRecord) : [];
}

/** The object of a `batch/read` or search result, with only the properties asked for. */
function crmObject(result: Record<string, unknown>, properties: readonly string[]): CrmObject | undefined {
  const crmId = idField(result.id);
  if (crmId === undefined) return undefined;
  const all = isRecord(result.properties) ? result.properties : {};
  return { crmId, properties: Object.fromEntries(properties.map((name) => [name, all[name] ?? null])) };
}

/**
 * A `batch/read` answer by requested id. An id HubSpot reports in `errors` (archived, unknown) has no
 * entry; an object whose id is not among the requested ones answers for the requested ids it lists
 * in `hs_merged_object_ids`.
 */
export function answersById(body: unknown, requested: readonly string[], properties: readonly string[]): Map<string, CrmObject> {
  const wanted = new Set(requested);
  const answers = new Map<string, CrmObject>();
  const merged: Array<[string, CrmObject]> = [];
  for (const result of objectsOf(body)) {
    const object = crmObject(result, properties);
    if (!object) continue;
    if (wanted.has(object.crmId)) answers.set(object.crmId, object);
    const mergedIds = isRecord(result.properties) ? String(result.properties[MERGED_IDS_PROPERTY] ?? '') : '';
    for (const id of mergedIds.split(';').map((part) => part.trim())) if (wanted.has(id)) merged.push([id, object]);
  }
  for (const [id, object] of merged) if (!answers.has(id)) answers.set(id, object);
  return answers;
}

/** Search results, grouped by the unique value each holds (`identity` gives HubSpot's comparison). */
export function objectsByValue(body: unknown, idProperty: string, properties: readonly string[], identity: (value: unknown) => string | undefined): Array<[string, CrmObject]> {
  const found: Array<[string, CrmObject]> = [];
  for (const result of objectsOf(body)) {
    const object = crmObject(result, properties);
    const key = isRecord(result.properties) ? identity(result.properties[idProperty]) : undefined;
    if (object && key !== undefined) found.push([key, object]);
  }
  return found;
}

const DECIMAL = /^-?\d+(?:\.\d+)?(?:e[+-]?\d+)?$/i;

/**
 * How HubSpot stores and returns a value, as a comparable string. HubSpot keeps every property as a
 * string: numbers as their decimal text (`17`, not `17.0`), booleans as `true`/`false`, dates and
 * date-times as an ISO text or epoch milliseconds (compared here as the instant), multiple values
 * `;`-separated, contact emails trimmed and lower-cased; `null` and `""` both mean empty (HubSpot
 * ignores `null` on write and clears with `""`).
 */
export function hubspotStoredForm(objectType: string, property: string, value: unknown): string | null {
  if (value === null || value === undefined) return null;
  if (Array.isArray(value)) return value.length === 0 ? null : value.map((item) => hubspotStoredForm(objectType, property, item) ?? '').join(';');
  if (typeof value === 'object') return JSON.stringify(value);
  if (typeof value === 'number' || typeof value === 'bigint' || typeof value === 'boolean') return String(value);
  const text = String(value);
  if (text === '') return null;
  if (property === 'email' && objectType === 'contacts') return text.trim().toLowerCase();
  if (DECIMAL.test(text)) return String(Number(text));
  const instant = dateInstant(text);
  return instant === undefined ? text : String(instant);
}
