import { randomUUID } from 'node:crypto';
import type { EntityManager, MetadataStorage } from '@mikro-orm/core';
import type { RegisteredCrm } from '../crms/registry.ts';
import { query, queryBound } from '../state/sql.ts';
import { PROCESS_TASK } from './requests.ts';

/**
 * The per-record queue: where ordering and exclusivity live, and nowhere else.
 *
 * Flushes append to the inbox (`etlify_sync_requests`, requests.ts), which keeps them cheap. Before it
 * claims, a worker moves the inbox into `etlify_record_queue`: one row per (CRM, record), its lane.
 * - **Exclusive**: a record is worked on only through a claim of its row (a token and a lease), by one
 *   job or inline sync at a time, across every process.
 * - **Coalescing**: requests merged into a row bump its `generation`. A claim that ends with the
 *   generation it took deletes the row; otherwise the row stays, so a change made while the record was
 *   in flight is synced after it. `due_at` is `batchDelayMs` after the last change (a burst becomes
 *   one write), but never more than four times that after the first one (a record that never stops
 *   changing is still sent).
 * - **Per-record waits**: `not_before` is the record's own backoff, the CRM's Retry-After, or the wait
 *   for a write whose outcome is unknown; no request makes the record due before it.
 * - **Deletes win**: a removal turns the row into a delete (`forget` when the CRM keeps its objects);
 *   a sync asked for after the removal runs after the delete (`resync`).
 * - **Leases**: a worker renews its claim (`heartbeat`, lease.ts) and checks it on the monotonic clock
 *   right before each request and each outcome write: a worker paused past its lease sends nothing and
 *   writes nothing once it resumes. A claim whose lease ran out is recovered as an unknown outcome: its
 *   record waits out what the stopped worker may still have sent, and is queued again.
 */

export type QueueKind = 'sync' | 'delete' | 'forget' | 'dependents';

export interface ClaimedItem {
  id: string;
  generation: number;
  /** This record's consecutive failed attempts (its own backoff). */
  attempts: number;
  /** For deletes: the CRM object known when the record was removed. */
  crmId: string | null;
  objectType: string | null;
  /**
   * When the oldest change this attempt carries was requested (null: unknown, e.g. inline). A record
   * that is tried again keeps it, so the end-to-end lag counts from the change, not the last attempt.
   */
  requestedAt?: Date | null;
  /** Only background work (the sweep, `syncStale`) asked for it: it stops first when the day's budget runs low. */
  background?: boolean;
}

/** Records of one kind and entity of one CRM, held by one worker until `finishClaim`. */
export interface RecordClaim {
  token: string;
  crm: string;
  kind: QueueKind;
  entity: string;
  /** Root entity name (`resource_type`). */
  type: string;
  lane: 'record' | 'dependents';
  items: ClaimedItem[];
  /** `performance.now()` when the claim statement was sent: the lease counts from there (lease.ts). */
  claimedAt: number;
}

/**
 * How a claimed record ended: `done` (whatever the result), to be tried again after `delayMs`
 * (`retry`, `uncertain`; `wait` when the failure was not the record's own, e.g. a 429 of its batch: no
 * attempt is counted), or handed back untried (`release`: a shutdown began, the lease was lost).
 */
export interface Settlement {
  item: ClaimedItem;
  outcome: 'done' | 'retry' | 'uncertain' | 'wait' | 'release';
  delayMs?: number;
  error?: string;
}

/** Leases last 30 s and are renewed every 10 s: a killed worker's records are sent again within a minute (lease + unknown-outcome wait). */
export const DEFAULT_LEASE_MS = 30_000;

const roots = new WeakMap<MetadataStorage, string>();

/** `{ className: rootClassName }` for every entity, as JSON for the ingest statement (and history's inbox counts). */
export function rootsOf(metadata: MetadataStorage): string {
  let json = roots.get(metadata);
  if (json === undefined) {
    json = JSON.stringify(Object.fromEntries([...metadata.getAll().values()].filter(m => m.class).map(m => [m.className, m.root.className])));
    roots.set(metadata, json);
  }
  return json;
}

/** Inbox rows moved per statement. */
const INGEST_ROWS = 500;

/**
 * Moves the inbox rows of one CRM into the record queue, merging them per record. Rows are taken with
 * SKIP LOCKED, so workers ingest side by side; upserts go in key order (lane, type, id), and every other
 * statement that waits for queue rows (`heartbeat`, `finishClaim`) locks them in that order first, so
 * they never deadlock; claims and lease recovery skip locked rows.
 */
