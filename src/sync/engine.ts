import { helper, LoadStrategy, ReferenceKind, Utils, type EntityManager, type EntityMetadata } from '@mikro-orm/core';
import type { RegisteredCrm } from '../crms/registry.ts';
import { declarationsOf } from '../entity/declarations.ts';
import { syncDependencyTargets } from '../entity/dependency-index.ts';
import { CrmError, isRetryable, MergedAwayError, MissingInCrmError, NotInCrmError, parksAtOnce, UnknownOutcomeError, ValidationError, writtenObjectOf } from '../errors.ts';
import type { Etlify } from '../etlify.ts';
import { RESULT_EVENTS, type SyncEvent } from '../events.ts';
import type { AdapterCallContext, BatchItemResult, EntityCrmConfig, SyncResult, UpsertResult } from '../interfaces.ts';
import { isCrmIdConflict, loadSyncState, writeOutcomes, type OutcomeWrite, type SyncStateRow } from '../state/sync-state.ts';
import { associationsToSend } from './associations.ts';
import { bufferMissingDependencies, queueDependentsOfMoved, releaseDependents } from './dependencies.ts';
import { reserveIdentities, resolveUncertainCreates } from './identity.ts';
import { mergedAway, mergeNote, resendHolder, settleMergedAway, stillMergedAway, type FollowedMerge } from './merges.ts';
import { ClaimDeadline } from './claim-deadline.ts';
import { clampedRetryWait } from './retry-wait.ts';
import { passesSyncIf, preparePayload, serializeContext, type PreparedPayload } from './serialize.ts';
import { primaryFork } from '../state/primary.ts';

/**
 * Outcome of one record in a chunk. `retry` means a transient failure: nothing was counted. `pending`
 * (with `unchangedOnly`): the record needs a write or a send.
 */
export interface RecordOutcome {
  id: string;
  result: SyncResult | 'retry' | 'missing' | 'pending';
  crmId?: string;
  error?: unknown;
  /** For `retry`: the wait the CRM asked for, if any. */
  retryAfterMs?: number;
  /** For `pending`: what the first look prepared, for the claimed sync to reuse (`ChunkOptions.firstLook`). */
  look?: FirstLook;
  /** What the attempt history should say besides the result (a merge the record followed). */
  note?: string;
}

/** A payload prepared by the read-only first look, and the state of the data it was prepared from. */
export interface FirstLook {
  fingerprint: string;
  prepared: PreparedPayload;
}

export interface ChunkOptions {
  /** Use the adapter's `batchUpsert` for changed records (when it has one). */
  batch: boolean;
  context?: AdapterCallContext;
  /**
   * Answer only for records that need nothing (`not_modified`, already recorded as such); every other
   * record is `pending` and nothing is written, buffered or sent: the read-only first look of an
   * inline sync, which claims its record only when there is work.
   */
  unchangedOnly?: boolean;
  /**
   * Payloads the first look prepared, per record: reused when the record, read again after the
   * claim, is in the same state (its fingerprint), so the serializer runs once per inline sync.
   */
  firstLook?: Map<string, FirstLook>;
  /**
   * The queue claim this chunk works for: outcomes are written only for records it still holds, so a
   * worker that lost its lease (paused past it) never writes over a newer claim's result.
   */
  claimToken?: string;
}

interface Candidate {
  id: string;
  config: EntityCrmConfig;
  entity: string;
  row?: SyncStateRow;
  prepared?: PreparedPayload;
  startedAt: number;
  /** The object an earlier create with an unknown outcome left (see `resolveUncertainCreates`). */
  resolved?: string;
}

/**
 * Syncs a chunk of records of one entity to one CRM:
 * load state (+ snapshot time) ▶ load records with their dependencies ▶ guard ▶ sync dependencies ▶
 * serialize ▶ migrate ▶ digest ▶ compare ▶ send the changed ones ▶ write every outcome in one statement.
 * No database transaction is open while the CRM is called, and no row is locked.
 */
