import { ValidationError } from '../../errors.ts';

/** `{Field name}`, with `\` and `}` escaped so a name cannot close the reference early. */
function fieldReference(name: string): string {
  return `{${name.replace(/[\\}]/g, (char) => `\\${char}`)}}`;
}

/** A literal: numbers bare, strings double-quoted with `\` and `"` escaped, so a value cannot change the formula. */
function literal(value: unknown): string {
  if (typeof value === 'string') return `"${value.replace(/[\\"]/g, (char) => `\\${char}`)}"`;
  if ((typeof value === 'number' && Number.isFinite(value)) || typeof value === 'bigint') return String(value);
  throw new ValidationError(`Airtable formula values must be strings or finite numbers, got ${Array.isArray(value) ? 'an array' : typeof value}`);
}

/**
 * `OR({Field} = "a", {Field} = 2)`: the `filterByFormula` finding the records whose field holds one
 * of the values. Formulas name fields: a field id is an unknown name to Airtable.
 */
export function anyEquals(field: string, values: readonly unknown[]): string {
  return `OR(${values.map((value) => `${fieldReference(field)} = ${literal(value)}`).join(', ')})`;
}

/** `OR(RECORD_ID() = "rec1", …)`: the records with these ids (unknown or deleted ids select nothing). */
export function anyRecordId(ids: readonly string[]): string {
  return `OR(${ids.map((id) => `RECORD_ID() = ${literal(id)}`).join(', ')})`;
}
