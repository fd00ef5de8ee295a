export { AirtableAdapter, type AirtableAdapterOptions } from './airtable-adapter.ts';
export { airtableDialect } from './dialect.ts';
export { equalsFormula, fieldReference, formulaLiteral, isFieldId } from './formula.ts';