export async function ingest(em: EntityManager, crm: RegisteredCrm): Promise<number> {
  const [row] = await query<{ n: number }>(em,
    `with taken as (
       delete from etlify_sync_requests where id in (
         select id from etlify_sync_requests where crm_name = ? order by id limit ? for update skip locked)
       returning id, kind, entity, resource_ids, crm_ids, object_types, requested_at, background
     ), exploded as (
       select case when t.kind = 'dependents' then 'dependents' else 'record' end as lane,
              coalesce(m.value, t.entity) as type, u.rid, t.id as seq, t.kind, t.entity, u.crm_id, u.object_type, t.requested_at, t.background
         from taken t
         cross join lateral unnest(t.resource_ids, coalesce(t.crm_ids, '{}'), coalesce(t.object_types, '{}')) as u(rid, crm_id, object_type)
         left join json_each_text(?::json) m on m.key = t.entity
        where u.rid is not null
     ), items as (
       select lane, type, rid,
              -- the newest request decides, except that nothing undoes a removal
              coalesce((array_agg(kind order by seq desc) filter (where kind in ('delete', 'forget')))[1],
                       (array_agg(kind order by seq desc))[1]) as kind,
              (array_agg(entity order by seq desc))[1] as entity,
              (array_agg(crm_id order by seq desc) filter (where crm_id is not null))[1] as crm_id,
              (array_agg(object_type order by seq desc) filter (where object_type is not null))[1] as object_type,
              coalesce(max(seq) filter (where kind = 'sync') > max(seq) filter (where kind in ('delete', 'forget')), false) as resync,
              min(requested_at) as first_at, max(requested_at) as last_at, bool_and(background) as background
         from exploded group by lane, type, rid
     ), merged as (
       insert into etlify_record_queue as q (crm_name, lane, resource_type, resource_id, kind, entity, crm_id, object_type, resync, first_requested_at, due_at, background)
       select ?, lane, type, rid, kind, entity, crm_id, object_type, resync, first_at,
              least(first_at + 4 * d.delay, last_at + d.delay), background
         from items, (select make_interval(secs => ? / 1000.0) as delay) d order by lane, type, rid
       on conflict (crm_name, lane, resource_type, resource_id) do update set
         kind = case when q.kind = 'delete' or excluded.kind = 'delete' then 'delete'
                     when excluded.kind = 'forget' then 'forget'
                     else q.kind end,
         resync = case when excluded.kind in ('delete', 'forget') then excluded.resync
                       else q.resync or q.kind in ('delete', 'forget') end,
         entity = excluded.entity,
         crm_id = coalesce(excluded.crm_id, q.crm_id),
         object_type = coalesce(excluded.object_type, q.object_type),
         generation = q.generation + 1,
         -- a change made in the application makes the record live work
         background = q.background and excluded.background,
         -- and live work goes up to the day's limit: a record background work left waiting for a rate
         -- limit (the day's reserve: up to an hour) is due now; a failure's backoff (attempts) stays
         not_before = case when q.background and not excluded.background and q.attempts = 0 then least(q.not_before, now()) else q.not_before end,
         first_requested_at = coalesce(q.first_requested_at, excluded.first_requested_at),
         -- debounced from the newest change, capped from the oldest one still waiting (a claimed row's
         -- infinite due time is not a change: the excluded row's own time counts then)
         due_at = least(coalesce(q.first_requested_at, excluded.first_requested_at) + 4 * make_interval(secs => ? / 1000.0),
                        greatest(nullif(q.due_at, 'infinity'), excluded.due_at))
       returning 1
     )
     select (select count(*) from taken)::int as n, (select count(*) from merged)::int as merged`,
    [crm.name, INGEST_ROWS, rootsOf(em.getMetadata()), crm.name, crm.jobs.batchDelayMs, crm.jobs.batchDelayMs]);
  return row!.n;
}

/**
 * The first CTEs of every claim: records whose lease ran out (their worker died, or lost the database)
 * may have been sent, so each waits as long as an unknown outcome does, and its digest is forgotten (a
 * later sync sends it again even if unchanged). Parameters: unknown-outcome wait, CRM, CRM.
 */
