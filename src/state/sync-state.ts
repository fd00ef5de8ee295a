import type { EntityManager } from '@mikro-orm/core';
import { heldRows } from '../queue/record-queue.ts';
import { query, queryBound } from './sql.ts';

/** What the engine needs to know about a record's last sync. */
export interface SyncStateRow {
  resourceId: string;
  crmId: string | null;
  lastDigest: string | null;
  payloadVersion: string | null;
  errorCount: number;
  lastSyncedAt: string | null;
  lastOutcome: string | null;
  /** The identity the record holds in the CRM (see sync/identity.ts). */
  idKey: string | null;
  /** The identity it is moving to, until the CRM accepts it (see sync/identity.ts). */
  nextIdKey: string | null;
  /** The object the CRM merged the record's object into, which another record follows (see sync/merges.ts). */
  mergedInto?: string | null;
}

/** The result of one attempt, to be written to the record's sync-state row. */
export interface OutcomeWrite {
  resourceType: string;
  resourceId: string;
  crmName: string;
  /**
   * `uncertain`: a write whose outcome is unknown; the digest is forgotten, nothing else changes.
   * `crmId` with `uncertain` or `error`: the call wrote that object before a later step failed; it is
   * kept (never replaced by nothing).
   */
  outcome: 'synced' | 'not_modified' | 'skipped' | 'error' | 'uncertain';
  /** Snapshot time of the payload (synced, not_modified, skipped). */
  syncedAt?: Date;
  crmId?: string;
  objectType?: string;
  digest?: string;
  payloadVersion?: string | null;
  error?: string;
  /** With `error`: the error count to reach at least (`maxSyncErrors`: the record is parked at once). */
  parkAt?: number;
}

/**
 * The time a sync's snapshot is taken at (becomes `last_synced_at`): the start of the oldest
 * transaction open in this database now, or now, whichever is earlier, less a microsecond. It must
 * be read BEFORE the records are. A transaction whose writes the records' read cannot see is either
 * open now (it started at or after that oldest start) or starts later; its `now()`-based `updated_at`
 * (the transaction's start) is then strictly later than this time, so the stale finder's
 * `updated_at > last_synced_at` finds the record once it commits, whenever that is. Reading
 * `pg_stat_activity` costs one scan of the backend slots in the round trip that loads the sync state
 * (no extra query, no `track_commit_timestamp`). Boundaries: a session of another database role
 * shows its transaction start only to a role with `pg_read_all_stats`; a prepared (two-phase)
 * transaction's start is not recorded at all.
 */
const SNAPSHOT_AT = `least(statement_timestamp(),
    (select min(a.xact_start) from pg_stat_activity a where a.datname = current_database() and a.backend_type = 'client backend'))
  - interval '1 microsecond'`;

/**
 * Loads the sync-state rows of `ids`; with `snapshot`, also the time of the snapshot the records are
 * about to be read in (see `SNAPSHOT_AT`: await this before reading them).
 */
export async function loadSyncState(em: EntityManager, resourceType: string, crmName: string, ids: string[], snapshot = false) {
  const [result] = await query<{ snapshot_at: Date; rows: SyncStateRow[] | null }>(em,
    `select ${snapshot ? SNAPSHOT_AT : 'statement_timestamp()'} as snapshot_at,
       (select json_agg(json_build_object('resourceId', resource_id, 'crmId', crm_id, 'lastDigest', last_digest,
                 'payloadVersion', payload_version, 'errorCount', error_count,
                 'lastSyncedAt', last_synced_at, 'lastOutcome', last_outcome, 'idKey', id_key, 'nextIdKey', next_id_key, 'mergedInto', merged_into))
          from crm_synchronisations
         where resource_type = ? and crm_name = ? and resource_id = any(?::text[])) as rows`,
    [resourceType, crmName, ids]);
  const rows = new Map<string, SyncStateRow>();
  for (const row of result!.rows ?? []) rows.set(row.resourceId, row);
  return { snapshotAt: new Date(result!.snapshot_at), rows };
}

/**
 * Writes every outcome of a chunk with one statement. Per outcome: `synced` stores the CRM id, digest
 * and version and clears errors; `not_modified` moves `last_synced_at` and clears errors; `skipped`
 * only moves `last_synced_at` (earlier failures stay visible); `error` increments `error_count`.
 */
