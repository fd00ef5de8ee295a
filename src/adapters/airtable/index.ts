export { AirtableAdapter, type AirtableAdapterOptions } from './airtable-adapter.ts';
export { airtableDialect } from './dialect.ts';
export { isFieldId, mergeKey } from './merge-key.ts';
