import type { EntityManager } from '@mikro-orm/core';
import { enqueueRequests, type SyncRequest } from '../queue/requests.ts';
import { forEachPage } from './cursor.ts';
import { quote, tableName, type Sql } from './finder.ts';
import type { StaleUnit } from './units.ts';

/**
 * The sync rows of one table × CRM whose record no longer exists: removed outside the unit of work
 * (`em.nativeDelete`, a query builder's delete, raw SQL, a database cascade nobody told Etlify about).
 * One anti-join over the table, so it runs with the full scans, not with every incremental sweep.
 */
function vanishedQuery(em: EntityManager, unit: StaleUnit): Sql {
  const pk = unit.meta.root.getPrimaryProps()[0]!.fieldNames[0]!;
  return {
    sql: `select s.resource_id as id, s.crm_id, s.object_type from crm_synchronisations s
           where s.resource_type = ? and s.crm_name = ?
             and not exists (select 1 from ${tableName(em, unit.meta.root)} t where t.${quote(em, pk)}::text = s.resource_id)`,
    params: [unit.meta.root.className, unit.crm.name],
  };
}

/**
 * Queues what an `em.remove` would have for every record of the unit's table that has a sync row but
 * no longer exists: its delete (CRMs with `deleteOnRemove`, with the CRM id the row holds), or its
 * sync row's removal. Returns how many were queued.
 */
export async function queueVanished(em: EntityManager, unit: StaleUnit, pageSize: number): Promise<number> {
  let queued = 0;
  const kind = unit.crm.deleteOnRemove ? 'delete' : 'forget';
  await forEachPage<{ id: string; crm_id: string | null; object_type: string | null }>(em, vanishedQuery(em, unit), pageSize, async rows => {
    const requests: SyncRequest[] = rows.map(row => ({ kind, crm: unit.crm.name, entity: unit.meta.root.className, id: row.id, crmId: row.crm_id, objectType: row.object_type }));
    await enqueueRequests(em, { requests, crms: [unit.crm] });
    queued += rows.length;
  });
  return queued;
}
