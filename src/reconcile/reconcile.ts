import { helper, type EntityManager, type EntityMetadata, type MikroORM } from '@mikro-orm/core';
import { ownValue } from '../adapters/http/json-values.ts';
import { declarationsOf } from '../entity/declarations.ts';
import { ConfigurationError } from '../errors.ts';
import { Etlify } from '../etlify.ts';
import type { AdapterCallContext, CrmObject, CrmPayload, EntityCrmConfig } from '../interfaces.ts';
import { staleUnits, type EntitySelector, type StaleUnit } from '../stale/units.ts';
import { query } from '../state/sql.ts';
import { loadSyncState } from '../state/sync-state.ts';
import { loadTombstones } from '../state/tombstones.ts';
import { dependencyCrmIds } from '../sync/dependencies.ts';
import { loadRecords } from '../sync/engine.ts';
import { identityKey } from '../sync/identity.ts';
import { preparePayload, serializeContext } from '../sync/serialize.ts';
import { ReconcileBudget } from './budget.ts';
import { diffPayload } from './compare.ts';
import { emptyReport, record, type ReconcileResult, type UnitReport } from './report.ts';
import { queueRepairs, type DeleteRepair, type SyncRepair } from './repair.ts';
import { resumableRun, saveRun } from './runs.ts';
import { primaryFork } from '../state/primary.ts';

export interface ReconcileProgress {
  crm: string;
  entity: string;
  /** Records checked so far in this CRM × entity. */
  checked: number;
  /** Records to check in it. */
  total: number;
}

export interface ReconcileOptions {
  /** Only this CRM (default: every enabled CRM). */
  crm?: string;
  /** Only these entities (default: every etlified entity). */
  entities?: EntitySelector[];
  /** Check a random sample of this many records per entity instead of all (not resumable; no orphan check). */
  sample?: number;
  /** Queue what brings the CRM back to the database (through the normal queue). Default false. */
  repair?: boolean;
  /**
   * Largest share of the CRM's shared request budget reconcile may fill (the workers' syncs use the
   * rest). Default 0.5.
   */
  budgetShare?: number;
  /** Records per page: read, compared and saved (the resume point) together. Default 500. */
  pageSize?: number;
  /** Findings kept as examples per category. Default 10. */
  examples?: number;
  onProgress?: (progress: ReconcileProgress) => void;
  /** Stops the run between requests; the next run resumes where it stopped. */
  signal?: AbortSignal;
}

interface Candidate {
  id: string;
  payload: CrmPayload;
  crmId: string | null;
  /** Identity of the `idProperty` value (undefined: none). */
  identity?: string;
  idValue?: unknown;
}

interface UnitWork {
  unit: StaleUnit;
  em: EntityManager;
  report: UnitReport;
  context: AdapterCallContext;
  budget: ReconcileBudget;
  options: Required<Pick<ReconcileOptions, 'repair' | 'examples'>>;
  /** The CRM enforces `idProperty`'s uniqueness itself: no duplicate lookups for records with a stored id (asked on the first page). */
  unique?: boolean;
  managed: Set<string>;
}

function checkOptions(options: ReconcileOptions): void {
  const positive = (value: number | undefined, name: string) => {
    if (value !== undefined && !(Number.isInteger(value) && value > 0)) throw new ConfigurationError(`reconcile: \`${name}\` must be a positive integer (got ${JSON.stringify(value)})`);
  };
  positive(options.sample, 'sample');
  positive(options.pageSize, 'pageSize');
  if (options.examples !== undefined && !(Number.isInteger(options.examples) && options.examples >= 0)) throw new ConfigurationError('reconcile: `examples` must be an integer ≥ 0');
  const share = options.budgetShare;
  if (share !== undefined && !(typeof share === 'number' && share > 0 && share <= 1)) {
    throw new ConfigurationError(`reconcile: \`budgetShare\` must be a number in (0, 1] (got ${JSON.stringify(share)})`);
  }
}

