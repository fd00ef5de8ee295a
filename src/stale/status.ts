import type { EntityManager, EntityMetadata, MikroORM } from '@mikro-orm/core';
import { etlifiedEntityNames } from '../entity/declarations.ts';
import { ConfigurationError } from '../errors.ts';
import { Etlify } from '../etlify.ts';
import { query } from '../state/sql.ts';
import { blockingDependencyTypes, candidates, discriminatedKeys, staleCountQuery, syncWatermark, type Sql } from './finder.ts';
import { missingIndexes } from './incremental.ts';
import { classChain, concreteMetas, staleUnits, type EntitySelector, type SelectionOptions } from './units.ts';
import { primaryFork } from '../state/primary.ts';

/** Where one entity stands with one CRM. */
export interface SyncStatus {
  entity: string;
  crm: string;
  /** Records the finder considers (discriminator and staleScope applied). */
  total: number;
  /** Records with a CRM id. */
  synced: number;
  /** Records the finder reports now (what `syncStale` would handle). */
  stale: number;
  /** Records with permanent failures, still retried (0 < error_count < maxSyncErrors). */
  failing: number;
  /** Records that reached maxSyncErrors: left alone until they change again or are reset. */
  parked: number;
  /** Records waiting for a sync dependency (live buffer rows). */
  buffered: number;
  /** Records with a sync or delete waiting in the queue (the worker has not finished with them yet). */
  queued: number;
  /** Of the queued records, those waiting after a failed attempt (transient: rate limit, 5xx, network, credentials). */
  retrying: number;
  /**
   * Since when the longest-waiting queued record has waited (its first request, or its last failed
   * attempt for one being retried), as an ISO time; null when nothing is queued.
   */
  oldestWaitingAt: string | null;
  /** The most recent error, in full: of a record being retried, failing or parked. Redacted. */
  lastError: string | null;
  /**
   * Indexes the incremental stale sweep needs that are missing, as `table (column)`: without them
   * each sweep reads whole tables (docs/stale-finder.md).
   */
  missingIndexes: string[];
}

/** Counts per entity × enabled CRM, one query each (plus the finder's count). */
export async function status(orm: MikroORM, options: SelectionOptions = {}): Promise<SyncStatus[]> {
  const etlify = Etlify.of(orm);
  const em = primaryFork(orm.em, { clear: true, useContext: false });
  const report: SyncStatus[] = [];
  for (const unit of staleUnits(etlify, orm.getMetadata(), options)) {
    const c = candidates(em, unit);
    const max = unit.crm.maxSyncErrors;
    const [row] = await query<Omit<SyncStatus, 'entity' | 'crm' | 'stale' | 'lastError' | 'missingIndexes' | 'oldestWaitingAt'> & { oldest: Date | null; last_error: string | null; queue_error: string | null; error_at: Date | null; queue_error_at: Date | null }>(em,
      `select count(*)::int as total,
              count(s.crm_id)::int as synced,
              (count(*) filter (where s.error_count > 0 and s.error_count < ?))::int as failing,
              (count(*) filter (where s.error_count >= ?))::int as parked,
              count(p.dependent_id)::int as buffered,
              count(q.id)::int as queued,
              (count(*) filter (where q.attempts > 0))::int as retrying,
              min(q.since) as oldest,
              (array_agg(s.last_error order by s.last_error_at desc nulls last) filter (where s.error_count > 0))[1] as last_error,
              max(s.last_error_at) filter (where s.error_count > 0) as error_at,
              (array_agg(q.last_error order by q.error_at desc nulls last) filter (where q.last_error is not null))[1] as queue_error,
              max(q.error_at) as queue_error_at
         from ${c.table}
         left join crm_synchronisations s on s.resource_type = ? and s.crm_name = ? and s.resource_id = ${c.keyAsText}
         left join (select distinct dependent_id from etlify_pending_syncs
                     where dependent_type = ? and crm_name = ? and expires_at > now() and dependency_type = any(?::text[])) p on p.dependent_id = ${c.keyAsText}
         -- queued: in the record queue, or still in the inbox (as the entity or one of its STI relatives);
         -- a record being retried waits since its last failed attempt (the row's due time then)
         left join (select id, max(attempts) as attempts, min(since) as since, max(last_error) as last_error, max(error_at) as error_at
                      from (select resource_id as id, attempts, coalesce(first_requested_at, nullif(due_at, 'infinity')) as since, last_error,
                                   case when last_error is not null then nullif(due_at, 'infinity') end as error_at
                              from etlify_record_queue where crm_name = ? and lane = 'record' and resource_type = ?
                            union all
                            select unnest(resource_ids), 0, requested_at, null, null from etlify_sync_requests
                             where crm_name = ? and kind <> 'dependents' and entity = any(?::text[])) w
                     group by id) q on q.id = ${c.keyAsText}
        ${c.conditions.length ? `where ${c.conditions.join(' and ')}` : ''}`,
      [max, max, unit.meta.root.className, unit.crm.name, unit.meta.root.className, unit.crm.name, blockingDependencyTypes(unit),
        unit.crm.name, unit.meta.root.className, unit.crm.name, relatives(orm, unit.meta), ...c.params]);
    const count = staleCountQuery(em, unit, { watermark: await syncWatermark(em, unit) });
    const [stale] = await query<{ count: number }>(em, count.sql, count.params);
    const { last_error: syncError, error_at: syncErrorAt, queue_error: queueError, queue_error_at: queueErrorAt, oldest, ...counts } = row!;
    // the newer of the two: a permanent failure in the sync state, a transient one in the queue
    const lastError = queueError !== null && (syncError === null || (queueErrorAt ?? 0) > (syncErrorAt ?? 0)) ? queueError : syncError;
    const missing = (await missingIndexes(em, unit)).map(n => `${n.table} (${n.column})`);
    report.push({
      entity: unit.entity, crm: unit.crm.name, ...counts, stale: stale!.count,
      oldestWaitingAt: oldest === null ? null : new Date(oldest).toISOString(),
      lastError: lastError === null ? null : etlify.redact(lastError), missingIndexes: missing,
    });
  }
  return report;
}