const RECOVER_EXPIRED_CLAIMS = `
  expired as (
    update etlify_record_queue q set claim_token = null, claimed_until = null, heartbeat_at = null,
           due_at = least(q.due_at, now()), generation = q.generation + 1,
           -- a worker stops sending when its lease may be lost: nothing it sent left after claimed_until
           not_before = greatest(q.not_before, q.claimed_until + make_interval(secs => ? / 1000.0)),
           last_error = 'the worker holding this record stopped renewing its claim; what it sent may still land'
     where (q.crm_name, q.lane, q.resource_type, q.resource_id) in (
       -- in key order, as ingest locks them; a row another statement holds is recovered next time
       select crm_name, lane, resource_type, resource_id from etlify_record_queue
        where crm_name = ? and claim_token is not null and claimed_until < now()
        order by lane, resource_type, resource_id for update skip locked)
     returning q.lane, q.resource_type, q.resource_id
  ), uncertain as (
    -- whatever the claim was doing (a create, a delete), not what the row asks for now: a removal merged
    -- into a killed create must still look the object up (sync/deleter.ts)
    update crm_synchronisations s set last_digest = null, payload_version = null, last_outcome = 'uncertain', updated_at = now()
      from expired e
     where e.lane = 'record' and s.crm_name = ? and s.resource_type = e.resource_type and s.resource_id = e.resource_id
  )`;

const recoverParams = (crm: RegisteredCrm) => [crm.jobs.unknownOutcomeWaitMs, crm.name, crm.name];

interface ClaimRow { resource_id: string; resource_type: string; lane: 'record' | 'dependents'; kind: QueueKind; entity: string; generation: number; attempts: number; crm_id: string | null; object_type: string | null; requested_at?: Date | null; background: boolean }

function toClaim(token: string, crm: string, rows: ClaimRow[], claimedAt: number): RecordClaim | undefined {
  if (!rows.length) return undefined;
  const first = rows[0]!;
  return {
    token, crm, kind: first.kind, entity: first.entity, type: first.resource_type, lane: first.lane, claimedAt,
    items: rows.map(r => ({ id: r.resource_id, generation: r.generation, attempts: r.attempts, crmId: r.crm_id, objectType: r.object_type, requestedAt: r.requested_at ? new Date(r.requested_at) : null, background: r.background }))
      .sort((a, b) => compareIds(a.id, b.id)),
  };
}

/**
 * Claims up to `max` due records of one CRM that share the kind and entity of the most urgent one
 * (removals and dependency fan-outs first).
 */
export async function claimRecords(em: EntityManager, crm: RegisteredCrm, max: number, leaseMs: number): Promise<RecordClaim | undefined> {
  const token = randomUUID();
  const claimedAt = performance.now();
  // recovered records are not due before their wait ends: this statement cannot claim them
  const rows = await query<ClaimRow>(em,
    `with ${RECOVER_EXPIRED_CLAIMS}, head as (
       select kind, entity from etlify_record_queue
        where crm_name = ? and claim_token is null and greatest(due_at, not_before) <= now()
        order by (kind = 'sync'), greatest(due_at, not_before) limit 1
     ), picked as (
       -- the claim condition is re-checked on the locked row version: two workers never claim one record
       select r.crm_name, r.lane, r.resource_type, r.resource_id, r.first_requested_at
         from etlify_record_queue r join head on head.kind = r.kind and head.entity = r.entity
        where r.crm_name = ? and r.claim_token is null and greatest(r.due_at, r.not_before) <= now()
        order by greatest(r.due_at, r.not_before), r.resource_id limit ? for update of r skip locked
     ), claimed as (
       -- one lane and type (the head's kind and entity): the rows are found through the primary key
       update etlify_record_queue q set claim_token = ?, claimed_until = now() + make_interval(secs => ? / 1000.0),
              heartbeat_at = now(), due_at = 'infinity', first_requested_at = null
        where q.crm_name = ? and q.lane = (select min(lane) from picked) and q.resource_type = (select min(resource_type) from picked)
          and q.resource_id = any(array(select resource_id from picked))
        returning q.resource_id, q.resource_type, q.lane, q.kind, q.entity, q.generation, q.attempts, q.crm_id, q.object_type, q.background
     )
     -- when the oldest change the claim carries was requested (history's end-to-end lag), looked up by id:
     -- a join of the two statements' rows would be planned blind (both are estimated at a row or so)
     select c.*, ((select jsonb_object_agg(resource_id, first_requested_at) from picked) ->> c.resource_id)::timestamptz as requested_at
       from claimed c`,
    [...recoverParams(crm), crm.name, crm.name, max, token, leaseMs, crm.name]);
  return toClaim(token, crm.name, rows, claimedAt);
}