/**
 * Reads the CRM objects of etlified records back and compares them with each record's current
 * payload, as the CRM stores values. Per CRM × entity: records by stored CRM id in batches, records
 * without one by `idProperty`; then removed records' objects (sync rows without a record, tombstones)
 * for CRMs that delete on remove. Progress is saved per page: an interrupted run resumes. With
 * `repair`, fixes are queued (never written to the CRM here). The last result of each CRM × entity is
 * kept in `etlify_reconcile_runs`.
 */
export async function reconcile(orm: MikroORM, options: ReconcileOptions = {}): Promise<ReconcileResult> {
  checkOptions(options);
  const etlify = Etlify.of(orm);
  const selected = staleUnits(etlify, orm.getMetadata(), { crm: options.crm, entities: options.entities });
  // a CRM named explicitly must be able to read back; otherwise the ones that cannot are listed as skipped
  const unreadable = [...new Set(selected.filter(unit => !unit.crm.adapter.readObjects).map(unit => unit.crm.name))];
  if (options.crm !== undefined && unreadable.length) throw new ConfigurationError(`reconcile: the adapter of CRM \`${options.crm}\` cannot read objects back (it has no \`readObjects\`)`);
  const units = selected.filter(unit => unit.crm.adapter.readObjects);
  const reports: UnitReport[] = [];
  const orphansChecked = new Set<string>();
  const byObjectType = new Map<string, { unit: StaleUnit; reports: UnitReport[] }>();
  for (const unit of units) {
    const em = primaryFork(orm.em, { clear: true, useContext: false });
    const report = await reconcileUnit(etlify, em, unit, options, orphansChecked);
    reports.push(report);
    const key = `${unit.crm.name}\u0000${unit.config.objectType}`;
    if (!byObjectType.has(key)) byObjectType.set(key, { unit, reports: [] });
    byObjectType.get(key)!.reports.push(report);
  }
  // objects Etlify never created, per object type the run checked records of (a type without records
  // costs no request: it may not even exist in the CRM yet)
  for (const { unit, reports: group } of options.sample ? [] : byObjectType.values()) {
    const first = group.find(report => report.checked > 0);
    if (!first || !unit.crm.adapter.countObjects) continue;
    const em = primaryFork(orm.em, { clear: true, useContext: false });
    const budget = new ReconcileBudget(em, unit.crm, options.budgetShare ?? 0.5, options.signal);
    const total = await budget.retrying(() => unit.crm.adapter.countObjects!(unit.config.objectType, { budget, signal: options.signal }));
    first.requests += budget.requests;
    if (total !== undefined) first.counts.unmanaged = Math.max(0, total - group.reduce((sum, report) => sum + report.managedObjects, 0));
    await saveRun(em, first.crm, first.entity, { state: 'done', sample: first.sample, repair: first.repair, cursor: null, report: first });
  }
  return {
    units: reports,
    skippedCrms: unreadable,
    differences: reports.reduce((sum, r) => sum + r.differences, 0),
    requests: reports.reduce((sum, r) => sum + r.requests, 0),
  };
}