/** The class names of an entity's STI hierarchy (the inbox names records by their own class). */
function relatives(orm: MikroORM, meta: EntityMetadata): string[] {
  return [...orm.getMetadata().getAll().values()].filter(m => m.class && m.root.className === meta.root.className).map(m => m.className);
}

export interface ResetOptions {
  /** Only this CRM (default: every registered CRM). */
  crm?: string;
  /** Only this entity (an STI class selects itself and its subclasses). */
  entity?: EntitySelector;
  /** Only these records (requires `entity`). */
  ids?: (string | number)[];
}

/**
 * Gives parked records (error_count ≥ maxSyncErrors) a fresh start: clears their error count and last
 * error (and a merge into another record's object: it is sent again as a record without a CRM object),
 * so the next stale sweep retries them. Returns how many records were reset.
 */
export async function reset(orm: MikroORM, options: ResetOptions = {}): Promise<number> {
  const etlify = Etlify.of(orm);
  if (options.ids && options.entity === undefined) throw new ConfigurationError('reset: `ids` needs `entity` (ids are only unique within one entity)');
  const em = primaryFork(orm.em, { clear: true, useContext: false });
  const crms = options.crm === undefined ? etlify.crms.all() : [etlify.crms.get(options.crm)];
  const target = options.entity === undefined ? undefined : resetTarget(em, options.entity);
  let count = 0;
  for (const crm of crms) {
    const conditions = ['crm_name = ?', 'error_count >= ?'];
    const params: unknown[] = [crm.name, crm.maxSyncErrors];
    if (target) {
      conditions.push('resource_type = ?');
      params.push(target.root.className);
      if (target.subset) {
        conditions.push(`resource_id in (${target.subset.sql})`);
        params.push(...target.subset.params);
      }
    }
    if (options.ids) {
      conditions.push('resource_id = any(?::text[])');
      params.push(options.ids.map(String));
    }
    const [row] = await query<{ count: number }>(em,
      `with done as (
         update crm_synchronisations set error_count = 0, last_error = null, last_error_at = null, merged_into = null, updated_at = now()
          where ${conditions.join(' and ')} returning 1
       ) select count(*)::int as count from done`,
      params);
    count += row!.count;
  }
  return count;
}

/** The sync rows of an entity: its root type, narrowed by discriminator for an STI subclass. */
function resetTarget(em: EntityManager, selector: EntitySelector): { root: EntityMetadata; subset?: Sql } {
  const name = typeof selector === 'function' ? selector.name : selector;
  const meta = em.getMetadata().getByClassName(name, false);
  if (!meta?.class) throw new ConfigurationError(`reset: unknown entity ${JSON.stringify(name)} (etlified entities: ${etlifiedEntityNames(em.getMetadata())})`);
  if (meta === meta.root || !meta.root.discriminatorColumn) return { root: meta.root };
  const values = concreteMetas(em.getMetadata(), meta.root).filter(m => classChain(m.class).includes(meta.className)).map(m => String(m.discriminatorValue));
  return { root: meta.root, subset: discriminatedKeys(em, meta.root, values) };
}