export async function syncChunk(
  etlify: Etlify, em: EntityManager, entityName: string, crmName: string, ids: string[], options: ChunkOptions,
): Promise<RecordOutcome[]> {
  const crm = etlify.crms.get(crmName);
  if (!crm.enabled) return ids.map(id => ({ id, result: 'disabled' }));
  const meta = em.getMetadata().getByClassName(entityName);
  const resourceType = meta.root.className;
  const fork = primaryFork(em, { clear: true, useContext: false });
  const deadline = new ClaimDeadline(etlify.claimTimeoutMs);
  // The snapshot time first, then the records (see SNAPSHOT_AT). The read-only first look records
  // nothing: it reads both at once.
  const [{ snapshotAt, rows }, records] = options.unchangedOnly
    ? await Promise.all([loadSyncState(fork, resourceType, crmName, ids), loadRecords(fork, meta, crmName, ids)])
    : await loadSyncState(fork, resourceType, crmName, ids, true).then(async state => [state, await loadRecords(fork, meta, crmName, ids)] as const);

  const outcomes = new Map<string, RecordOutcome>();
  const writes: OutcomeWrite[] = [];
  const seen: Candidate[] = [];
  const settle = (c: Candidate, outcome: RecordOutcome, write?: Omit<OutcomeWrite, 'resourceType' | 'resourceId' | 'crmName'>) => {
    outcomes.set(c.id, outcome);
    if (write) writes.push({ resourceType, resourceId: c.id, crmName, ...write });
  };
  // `written`: the object the call wrote before a later step of it failed; its id is kept (else a
  // retry creates a twin, and a removal leaves it behind), and the digest is forgotten
  // any adapter's wait, not only the HTTP adapters' (which clamp by themselves): a year-long Retry-After
  // must not park the record
  const clampedWait = (c: Candidate, ms: number | undefined) => clampedRetryWait(etlify, crmName, c, ms);
  const fail = (c: Candidate, error: unknown, written = writtenObjectOf(error) ?? c.resolved) => {
    const kept = written ? { crmId: written, objectType: c.config.objectType } : {};
    // sync mode `update` found nothing to update: skipped, not failed
    if (error instanceof NotInCrmError) return settle(c, { id: c.id, result: 'skipped' }, { outcome: 'skipped', syncedAt: snapshotAt });
    // the CRM may hold the new payload or the old one: the digest must stop claiming either
    if (error instanceof UnknownOutcomeError) return settle(c, { id: c.id, result: 'retry', error, retryAfterMs: clampedWait(c, error.retryAfterMs) }, { outcome: 'uncertain', ...kept });
    if (isRetryable(error)) return settle(c, { id: c.id, result: 'retry', error, retryAfterMs: clampedWait(c, error.retryAfterMs) }, written ? { outcome: 'uncertain', ...kept } : undefined);
    // values the CRM's validation rules refuse are refused again until the record changes: parked at once
    const parkAt = parksAtOnce(error) ? { parkAt: crm.maxSyncErrors } : {};
    settle(c, { id: c.id, result: 'error', error }, { outcome: 'error', error: etlify.describeError(error), ...kept, ...parkAt });
  };

  const candidates: Candidate[] = [];
  for (const id of ids) {
    const record = records.get(id);
    if (!record) { outcomes.set(id, { id, result: 'missing' }); continue; }
    const config = declarationsOf(record.constructor).get(crmName);
    if (!config) { outcomes.set(id, { id, result: 'missing' }); continue; }
    const c: Candidate = { id, config, entity: helper(record).__meta.className, row: rows.get(id), startedAt: performance.now() };
    seen.push(c);
    // its object was merged into one another record follows: sending would overwrite that one
    if (c.row?.mergedInto) { fail(c, stillMergedAway(crmName, `${resourceType} ${id}`, c.row.mergedInto)); continue; }
    try {
      if (!(await passesSyncIf(record, config, c.entity, etlify.stepTimeoutMs))) {
        settle(c, { id, result: 'skipped' }, { outcome: 'skipped', syncedAt: snapshotAt });
        continue;
      }
    } catch (error) {
      fail(c, error);
      continue;
    }
    candidates.push(c);
  }

  if (options.unchangedOnly) return unchangedOnly(etlify, crm, ids, candidates, records);
  const { buffered, crmIds } = await bufferMissingDependencies(etlify, fork, crm, candidates.map(c => ({ id: c.id, config: c.config, record: records.get(c.id)! })));
  const context = serializeContext(crmName, crmIds);
  const ready: Candidate[] = [];
  for (const c of candidates) {
    if (buffered.has(c.id)) { settle(c, { id: c.id, result: 'buffered' }); continue; }
    if (deadline.expired) { fail(c, deadline.notSent()); continue; }
    try {
      const look = options.firstLook?.get(c.id);
      c.prepared = look && look.fingerprint === fingerprintOf(records.get(c.id)!, c.config) ? look.prepared : await preparePayload(records.get(c.id)!, c.config, {
        entity: c.entity, context, versioning: etlify.payloadVersions, pinnedVersion: crm.payloadVersion, timeoutMs: etlify.stepTimeoutMs,
      });
    } catch (error) {
      fail(c, error);
      continue;
    }
    const unchanged = isUnchanged(c, records.get(c.id)!);
    if (unchanged) settle(c, { id: c.id, result: 'not_modified', crmId: c.row!.crmId! }, unchanged === 'recorded' ? undefined : { outcome: 'not_modified', syncedAt: snapshotAt });
    else ready.push(c);
  }
  // From here on only payloads are needed. The entities go before the CRM call and the writes, so
  // they die young instead of being promoted to the old generation while the chunk waits: a worker's
  // peak memory is mostly this garbage.
  records.clear();
  fork.clear();

  // records whose stored id the CRM answered for with another object (merged in the CRM)
  const merges = new Map<string, FollowedMerge>();
  const succeed = (c: Candidate, result: UpsertResult) => {
    if (typeof result?.crmId !== 'string' || !result.crmId) {
      return fail(c, new CrmError(`adapter for \`${crmName}\` returned no CRM id for ${c.entity} ${c.id}`));
    }
    const merge = result.mergedFrom && result.mergedFrom !== result.crmId ? { from: result.mergedFrom, to: result.crmId } : undefined;
    if (merge) merges.set(c.id, merge);
    settle(c, { id: c.id, result: 'synced', crmId: result.crmId, ...(merge ? { note: mergeNote(crmName, merge) } : {}) }, {
      outcome: 'synced', syncedAt: snapshotAt, crmId: result.crmId, objectType: c.config.objectType,
      digest: c.prepared!.digest, payloadVersion: c.prepared!.version,
    });
  };
  for (const [id, found] of await resolveUncertainCreates(crm, ready.map(c => ({ id: c.id, config: c.config, payload: c.prepared!.payload, row: c.row })), options.context)) {
    const c = ready.find(r => r.id === id)!;
    if (found instanceof Error) { fail(c, found); ready.splice(ready.indexOf(c), 1); continue; }
    c.resolved = found;
    c.row = { ...c.row!, crmId: found };
  }
  // Reserve, send; a record taking an identity another record of the chunk gives up goes second,
  // once the giver's outcome (which moves its identity) is written.
  const reserveAndSend = async (group: Candidate[], handOver: boolean) => {
    const { refused, deferred } = await reserveIdentities(fork, crm, resourceType, group.map(c => ({ id: c.id, config: c.config, payload: c.prepared!.payload })),
      new Map(group.map(c => [c.id, c.row?.idKey ?? null])), handOver);
    for (const [id, error] of refused) fail(group.find(c => c.id === id)!, error);
    // A stored id whose object is gone from the CRM: with onMissing 'recreate', found again or
    // re-created only after checking the record is still in the database (a removed record never
    // gets a new object)
    const gone: Candidate[] = [];
    const failOrRecheck = (c: Candidate, error: unknown, written?: string) => {
      if (error instanceof MissingInCrmError && c.config.onMissing !== 'fail' && !written) gone.push(c);
      else fail(c, error, written);
    };
    await send(etlify, crm, group.filter(c => !refused.has(c.id) && !deferred.has(c.id)), options, deadline, succeed, failOrRecheck);
    if (gone.length) await recreateMissing(gone);
    return group.filter(c => deferred.has(c.id));
  };
  const recreateMissing = async (gone: Candidate[]) => {
    const live = await liveIds(fork, meta, gone.map(c => c.id));
    // removed meanwhile: its delete (or forget) is queued behind this claim; nothing is created
    for (const c of gone.filter(c => !live.has(c.id))) settle(c, { id: c.id, result: 'missing' });
    const again = gone.filter(c => live.has(c.id));
    for (const c of again) c.row = { ...c.row!, crmId: null, lastDigest: null };
    const answers = new Map<Candidate, UpsertResult>();
    await sendOneByOne(crm, again, options, deadline, (c, result) => answers.set(c, result), fail);
    // removed while its object was being re-created: that object goes at once (a forget would leave it)
    const stillLive = answers.size ? await liveIds(fork, meta, [...answers.keys()].map(c => c.id)) : new Set<string>();
    for (const [c, result] of answers) {
      if (stillLive.has(c.id) || !result.created) { succeed(c, result); continue; }
      try {
        await deadline.call(crm.adapter.delete({ objectType: c.config.objectType, crmId: result.crmId }, deadline.context(options.context)), crm.name);
        settle(c, { id: c.id, result: 'missing' });
      } catch (error) {
        fail(c, error, result.crmId);
      }
    }
  };
  try {
    const second = await reserveAndSend(ready, true);
    if (second.length) {
      await writeAll(etlify, fork, crm, writes.splice(0), outcomes, options.claimToken, merges);
      await reserveAndSend(second, false);
    }
  } finally {
    deadline.dispose();
  }
  await writeAll(etlify, fork, crm, writes, outcomes, options.claimToken, merges);
  if (syncDependencyTargets(em.getMetadata()).has(`${crmName}:${resourceType}`)) {
    const withCrmId = seen.filter(c => ['synced', 'not_modified'].includes(outcomes.get(c.id)!.result)).map(c => c.id);
    await releaseDependents(fork, crm, resourceType, withCrmId);
  }
  // the CRM id the record had before this sync (a re-created object resets `c.row`'s)
  const movedAway = (c: Candidate) => { const before = rows.get(c.id)?.crmId; return !!before && outcomes.get(c.id)!.result === 'synced' && outcomes.get(c.id)!.crmId !== before; };
  await queueDependentsOfMoved(fork, crm, seen.filter(movedAway));
  for (const c of seen) emitOutcome(etlify, crm, c, outcomes.get(c.id)!);
  for (const c of seen) {
    const merge = merges.get(c.id);
    if (merge) emitMerge(etlify, crm, c, merge, outcomes.get(c.id)!);
  }
  return ids.map(id => outcomes.get(id)!);
}

