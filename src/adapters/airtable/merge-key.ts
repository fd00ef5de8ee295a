import { ValidationError } from '../../errors.ts';

const FIELD_ID = /^fld[A-Za-z0-9]{14}$/;

/** True for an Airtable field id (`fld` + 14 letters or digits) rather than a field name. */
export function isFieldId(name: string): boolean {
  return FIELD_ID.test(name);
}

/**
 * The merge value of an item as a dedupe key (strings quoted, numbers bare, so `"1"` and `1` stay
 * apart), or undefined when the field is empty (such items cannot be merged on). Throws for values
 * Airtable cannot merge on.
 */
export function mergeKey(field: string, value: unknown): string | undefined {
  if (value === null || value === undefined || value === '') return undefined;
  if (typeof value === 'string') return JSON.stringify(value);
  if ((typeof value === 'number' && Number.isFinite(value)) || typeof value === 'bigint') return String(value);
  throw new ValidationError(`Airtable idProperty "${field}" must hold a string or a finite number, got ${Array.isArray(value) ? 'an array' : typeof value}`);
}
