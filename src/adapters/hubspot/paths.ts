import { ConfigurationError } from '../../errors.ts';
import { pathSegment } from '../http/json-values.ts';

/**
 * The HubSpot API versions the adapter speaks. Date-based versions (`/crm/objects/2026-03/…`) went GA
 * in April 2026, a new one each March and September, each unsupported 18 months after GA; `v3` is the
 * numbered family (`/crm/v3/…`, associations `/crm/v4/…`), unsupported from September 2027.
 */
export const HUBSPOT_API_VERSIONS = ['2026-03', '2026-09', 'v3'] as const;
export type HubspotApiVersion = (typeof HUBSPOT_API_VERSIONS)[number];
export const DEFAULT_HUBSPOT_API_VERSION: HubspotApiVersion = '2026-03';

/** Association batch actions Etlify uses. */
export type AssociationAction = 'read' | 'create' | 'associate/default' | 'labels/archive';

/** Every path Etlify calls, for one API version; each dynamic segment is encoded. */
export interface HubspotPaths {
  readonly version: HubspotApiVersion;
  /** Create (POST), list (GET). */
  objects(objectType: string): string;
  /** Read, update (PATCH), archive (DELETE). */
  object(objectType: string, id: string): string;
  search(objectType: string): string;
  batch(objectType: string, action: 'create' | 'read' | 'update' | 'upsert' | 'archive'): string;
  associations(fromType: string, toType: string, action: AssociationAction): string;
  /** The object type's property definitions. */
  properties(objectType: string): string;
  /** One property's definition. */
  property(objectType: string, name: string): string;
  /** The portal's validation rules of an object type, by name or objectTypeId (date-based versions only: undefined on `v3`). */
  propertyValidations(objectType: string): string | undefined;
}

/** objectTypeIds of the standard objects Etlify's users sync most (paths taking an objectTypeId). */
export const STANDARD_OBJECT_TYPE_IDS: Readonly<Record<string, string>> = { contacts: '0-1', companies: '0-2', deals: '0-3', tickets: '0-5' };

const segment = encodeURIComponent;

/** The one place where Etlify's HubSpot paths are spelled, per version. */
export function hubspotPaths(version: HubspotApiVersion): HubspotPaths {
  const dated = version !== 'v3';
  const objects = (objectType: string) => {
    const type = pathSegment(objectType, 'HubSpot object type');
    return dated ? `/crm/objects/${version}/${type}` : `/crm/v3/objects/${type}`;
  };
  const properties = (objectType: string) => (dated ? `/crm/properties/${version}/${segment(objectType)}` : `/crm/v3/properties/${segment(objectType)}`);
  return {
    version,
    objects,
    object: (objectType, id) => `${objects(objectType)}/${pathSegment(id, 'HubSpot object id')}`,
    search: (objectType) => `${objects(objectType)}/search`,
    batch: (objectType, action) => `${objects(objectType)}/batch/${action}`,
    associations: (from, to, action) => `${dated ? `/crm/associations/${version}` : '/crm/v4/associations'}/${segment(from)}/${segment(to)}/batch/${action}`,
    properties,
    property: (objectType, name) => `${properties(objectType)}/${segment(name)}`,
    propertyValidations: (objectType) => (dated ? `/crm/property-validations/${version}/${segment(STANDARD_OBJECT_TYPE_IDS[objectType] ?? objectType)}` : undefined),
  };
}

/** Checks the `apiVersion` option, naming the versions there are. */
export function checkApiVersion(value: unknown): HubspotApiVersion {
  if (value === undefined) return DEFAULT_HUBSPOT_API_VERSION;
  if ((HUBSPOT_API_VERSIONS as readonly unknown[]).includes(value)) return value as HubspotApiVersion;
  throw new ConfigurationError(`HubspotAdapter: \`apiVersion\` must be one of ${HUBSPOT_API_VERSIONS.map((v) => `'${v}'`).join(', ')}; got ${JSON.stringify(value)}`);
}
