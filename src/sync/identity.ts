import type { EntityManager } from '@mikro-orm/core';
import type { RegisteredCrm } from '../crms/registry.ts';
import { ownValue } from '../adapters/http/json-values.ts';
import { TransientCrmError, ValidationError } from '../errors.ts';
import type { AdapterCallContext, CrmAdapter, CrmPayload, EntityCrmConfig } from '../interfaces.ts';
import type { SyncStateRow } from '../state/sync-state.ts';
import { query } from '../state/sql.ts';

/** The identity under which the CRM files a value of `idProperty` (`adapter.identityOf`; default: the value as a string). */
export function identityKey(adapter: CrmAdapter, objectType: string, idProperty: string, value: unknown): string | undefined {
  return adapter.identityOf ? adapter.identityOf(objectType, idProperty, value) : (value == null || value === '' ? undefined : String(value));
}

/** The identity of a payload's `idProperty` value, or undefined (no idProperty, no value). */
function payloadIdentity(crm: RegisteredCrm, config: EntityCrmConfig, payload: CrmPayload): string | undefined {
  return config.idProperty ? identityKey(crm.adapter, config.objectType, config.idProperty, ownValue(payload, config.idProperty)) : undefined;
}

/**
 * A create whose outcome was unknown may have left an object filed under the identity it was sent
 * with, which the record's sync row still holds (`id_key`, or `next_id_key`). When the record is about to be sent
 * under another identity, that object is looked up first (`adapter.findId`): found, it is the
 * record's object (sent to by id, its id kept even if the send fails); not found, the lost create
 * never landed (the retry waited `unknownOutcomeWaitMs` for it). Without this, the send would create
 * a second object and orphan the first, even after the record's removal. Returns the object found
 * per record, or the lookup's error.
 */
export async function resolveUncertainCreates(
  crm: RegisteredCrm, items: { id: string; config: EntityCrmConfig; payload: CrmPayload; row?: SyncStateRow }[], context?: AdapterCallContext,
): Promise<Map<string, string | Error>> {
  const resolved = new Map<string, string | Error>();
  const { adapter } = crm;
  if (!adapter.findId) return resolved;
  for (const { id, config, payload, row } of items) {
    if (!row || row.crmId || row.lastOutcome !== 'uncertain' || !config.idProperty) continue;
    const key = payloadIdentity(crm, config, payload);
    // the identities it may have been sent with; the send finds the object by the current one itself
    for (const value of [row.idKey, row.nextIdKey].filter(k => k && k !== key) as string[]) {
      try {
        const found = await adapter.findId({ objectType: config.objectType, idProperty: config.idProperty, value }, context);
        if (found) { resolved.set(id, found); break; }
      } catch (error) {
        resolved.set(id, error instanceof Error ? error : new Error(String(error)));
        break;
      }
    }
  }
  return resolved;
}

interface Keyed {
  id: string;
  objectType: string;
  key: string;
}

/**
 * One CRM object, one record. Before anything is sent, each record with an `idProperty` reserves the
 * identity the CRM files that value under (`adapter.identityOf`: HubSpot trims and lower-cases
 * emails) in its sync row. A record holds the identity the CRM accepted (`id_key`) until the CRM
 * accepts a new one, which it reserves meanwhile as `next_id_key` (the engine's outcome write
 * promotes it, or releases it when the CRM refused): a refused change never frees the old identity
 * for another record, whose writes would then go to this record's object. Reservations of one
 * identity are serialized by an advisory lock on it, and checked against both columns of every
 * other record. A record whose identity another record holds is refused with an error naming both,
 * and the other record's object is never touched — with two exceptions. A hand-over within the
 * chunk: when the holder is in the same chunk and moving to another identity, the record is
 * `deferred`, to be reserved again (`handOver: false`) once the holder's send has been written. A
 * holder whose removal is queued (its delete or forget releases the identity, possibly after a
 * retry): the record gets a transient error, retried uncounted until the removal has run. `held`:
 * the identity each record holds already.
 */
