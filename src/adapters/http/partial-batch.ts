import { isRetryable } from '../../errors.ts';
import type { BatchItemResult } from '../../interfaces.ts';

/**
 * A batch sent in several requests (HubSpot: `batch/update` by id, then `batch/upsert` by value;
 * Airtable: 10 records a request) whose later request failed transiently after earlier ones were
 * applied. Throwing would tell the engine that nothing was written: the written records' digests
 * would go on describing the CRM's previous values, and a record changed back to one of them would
 * be "not modified" while its object holds the value in between (found by the convergence bench).
 * So the written items keep their results — except those whose associations were still to be sent,
 * which fail with the error and their object's id (the engine keeps the id and forgets the digest) —
 * and the others fail with the error. Undefined when nothing was written, or the error is not
 * transient: the caller rethrows (a batch refused as a whole is retried one by one by the engine).
 */
export function keepWrittenItems(
  results: readonly (BatchItemResult | undefined)[], items: readonly { associations?: readonly unknown[] }[], error: unknown,
): BatchItemResult[] | undefined {
  if (!isRetryable(error) || !results.some(result => result?.ok)) return undefined;
  return items.map((item, index) => {
    const result = results[index];
    if (!result) return { ok: false, error };
    return result.ok && item.associations?.length ? { ok: false, error, crmId: result.crmId } : result;
  });
}
