import { idField, isRecord, stringField } from '../http/json-values.ts';

/** One input of a batch request: its position in the caller's items and the id string we sent. */
export interface SentInput {
  index: number;
  /** `id` of the input: the object id (batch/update) or the unique value (batch/upsert). */
  key: string;
}

export type BatchOutcome =
  | { ok: true; id: string; created: boolean }
  | { ok: false; category?: string; message?: string; context?: unknown };

function records(value: unknown): Array<Record<string, unknown>> {
  return Array.isArray(value) ? value.filter(isRecord) : [];
}

function contextIds(error: Record<string, unknown>): string[] {
  const ids = isRecord(error.context) ? error.context.ids : undefined;
  return Array.isArray(ids) ? ids.map(idField).filter((id) => id !== undefined) : [];
}

/**
 * Maps a batch answer (200 or 207) back to the inputs, never by comparing property values (HubSpot
 * lowercases emails, turns numbers into strings…). Results and errors are matched by the
 * `objectWriteTraceId` we sent (the input's index); errors lacking it by the exact id strings we
 * sent, listed in `context.ids`; batch/update results lacking it by their object id, which is the id
 * we sent. Inputs absent from the map were not accounted for by HubSpot.
 */
export function correlateBatch(sent: readonly SentInput[], body: unknown, resultIdIsKey: boolean): Map<number, BatchOutcome> {
  const byTrace = new Map(sent.map((input) => [String(input.index), input.index]));
  const byKey = new Map(sent.map((input) => [input.key, input.index]));
  const traced = (entry: Record<string, unknown>) => byTrace.get(stringField(entry.objectWriteTraceId) ?? '');
  const outcomes = new Map<number, BatchOutcome>();
  const fields = isRecord(body) ? body : {};

  for (const result of records(fields.results)) {
    const id = idField(result.id);
    const index = traced(result) ?? (resultIdIsKey && id ? byKey.get(id) : undefined);
    if (id && index !== undefined) outcomes.set(index, { ok: true, id, created: result.new === true });
  }
  for (const error of records(fields.errors)) {
    const outcome: BatchOutcome = {
      ok: false,
      category: stringField(error.category),
      message: stringField(error.message),
      context: error.context,
    };
    const index = traced(error);
    const indexes = index !== undefined ? [index] : contextIds(error).map((id) => byKey.get(id));
    for (const failed of indexes) if (failed !== undefined) outcomes.set(failed, outcome);
  }
  return outcomes;
}
