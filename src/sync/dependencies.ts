import { helper, Utils, type EntityManager } from '@mikro-orm/core';
import type { RegisteredCrm } from '../crms/registry.ts';
import type { Etlify } from '../etlify.ts';
import type { EntityCrmConfig } from '../interfaces.ts';
import { enqueueRequests, type SyncRequest } from '../queue/requests.ts';
import { query } from '../state/sql.ts';
import { membersOf } from './associations.ts';

interface Waiting {
  id: string;
  record: object;
  config: EntityCrmConfig;
}

interface Edge {
  dependent: Waiting;
  type: string;
  entity: string;
  id: string;
  /**
   * A member of a collection association: waited for without holding the record back. The record is
   * sent with the members that have a CRM id, and each other member's first sync queues it again.
   */
  soft: boolean;
}

/** The outcome of checking a chunk's sync dependencies. */
export interface DependencyCheck {
  /** Records buffered until a dependency has a CRM id. */
  buffered: Set<string>;
  /** CRM ids of the dependencies that have one, by `RootEntity:id` (for `crmIdOf` in serializers). */
  crmIds: Map<string, string>;
}

/**
 * Sync dependencies: a record whose `syncDependencies` have no CRM id yet is buffered (a row in
 * `etlify_pending_syncs`) and its dependencies are queued; when a dependency syncs, its waiting
 * dependents are queued again (`releaseDependents`). A dependency that is itself waiting — directly or
 * through a chain of any length — on the record is not waited for, which breaks cycles. A collection
 * member without a CRM id never holds its record back (a large collection would otherwise wait on its
 * slowest member, or forever on a parked one): the buffer row only queues the record again once the
 * member has its id.
 * Also returns the CRM ids of the dependencies that have one, so serializers can embed them.
 */
export async function bufferMissingDependencies(etlify: Etlify, em: EntityManager, crm: RegisteredCrm, candidates: Waiting[]): Promise<DependencyCheck> {
  const { edges: unresolved, crmIds } = dependencyEdges(crm.name, candidates);
  if (!unresolved.length) return { buffered: new Set(), crmIds };

  const dependentType = (record: object) => helper(record).__meta.root.className;
  const [{ missing, found, parked }] = await query<{ missing: number[] | null; found: Record<string, string> | null; parked: number[] | null }>(em,
    `with e as (
       select ord::int, v->>'type' as type, v->>'id' as id, v->>'dependent_type' as dependent_type, v->>'dependent_id' as dependent_id, (v->>'soft')::boolean as soft
         from json_array_elements(?::json) with ordinality as e(v, ord)
     ), waits as (
       -- everything each dependency is (transitively) waiting for
       with recursive chain(start_ord, type, id, depth) as (
         select ord, type, id, 0 from e
         union
         select c.start_ord, p.dependency_type, p.dependency_id, c.depth + 1
           from chain c join etlify_pending_syncs p
             on p.dependent_type = c.type and p.dependent_id = c.id and p.crm_name = ? and p.expires_at > now()
          where c.depth < 50
       ) select * from chain
     )
     select (select array_agg(e.ord) from e
              where not exists (select 1 from crm_synchronisations s
                                 where s.resource_type = e.type and s.resource_id = e.id and s.crm_name = ? and s.crm_id is not null)
                and (e.soft or not exists (select 1 from waits w where w.start_ord = e.ord and w.depth > 0
                                 and w.type = e.dependent_type and w.id = e.dependent_id))) as missing,
            (select json_object_agg(s.resource_type || ':' || s.resource_id, s.crm_id)
               from crm_synchronisations s join (select distinct type, id from e) d on s.resource_type = d.type and s.resource_id = d.id
              where s.crm_name = ? and s.crm_id is not null) as found,
            (select array_agg(e.ord) from e join crm_synchronisations s
                 on s.resource_type = e.type and s.resource_id = e.id and s.crm_name = ? and s.error_count >= ?) as parked`,
    [JSON.stringify(unresolved.map(e => ({ type: e.type, id: e.id, dependent_type: dependentType(e.dependent.record), dependent_id: e.dependent.id, soft: e.soft }))), crm.name, crm.name, crm.name, crm.name, crm.maxSyncErrors]);
  for (const [key, crmId] of Object.entries(found ?? {})) crmIds.set(key, crmId);
  const missingEdges = (missing ?? []).map(ord => unresolved[ord - 1]!);
  if (!missingEdges.length) return { buffered: new Set(), crmIds };

  await query(em,
    `insert into etlify_pending_syncs (dependent_type, dependent_id, dependency_type, dependency_id, crm_name, expires_at)
     select dependent_type, dependent_id, type, id, ?, now() + make_interval(secs => ? / 1000.0)
       from json_to_recordset(?::json) as r(dependent_type text, dependent_id text, type text, id text)
     on conflict (dependent_type, dependent_id, dependency_type, dependency_id, crm_name)
     do update set expires_at = excluded.expires_at`,
    [crm.name, etlify.pendingSyncTtlMs, JSON.stringify(missingEdges.map(e => ({ dependent_type: dependentType(e.dependent.record), dependent_id: e.dependent.id, type: e.type, id: e.id })))]);
  // a parked dependency waits until it changes or is reset, whatever waits for it: queued again, it
  // would be sent (and refused) again at each sync of its dependents
  const stays = new Set((parked ?? []).map(ord => unresolved[ord - 1]!));
  const requests: SyncRequest[] = missingEdges.filter(e => !stays.has(e)).map(e => ({ kind: 'sync', crm: crm.name, entity: e.entity, id: e.id }));
  await enqueueRequests(em, { requests, crms: [crm] });
  return { buffered: new Set(missingEdges.filter(e => !e.soft).map(e => e.dependent.id)), crmIds };
}