export async function writeOutcomes(em: EntityManager, outcomes: OutcomeWrite[], claimToken?: string): Promise<void> {
  if (!outcomes.length) return;
  const [{ crmName, resourceType }] = outcomes as [OutcomeWrite];
  if (claimToken !== undefined && outcomes.some(o => o.crmName !== crmName || o.resourceType !== resourceType)) {
    throw new Error('writeOutcomes: the outcomes of one claim are of one CRM and one resource type');
  }
  // with a claim: only the records it still holds, their queue rows locked (in key order, as the queue
  // locks them) against a concurrent recovery of the claim
  await queryBound(em,
    `with r as (
       select * from json_to_recordset($1::json) as r("resourceType" text, "resourceId" text, "crmName" text, outcome text,
            "syncedAt" timestamptz, "crmId" text, "objectType" text, digest text, "payloadVersion" text, error text, "parkAt" int)
     )${claimToken === undefined ? '' : `, ${heldRows('share', 2)}`}
     insert into crm_synchronisations as s
       (resource_type, resource_id, crm_name, crm_id, object_type, last_digest, payload_version,
        last_synced_at, last_error, last_error_at, error_count, last_outcome)
     select r."resourceType", r."resourceId", r."crmName", r."crmId", r."objectType", r.digest, r."payloadVersion",
            case when r.outcome in ('error', 'uncertain') then null else r."syncedAt" end, r.error, case when r.outcome = 'error' then now() end,
            case when r.outcome = 'error' then greatest(1, r."parkAt") else 0 end, r.outcome
       from r ${claimToken === undefined ? '' : 'where r."resourceId" = any((select ids from held)::text[])'}
     on conflict (resource_type, crm_name, resource_id) do update set
       crm_id = case when excluded.last_outcome = 'synced' then excluded.crm_id else coalesce(excluded.crm_id, s.crm_id) end,
       object_type = case when excluded.last_outcome = 'synced' then excluded.object_type else coalesce(excluded.object_type, s.object_type) end,
       last_digest = case when excluded.last_outcome = 'synced' then excluded.last_digest
                          when excluded.last_outcome = 'uncertain' or excluded.crm_id is not null then null else s.last_digest end,
       payload_version = case when excluded.last_outcome = 'synced' then excluded.payload_version
                              when excluded.last_outcome = 'uncertain' or excluded.crm_id is not null then null else s.payload_version end,
       last_synced_at = case when excluded.last_outcome in ('error', 'uncertain') then s.last_synced_at else excluded.last_synced_at end,
       last_error = case excluded.last_outcome when 'error' then excluded.last_error when 'skipped' then s.last_error when 'uncertain' then s.last_error end,
       last_error_at = case excluded.last_outcome when 'error' then excluded.last_error_at when 'skipped' then s.last_error_at when 'uncertain' then s.last_error_at end,
       error_count = case excluded.last_outcome when 'error' then greatest(s.error_count + 1, excluded.error_count) when 'skipped' then s.error_count when 'uncertain' then s.error_count else 0 end,
       -- the CRM accepted the identity sent (a write that went through, even if a later step failed):
       -- it becomes the record's; refused, it is released; unknown, the record keeps both
       id_key = case when excluded.last_outcome = 'synced' or (excluded.last_outcome = 'error' and excluded.crm_id is not null)
                     then coalesce(s.next_id_key, s.id_key) else s.id_key end,
       next_id_key = case when excluded.last_outcome = 'uncertain' then s.next_id_key end,
       last_outcome = excluded.last_outcome,
       updated_at = now()`,
    claimToken === undefined ? [JSON.stringify(outcomes)]
      : [JSON.stringify(outcomes), crmName, 'record', resourceType, outcomes.map(o => o.resourceId), claimToken]);
}

/** The CRM objects the sync state knows for `ids` (deletes read them when they run, not when queued). */
export async function loadCrmObjects(em: EntityManager, resourceType: string, crmName: string, ids: string[]): Promise<Map<string, { crmId: string | null; objectType: string | null; idKeys: string[]; uncertain: boolean }>> {
  const rows = await query<{ id: string; crm_id: string | null; object_type: string | null; id_key: string | null; next_id_key: string | null; last_outcome: string | null }>(em,
    'select resource_id as id, crm_id, object_type, id_key, next_id_key, last_outcome from crm_synchronisations where resource_type = ? and crm_name = ? and resource_id = any(?::text[])',
    [resourceType, crmName, ids]);
  return new Map(rows.map(r => [r.id, {
    crmId: r.crm_id, objectType: r.object_type, idKeys: [r.id_key, r.next_id_key].filter((k): k is string => k !== null), uncertain: r.last_outcome === 'uncertain',
  }]));
}

/**
 * After a delete: records that still exist forget their CRM id, digest and version (a later sync
 * recreates the object cleanly); the sync rows of removed records go.
 */
export async function forgetCrmObjects(em: EntityManager, resourceType: string, crmName: string, live: string[], removed: string[]): Promise<void> {
  await query(em,
    `with dropped as (
       delete from crm_synchronisations where resource_type = ? and crm_name = ? and resource_id = any(?::text[]) returning 1)
     update crm_synchronisations
        set crm_id = null, last_digest = null, payload_version = null, id_key = null, next_id_key = null, last_outcome = 'deleted', updated_at = now()
      where resource_type = ? and crm_name = ? and resource_id = any(?::text[])`,
    [resourceType, crmName, removed, resourceType, crmName, live]);
}

export function isCrmIdConflict(error: unknown): boolean {
  const e = error as { code?: string; constraint?: string; message?: string };
  return e?.code === '23505' && (e.constraint === 'crm_synchronisations_crm_id_unique' || /crm_synchronisations_crm_id_unique/.test(e.message ?? ''));
}
