import { canonicalType } from './hubspot-associations.ts';

/**
 * HubSpot's standard object types, which every portal has: the objects the object APIs guide lists
 * (https://developers.hubspot.com/docs/guides/crm/using-object-apis), by the names their endpoints take.
 */
const STANDARD_OBJECT_TYPES: ReadonlySet<string> = new Set([
  'contacts', 'companies', 'deals', 'tickets', 'calls', 'communications', 'emails', 'feedback_submissions', 'invoices',
  'leads', 'line_items', 'marketing_events', 'meetings', 'notes', 'orders', 'payments', 'postal_mail', 'products',
  'projects', 'quotes', 'subscriptions', 'tasks', 'users',
]);

/** A standard type by name (any case, singular too) or by its `0-…` objectTypeId. */
export function isStandardObjectType(type: string): boolean {
  return /^0-\d+$/.test(type) || STANDARD_OBJECT_TYPES.has(canonicalType(type));
}
