import type { EntityManager } from '@mikro-orm/core';
import { describeError, isRetryable } from '../errors.ts';
import type { Etlify } from '../etlify.ts';
import type { AdapterCallContext, DeleteResult } from '../interfaces.ts';
import { forgetCrmObject } from '../state/sync-state.ts';

export interface DeleteItem {
  /** Root entity name (sync-state `resource_type`) and class name of the record. */
  type: string;
  entity: string;
  id: string;
  crmId: string | null;
  objectType: string | null;
}

export interface DeleteOutcome {
  id: string;
  result: DeleteResult | 'retry' | 'error';
  error?: unknown;
  retryAfterMs?: number;
}

/**
 * Deletes CRM objects (batch when the adapter can), then forgets the stored CRM id and digest so a
 * later sync recreates the object cleanly. A 404 counts as done (`noop`: it was already gone).
 */
export async function deleteFromCrm(etlify: Etlify, em: EntityManager, crmName: string, items: DeleteItem[], context?: AdapterCallContext): Promise<DeleteOutcome[]> {
  const crm = etlify.crms.get(crmName);
  if (!crm.enabled) return items.map(i => ({ id: i.id, result: 'disabled' }));
  const outcomes = new Map<DeleteItem, DeleteOutcome>();
  const deletable = items.filter(i => {
    if (i.crmId && i.objectType) return true;
    outcomes.set(i, { id: i.id, result: 'noop' });
    return false;
  });
  const settle = (item: DeleteItem, ok: boolean | undefined, error?: unknown) => {
    if (error === undefined) outcomes.set(item, { id: item.id, result: ok ? 'deleted' : 'noop' });
    else if (isRetryable(error)) outcomes.set(item, { id: item.id, result: 'retry', error, retryAfterMs: error.retryAfterMs });
    else outcomes.set(item, { id: item.id, result: 'error', error });
  };
  for (const group of Map.groupBy(deletable, i => i.objectType!).values()) {
    const started = performance.now();
    if (crm.adapter.batchDelete && group.length > 1) {
      try {
        const results = await crm.adapter.batchDelete({ objectType: group[0]!.objectType!, crmIds: group.map(i => i.crmId!) }, context);
        group.forEach((item, i) => { const r = results[i]; if (r?.ok) settle(item, true); else settle(item, undefined, r?.error ?? new Error('batchDelete returned no result')); });
      } catch (error) {
        for (const item of group) settle(item, undefined, error);
      }
    } else {
      for (const item of group) {
        try { settle(item, await crm.adapter.delete({ objectType: item.objectType!, crmId: item.crmId! }, context)); } catch (error) { settle(item, undefined, error); }
      }
    }
    for (const item of group) {
      const outcome = outcomes.get(item)!;
      const event = { crm: crmName, entity: item.entity, id: item.id, crmId: item.crmId, durationMs: performance.now() - started };
      if (outcome.result === 'deleted' || outcome.result === 'noop') {
        await forgetCrmObject(em, item.type, crmName, item.id);
        etlify.events.emit('deleted', { ...event, result: outcome.result });
      } else {
        const error = etlify.redact(describeError(outcome.error));
        if (outcome.result === 'retry') etlify.events.emit('retried', { ...event, error, retryInMs: outcome.retryAfterMs });
        else {
          etlify.events.emit('failed', { ...event, error });
          etlify.logger.warn(`delete of ${item.entity} ${item.id} from ${crmName} failed`, { ...event, error });
        }
      }
    }
  }
  return items.map(i => outcomes.get(i)!);
}
