import type { EntityManager } from '@mikro-orm/core';
import { isRetryable } from '../errors.ts';
import type { Etlify } from '../etlify.ts';
import { declarationsOf } from '../entity/declarations.ts';
import type { AdapterCallContext, CrmAdapter, DeleteResult } from '../interfaces.ts';
import { forgetCrmObjects, loadCrmObjects } from '../state/sync-state.ts';
import { writeTombstones } from '../state/tombstones.ts';
import { primaryFork } from '../state/primary.ts';
import type { RegisteredCrm } from '../crms/registry.ts';
import { ClaimDeadline } from './claim-deadline.ts';
import { releaseMergedAway } from './merges.ts';
import { clampedRetryWait } from './retry-wait.ts';

export interface DeleteItem {
  /** Root entity name (sync-state `resource_type`) and class name of the record. */
  type: string;
  entity: string;
  id: string;
  /** The CRM object known when the delete was asked for; the sync state's, if it has one, wins. */
  crmId: string | null;
  objectType: string | null;
}

export interface DeleteOutcome {
  id: string;
  result: DeleteResult | 'retry' | 'error';
  error?: unknown;
  retryAfterMs?: number;
}

export interface DeleteOptions {
  context?: AdapterCallContext;
  /** Delete the CRM objects (`false`: a removed record whose CRM keeps its object; only its sync row goes). Default true. */
  remote?: boolean;
}

/**
 * Deletes the CRM objects of records of one entity (batch when the adapter can), then forgets them in
 * the sync state. The CRM id is read now, from the sync state: a sync that finished after the record
 * was removed has stored the id of the object it created, and that object goes too. A 404 counts as
 * done (`noop`: it was already gone).
 */
export async function deleteFromCrm(etlify: Etlify, em: EntityManager, crmName: string, items: DeleteItem[], options: DeleteOptions = {}): Promise<DeleteOutcome[]> {
  const crm = etlify.crms.get(crmName);
  if (!crm.enabled || !items.length) return items.map(i => ({ id: i.id, result: 'disabled' }));
  const deadline = new ClaimDeadline(etlify.claimTimeoutMs);
  try {
    return await deleteWithin(etlify, em, crm, items, options, deadline);
  } finally {
    deadline.dispose();
  }
}

