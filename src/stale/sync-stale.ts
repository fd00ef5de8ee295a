import type { EntityManager, MikroORM } from '@mikro-orm/core';
import { ConfigurationError, describeError } from '../errors.ts';
import { showValue } from '../show-value.ts';
import { Etlify } from '../etlify.ts';
import { enqueueRequests } from '../queue/requests.ts';
import { runNow, type ClaimOutcome } from '../queue/run-claim.ts';
import { query } from '../state/sql.ts';
import { forEachPage } from './cursor.ts';
import { prepareStaleQuery, staleCountQuery, staleQuery, syncWatermark } from './finder.ts';
import { nextWatermark, planSweep, saveSweep, type IncrementalOptions } from './incremental.ts';
import { staleUnits, type SelectionOptions, type StaleUnit } from './units.ts';
import { queueVanished } from './vanished.ts';
import { primaryFork } from '../state/primary.ts';

export interface StaleProgress {
  /** Records handled so far, all units together. */
  done: number;
  /** Stale records counted before the run started (changes made meanwhile can make `done` overshoot). */
  total: number;
  /** The unit the last chunk belonged to. */
  entity: string;
  crm: string;
}

export interface SyncStaleOptions extends SelectionOptions {
  /** Sync in this process now (default: queue requests for the worker). */
  inline?: boolean;
  /** Records per chunk: ids per enqueue statement, or records per `syncChunk` inline. Default 1000. */
  batchSize?: number;
  /** Called after each chunk. When given, the stale records are counted first so `total` is known. */
  onProgress?: (progress: StaleProgress) => void;
  /**
   * Only the records that may have changed since the previous incremental run (the periodic sweep),
   * falling back to a full scan whenever that cannot be sure (docs/stale-finder.md). Default: full scan.
   */
  incremental?: boolean | IncrementalOptions;
}

export type StaleResultCounts = Record<'synced' | 'not_modified' | 'skipped' | 'buffered' | 'error' | 'retry', number>;

export interface SyncStaleStats {
  /** Stale records found (and queued, or synced inline). */
  total: number;
  /** Per entity: every selected unit has an entry, possibly 0. Counts add up across CRMs. */
  perEntity: Record<string, number>;
  perCrm: Record<string, number>;
  /** Records that ended in `error` (inline only). */
  errors: number;
  /** Outcomes of the inline syncs (all zero when queued). */
  results: StaleResultCounts;
  /**
   * Inline: the records that failed (`error`) or are still waiting (`retry`: the worker finishes
   * them), with the redacted reason; the first 1,000.
   */
  failures: StaleFailure[];
  /** Per `Entity × crm`: how it was scanned (`incremental` only with the `incremental` option). */
  scans: Record<string, 'full' | 'incremental'>;
  /**
   * Records removed outside the unit of work (raw SQL, `nativeDelete`) whose sync row was left: found
   * by full scans and queued for delete (`deleteOnRemove`) or to be forgotten.
   */
  vanished: number;
}

export interface StaleFailure {
  entity: string;
  crm: string;
  id: string;
  result: 'error' | 'retry';
  error: string;
}

const DEFAULT_BATCH_SIZE = 1000;
const MAX_FAILURES = 1000;
/** The reason of a record left waiting without an attempt of its own in this run. */
const STILL_WAITING = 'still waiting: another worker holds it, or its retry is not due yet';
const MAX_RETRY_WAIT_MS = 60_000;

/**
 * Finds every stale record (see `staleQuery`) and either queues it for the worker or syncs it now,
 * chunk by chunk: the finder runs once per entity × CRM and at most one chunk of ids is in memory.
 */
