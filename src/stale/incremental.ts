import { createHash } from 'node:crypto';
import type { EntityManager } from '@mikro-orm/core';
import { query } from '../state/sql.ts';
import { changedKeys, neededIndexes, type NeededIndex } from './changed.ts';
import { staleQuery, type ChangedKeys } from './finder.ts';
import type { StaleUnit } from './units.ts';

export interface IncrementalOptions {
  /**
   * Scan everything when the last full scan of a unit is older than this (catches what timestamps
   * cannot show: deleted sync rows, back-dated writes). Default 24 hours.
   */
  fullScanEveryMs?: number;
  /**
   * Allowance for timestamps written by application clocks (MikroORM's `onUpdate: () => new Date()`)
   * that run behind the database's. Default 60 s.
   */
  clockSkewMs?: number;
}

/** How one unit will be swept: everything, or the records changed since `since`. */
export type SweepPlan = { mode: 'full'; reason: string } | { mode: 'incremental'; changed: ChangedKeys };

interface SweepState {
  fingerprint: string;
  watermark: Date | string | null;
  full_scan_at: Date | string | null;
}

const DEFAULT_FULL_SCAN_EVERY_MS = 24 * 60 * 60_000;
const DEFAULT_CLOCK_SKEW_MS = 60_000;

/**
 * Reads where the previous sweep of `unit` left off and decides between an incremental and a full
 * scan. A full scan whenever it cannot be sure: no previous sweep, another finder query (configuration
 * changed), a previous watermark it could not establish, an owner without timestamp, or a full scan
 * due.
 */
export async function planSweep(em: EntityManager, unit: StaleUnit, options: IncrementalOptions = {}): Promise<SweepPlan> {
  const [state] = await query<SweepState>(em, 'select fingerprint, watermark, full_scan_at from etlify_stale_sweeps where crm_name = ? and entity = ?', [unit.crm.name, unit.entity]);
  if (!state) return { mode: 'full', reason: 'first sweep' };
  if (state.fingerprint !== fingerprint(em, unit)) return { mode: 'full', reason: 'configuration changed' };
  if (!state.watermark) return { mode: 'full', reason: 'the previous sweep could not establish a watermark' };
  const every = options.fullScanEveryMs ?? DEFAULT_FULL_SCAN_EVERY_MS;
  const [{ due }] = await query<{ due: boolean }>(em, `select (? :: timestamptz is null or ? :: timestamptz < now() - make_interval(secs => ?)) as due`,
    [state.full_scan_at, state.full_scan_at, every / 1000]) as [{ due: boolean }];
  if (due) return { mode: 'full', reason: 'periodic full scan' };
  // MikroORM hands raw timestamps back as text; the Date drops microseconds, which only moves it earlier
  const since = new Date(state.watermark);
  const changed = changedKeys(em, unit, since);
  return changed ? { mode: 'incremental', changed } : { mode: 'full', reason: `${unit.entity} has no timestamp` };
}

/**
 * The watermark for the *next* sweep, taken before this sweep's query runs: the start of the oldest
 * transaction open in this database now (its writes are invisible to the query, and their
 * `now()`-based timestamps are at or after its start), less the clock-skew allowance. Null when it
 * cannot be known: a prepared transaction (its start is not recorded), or sessions of other roles whose
 * transaction start this role may not see (grant it `pg_read_all_stats`).
 */
export async function nextWatermark(em: EntityManager, options: IncrementalOptions = {}): Promise<Date | null> {
  const [row] = await query<{ watermark: Date; unsure: boolean }>(em,
    `select least(statement_timestamp(), min(a.xact_start)) - make_interval(secs => ?) as watermark,
            coalesce(bool_or(a.backend_type = 'client backend' and a.state is null), false)
              or exists (select 1 from pg_prepared_xacts x where x.database = current_database()) as unsure
       from pg_stat_activity a
      where a.datname = current_database() and a.pid <> pg_backend_pid()`,
    [(options.clockSkewMs ?? DEFAULT_CLOCK_SKEW_MS) / 1000]);
  return row!.unsure ? null : new Date(row!.watermark);
}

/** Records where this sweep leaves off (after its records were queued or synced). */
export async function saveSweep(em: EntityManager, unit: StaleUnit, watermark: Date | null, fullScan: boolean): Promise<void> {
  await query(em,
    `insert into etlify_stale_sweeps (crm_name, entity, fingerprint, watermark, full_scan_at, swept_at)
     values (?, ?, ?, ?, case when ? then now() end, now())
     on conflict (crm_name, entity) do update set fingerprint = excluded.fingerprint, watermark = excluded.watermark,
       full_scan_at = coalesce(excluded.full_scan_at, etlify_stale_sweeps.full_scan_at), swept_at = now()`,
    [unit.crm.name, unit.entity, fingerprint(em, unit), watermark, fullScan]);
}

/** The finder's query text for the unit: changes with its dependencies, error cap, scope, payload version. */
function fingerprint(em: EntityManager, unit: StaleUnit): string {
  const { sql, params } = staleQuery(em, unit);
  return createHash('sha256').update(JSON.stringify([sql, params])).digest('hex');
}

/**
 * The indexes the incremental sweep of `unit` needs that the database does not have (an index whose
 * first column is the column). Without them it stays correct but reads whole tables.
 */
export async function missingIndexes(em: EntityManager, unit: StaleUnit): Promise<NeededIndex[]> {
  const needed = neededIndexes(em, unit);
  if (!needed.length) return [];
  const present = await query<{ present: boolean }>(em,
    `select exists (select 1 from pg_index i join pg_attribute a on a.attrelid = i.indrelid and a.attnum = i.indkey[0]
                     where i.indrelid = to_regclass(n.tbl) and a.attname = n.col) as present
       from unnest(?::text[], ?::text[]) with ordinality as n(tbl, col, ord) order by n.ord`,
    [needed.map(n => n.table.split('.').map(part => `"${part.replaceAll('"', '""')}"`).join('.')), needed.map(n => n.column)]);
  return needed.filter((_, i) => !present[i]!.present);
}