async function deleteWithin(etlify: Etlify, em: EntityManager, crm: RegisteredCrm, items: DeleteItem[], options: DeleteOptions, deadline: ClaimDeadline): Promise<DeleteOutcome[]> {
  const crmName = crm.name;
  const { type, entity } = items[0]!;
  const context = deadline.context(options.context);
  const known = await loadCrmObjects(em, type, crmName, items.map(i => i.id));
  const outcomes = new Map<DeleteItem, DeleteOutcome>();
  const failure = failureOf(etlify, crmName);
  const targets = items.map(i => ({ ...i, crmId: known.get(i.id)?.crmId ?? i.crmId, objectType: known.get(i.id)?.objectType ?? i.objectType }));
  if (options.remote !== false) await findUnknownObjects(crm.adapter, entity, crmName, em, targets, known, context, (item, error) => outcomes.set(item, failure(item, error)));
  const deletable = targets.filter(i => {
    if (outcomes.has(i)) return false;
    if (options.remote !== false && i.crmId && i.objectType) return true;
    outcomes.set(i, { id: i.id, result: 'noop' });
    return false;
  });
  const settle = (item: DeleteItem, ok: boolean | undefined, error?: unknown) => {
    outcomes.set(item, error === undefined ? { id: item.id, result: ok ? 'deleted' : 'noop' } : failure(item, error));
  };
  const started = performance.now();
  for (const group of Map.groupBy(deletable, i => i.objectType!).values()) {
    if (deadline.expired) { for (const item of group) settle(item, undefined, deadline.notSent()); continue; }
    if (crm.adapter.batchDelete && group.length > 1) {
      try {
        const results = await deadline.call(crm.adapter.batchDelete({ objectType: group[0]!.objectType!, crmIds: group.map(i => i.crmId!) }, context), crmName);
        group.forEach((item, i) => { const r = results[i]; if (r?.ok) settle(item, true); else settle(item, undefined, r?.error ?? new Error('batchDelete returned no result')); });
      } catch (error) {
        for (const item of group) settle(item, undefined, error);
      }
    } else {
      for (const item of group) {
        try { settle(item, await deadline.call(crm.adapter.delete({ objectType: item.objectType!, crmId: item.crmId! }, context), crmName)); } catch (error) { settle(item, undefined, error); }
      }
    }
  }

  const done = targets.filter(i => ['deleted', 'noop'].includes(outcomes.get(i)!.result)).map(i => i.id);
  if (done.length) {
    const meta = em.getMetadata().getByClassName(entity);
    const pk = meta.primaryKeys[0]!;
    const live = new Set((await primaryFork(em, { clear: true, useContext: false }).find(meta.class, { [pk]: { $in: done } } as never, { fields: [pk] as never[] }))
      .map(r => String((r as Record<string, unknown>)[pk])));
    await forgetCrmObjects(em, type, crmName, done.filter(id => live.has(id)), done.filter(id => !live.has(id)));
    // the removed records' objects are remembered a while, so `reconcile` can tell one that survived
    const gone = deletable.filter(i => !live.has(i.id) && done.includes(i.id));
    await writeTombstones(em, crmName, gone.map(i => ({ resourceType: type, resourceId: i.id, crmId: i.crmId!, objectType: i.objectType! })), etlify.tombstoneTtlMs);
    // a record merged away in favour of a removed one is in nobody's way any more
    await releaseMergedAway(em, crm, targets.filter(i => i.crmId && done.includes(i.id) && !live.has(i.id)).map(i => i.crmId!));
  }
  for (const item of targets) {
    const outcome = outcomes.get(item)!;
    const event = { crm: crmName, entity: item.entity, id: item.id, crmId: item.crmId, durationMs: performance.now() - started };
    if (outcome.result === 'deleted' || outcome.result === 'noop') {
      if (deletable.includes(item)) etlify.events.emit('deleted', { ...event, result: outcome.result });
    } else {
      const error = etlify.describeError(outcome.error);
      if (outcome.result === 'retry') etlify.events.emit('retried', { ...event, error, retryInMs: outcome.retryAfterMs });
      else {
        etlify.events.emit('failed', { ...event, error });
        etlify.logger.warn(`delete of ${item.entity} ${item.id} from ${crmName} failed`, { ...event, error });
      }
    }
  }
  return targets.map(i => outcomes.get(i)!);
}

function failureOf(etlify: Etlify, crmName: string) {
  return (item: DeleteItem, error: unknown): DeleteOutcome => isRetryable(error)
    ? { id: item.id, result: 'retry', error, retryAfterMs: clampedRetryWait(etlify, crmName, item, error.retryAfterMs) }
    : { id: item.id, result: 'error', error };
}

/**
 * A record whose create had an unknown outcome (`last_outcome = 'uncertain'`) may have an object in
 * the CRM that Etlify never learnt the id of. Its sync row still holds the identities it may have
 * been sent with (`id_key`, and `next_id_key` when it was moving to another): look the object up by
 * them.
 */
async function findUnknownObjects(
  adapter: CrmAdapter, entity: string, crmName: string, em: EntityManager, targets: DeleteItem[],
  known: Map<string, { idKeys: string[]; uncertain: boolean }>, context: AdapterCallContext | undefined, fail: (item: DeleteItem, error: unknown) => void,
): Promise<void> {
  const config = declarationsOf(em.getMetadata().getByClassName(entity).class).get(crmName);
  if (!adapter.findId || !config?.idProperty) return;
  for (const item of targets) {
    // only a write that may have landed can have left an object behind (a transient failure did not)
    const { idKeys = [], uncertain } = known.get(item.id) ?? {};
    if (item.crmId || !uncertain) continue;
    try {
      for (const value of idKeys) {
        item.crmId = (await adapter.findId({ objectType: item.objectType ?? config.objectType, idProperty: config.idProperty, value }, context)) ?? null;
        if (item.crmId) break;
      }
      item.objectType ??= config.objectType;
    } catch (error) {
      fail(item, error);
    }
  }
}
