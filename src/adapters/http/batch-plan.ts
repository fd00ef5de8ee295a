import type { BatchUpsertItem, CrmPayload } from '../../interfaces.ts';
import { ownValue } from './json-values.ts';
import { storedId } from './upsert-flow.ts';

export interface PlannedItem {
  /** Position in the caller's `items`: the only key results are mapped back with. */
  index: number;
  payload: CrmPayload;
}

export interface BatchPlan {
  /** Items with a stored CRM id: written by id, so a changed unique value cannot create a twin. */
  byId: Array<PlannedItem & { crmId: string }>;
  /** Items matched on the unique property, with the normalised value sent to the CRM. */
  byValue: Array<PlannedItem & { key: string }>;
  /**
   * Items a batch cannot carry: no stored id and no unique value (the CRM would have nothing to
   * merge on), or a unique value already used earlier in the same batch (CRMs reject such batches
   * whole). They go through the single-record upsert.
   */
  single: number[];
  /** Items whose unique value cannot be sent at all. */
  failed: Array<{ index: number; error: Error }>;
}

/**
 * Sorts batch items by how they can be written. `uniqueKey` normalises a unique-property value the
 * way the CRM compares it, returns undefined for "no value", and throws for values it cannot send.
 */
export function planBatch(
  items: readonly BatchUpsertItem[],
  idProperty: string | null | undefined,
  uniqueKey: (idProperty: string, value: unknown) => string | undefined,
): BatchPlan {
  const plan: BatchPlan = { byId: [], byValue: [], single: [], failed: [] };
  const seen = new Set<string>();
  items.forEach((item, index) => {
    const crmId = storedId(item.crmId);
    if (crmId) {
      plan.byId.push({ index, payload: item.payload, crmId });
      return;
    }
    let key: string | undefined;
    try {
      key = idProperty ? uniqueKey(idProperty, ownValue(item.payload, idProperty)) : undefined;
    } catch (error) {
      plan.failed.push({ index, error: error as Error });
      return;
    }
    if (key === undefined || seen.has(key)) {
      plan.single.push(index);
      return;
    }
    seen.add(key);
    plan.byValue.push({ index, payload: item.payload, key });
  });
  return plan;
}