/** `record:merged`, and a line in the log: a merge made in the CRM changed where the record lives. */
function emitMerge(etlify: Etlify, crm: RegisteredCrm, c: Candidate, merge: FollowedMerge, outcome: RecordOutcome): void {
  const followed = !(outcome.error instanceof MergedAwayError);
  const heldBy = outcome.error instanceof MergedAwayError ? outcome.error.heldBy : undefined;
  etlify.events.emit('record:merged', {
    crm: crm.name, entity: c.entity, id: c.id, durationMs: performance.now() - c.startedAt, crmId: followed ? merge.to : null,
    mergedFrom: merge.from, mergedInto: merge.to, ...(followed ? {} : { heldBy: heldBy ?? 'another record' }),
  });
  etlify.logger.info(followed ? `${crm.name} merged the object of ${c.entity} ${c.id} into ${merge.to}: the record follows it (was ${merge.from})`
    : `${crm.name} merged the object of ${c.entity} ${c.id} into ${merge.to}, which ${heldBy ?? 'another record'} follows: the record is parked`,
  { crm: crm.name, entity: c.entity, id: c.id, mergedFrom: merge.from, mergedInto: merge.to });
}

/**
 * Whether the CRM already holds the record's payload: `recorded` when the sync row says all there is
 * to say (the common case of an inline sync of an unchanged record: no write), `unrecorded` when only
 * its time or errors need updating, false when the payload must be sent.
 */