/**
 * Claims these records for work in this process (inline syncs and deletes), inserting their rows if
 * they have none. Records another worker holds, records waiting (backoff, Retry-After, unknown
 * outcome) and, for a sync, records whose removal is pending are left out.
 */
export async function claimRecordsById(
  em: EntityManager, crm: RegisteredCrm, target: { type: string; entity: string; ids: string[]; background?: boolean }, kind: 'sync' | 'delete', leaseMs = DEFAULT_LEASE_MS,
): Promise<RecordClaim | undefined> {
  const token = randomUUID();
  const claimedAt = performance.now();
  const rows = await query<ClaimRow>(em,
    `with ${RECOVER_EXPIRED_CLAIMS}, wake as materialized (
       -- should this process die holding the claim, a job at the end of the lease recovers it: no
       -- queue row is left without a wake-up (a job already due earlier is kept: it wakes the next)
       select 1 from ${wakeCall('now() + make_interval(secs => ? / 1000.0 + 1)', 'preserve_run_at')}
     )
     insert into etlify_record_queue as q (crm_name, lane, resource_type, resource_id, kind, entity, due_at, claim_token, claimed_until, heartbeat_at, background)
     select ?, 'record', ?, id, ?, ?, 'infinity', ?, now() + make_interval(secs => ? / 1000.0), now(), ?::boolean
       from unnest(?::text[]) as id, wake order by id
     on conflict (crm_name, lane, resource_type, resource_id) do update set
       claim_token = excluded.claim_token, claimed_until = excluded.claimed_until, heartbeat_at = now(), due_at = 'infinity',
       first_requested_at = null, kind = case when excluded.kind = 'delete' then 'delete' else q.kind end
      where q.claim_token is null and q.not_before <= now() and (excluded.kind = 'delete' or q.kind = 'sync')
     returning q.resource_id, q.resource_type, q.lane, q.kind, q.entity, q.generation, q.attempts, q.crm_id, q.object_type, q.background`,
    [...recoverParams(crm), ...wakeParams(crm, 'inline', leaseMs), crm.name, target.type, kind, target.entity, token, leaseMs, target.background ?? false, target.ids]);
  return toClaim(token, crm.name, rows, claimedAt);
}

/** A graphile-worker job that processes the CRM at `runAt` (SQL), keyed per purpose. Parameters: `wakeParams`, then runAt's. */
function wakeCall(runAt: string, mode: 'replace' | 'preserve_run_at'): string {
  return `graphile_worker.add_job(?, json_build_object('crm', ?::text), run_at => ${runAt}, max_attempts => ?::int,
            job_key => ?, priority => ?::int, job_key_mode => '${mode}')`;
}

function wakeParams(crm: RegisteredCrm, purpose: string, ...runAt: unknown[]): unknown[] {
  return [PROCESS_TASK, crm.name, ...runAt, crm.jobs.maxAttempts, `etlify:${crm.name}:${purpose}`, crm.jobs.priority];
}

/**
 * Wakes the CRM's processor when these records are next due: records an inline sync leaves behind (it
 * gave up waiting for a retry or a Retry-After) are then run by a worker, not left until the next change.
 */
export async function wakeWhenDue(em: EntityManager, crm: RegisteredCrm, type: string, ids: string[]): Promise<void> {
  await query(em,
    `select 1 from ${wakeCall('(select greatest(min(coalesce(claimed_until, greatest(due_at, not_before))), now()) from etlify_record_queue where crm_name = ? and lane = \'record\' and resource_type = ? and resource_id = any(?::text[]))', 'replace')}`,
    wakeParams(crm, `due:${type}:${ids[0]}`, crm.name, type, ids));
}

/**
 * When to try claiming these records again: when the first one's wait ends, or shortly while another
 * worker holds them (a claim usually ends long before its lease does).
 */