export async function syncStale(orm: MikroORM, options: SyncStaleOptions = {}): Promise<SyncStaleStats> {
  const etlify = Etlify.of(orm);
  const batchSize = options.batchSize ?? DEFAULT_BATCH_SIZE;
  if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > 10_000) {
    throw new ConfigurationError(`syncStale: \`batchSize\` must be an integer between 1 and 10000 (got ${showValue(options.batchSize)})`);
  }
  const em = primaryFork(orm.em, { clear: true, useContext: false });
  const units = staleUnits(etlify, orm.getMetadata(), options);
  const stats: SyncStaleStats = {
    total: 0, perEntity: {}, perCrm: {}, errors: 0,
    results: { synced: 0, not_modified: 0, skipped: 0, buffered: 0, error: 0, retry: 0 }, failures: [], scans: {}, vanished: 0,
  };
  const incremental = options.incremental === true ? {} : options.incremental || undefined;
  for (const unit of units) {
    stats.perEntity[unit.entity] ??= 0;
    stats.perCrm[unit.crm.name] ??= 0;
  }
  const total = options.onProgress ? await countAll(em, units) : 0;

  // a table's sync rows are checked once per CRM, whatever the number of its STI units
  const vanishedChecked = new Set<string>();
  for (const unit of units) {
    const plan = incremental && await planSweep(em, unit, incremental);
    // taken before the query runs: what it cannot see is at or after this
    const watermark = incremental && await nextWatermark(em, incremental);
    const finder = plan && plan.mode === 'incremental' ? staleQuery(em, unit, { changed: plan.changed }) : await prepareStaleQuery(em, unit);
    stats.scans[`${unit.entity} × ${unit.crm.name}`] = plan ? plan.mode : 'full';
    await forEachPage<{ id: unknown }>(em, finder, batchSize, async rows => {
      const ids = rows.map(r => String(r.id));
      if (options.inline) {
        for (const outcome of await syncInline(etlify, em, unit, ids)) {
          if (outcome.result in stats.results) stats.results[outcome.result as keyof StaleResultCounts]++;
          if ((outcome.result === 'error' || outcome.result === 'retry') && stats.failures.length < MAX_FAILURES) {
            const error = outcome.error === undefined ? STILL_WAITING : etlify.redact(describeError(outcome.error));
            stats.failures.push({ entity: unit.entity, crm: unit.crm.name, id: outcome.id, result: outcome.result, error });
          }
        }
      } else {
        await enqueueRequests(em, { requests: ids.map(id => ({ kind: 'sync', crm: unit.crm.name, entity: unit.entity, id })), crms: [unit.crm], background: true });
      }
      stats.total += ids.length;
      stats.perEntity[unit.entity]! += ids.length;
      stats.perCrm[unit.crm.name]! += ids.length;
      options.onProgress?.({ done: stats.total, total, entity: unit.entity, crm: unit.crm.name });
    });
    if ((!plan || plan.mode === 'full') && !vanishedChecked.has(`${unit.meta.root.className}:${unit.crm.name}`)) {
      vanishedChecked.add(`${unit.meta.root.className}:${unit.crm.name}`);
      stats.vanished += await queueVanished(em, unit, batchSize);
    }
    if (plan) await saveSweep(em, unit, watermark as Date | null, plan.mode === 'full');
  }
  stats.errors = stats.results.error;
  return stats;
}

/** Counts the stale records of every unit (one count query each). */
export async function countAll(em: EntityManager, units: StaleUnit[]): Promise<number> {
  let total = 0;
  for (const unit of units) {
    const { sql, params } = staleCountQuery(em, unit, { watermark: await syncWatermark(em, unit) });
    const [row] = await query<{ count: number }>(em, sql, params);
    total += row!.count;
  }
  return total;
}

/**
 * Syncs one chunk now, each record claimed as a worker claims it. Records the CRM could not take yet
 * (rate limit, 5xx) or that another worker holds are waited for, up to a minute, since nobody else
 * may pick them up before the next sweep.
 */
async function syncInline(etlify: Etlify, em: EntityManager, unit: StaleUnit, ids: string[]): Promise<ClaimOutcome[]> {
  const type = em.getMetadata().getByClassName(unit.entity).root.className;
  return runNow(etlify, em, unit.crm, { type, entity: unit.entity, ids }, 'sync', { attempts: 5, maxWaitMs: MAX_RETRY_WAIT_MS, batch: true, background: true });
}