function isUnchanged({ row, prepared, config }: Candidate, record: object): 'recorded' | 'unrecorded' | false {
  if (!row?.crmId || row.lastDigest !== prepared!.digest || (row.payloadVersion ?? null) !== prepared!.version) return false;
  const recorded = row.errorCount === 0 && row.lastOutcome !== 'skipped' && row.lastSyncedAt !== null
    && (newestLoadedTimestamp(record, config) ?? Infinity) <= Date.parse(row.lastSyncedAt);
  return recorded ? 'recorded' : 'unrecorded';
}

/** `syncChunk` with `unchangedOnly`: from the candidates on, read-only. */
async function unchangedOnly(etlify: Etlify, crm: RegisteredCrm, ids: string[], candidates: Candidate[], records: Map<string, object>): Promise<RecordOutcome[]> {
  const outcomes = new Map<string, RecordOutcome>();
  // a record waiting on sync dependencies would need the buffer: leave those to the full path
  const context = serializeContext(crm.name, new Map());
  for (const c of candidates) {
    if (c.config.syncDependencies?.length) continue;
    try {
      c.prepared = await preparePayload(records.get(c.id)!, c.config, { entity: c.entity, context, versioning: etlify.payloadVersions, pinnedVersion: crm.payloadVersion, timeoutMs: etlify.stepTimeoutMs });
    } catch {
      continue; // the full path records the failure
    }
    if (isUnchanged(c, records.get(c.id)!) !== 'recorded') {
      // the claimed sync may reuse it, unless its payload depends on other records' CRM ids (the
      // first look resolves none)
      const fingerprint = c.config.associations?.length ? undefined : fingerprintOf(records.get(c.id)!, c.config);
      if (fingerprint) outcomes.set(c.id, { id: c.id, result: 'pending', look: { fingerprint, prepared: c.prepared } });
      continue;
    }
    const outcome: RecordOutcome = { id: c.id, result: 'not_modified', crmId: c.row!.crmId! };
    outcomes.set(c.id, outcome);
    emitOutcome(etlify, crm, c, outcome);
  }
  return ids.map(id => outcomes.get(id) ?? { id, result: 'pending' });
}