export async function claimableAt(em: EntityManager, crm: string, type: string, ids: string[]): Promise<Date> {
  const [row] = await query<{ at: Date }>(em,
    `select coalesce(min(case when claim_token is not null then least(claimed_until, now() + interval '100 milliseconds')
                              else greatest(not_before, now()) end), now()) as at
       from etlify_record_queue where crm_name = ? and lane = 'record' and resource_type = ? and resource_id = any(?::text[])`,
    [crm, type, ids]);
  return new Date(row!.at);
}

/**
 * The rows of a claim that it still holds, locked in key order (as ingest locks them: never a
 * deadlock), as one array of ids (`held.ids`). Every statement that changes or guards a claim's rows
 * takes them through it: found by primary key (`= any(ids)`), whatever the planner believes of the
 * queue's size, then used as `resource_id = any((select ids from held)::text[])`, an init plan that takes every
 * lock, in order, before the first row is changed. No join of two lists is left to the planner: with
 * both estimated at a row or so (a queue the statistics have not seen yet), it loops over one for each
 * row of the other, which cost seconds per claim. Parameters `$first` … `$first + 4`: CRM, lane, type,
 * the claim's ids, its token.
 */
export function heldRows(lock: 'update' | 'share', first: number): string {
  const [crm, lane, type, ids, token] = [0, 1, 2, 3, 4].map(i => `$${first + i}`);
  return `held as materialized (
       select array_agg(resource_id) as ids from (
         select resource_id from etlify_record_queue
          where crm_name = ${crm} and lane = ${lane} and resource_type = ${type} and resource_id = any(${ids}::text[]) and claim_token = ${token}
          order by resource_id for ${lock}) l
     )`;
}

/** Renews a claim's lease; returns how many of its records it still holds. */
export async function heartbeat(em: EntityManager, claim: RecordClaim, leaseMs: number): Promise<number> {
  const [row] = await queryBound<{ n: number }>(em,
    `with ${heldRows('update', 1)}, renewed as (
       update etlify_record_queue set claimed_until = now() + make_interval(secs => $6 / 1000.0), heartbeat_at = now()
        where crm_name = $1 and lane = $2 and resource_type = $3 and resource_id = any((select ids from held)::text[])
        returning 1)
     select count(*)::int as n from renewed`,
    [claim.crm, claim.lane, claim.type, claim.items.map(i => i.id), claim.token, leaseMs]);
  return row!.n;
}

/**
 * `finishClaim`'s settlement of the queue row at hand (`q`), looked up by id in the settlements (`$1`,
 * a jsonb object: a binary search, no copy; a CTE holding it would be copied out once per row).
 */
const SETTLED = {
  generation: "($1::jsonb -> q.resource_id ->> 'generation')::int",
  outcome: "($1::jsonb -> q.resource_id ->> 'outcome')",
  delayMs: "($1::jsonb -> q.resource_id ->> 'delayMs')::double precision",
  error: "($1::jsonb -> q.resource_id ->> 'error')",
  requestedAt: "($1::jsonb -> q.resource_id ->> 'requestedAt')::timestamptz",
};

/**
 * Ends a claim, one settlement per record, in one statement. `done`: the row goes, unless requests
 * arrived meanwhile (another round, after the batching delay). `retry` / `uncertain`: the record waits
 * `delayMs` — its own backoff, the CRM's Retry-After, or the unknown-outcome wait — then is due again.
 * Returns the records whose row stays (not done, or changed meanwhile): someone must run them again.
 * Settlements go as one JSON object keyed by record id, read per row (`SETTLED`): no join for the
 * planner to get wrong (a nested loop over two lists it takes for a row each costs seconds).
 */
