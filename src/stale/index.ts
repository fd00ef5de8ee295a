// The stale finder: what is out of date in a CRM, syncing it, and where each entity stands.
import type { MikroORM } from '@mikro-orm/core';
import { ConfigurationError } from '../errors.ts';
import { showValue } from '../show-value.ts';
import { Etlify } from '../etlify.ts';
import { query } from '../state/sql.ts';
import { prepareStaleQuery, staleQuery } from './finder.ts';
import { staleUnits, type EntitySelector } from './units.ts';
import { primaryFork } from '../state/primary.ts';

export { syncStale, type SyncStaleOptions, type SyncStaleStats, type StaleProgress, type StaleResultCounts, type StaleFailure } from './sync-stale.ts';
export { status, reset, type SyncStatus, type ResetOptions } from './status.ts';
export type { EntitySelector, SelectionOptions } from './units.ts';

export interface FindStaleOptions {
  crm: string;
  entity: EntitySelector;
  /** Keyset pagination: only keys greater than this one. */
  after?: string | number;
  /** Page size. Default 1000. */
  limit?: number;
}

/**
 * One page of stale primary keys (as strings, in key order) of one entity for one CRM. For
 * inspection; `syncStale` streams the whole set instead of paging. An STI class whose subclasses have
 * their own configurations spans several finder queries: their pages are merged.
 */
export async function findStaleIds(orm: MikroORM, options: FindStaleOptions): Promise<string[]> {
  const limit = options.limit ?? 1000;
  if (!Number.isInteger(limit) || limit < 1) throw new ConfigurationError(`findStaleIds: \`limit\` must be a positive integer (got ${showValue(options.limit)})`);
  const em = primaryFork(orm.em, { clear: true, useContext: false });
  const ids: string[] = [];
  for (const unit of staleUnits(Etlify.of(orm), orm.getMetadata(), { crm: options.crm, entities: [options.entity] })) {
    const { sql, params } = await prepareStaleQuery(em, unit, { after: options.after, limit });
    ids.push(...(await query<{ id: unknown }>(em, sql, params)).map(r => String(r.id)));
  }
  return [...new Set(ids)].sort(compareKeys).slice(0, limit);
}

/**
 * The finder's SQL for one entity and CRM, parameters inlined (for docs and EXPLAIN). Without the
 * watermark pre-filter of the to-many branches, which needs a query (see `syncWatermark`).
 */
export function staleQuerySql(orm: MikroORM, entity: EntitySelector, crm: string): string {
  const em = primaryFork(orm.em, { clear: true, useContext: false });
  return staleUnits(Etlify.of(orm), orm.getMetadata(), { crm, entities: [entity] })
    .map(unit => {
      const { sql, params } = staleQuery(em, unit);
      return `-- ${unit.entity} × ${unit.crm.name}\n${em.getPlatform().formatQuery(sql, params)}`;
    })
    .join(';\n\n');
}

/** Key order as PostgreSQL sorts them: numerically for integer keys, as text otherwise. */
function compareKeys(a: string, b: string): number {
  if (/^-?\d+$/.test(a) && /^-?\d+$/.test(b)) {
    const d = BigInt(a) - BigInt(b);
    return d < 0n ? -1 : d > 0n ? 1 : 0;
  }
  return a < b ? -1 : a > b ? 1 : 0;
}