/**
 * The database state a record's payload is prepared from: its own row and the rows of the
 * dependencies loaded with it (MikroORM's snapshot of what was read), or undefined when a dependency
 * is not fully loaded. Equal fingerprints: the serializer would see the same data.
 */
function fingerprintOf(record: object, config: EntityCrmConfig): string | undefined {
  const rows: unknown[] = [helper(record).__originalEntityData];
  for (const path of config.dependencies ?? []) {
    const levels = loadedLevels(record, path);
    if (!levels) return undefined;
    path.split('.').forEach((segment, i) => rows.push(segment, levels[i]!.map(entity => helper(entity).__originalEntityData)));
  }
  return JSON.stringify(rows);
}

function emitOutcome(etlify: Etlify, crm: RegisteredCrm, c: Candidate, outcome: RecordOutcome): void {
  const event: SyncEvent = {
    crm: crm.name, entity: c.entity, id: c.id, durationMs: performance.now() - c.startedAt, crmId: outcome.crmId ?? c.row?.crmId ?? null,
  };
  if (outcome.result === 'error' || outcome.result === 'retry') {
    event.error = etlify.describeError(outcome.error);
    if (outcome.result === 'retry') {
      event.retryInMs = outcome.retryAfterMs;
      etlify.events.emit('retried', event);
      return;
    }
    const parked = (c.row?.errorCount ?? 0) + 1 >= crm.maxSyncErrors || parksAtOnce(outcome.error);
    etlify.events.emit(parked ? 'parked' : 'failed', event);
    if (parked) etlify.events.emit('record:parked', event);
    const until = outcome.error instanceof MergedAwayError ? 'it is reset' : 'it changes or is reset';
    etlify.logger.warn(`sync of ${c.entity} ${c.id} to ${crm.name} failed${parked ? `; the record is parked until ${until}` : ''}`, { ...event, parked });
  } else if (outcome.result in RESULT_EVENTS) {
    etlify.events.emit(RESULT_EVENTS[outcome.result as keyof typeof RESULT_EVENTS], event);
  }
}

/**
 * The newest timestamp of a loaded record and of the dependencies loaded with it (what the stale finder
 * compares with `last_synced_at`), or undefined when something it depends on is not loaded.
 */
function newestLoadedTimestamp(record: object, config: EntityCrmConfig): number | undefined {
  let newest = timestampOf(record, config.timestampProperty);
  if (newest === undefined) return undefined;
  for (const path of config.dependencies ?? []) {
    // a pivot row's own timestamp counts for the finder, and pivot rows are not loaded
    const levels = loadedLevels(record, path, { throughManyToMany: false });
    if (!levels) return undefined;
    for (const entity of levels.flat()) {
      const ts = timestampOf(entity);
      if (ts === undefined) return undefined;
      newest = Math.max(newest, ts);
    }
  }
  return newest;
}

/**
 * The records at each segment of a dependency path, as loaded with `record`; undefined when one of
 * them is not loaded (or, with `throughManyToMany: false`, when the path crosses a many-to-many).
 */