async function reconcileUnit(etlify: Etlify, em: EntityManager, unit: StaleUnit, options: ReconcileOptions, orphansChecked: Set<string>): Promise<UnitReport> {
  const { crm, config, meta } = unit;
  const repair = options.repair ?? false;
  const sample = options.sample ?? null;
  const resumed = sample === null ? await resumableRun(em, crm.name, unit.entity, repair) : undefined;
  const report = resumed?.report ?? emptyReport({ crm: crm.name, entity: unit.entity, objectType: config.objectType }, sample, repair);
  report.resumed = resumed !== undefined;
  const requestsBefore = report.requests;
  const budget = new ReconcileBudget(em, crm, options.budgetShare ?? 0.5, options.signal);
  const work: UnitWork = {
    unit, em, report, budget, context: { budget, signal: options.signal },
    options: { repair, examples: options.examples ?? 10 },
    managed: new Set(),
  };
  const save = (state: 'running' | 'done', cursor: unknown) => {
    report.requests = requestsBefore + budget.requests;
    report.managedObjects += work.managed.size;
    work.managed.clear();
    if (state === 'done') report.finishedAt = new Date().toISOString();
    return saveRun(em, crm.name, unit.entity, { state, sample, repair, cursor, report });
  };

  const pageSize = options.pageSize ?? 500;
  const total = sample ?? await countRecords(em, unit);
  const progress = () => options.onProgress?.({ crm: crm.name, entity: unit.entity, checked: report.checked, total });
  if (sample !== null) {
    const ids = await sampleIds(em, unit, sample);
    for (let start = 0; start < ids.length; start += pageSize) {
      await checkPage(etlify, work, ids.slice(start, start + pageSize));
      progress();
    }
  } else {
    let cursor = resumed?.cursor ?? null;
    for (;;) {
      const keys = await nextKeys(em, unit, cursor, pageSize);
      if (!keys.length) break;
      await checkPage(etlify, work, keys.map(String));
      cursor = keys.at(-1)!;
      await save('running', cursor);
      progress();
    }
    // an STI hierarchy shares its sync rows and tombstones: checked once per CRM × table
    const table = `${crm.name}\u0000${meta.root.className}`;
    if (crm.deleteOnRemove && !orphansChecked.has(table)) {
      orphansChecked.add(table);
      await checkOrphans(work, etlify.tombstoneTtlMs);
    }
  }
  await save('done', null);
  return report;
}

