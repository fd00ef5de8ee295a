import { idField, isRecord, ownValue } from '../http/json-values.ts';
import { uniqueValue } from './properties.ts';

/** Enough candidates to prefer an exact primary match over a secondary-email match. */
const SEARCH_LIMIT = 10;

/**
 * Body of `POST …/objects/{type}/search` for one unique value. For contacts by email it also
 * matches secondary addresses (`hs_additional_emails`), as HubSpot merges contacts that way.
 * Sorted by id so that, among duplicates of a non-unique property, the oldest object always wins.
 */
export function searchBody(objectType: string, idProperty: string, value: string): Record<string, unknown> {
  const filterGroups = [{ filters: [{ propertyName: idProperty, operator: 'EQ', value }] }];
  if (objectType === 'contacts' && idProperty === 'email') {
    filterGroups.push({ filters: [{ propertyName: 'hs_additional_emails', operator: 'CONTAINS_TOKEN', value }] });
  }
  return {
    filterGroups,
    properties: [idProperty],
    sorts: [{ propertyName: 'hs_object_id', direction: 'ASCENDING' }],
    limit: SEARCH_LIMIT,
  };
}

/** The id of the best search hit: the first whose own property equals the value, else the first. */
export function pickSearchMatch(body: unknown, idProperty: string, value: string): string | undefined {
  const results = isRecord(body) && Array.isArray(body.results) ? body.results.filter(isRecord) : [];
  const exact = results.find((result) => {
    if (!isRecord(result.properties)) return false;
    try {
      return uniqueValue(idProperty, ownValue(result.properties, idProperty)) === value;
    } catch {
      return false;
    }
  });
  return idField((exact ?? results[0])?.id);
}