export async function finishClaim(em: EntityManager, claim: RecordClaim, settlements: Settlement[]): Promise<string[]> {
  if (!settlements.length) return [];
  const byId = Object.fromEntries(settlements.map(s => [s.item.id, {
    generation: s.item.generation, outcome: s.outcome, delayMs: s.delayMs ?? 0, error: s.error ?? null, requestedAt: s.item.requestedAt ?? null,
  }]));
  const ids = settlements.map(s => s.item.id);
  const { generation, outcome, delayMs, error, requestedAt } = SETTLED;
  const kept = await queryBound<{ resource_id: string }>(em,
    `with ${heldRows('update', 2)}, unsure as (
       -- an unknown outcome is kept where a later delete looks (the sync state), not only in the queue row;
       -- only by the claim still holding the record: never over what a newer claim wrote
       update crm_synchronisations c set last_digest = null, payload_version = null, last_outcome = 'uncertain', updated_at = now()
        where $3 = 'record' and c.crm_name = $2 and c.resource_type = $4 and c.resource_id = any((select ids from held)::text[])
          and ($1::jsonb -> c.resource_id ->> 'outcome') = 'uncertain'
     ), done as (
       delete from etlify_record_queue q
        where q.crm_name = $2 and q.lane = $3 and q.resource_type = $4 and q.resource_id = any((select ids from held)::text[])
          and ${outcome} = 'done' and q.generation = ${generation}
     )
     update etlify_record_queue q set claim_token = null, claimed_until = null, heartbeat_at = null,
            due_at = case when ${outcome} = 'done' then q.due_at else least(q.due_at, now()) end,
            -- only the claim that ran the removal ends it: a removal merged into an in-flight sync stays
            kind = case when ${outcome} = 'done' and q.kind = $7 and q.resync then 'sync' else q.kind end,
            resync = case when ${outcome} = 'done' and q.kind = $7 then false else q.resync end,
            -- a record not done still carries its oldest change: waiting since then, not since this attempt
            first_requested_at = case when ${outcome} = 'done' then q.first_requested_at
                                      else coalesce(least(q.first_requested_at, ${requestedAt}), q.first_requested_at, ${requestedAt}) end,
            -- a record's attempts count its own failures only (its backoff), not a rate limit of its batch
            attempts = case ${outcome} when 'done' then 0 when 'release' then q.attempts when 'wait' then q.attempts else q.attempts + 1 end,
            -- rounded up to the next half second: records failing around the same time come back
            -- together, as one batch, instead of one request each
            not_before = case ${outcome} when 'done' then '-infinity'::timestamptz when 'release' then q.not_before
                              else greatest(q.not_before, to_timestamp(ceil(extract(epoch from clock_timestamp() + make_interval(secs => ${delayMs} / 1000.0)) * 2) / 2)) end,
            last_error = case ${outcome} when 'done' then null when 'release' then q.last_error else ${error} end
      where q.crm_name = $2 and q.lane = $3 and q.resource_type = $4 and q.resource_id = any((select ids from held)::text[])
        and not (${outcome} = 'done' and q.generation = ${generation})
      returning q.resource_id`,
    [JSON.stringify(byId), claim.crm, claim.lane, claim.type, ids, claim.token, claim.kind]);
  return kept.map(r => r.resource_id);
}

/**
 * When the next record of a CRM is due (null when there is no work): the earliest ready time of the
 * unclaimed records and of the inbox, or the end of a lease that may need recovering.
 */
export async function nextDueAt(em: EntityManager, crm: RegisteredCrm): Promise<Date | null> {
  const [row] = await query<{ due: Date | null }>(em,
    `select least(
       (select min(greatest(due_at, not_before)) from etlify_record_queue where crm_name = ? and claim_token is null),
       (select min(claimed_until) from etlify_record_queue where crm_name = ? and claim_token is not null),
       (select min(requested_at) + make_interval(secs => ? / 1000.0) from etlify_sync_requests where crm_name = ?)) as due`,
    [crm.name, crm.name, crm.jobs.batchDelayMs, crm.name]);
  return row?.due ? new Date(row.due) : null;
}

/** CRMs with work in the inbox or the record queue: woken when a worker starts, and by the sweep. */
export async function crmsWithPendingWork(em: EntityManager): Promise<string[]> {
  const rows = await query<{ crm_name: string }>(em,
    'select crm_name from etlify_sync_requests union select crm_name from etlify_record_queue');
  return rows.map(r => r.crm_name);
}

/**
 * Exponential backoff with jitter (1 s, 2 s, 4 s … 30 s, each 50–100 % of it, so never more than 30 s:
 * every record waiting on a recovered CRM is tried again within 30 s of its return), never shorter than
 * what the CRM asked for. `jitter` in [0, 1) is shared by the records of one failed batch so they come
 * back together.
 */
export function backoffMs(attempts: number, retryAfterMs: number | undefined, jitter: number): number {
  const exponential = Math.min(30_000, 1000 * 2 ** Math.min(Math.max(attempts - 1, 0), 20)) * (0.5 + jitter / 2);
  return retryAfterMs === undefined ? exponential : retryAfterMs + jitter * 100;
}

function compareIds(a: string, b: string): number {
  return a.length - b.length || (a < b ? -1 : a > b ? 1 : 0);
}
