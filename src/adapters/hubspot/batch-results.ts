import { idField, isRecord, stringField } from '../http/json-values.ts';
import { describeViolations, propertyViolations } from './validation.ts';

/** One input of a batch request: its position in the caller's items and the id string we sent. */
export interface SentInput {
  index: number;
  /** `id` of the input: the object id (batch/update) or the unique value (batch/upsert). */
  key: string;
}

export type BatchOutcome =
  | { ok: true; id: string; created: boolean }
  | { ok: false; category?: string; message?: string; context?: unknown; invalidProperties?: string[] };

function records(value: unknown): Array<Record<string, unknown>> {
  return Array.isArray(value) ? value.filter(isRecord) : [];
}

function contextIds(error: Record<string, unknown>): string[] {
  const ids = isRecord(error.context) ? error.context.ids : undefined;
  return Array.isArray(ids) ? ids.map(idField).filter((id) => id !== undefined) : [];
}

/**
 * Maps a batch answer (200, 201 or 207) back to the inputs, never by comparing raw property values
 * (HubSpot lowercases emails, turns numbers into strings…). Results and errors are matched by the
 * `objectWriteTraceId` we sent (the input's index); results lacking it by `resultKey` (the object id
 * for batch/update, the normalised unique value for batch/upsert, nothing for batch/create); errors
 * lacking it by the exact id strings we sent, listed in `context.ids`. Inputs absent from the map were
 * not accounted for by HubSpot.
 */
export function correlateBatch(
  sent: readonly SentInput[],
  body: unknown,
  resultKey: (result: Record<string, unknown>) => string | undefined,
): Map<number, BatchOutcome> {
  const byTrace = new Map(sent.map((input) => [String(input.index), input.index]));
  const byKey = new Map(sent.map((input) => [input.key, input.index]));
  const traced = (entry: Record<string, unknown>) => byTrace.get(stringField(entry.objectWriteTraceId) ?? '');
  const outcomes = new Map<number, BatchOutcome>();
  const fields = isRecord(body) ? body : {};

  for (const result of records(fields.results)) {
    const id = idField(result.id);
    const key = traced(result) === undefined ? resultKey(result) : undefined;
    const index = traced(result) ?? (key === undefined ? undefined : byKey.get(key));
    if (id && index !== undefined) outcomes.set(index, { ok: true, id, created: result.new === true });
  }
  for (const error of records(fields.errors)) {
    const invalid = propertyViolations(error).map((violation) => violation.property);
    const outcome: BatchOutcome = {
      ok: false,
      category: stringField(error.category),
      message: describeViolations(error, stringField(error.message)),
      context: error.context,
      ...(invalid.length > 0 ? { invalidProperties: invalid } : {}),
    };
    const index = traced(error);
    const indexes = index !== undefined ? [index] : contextIds(error).map((id) => byKey.get(id));
    for (const failed of indexes) if (failed !== undefined) outcomes.set(failed, outcome);
  }
  return outcomes;
}