/** Compares one page of records with their CRM objects. */
async function checkPage(etlify: Etlify, work: UnitWork, ids: string[]): Promise<void> {
  work.context.signal?.throwIfAborted();
  const { unit, em, report, context, budget } = work;
  const { crm, config, meta } = unit;
  const adapter = crm.adapter;
  const fork = primaryFork(em, { clear: true, useContext: false });
  const [records, { rows }] = await Promise.all([loadRecords(fork, meta, crm.name, ids), loadSyncState(fork, meta.root.className, crm.name, ids)]);
  const waiting: { id: string; record: object; config: EntityCrmConfig }[] = [];
  for (const id of ids) {
    const entity = records.get(id);
    const recordConfig = entity && declarationsOf(entity.constructor).get(crm.name);
    if (!entity || !recordConfig) continue; // removed meanwhile: its delete is queued
    // merged away (its object merged into one another record follows): not sent, so not compared either
    if ((recordConfig.syncIf && !recordConfig.syncIf(entity)) || rows.get(id)?.mergedInto) report.counts.skipped += 1;
    else waiting.push({ id, record: entity, config: recordConfig });
  }
  const serializerContext = serializeContext(crm.name, await dependencyCrmIds(fork, crm.name, waiting));
  const candidates: Candidate[] = [];
  for (const { id, record: entity, config: recordConfig } of waiting) {
    try {
      const { payload } = await preparePayload(entity, recordConfig, {
        entity: helper(entity).__meta.className, context: serializerContext, versioning: etlify.payloadVersions, pinnedVersion: crm.payloadVersion,
      });
      const idValue = config.idProperty ? ownValue(payload, config.idProperty) : undefined;
      const identity = config.idProperty ? identityKey(adapter, config.objectType, config.idProperty, idValue) : undefined;
      candidates.push({ id, payload, crmId: rows.get(id)?.crmId ?? null, identity, idValue });
    } catch {
      report.counts.unserializable += 1;
    }
  }
  records.clear();
  fork.clear();
  report.checked += candidates.length;

  const properties = [...new Set(candidates.flatMap(c => Object.keys(c.payload)))];
  const stored = candidates.filter(c => c.crmId !== null);
  const answers = stored.length
    ? await budget.retrying(() => adapter.readObjects!({ objectType: config.objectType, crmIds: stored.map(c => c.crmId!), properties }, context))
    : new Map<string, CrmObject>();
  if (candidates.some(c => c.identity !== undefined && c.crmId !== null)) work.unique ??= !config.idProperty || !adapter.lookupObjects
    || (adapter.enforcesUniqueness ? await budget.retrying(() => adapter.enforcesUniqueness!(config.objectType, config.idProperty!, context)) : false);
  const toLook = candidates.filter(c => c.identity !== undefined && (c.crmId === null || !work.unique));
  const found = toLook.length && adapter.lookupObjects && config.idProperty
    ? await budget.retrying(() => adapter.lookupObjects!({ objectType: config.objectType, idProperty: config.idProperty!, values: toLook.map(c => c.idValue), properties }, context))
    : new Map<string, CrmObject[]>();

  const limit = work.options.examples;
  const syncs: SyncRepair[] = [];
  for (const c of candidates) {
    const byValue = c.identity === undefined ? [] : (found.get(c.identity) ?? []);
    const object = c.crmId !== null ? answers.get(c.crmId) : byValue[0];
    if (object) work.managed.add(object.crmId);
    const others = byValue.filter(o => o.crmId !== object?.crmId && o.crmId !== c.crmId).map(o => o.crmId);
    if (others.length) {
      for (const other of others) work.managed.add(other);
      record(report, 'duplicates', { id: c.id, crmId: c.crmId, others }, limit);
    }
    if (!object) {
      record(report, 'missing', { id: c.id, crmId: c.crmId }, limit);
      syncs.push({ id: c.id, forgetCrmId: c.crmId !== null });
    } else if (c.crmId !== null && object.crmId !== c.crmId) {
      record(report, 'merged', { id: c.id, crmId: c.crmId, answeredId: object.crmId }, limit);
      syncs.push({ id: c.id, relinkTo: object.crmId });
    } else {
      const diff = diffPayload(adapter, config.objectType, c.payload, object.properties);
      if (Object.keys(diff).length) {
        record(report, 'divergent', { id: c.id, crmId: c.crmId, diff }, limit);
        syncs.push({ id: c.id });
      } else {
        report.counts.inSync += 1;
      }
    }
  }
  if (work.options.repair && syncs.length) {
    await queueRepairs(em, crm, meta.root.className, unit.entity, syncs, []);
    report.repairs.syncs += syncs.length;
  }
}

/**
 * Objects of removed records still in the CRM: sync rows whose record is gone (removed outside the
 * ORM) and tombstones (a delete that was answered but did not hold, an object restored by hand).
 */
async function checkOrphans(work: UnitWork, tombstoneTtlMs: number): Promise<void> {
  const { unit, em, report, context, budget } = work;
  const { crm, meta } = unit;
  const resourceType = meta.root.className;
  const candidates = new Map<string, DeleteRepair>();
  for (const row of await rowsWithoutRecord(em, unit)) candidates.set(row.crmId, row);
  for (const tombstone of await loadTombstones(em, crm.name, resourceType, tombstoneTtlMs)) {
    if (!candidates.has(tombstone.crmId)) candidates.set(tombstone.crmId, { id: tombstone.resourceId, crmId: tombstone.crmId, objectType: tombstone.objectType });
  }
  // an object a live record holds now (relinked, re-created with the same id) is no orphan
  const held = new Set((await query<{ crm_id: string }>(em,
    `select s.crm_id from crm_synchronisations s join unnest(?::text[]) as c(id) on s.crm_id = c.id
      where s.crm_name = ? and not (s.resource_type = ? and s.resource_id = any(?::text[]))`,
    [[...candidates.keys()], crm.name, resourceType, [...candidates.values()].map(c => c.id)])).map(r => r.crm_id));
  const deletes: DeleteRepair[] = [];
  for (const group of Map.groupBy([...candidates.values()].filter(c => !held.has(c.crmId)), c => c.objectType).values()) {
    const answers = await budget.retrying(() => crm.adapter.readObjects!({ objectType: group[0]!.objectType, crmIds: group.map(c => c.crmId), properties: [] }, context));
    for (const orphan of group) {
      const object = answers.get(orphan.crmId);
      if (!object || held.has(object.crmId)) continue;
      work.managed.add(object.crmId);
      record(report, 'orphans', { id: orphan.id, crmId: orphan.crmId, answeredId: object.crmId }, work.options.examples);
      deletes.push({ ...orphan, crmId: object.crmId });
    }
  }
  if (work.options.repair && deletes.length) {
    await queueRepairs(em, crm, resourceType, unit.entity, [], deletes);
    report.repairs.deletes += deletes.length;
  }
}