function loadedLevels(record: object, path: string, options: { throughManyToMany?: boolean } = {}): object[][] | undefined {
  const levels: object[][] = [];
  let level: object[] = [record];
  for (const segment of path.split('.')) {
    const next: object[] = [];
    for (const entity of level) {
      if (options.throughManyToMany === false && (helper(entity).__meta.properties as Record<string, { kind: ReferenceKind }>)[segment]?.kind === ReferenceKind.MANY_TO_MANY) return undefined;
      const value = (entity as Record<string, unknown>)[segment];
      if (value == null) continue;
      if (Utils.isCollection(value)) {
        if (!value.isInitialized()) return undefined;
        next.push(...value.getItems());
      } else if (typeof value === 'object' && helper(value).__initialized) {
        next.push(value);
      } else {
        return undefined;
      }
    }
    levels.push(next);
    level = next;
  }
  return levels;
}

function timestampOf(entity: object, property?: string): number | undefined {
  const value = (entity as Record<string, unknown>)[property ?? ('updatedAt' in entity ? 'updatedAt' : 'createdAt')];
  return value instanceof Date ? value.getTime() : undefined;
}

/** The records of `ids`, with the relations their serializer and stale checks read. */
export async function loadRecords(em: EntityManager, meta: EntityMetadata, crmName: string, ids: string[]): Promise<Map<string, object>> {
  const config = declarationsOf(meta.class).get(crmName);
  const populate = [...new Set([...(config?.dependencies ?? []), ...(config?.syncDependencies ?? [])])];
  const pk = meta.primaryKeys[0]!;
  // one record (inline sync): one joined query; a chunk: one query per relation, no row explosion
  const strategy = ids.length === 1 ? LoadStrategy.JOINED : LoadStrategy.SELECT_IN;
  const found = await em.find(meta.class, { [pk]: { $in: ids } } as never, { populate: populate as never[], strategy });
  return new Map(found.map(record => [String((record as Record<string, unknown>)[pk]), record as object]));
}

const warnedFallbacks = new WeakMap<Etlify, Set<string>>();

/**
 * Sending one by one costs a request or more per record where a batch cost one per hundred, and it
 * "works", so nothing else would tell: say it once per CRM × object type × idProperty and process.
 * The usual cause is an idProperty that is not a unique property in the CRM.
 */
function warnOnceOfFallback(etlify: Etlify, crm: RegisteredCrm, config: EntityCrmConfig, error: unknown): void {
  const key = `${crm.name}\u0000${config.objectType}\u0000${config.idProperty ?? ''}`;
  const warned = warnedFallbacks.get(etlify) ?? new Set<string>();
  warnedFallbacks.set(etlify, warned);
  if (warned.has(key)) return;
  warned.add(key);
  etlify.logger.warn(
    `${crm.name} refused a whole batch of ${config.objectType} (${etlify.describeError(error)}): Etlify sends these records one by one, at a request or more each` +
    (config.idProperty ? `; if \`${config.idProperty}\` is not a unique property in the CRM, make it one (HubSpot: "require unique values") or choose another idProperty` : ''),
    { crm: crm.name, objectType: config.objectType, idProperty: config.idProperty ?? null });
}

/** The ids among `ids` whose record is in the database now (read from the primary, like the records). */
async function liveIds(em: EntityManager, meta: EntityMetadata, ids: string[]): Promise<Set<string>> {
  const pk = meta.primaryKeys[0]!;
  const rows = await em.find(meta.class, { [pk]: { $in: ids } } as never, { fields: [pk] as never[], disableIdentityMap: true });
  return new Set(rows.map(row => String((row as Record<string, unknown>)[pk])));
}