export async function reserveIdentities(
  em: EntityManager, crm: RegisteredCrm, resourceType: string, items: { id: string; config: EntityCrmConfig; payload: CrmPayload }[],
  held: Map<string, string | null>, handOver = true,
): Promise<{ refused: Map<string, ValidationError | TransientCrmError>; deferred: Set<string> }> {
  const refused = new Map<string, ValidationError | TransientCrmError>();
  const deferred = new Set<string>();
  const keyed: Keyed[] = [];
  for (const { id, config, payload } of items) {
    const key = payloadIdentity(crm, config, payload);
    if (key !== undefined) keyed.push({ id, objectType: config.objectType, key });
  }
  if (!keyed.length) return { refused, deferred };
  const refuse = (item: Keyed, holder: string) => refused.set(item.id, new ValidationError(
    `${resourceType} ${item.id} and ${holder} have the same ${crm.name} identity (${item.objectType} ${JSON.stringify(item.key)}): the CRM would write both to one object. ${holder} keeps it; change one of the two values`));

  // within the chunk, the first record (in key order) of an identity goes on
  const first = new Map<string, Keyed>();
  for (const item of keyed) {
    const slot = `${item.objectType}\u0000${item.key}`;
    const taken = first.get(slot);
    if (taken) refuse(item, `${resourceType} ${taken.id}`); else first.set(slot, item);
  }
  const sentKey = new Map(keyed.map(k => [k.id, k.key]));
  // a record keeping the identity it already holds needs no reservation (the common update)
  const candidates = [...first.values()].filter(c => held.get(c.id) !== c.key);
  for (const row of await reserve(em, crm.name, resourceType, candidates)) {
    const item = candidates.find(c => c.id === row.id)!;
    const givingUp = handOver && row.holder_type === resourceType && sentKey.has(row.holder_id) && sentKey.get(row.holder_id) !== item.key;
    if (givingUp) deferred.add(item.id);
    // a removed holder gives the identity up when its delete (or forget) has run: wait for it, uncounted
    else if (row.holder_leaving) refused.set(item.id, new TransientCrmError(`${resourceType} ${item.id} waits for the removal of ${row.holder_type} ${row.holder_id}, which still holds its ${crm.name} identity (${item.objectType} ${JSON.stringify(item.key)})`));
    else refuse(item, `${row.holder_type} ${row.holder_id}`);
  }
  return { refused, deferred };
}

/** How long a reservation's transaction may sit idle (its process paused) before PostgreSQL ends it. */
const IDLE_IN_RESERVATION_MS = 5_000;

/**
 * Reserves the identities no other record holds (as `id_key` for a record holding none yet, else as
 * `next_id_key`), under an advisory lock per identity taken in one order, and returns the ones another
 * record holds (with that record).
 */
async function reserve(em: EntityManager, crmName: string, resourceType: string, items: Keyed[]) {
  if (!items.length) return [];
  return em.getConnection().transactional(async trx => {
    // A process paused inside this transaction (SIGSTOP, a long GC) would hold its row locks until it
    // resumes, and the recovery of its expired claim waits on them: PostgreSQL ends the session instead
    // (set for this transaction, in the round trip of the locks).
    await query(em, `select pg_advisory_xact_lock(h) from (select hashtextextended(k, 17201) as h from unnest(?::text[]) as k order by 1) l,
                       (select set_config('idle_in_transaction_session_timeout', '${IDLE_IN_RESERVATION_MS}', true)) timeout`,
      [items.map(i => JSON.stringify([crmName, i.objectType, i.key]))], trx);
    // a statement after the locks: it sees every reservation committed before them
    return query<{ id: string; holder_type: string; holder_id: string; holder_leaving: boolean }>(em,
      `with r as (
         select * from json_to_recordset(?::json) as r(id text, "objectType" text, key text)
       ), held as (
         -- one lookup per unique index (an \`or\` of the two columns would scan the table)
         select r.id, s.resource_type as holder_type, s.resource_id as holder_id
           from r join crm_synchronisations s on s.crm_name = ? and s.object_type = r."objectType" and s.id_key = r.key
          where not (s.resource_type = ? and s.resource_id = r.id)
         union
         select r.id, s.resource_type, s.resource_id
           from r join crm_synchronisations s on s.crm_name = ? and s.object_type = r."objectType" and s.next_id_key = r.key
          where not (s.resource_type = ? and s.resource_id = r.id)
       ), reserved as (
         insert into crm_synchronisations as s (resource_type, resource_id, crm_name, object_type, id_key)
         select ?, r.id, ?, r."objectType", r.key from r where r.id not in (select id from held) order by r.id
         on conflict (resource_type, crm_name, resource_id) do update
           set id_key = coalesce(s.id_key, excluded.id_key),
               next_id_key = case when s.id_key is null or s.id_key = excluded.id_key then null else excluded.id_key end,
               object_type = coalesce(s.object_type, excluded.object_type), updated_at = now()
         returning 1
       )
       -- a holder whose removal is queued gives the identity up when it runs
       select h.*, exists (select 1 from etlify_record_queue q
                            where q.crm_name = ? and q.lane = 'record' and q.resource_type = h.holder_type
                              and q.resource_id = h.holder_id and q.kind in ('delete', 'forget')) as holder_leaving
         from held h`,
      [JSON.stringify(items), crmName, resourceType, crmName, resourceType, resourceType, crmName, crmName], trx);
  });
}
