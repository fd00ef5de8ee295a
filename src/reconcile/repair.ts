import type { EntityManager } from '@mikro-orm/core';
import type { RegisteredCrm } from '../crms/registry.ts';
import { enqueueRequests, type SyncRequest } from '../queue/requests.ts';
import { query } from '../state/sql.ts';

/** A record whose CRM object must be written again. */
export interface SyncRepair {
  id: string;
  /** Missing: forget the stored id (the sync finds the object by `idProperty` or creates it). */
  forgetCrmId?: boolean;
  /** Merged: the id the CRM answers with now, stored instead of the old one. */
  relinkTo?: string;
}

/** A removed record's object still in the CRM. */
export interface DeleteRepair {
  id: string;
  crmId: string;
  objectType: string;
}

/**
 * Queues the repairs of one page through the normal queue: nothing is written to the CRM here. A sync
 * of a record whose digest still matches would be skipped as unchanged, so the digest is forgotten
 * first (as after an unknown outcome); merged records get the id the CRM answers with (unless another
 * record holds it already), missing ones lose their stored id. Removed records' objects get a delete.
 */
export async function queueRepairs(em: EntityManager, crm: RegisteredCrm, resourceType: string, entity: string, syncs: SyncRepair[], deletes: DeleteRepair[]): Promise<void> {
  if (syncs.length) {
    // two records whose objects were merged into one: the first is relinked, the other meets the merge
    // when it syncs (see src/sync/merges.ts); relinking both would break crm_id's uniqueness
    const relinked = new Set<string>();
    const repairs = syncs.map(s => {
      if (s.relinkTo === undefined) return s;
      if (relinked.has(s.relinkTo)) return { id: s.id };
      relinked.add(s.relinkTo);
      return s;
    });
    await query(em,
      `update crm_synchronisations s
          set crm_id = case when r."forgetCrmId" then null
                            -- held by another record already: the record keeps its old id and meets the
                            -- merge when it syncs (merged away); its digest goes all the same, or that
                            -- sync would be "not modified" and the merge never met
                            when r."relinkTo" is not null and not exists (
                              select 1 from crm_synchronisations o where o.crm_name = s.crm_name and o.crm_id = r."relinkTo") then r."relinkTo"
                            else s.crm_id end,
              last_digest = null, payload_version = null, updated_at = now()
         from json_to_recordset(?::json) as r(id text, "forgetCrmId" boolean, "relinkTo" text)
        where s.resource_type = ? and s.crm_name = ? and s.resource_id = r.id`,
      [JSON.stringify(repairs), resourceType, crm.name]);
  }
  const requests: SyncRequest[] = [
    ...syncs.map(({ id }): SyncRequest => ({ kind: 'sync', crm: crm.name, entity, id })),
    ...deletes.map(({ id, crmId, objectType }): SyncRequest => ({ kind: 'delete', crm: crm.name, entity, id, crmId, objectType })),
  ];
  await enqueueRequests(em, { requests, crms: [crm] });
}
