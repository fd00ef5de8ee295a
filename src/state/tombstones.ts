import type { EntityManager } from '@mikro-orm/core';
import { query } from './sql.ts';

/** How long the CRM ids of removed records are kept for `reconcile` by default: 30 days. */
export const DEFAULT_TOMBSTONE_TTL_MS = 30 * 24 * 3600_000;

export interface Tombstone {
  resourceType: string;
  resourceId: string;
  crmId: string;
  objectType: string;
}

/**
 * Remembers the CRM objects of removed records whose delete was sent, and drops tombstones older
 * than `ttlMs` in the same statement, so the table stays bounded by the removals of that period.
 * `reconcile` reads them back: an object still live is an orphan (a delete lost on the way).
 */
export async function writeTombstones(em: EntityManager, crmName: string, tombstones: Tombstone[], ttlMs: number): Promise<void> {
  if (!tombstones.length) return;
  await query(em,
    `with expired as (delete from etlify_tombstones where removed_at < now() - make_interval(secs => ? / 1000.0))
     insert into etlify_tombstones (crm_name, crm_id, object_type, resource_type, resource_id)
     select ?, t."crmId", t."objectType", t."resourceType", t."resourceId"
       from json_to_recordset(?::json) as t("crmId" text, "objectType" text, "resourceType" text, "resourceId" text)
     on conflict (crm_name, crm_id) do update set removed_at = now(), object_type = excluded.object_type,
       resource_type = excluded.resource_type, resource_id = excluded.resource_id`,
    [ttlMs, crmName, JSON.stringify(tombstones)]);
}

/** The tombstones of one CRM × entity younger than `ttlMs`. */
export async function loadTombstones(em: EntityManager, crmName: string, resourceType: string, ttlMs: number): Promise<Tombstone[]> {
  return query<Tombstone>(em,
    `select resource_type as "resourceType", resource_id as "resourceId", crm_id as "crmId", object_type as "objectType"
       from etlify_tombstones where crm_name = ? and resource_type = ? and removed_at >= now() - make_interval(secs => ? / 1000.0)
      order by crm_id`,
    [crmName, resourceType, ttlMs]);
}