/**
 * The CRM ids the chunk's sync dependencies have now, read only (nothing buffered or queued): what
 * `etlify plan` hands to serializers and associations, so its digests match the engine's.
 */
export async function dependencyCrmIds(em: EntityManager, crmName: string, candidates: Waiting[]): Promise<Map<string, string>> {
  const { edges, crmIds } = dependencyEdges(crmName, candidates);
  if (!edges.length) return crmIds;
  const found = await query<{ key: string; crm_id: string }>(em,
    `select s.resource_type || ':' || s.resource_id as key, s.crm_id from crm_synchronisations s
       join json_to_recordset(?::json) as d(type text, id text) on s.resource_type = d.type and s.resource_id = d.id
      where s.crm_name = ? and s.crm_id is not null`,
    [JSON.stringify(edges.map(e => ({ type: e.type, id: e.id }))), crmName]);
  for (const row of found) crmIds.set(row.key, row.crm_id);
  return crmIds;
}

/** The chunk's sync-dependency edges still to look up, and the CRM ids already known from a legacy `<crm>Id` property. */
function dependencyEdges(crmName: string, candidates: Waiting[]): { edges: Edge[]; crmIds: Map<string, string> } {
  const edges: Edge[] = [];
  const crmIds = new Map<string, string>();
  for (const c of candidates) {
    for (const name of c.config.syncDependencies ?? []) {
      const soft = Utils.isCollection((c.record as Record<string, unknown>)[name]);
      for (const dependency of membersOf(c.record, name)) {
        const wrapped = helper(dependency);
        const type = wrapped.__meta.root.className;
        const id = String(wrapped.getSerializedPrimaryKey());
        const legacy = (dependency as Record<string, unknown>)[`${crmName}Id`];
        if (legacy != null && String(legacy).trim() !== '') crmIds.set(`${type}:${id}`, String(legacy).trim());
        else edges.push({ dependent: c, type, entity: wrapped.__meta.className, id, soft });
      }
    }
  }
  return { edges, crmIds };
}

/**
 * After records obtained their CRM id: queue the records that were waiting for them and drop the
 * buffer rows. Returns how many dependents were queued.
 */
export async function releaseDependents(em: EntityManager, crm: RegisteredCrm, type: string, ids: string[]): Promise<number> {
  if (!ids.length) return 0;
  const released = await query<{ entity: string; id: string }>(em,
    `delete from etlify_pending_syncs where dependency_type = ? and dependency_id = any(?::text[]) and crm_name = ?
     returning dependent_type as entity, dependent_id as id`,
    [type, ids, crm.name]);
  await enqueueRequests(em, { requests: released.map(r => ({ kind: 'sync', crm: crm.name, entity: r.entity, id: r.id })), crms: [crm] });
  return released.length;
}

/**
 * Records whose CRM object changed identity (re-created after it was deleted in the CRM, merged):
 * the records linking to them (associations) or embedding their CRM id hold the old object, which
 * the CRM dropped with its links. Their dependents are found and queued (`dependents` requests).
 */
export async function queueDependentsOfMoved(em: EntityManager, crm: RegisteredCrm, moved: Array<{ entity: string; id: string }>): Promise<void> {
  if (!moved.length) return;
  await enqueueRequests(em, { requests: moved.map(({ entity, id }) => ({ kind: 'dependents', crm: crm.name, entity, id })), crms: [crm] });
}

/** Deletes expired buffer rows and queues their dependents, which then sync or buffer afresh. */
export async function expirePendingSyncs(em: EntityManager, crms: RegisteredCrm[]): Promise<number> {
  const expired = await query<{ crm: string; entity: string; id: string }>(em,
    `delete from etlify_pending_syncs where expires_at <= now() returning crm_name as crm, dependent_type as entity, dependent_id as id`);
  const known = new Map(crms.map(c => [c.name, c]));
  const requests = expired.filter(r => known.get(r.crm)?.enabled).map(r => ({ kind: 'sync' as const, crm: r.crm, entity: r.entity, id: r.id }));
  await enqueueRequests(em, { requests, crms });
  return expired.length;
}
