/**
 * Merges made in the CRM (HubSpot: merging two contacts or companies creates a new object with a new
 * id, and both old ids answer with it). A record whose stored id the CRM answers for with another
 * object follows it: the engine stores the new id (`UpsertResult.mergedFrom`). When two records'
 * objects were merged into one, the first to meet the merge follows it; the other is "merged away":
 * it loses its CRM id and is not sent again (it would overwrite the first record's object, and with
 * no id it would find that object again by its unique value, or create a duplicate that undoes the
 * merge) until someone resets it.
 */
import type { EntityManager } from '@mikro-orm/core';
import type { RegisteredCrm } from '../crms/registry.ts';
import { MergedAwayError } from '../errors.ts';
import { enqueueRequests } from '../queue/requests.ts';
import { query } from '../state/sql.ts';

/** A record whose stored id the CRM answered for with another object. */
export interface FollowedMerge {
  from: string;
  to: string;
}

/** What the record's attempt history says about a merge it followed. */
export function mergeNote(crmName: string, merge: FollowedMerge): string {
  return `${crmName} merged object ${merge.from} into ${merge.to}: the record follows ${merge.to}`;
}

/** The error of a record whose object was merged into one another record follows. */
export function mergedAway(crmName: string, record: string, merge: FollowedMerge, holder: string | undefined): MergedAwayError {
  const error = new MergedAwayError(`${crmName} merged ${record}'s object ${merge.from} into ${merge.to}, which ${holder ?? 'another record'} follows: ${record} is no longer sent, `
    + `or it would overwrite that object (or, found again by its unique value or re-created, undo the merge). Merge or remove one of the two records, `
    + `or give it values of its own and reset it (\`etlify reset\`)`);
  error.heldBy = holder;
  return error;
}

/** The error of a merged-away record at each later attempt (nothing is sent). */
export function stillMergedAway(crmName: string, record: string, mergedInto: string): MergedAwayError {
  return new MergedAwayError(`${crmName} merged ${record}'s object into ${mergedInto}, which another record follows: ${record} is not sent until it is reset (\`etlify reset\`)`);
}

/**
 * Marks a record merged away: no CRM id of its own (a delete must not archive the other record's
 * object), not sent until reset. Its write landed on the merged object before the merge was known, so
 * the record that follows the object is sent again (its digest forgotten), to put its own values
 * back. Returns that record (`Entity id`), if any.
 */
export async function settleMergedAway(em: EntityManager, crm: RegisteredCrm, resourceType: string, resourceId: string, merge: FollowedMerge): Promise<string | undefined> {
  const [holder] = await query<{ type: string; id: string }>(em,
    `with away as (
       update crm_synchronisations set merged_into = ?, crm_id = null, last_digest = null, payload_version = null, updated_at = now()
        where resource_type = ? and resource_id = ? and crm_name = ?
     )
     update crm_synchronisations set last_digest = null, payload_version = null, updated_at = now()
      where crm_name = ? and crm_id = ? returning resource_type as type, resource_id as id`,
    [merge.to, resourceType, resourceId, crm.name, crm.name, merge.to]);
  return queueHolder(em, crm, holder);
}

/**
 * A write answered with an object another record holds (found by its unique value: HubSpot's search
 * also matches a merged contact's secondary addresses) landed on that record's object: the holder is
 * sent again (its digest forgotten) to put its own values back. Returns it (`Entity id`), if any.
 */
export async function resendHolder(em: EntityManager, crm: RegisteredCrm, crmId: string): Promise<string | undefined> {
  const [holder] = await query<{ type: string; id: string }>(em,
    `update crm_synchronisations set last_digest = null, payload_version = null, updated_at = now()
      where crm_name = ? and crm_id = ? returning resource_type as type, resource_id as id`,
    [crm.name, crmId]);
  return queueHolder(em, crm, holder);
}

async function queueHolder(em: EntityManager, crm: RegisteredCrm, holder: { type: string; id: string } | undefined): Promise<string | undefined> {
  if (!holder) return undefined;
  await enqueueRequests(em, { requests: [{ kind: 'sync', crm: crm.name, entity: holder.type, id: holder.id }], crms: [crm] });
  return `${holder.type} ${holder.id}`;
}

/**
 * The records that gave way to removed records' objects (merged away, `merged_into` one of `crmIds`):
 * nothing is in their way any more, so they are released as a reset would release them and queued.
 * Each finds its object again by its unique value (the CRM kept it) or gets one of its own (it was
 * deleted); left parked, it would wait for a reset that names a record that no longer exists.
 */
export async function releaseMergedAway(em: EntityManager, crm: RegisteredCrm, crmIds: string[]): Promise<void> {
  if (!crmIds.length) return;
  const released = await query<{ type: string; id: string }>(em,
    `update crm_synchronisations set merged_into = null, error_count = 0, last_error = null, last_error_at = null, updated_at = now()
      where crm_name = ? and merged_into = any(?::text[]) returning resource_type as type, resource_id as id`,
    [crm.name, crmIds]);
  if (!released.length) return;
  await enqueueRequests(em, { requests: released.map(r => ({ kind: 'sync', crm: crm.name, entity: r.type, id: r.id })), crms: [crm] });
}
