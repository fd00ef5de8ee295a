import type { CrmDialect, CrmErrorBody } from '../http/json-client.ts';
import { isRecord, stringField } from '../http/json-values.ts';

/** Airtable documents a 30 s wait after a 429, and sends no Retry-After or quota headers. */
const RATE_LIMIT_DELAY_MS = 30_000;

/**
 * Airtable error bodies are `{ error: { type, message } }`, but some answers carry a bare
 * `{ error: "NOT_FOUND" }` or an `errors[]` list: read all three.
 */
function describeAirtableError(body: unknown): CrmErrorBody {
  if (!isRecord(body)) return {};
  const { error } = body;
  if (isRecord(error)) return { message: stringField(error.message), code: stringField(error.type), details: error };
  if (typeof error === 'string') return { message: stringField(body.message) ?? error, code: error };
  const first = Array.isArray(body.errors) ? body.errors.find(isRecord) : undefined;
  if (first) return { message: stringField(first.message), code: stringField(first.error) ?? stringField(first.type), details: body.errors };
  return { message: stringField(body.message) };
}

export const airtableDialect: CrmDialect = {
  name: 'Airtable',
  describeError: describeAirtableError,
  rateLimitDelayMs: () => RATE_LIMIT_DELAY_MS,
};
