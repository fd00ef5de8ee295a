/**
 * Which HubSpot API and version a simulator request addresses. The simulator serves every version
 * the adapter speaks, with the same handlers: numbered paths (`/crm/v3/objects`, `/crm/v3/properties`,
 * associations under `/crm/v4/associations`) and date-based ones (`/crm/{api}/{version}/…`).
 */
import { HUBSPOT_API_VERSIONS, type HubspotApiVersion } from '../adapters/hubspot/paths.ts';

export type HubspotApi = 'objects' | 'associations' | 'properties' | 'property-validations';

export interface HubspotRoute {
  api: HubspotApi;
  version: HubspotApiVersion;
  /** The segments after the version, decoded. */
  rest: string[];
}

const NUMBERED: Record<string, { version: string; api: HubspotApi }> = {
  objects: { version: 'v3', api: 'objects' },
  properties: { version: 'v3', api: 'properties' },
  associations: { version: 'v4', api: 'associations' },
};
const DATED_APIS: readonly string[] = ['objects', 'associations', 'properties', 'property-validations'];
const DATED_VERSIONS: readonly string[] = HUBSPOT_API_VERSIONS.filter((version) => version !== 'v3');

/** The route of `/crm/…` segments, or undefined for a path no served version has. */
export function hubspotRoute(segments: readonly string[]): HubspotRoute | undefined {
  const [crm, first, second, ...rest] = segments;
  if (crm !== 'crm' || first === undefined || second === undefined) return undefined;
  const numbered = NUMBERED[second];
  if (numbered && numbered.version === first) return { api: numbered.api, version: 'v3', rest };
  if (DATED_APIS.includes(first) && DATED_VERSIONS.includes(second)) return { api: first as HubspotApi, version: second as HubspotApiVersion, rest };
  return undefined;
}
