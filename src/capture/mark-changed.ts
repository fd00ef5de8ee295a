import { helper, type EntityManager, type EntityName } from '@mikro-orm/core';
import type { CrmRegistry } from '../crms/registry.ts';
import { declarationsOf } from '../entity/declarations.ts';
import { dependentsIndex } from '../entity/dependency-index.ts';
import { EtlifyError } from '../errors.ts';
import { enqueueRequests, RequestBatch, type RemovedRecord } from '../queue/requests.ts';
import { primaryFork } from '../state/primary.ts';
import { query } from '../state/sql.ts';

export interface MarkChangedResult {
  /** Records found, queued for sync (and their dependents for the fan-out). */
  changed: number;
  /** Records no longer in the database, queued for delete (`deleteOnRemove`) or to be forgotten. */
  removed: number;
}

/**
 * Records changed outside the unit of work (`em.nativeUpdate`, `nativeDelete`, query-builder writes,
 * raw SQL): the ids that still exist are queued for sync, and so is the fan-out to the records that
 * depend on them; the ids that no longer exist are queued for delete (with the CRM id their sync row
 * holds) or forgotten, like an `em.remove`. Runs on `em`'s transaction when it has one, so the
 * requests commit (or roll back) with the writes.
 */
export async function markChanged(crms: CrmRegistry, em: EntityManager, entityName: EntityName<object> | string, ids: readonly (string | number)[]): Promise<MarkChangedResult> {
  const meta = typeof entityName === 'string' ? em.getMetadata().getByClassName(entityName, false) : em.getMetadata().find(entityName);
  if (!meta || !declarationsOf(meta.class).size && !dependentsIndex(em.getMetadata()).has(meta.root.className)) {
    throw new EtlifyError(`markChanged: ${typeof entityName === 'string' ? entityName : (entityName as Function).name} is not an etlified entity, nor one an etlified entity depends on`);
  }
  if (!Array.isArray(ids)) throw new EtlifyError('markChanged: `ids` must be an array of primary keys');
  if (!ids.length) return { changed: 0, removed: 0 };
  const pk = meta.primaryKeys[0]!;
  const fork = primaryFork(em, { clear: true, useContext: false, keepTransactionContext: true });
  const found = await fork.find(meta.class, { [pk]: { $in: ids } } as never, { fields: [pk] as never[], filters: false, disableIdentityMap: true });
  const existing = new Map(found.map(record => [String(helper(record).getSerializedPrimaryKey()), helper(record).__meta]));
  const missing = [...new Set(ids.map(String))].filter(id => !existing.has(id));
  const enabled = (crm: string) => crms.has(crm) && crms.get(crm).enabled;

  const requests = new RequestBatch();
  for (const [id, recordMeta] of existing) {
    for (const crm of declarationsOf(recordMeta.class).keys()) if (enabled(crm)) requests.add('sync', crm, recordMeta.className, id);
    for (const dependent of dependentsIndex(em.getMetadata()).get(meta.root.className) ?? []) {
      if (enabled(dependent.crm)) requests.add('dependents', dependent.crm, recordMeta.className, id);
    }
  }
  const removed: RemovedRecord[] = missing.map(id => ({ type: meta.root.className, entity: meta.className, id }));
  if (missing.length && declarationsOf(meta.class).size) {
    const rows = await query<{ crm_name: string; resource_id: string; crm_id: string | null; object_type: string | null }>(fork,
      'select crm_name, resource_id, crm_id, object_type from crm_synchronisations where resource_type = ? and resource_id = any(?::text[])',
      [meta.root.className, missing]);
    const stored = new Map(rows.map(row => [`${row.crm_name}:${row.resource_id}`, row]));
    for (const crm of declarationsOf(meta.class).keys()) {
      if (!enabled(crm)) continue;
      for (const id of missing) {
        const row = stored.get(`${crm}:${id}`);
        if (crms.get(crm).deleteOnRemove) requests.add('delete', crm, meta.className, id, row?.crm_id, row?.object_type);
        else requests.add('forget', crm, meta.className, id);
      }
    }
  }
  await enqueueRequests(fork, { requests, removed: declarationsOf(meta.class).size ? removed : [], crms: crms.all() }, em.getTransactionContext());
  return { changed: existing.size, removed: declarationsOf(meta.class).size ? missing.length : 0 };
}
