import { ValidationError } from '../../errors.ts';

const FIELD_ID = /^fld[A-Za-z0-9]{14}$/;

/** True for an Airtable field id (`fld` + 14 letters or digits) rather than a field name. */
export function isFieldId(name: string): boolean {
  return FIELD_ID.test(name);
}

/** `{Field name}`, with `\` and `}` escaped so a name cannot close the reference early. */
export function fieldReference(name: string): string {
  return `{${name.replace(/[\\}]/g, (char) => `\\${char}`)}}`;
}

/**
 * A formula literal: numbers bare, strings double-quoted with `\` and `"` escaped, so a searched
 * value can never change the formula's meaning.
 */
export function formulaLiteral(value: unknown): string {
  if (typeof value === 'string') return `"${value.replace(/[\\"]/g, (char) => `\\${char}`)}"`;
  if ((typeof value === 'number' && Number.isFinite(value)) || typeof value === 'bigint') return String(value);
  throw new ValidationError(`Airtable formula values must be strings or finite numbers, got ${Array.isArray(value) ? 'an array' : typeof value}`);
}

/** `{Field} = <value>`: the `filterByFormula` that finds records by a unique field. */
export function equalsFormula(field: string, value: unknown): string {
  return `${fieldReference(field)} = ${formulaLiteral(value)}`;
}

/**
 * The merge value of a batch item as a dedupe key, or undefined when the field is empty (such
 * items cannot be merged on). Throws for values a formula or a merge cannot compare.
 */
export function mergeKey(field: string, value: unknown): string | undefined {
  if (value === null || value === undefined || value === '') return undefined;
  try {
    return formulaLiteral(value);
  } catch (error) {
    throw new ValidationError(`Airtable idProperty "${field}": ${(error as Error).message}`);
  }
}