// ─── the records of a unit, in SQL ──────────────────────────────────────────────────────────────

function tableOf(em: EntityManager, meta: EntityMetadata): { table: string; key: string; discriminator?: string } {
  const quote = (name: string) => em.getPlatform().quoteIdentifier(name);
  const root = meta.root;
  const table = root.schema ? `${quote(root.schema)}.${quote(root.tableName)}` : quote(root.tableName);
  const key = quote(root.properties[root.primaryKeys[0]!]!.fieldNames[0]!);
  const discriminator = root.discriminatorColumn ? quote(root.properties[root.discriminatorColumn]!.fieldNames[0]!) : undefined;
  return { table, key, discriminator };
}

/** `where` restricting the table to the unit's discriminator values, with its parameters. */
function unitFilter(em: EntityManager, unit: StaleUnit): { sql: string; params: unknown[] } {
  const { discriminator } = tableOf(em, unit.meta);
  if (!unit.discriminatorValues || !discriminator) return { sql: 'true', params: [] };
  return { sql: `${discriminator}::text = any(?::text[])`, params: [unit.discriminatorValues] };
}

async function countRecords(em: EntityManager, unit: StaleUnit): Promise<number> {
  const { table } = tableOf(em, unit.meta);
  const filter = unitFilter(em, unit);
  const [row] = await query<{ n: number }>(em, `select count(*)::int as n from ${table} where ${filter.sql}`, filter.params);
  return row!.n;
}

/** The next page of primary keys after `cursor`, in key order (keyset pagination: resumable, no offset). */
async function nextKeys(em: EntityManager, unit: StaleUnit, cursor: unknown, limit: number): Promise<unknown[]> {
  const { table, key } = tableOf(em, unit.meta);
  const filter = unitFilter(em, unit);
  const after = cursor === null || cursor === undefined ? '' : ` and ${key} > ?`;
  const rows = await query<{ id: unknown }>(em, `select ${key} as id from ${table} where ${filter.sql}${after} order by ${key} limit ?`,
    [...filter.params, ...(after ? [cursor] : []), limit]);
  return rows.map(r => r.id);
}

async function sampleIds(em: EntityManager, unit: StaleUnit, size: number): Promise<string[]> {
  const { table, key } = tableOf(em, unit.meta);
  const filter = unitFilter(em, unit);
  const rows = await query<{ id: unknown }>(em, `select ${key} as id from ${table} where ${filter.sql} order by random() limit ?`, [...filter.params, size]);
  return rows.map(r => String(r.id)).sort();
}

/** Sync rows (with a CRM id) of the unit's table whose record no longer exists. */
async function rowsWithoutRecord(em: EntityManager, unit: StaleUnit): Promise<DeleteRepair[]> {
  const { table, key } = tableOf(em, unit.meta);
  return query<DeleteRepair>(em,
    `select s.resource_id as id, s.crm_id as "crmId", coalesce(s.object_type, ?) as "objectType" from crm_synchronisations s
      where s.resource_type = ? and s.crm_name = ? and s.crm_id is not null
        and not exists (select 1 from ${table} t where t.${key}::text = s.resource_id)`,
    [unit.config.objectType, unit.meta.root.className, unit.crm.name]);
}