/** Sends the changed records: one batch call when possible, one call per record otherwise. */
async function send(
  etlify: Etlify, crm: RegisteredCrm, ready: Candidate[], options: ChunkOptions, deadline: ClaimDeadline,
  succeed: (c: Candidate, r: UpsertResult) => void, fail: (c: Candidate, e: unknown, written?: string) => void,
): Promise<void> {
  const { adapter } = crm;
  if (options.batch && adapter.batchUpsert && ready.length > 0) {
    const byObjectType = Map.groupBy(ready, c => `${c.config.objectType}\u0000${c.config.idProperty ?? ''}\u0000${c.config.mode ?? ''}`);
    for (const group of byObjectType.values()) {
      if (deadline.expired) { for (const c of group) fail(c, deadline.notSent()); continue; }
      let results: BatchItemResult[];
      try {
        results = await deadline.call(adapter.batchUpsert({
          objectType: group[0]!.config.objectType,
          idProperty: group[0]!.config.idProperty,
          mode: group[0]!.config.mode,
          // a gone object is never re-created by the adapter itself: see `recreateMissing`
          onMissing: 'fail',
          items: group.map(c => ({ payload: c.prepared!.payload, crmId: c.row?.crmId, associations: associationsToSend(c.prepared!, c.row?.lastDigest) })),
        }, deadline.context(options.context)), crm.name);
      } catch (error) {
        if (isRetryable(error)) { for (const c of group) fail(c, error); continue; }
        // The batch as a whole was refused (atomic batches): retry one by one so only the culprit is counted.
        warnOnceOfFallback(etlify, crm, group[0]!.config, error);
        await sendOneByOne(crm, group, options, deadline, succeed, fail);
        continue;
      }
      if (!Array.isArray(results) || results.length !== group.length) {
        const error = new CrmError(`batchUpsert of \`${crm.name}\` returned ${Array.isArray(results) ? results.length : 'no'} results for ${group.length} items; results must be positional`);
        for (const c of group) fail(c, error);
        continue;
      }
      group.forEach((c, i) => {
        const r = results[i]!;
        if (r.ok) succeed(c, r); else fail(c, r.error, r.crmId ?? writtenObjectOf(r.error));
      });
    }
    return;
  }
  await sendOneByOne(crm, ready, options, deadline, succeed, fail);
}

async function sendOneByOne(
  crm: RegisteredCrm, items: Candidate[], options: ChunkOptions, deadline: ClaimDeadline,
  succeed: (c: Candidate, r: UpsertResult) => void, fail: (c: Candidate, e: unknown) => void,
): Promise<void> {
  for (const c of items) {
    if (deadline.expired) { fail(c, deadline.notSent()); continue; }
    try {
      succeed(c, await deadline.call(crm.adapter.upsert({
        objectType: c.config.objectType, idProperty: c.config.idProperty, payload: c.prepared!.payload, crmId: c.row?.crmId, mode: c.config.mode, onMissing: 'fail',
        associations: associationsToSend(c.prepared!, c.row?.lastDigest),
      }, deadline.context(options.context)), crm.name));
    } catch (error) {
      fail(c, error);
    }
  }
}

/**
 * One statement for the whole chunk. If it fails because two records claim the same CRM object,
 * rows are written one at a time so only the records involved get an error.
 */
async function writeAll(
  etlify: Etlify, em: EntityManager, crm: RegisteredCrm, writes: OutcomeWrite[], outcomes: Map<string, RecordOutcome>, claimToken?: string, merges = new Map<string, FollowedMerge>(),
): Promise<void> {
  try {
    await writeOutcomes(em, writes, claimToken);
    return;
  } catch (error) {
    if (!isCrmIdConflict(error)) throw error;
  }
  for (const write of writes) {
    try {
      await writeOutcomes(em, [write], claimToken);
    } catch (error) {
      if (!isCrmIdConflict(error)) throw error;
      const merge = merges.get(write.resourceId);
      if (merge) {
        // two records' objects merged into one: the other record follows it already
        const holder = await settleMergedAway(em, crm, write.resourceType, write.resourceId, merge);
        const away = mergedAway(write.crmName, `${write.resourceType} ${write.resourceId}`, merge, holder);
        outcomes.set(write.resourceId, { id: write.resourceId, result: 'error', error: away });
        await writeOutcomes(em, [{ ...write, outcome: 'error', error: etlify.describeError(away), crmId: undefined, objectType: undefined, digest: undefined, parkAt: crm.maxSyncErrors }], claimToken);
        continue;
      }
      // the write landed on the other record's object: that record is sent again, its values back on top
      await resendHolder(em, crm, write.crmId!);
      const conflict = new ValidationError(`CRM id ${write.crmId} is already linked to another ${write.resourceType} in crm_synchronisations (two records map to the same CRM object; check idProperty values)`);
      outcomes.set(write.resourceId, { id: write.resourceId, result: 'error', error: conflict });
      await writeOutcomes(em, [{ ...write, outcome: 'error', error: etlify.describeError(conflict), crmId: undefined, objectType: undefined, digest: undefined }], claimToken);
    }
  }
}
