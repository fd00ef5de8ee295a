import { ReferenceKind, type EntityManager, type EntityMetadata, type EntityProperty } from '@mikro-orm/core';
import { resolveRelationPath } from '../entity/declarations.ts';
import { ConfigurationError } from '../errors.ts';
import type { StaleUnit } from './units.ts';

/** SQL with `?` placeholders and their values, as MikroORM's connection takes them. */
export interface Sql {
  sql: string;
  params: unknown[];
}

const EPOCH = `timestamptz '1970-01-01 00:00:00+00'`;

/**
 * The stale finder's query for one unit (entity × CRM): the primary keys of the records whose CRM copy
 * may be out of date, in key order. A record is stale when it has no sync row for the CRM, or when the
 * newest timestamp of the record and of its declared dependencies is later than `last_synced_at`.
 *
 * Shape (see docs/stale-finder.md and the measurements behind it): a base branch over the owner table
 * with its to-one dependencies left-joined (one row per record), then one branch per path that reaches
 * a to-many side (one-to-many, inverse one-to-one, many-to-many), which only has to find *one* child row
 * newer than the last sync — no aggregate — and a UNION of them. Every table and column name comes
 * from the ORM's metadata, quoted by the platform.
 */
export function staleQuery(em: EntityManager, unit: StaleUnit, options: { after?: string | number; limit?: number } = {}): Sql {
  const { sql, params } = staleSet(em, unit);
  const key = quote(em, 'u.id');
  const after = options.after === undefined ? '' : `\n   and ${key} > ?`;
  const limit = options.limit === undefined ? '' : ' limit ?';
  return {
    sql: `${sql}${after}\n order by ${key}${limit}`,
    params: [...params, ...(options.after === undefined ? [] : [options.after]), ...(options.limit === undefined ? [] : [options.limit])],
  };
}

/** How many records the unit's query returns. */
export function staleCountQuery(em: EntityManager, unit: StaleUnit): Sql {
  const { sql, params } = staleSet(em, unit);
  return { sql: `select count(*)::int as count from (${sql}) as ${quote(em, 'n')}`, params };
}

/** `select u.id from (<branches>) u where <not buffered> [and <in scope>]`, unordered. */
function staleSet(em: EntityManager, unit: StaleUnit): Sql {
  const branches = buildBranches(em, unit);
  const id = quote(em, 'u.id');
  const params: unknown[] = branches.flatMap(b => b.params);
  let sql = `select ${id} from (\n${branches.map(b => b.sql).join('\n  union\n')}\n) as ${quote(em, 'u')}
 where not exists (select 1 from etlify_pending_syncs p
                    where p.dependent_type = ? and p.dependent_id = cast(${id} as text) and p.crm_name = ? and p.expires_at > now())`;
  params.push(unit.meta.root.className, unit.crm.name);
  const scope = scopeQuery(em, unit);
  if (scope) {
    sql += `\n   and ${id} in (${scope.sql})`;
    params.push(...scope.params);
  }
  return { sql, params };
}

/**
 * The records a unit considers at all (discriminator and staleScope applied): the owner table aliased
 * `o`, its key, and the conditions to put in a WHERE clause. Used by `status`.
 */
export function candidates(em: EntityManager, unit: StaleUnit): { table: string; keyAsText: string; conditions: string[]; params: unknown[] } {
  const o = new Owner(em, unit.meta, unit.discriminatorValues);
  const scope = scopeQuery(em, unit);
  return {
    table: `${o.table} as ${quote(em, 'o')}`,
    keyAsText: o.keyAsText,
    conditions: [...o.filters, ...(scope ? [`${o.key} in (${scope.sql})`] : [])],
    params: [...o.params, ...(scope?.params ?? [])],
  };
}

/** The staleScope filter, rendered by MikroORM's query builder as `select <pk> from <table> where …`. */
function scopeQuery(em: EntityManager, unit: StaleUnit): Sql | undefined {
  const { staleScope } = unit.config;
  if (!staleScope) return undefined;
  const where = typeof staleScope === 'function' ? staleScope() : staleScope;
  if (where === null || typeof where !== 'object') {
    throw new ConfigurationError(`${unit.entity} (CRM \`${unit.crm.name}\`): staleScope must return a MikroORM filter object (got ${where === null ? 'null' : typeof where})`);
  }
  const qb = (em as unknown as QueryBuilderFactory).createQueryBuilder(unit.meta.class, 'sc').select(unit.meta.primaryKeys[0]!).where(where);
  return { sql: qb.getQuery(), params: [...qb.getParams()] };
}

interface QueryBuilderFactory {
  createQueryBuilder(entity: Function, alias: string): {
    select(field: string): { where(cond: object): { getQuery(): string; getParams(): readonly unknown[] } };
  };
}

// ─── Query parts ─────────────────────────────────────────────────────────────────────────────────

/** The owner table of a unit: its name, key and discriminator filter. */
class Owner {
  readonly table: string;
  readonly key: string;
  readonly keyAsText: string;
  readonly timestamp?: string;
  readonly filters: string[] = [];
  readonly params: unknown[] = [];

  constructor(em: EntityManager, meta: EntityMetadata, discriminatorValues?: string[], timestampProperty?: string) {
    this.table = tableName(em, meta);
    this.key = quote(em, `o.${meta.properties[meta.primaryKeys[0]!]!.fieldNames[0]}`);
    this.keyAsText = `cast(${this.key} as text)`;
    const ts = timestampField(meta, timestampProperty);
    this.timestamp = ts && quote(em, `o.${ts}`);
    if (discriminatorValues) {
      const column = meta.root.properties[meta.root.discriminatorColumn!]!.fieldNames[0]!;
      this.filters.push(`${quote(em, `o.${column}`)} in (${discriminatorValues.map(() => '?').join(', ')})`);
      this.params.push(...discriminatorValues);
    }
  }
}

/** The keys (as text, like `resource_id`) of the rows of some STI classes of a table. */
export function discriminatedKeys(em: EntityManager, meta: EntityMetadata, discriminatorValues: string[]): Sql {
  const o = new Owner(em, meta, discriminatorValues);
  return { sql: `select ${o.keyAsText} from ${o.table} as ${quote(em, 'o')} where ${o.filters.join(' and ')}`, params: o.params };
}

/** One relation hop: the join clauses it adds and the timestamps it brings (pivot rows included). */
interface Hop {
  joins: string[];
  alias: string;
  timestamps: string[];
}

function buildBranches(em: EntityManager, unit: StaleUnit): Sql[] {
  const q = (identifier: string) => quote(em, identifier);
  const owner = new Owner(em, unit.meta, unit.discriminatorValues, unit.config.timestampProperty);
  const max = unit.crm.maxSyncErrors;
  const syncOn = `s.resource_type = ? and s.crm_name = ? and s.resource_id = ${owner.keyAsText}`;
  const syncParams = [unit.meta.root.className, unit.crm.name];
  const where = (conditions: string[]) => [...owner.filters, ...conditions].join('\n     and ');
  let aliasCount = 0;
  const nextAlias = () => `d${++aliasCount}`;

  // Base branch: owner ⟕ sync ⟕ every to-one prefix of every dependency path (shared by path).
  const baseJoins: string[] = [];
  const baseTimestamps: string[] = owner.timestamp ? [owner.timestamp] : [];
  const toOneAliases = new Map<string, string>();
  const toManyPaths: { props: EntityProperty[]; path: string }[] = [];
  for (const path of unit.config.dependencies ?? []) {
    const props = resolveRelationPath(unit.meta, path, `${unit.entity} (CRM \`${unit.crm.name}\`): dependency`);
    let from = 'o';
    for (const [i, prop] of props.entries()) {
      if (isToMany(prop)) { toManyPaths.push({ props, path }); break; }
      const prefix = props.slice(0, i + 1).map(p => p.name).join('.');
      let alias = toOneAliases.get(prefix);
      if (!alias) {
        const hop = joinHop(em, prop, from, nextAlias(), 'left join');
        toOneAliases.set(prefix, alias = hop.alias);
        baseJoins.push(...hop.joins);
        baseTimestamps.push(...hop.timestamps);
      }
      from = alias;
    }
  }
  const threshold = baseTimestamps.length ? `coalesce(${newestOf(baseTimestamps)}, ${EPOCH})` : EPOCH;
  const versionChanged = unit.payloadVersion === undefined ? '' : ' or (s.crm_id is not null and s.payload_version is distinct from ?)';
  const versionParams = unit.payloadVersion === undefined ? [] : [unit.payloadVersion];
  const branches: Sql[] = [{
    sql: `  select ${owner.key} as ${q('id')}
    from ${owner.table} as ${q('o')}
    left join crm_synchronisations s on ${syncOn}${baseJoins.map(j => `\n    ${j}`).join('')}
   where ${where([`(s.id is null or ((coalesce(s.last_synced_at, ${EPOCH}) < ${threshold}${versionChanged}) and (s.error_count < ? or s.last_error_at < ${threshold})))`])}`,
    params: [...syncParams, ...owner.params, ...versionParams, max],
  }];

  // One branch per path through a to-many side: some row on the path newer than the last sync.
  for (const { props } of toManyPaths) {
    const joins: string[] = [];
    const timestamps: string[] = [];
    let from = 'o';
    let reachedMany = false;
    for (const prop of props) {
      reachedMany ||= isToMany(prop);
      // to-one hops after the first to-many may be empty; before it they are the way there
      const hop = joinHop(em, prop, from, nextAlias(), reachedMany && !isToMany(prop) ? 'left join' : 'join');
      joins.push(...hop.joins);
      if (reachedMany) timestamps.push(...hop.timestamps);
      from = hop.alias;
    }
    // Nothing on the path has a timestamp: a change there cannot be seen (documented).
    if (!timestamps.length) continue;
    const newest = newestOf(timestamps);
    branches.push({
      sql: `  select ${owner.key} as ${q('id')}
    from ${owner.table} as ${q('o')}${joins.map(j => `\n    ${j}`).join('')}
    join crm_synchronisations s on ${syncOn}
   where ${where([`${newest} > coalesce(s.last_synced_at, ${EPOCH})`, `(s.error_count < ? or s.last_error_at < ${newest})`])}`,
      params: [...syncParams, ...owner.params, max],
    });
  }
  return branches;
}

/** GREATEST ignores nulls, so a missing child or a null timestamp never hides the others. */
function newestOf(timestamps: string[]): string {
  return timestamps.length === 1 ? timestamps[0]! : `greatest(${timestamps.join(', ')})`;
}

function isToMany(prop: EntityProperty): boolean {
  return prop.kind === ReferenceKind.ONE_TO_MANY || prop.kind === ReferenceKind.MANY_TO_MANY || (prop.kind === ReferenceKind.ONE_TO_ONE && !prop.owner);
}

/** The join(s) from `from` to the target of `prop`, aliased `alias` (a pivot table gets `<alias>p`). */
function joinHop(em: EntityManager, prop: EntityProperty, from: string, alias: string, join: string): Hop {
  const target = prop.targetMeta!;
  const on = (left: string, leftColumns: string[], right: string, rightColumns: string[]) =>
    leftColumns.map((c, i) => `${quote(em, `${left}.${c}`)} = ${quote(em, `${right}.${rightColumns[i]}`)}`).join(' and ');
  const targetTable = `${tableName(em, target)} as ${quote(em, alias)}`;
  const targetTs = timestampOf(em, target, alias);

  if (prop.kind === ReferenceKind.MANY_TO_ONE || (prop.kind === ReferenceKind.ONE_TO_ONE && prop.owner)) {
    return { alias, joins: [`${join} ${targetTable} on ${on(alias, prop.referencedColumnNames, from, prop.joinColumns)}`], timestamps: targetTs };
  }
  if (prop.kind === ReferenceKind.ONE_TO_MANY || prop.kind === ReferenceKind.ONE_TO_ONE) {
    const owning = target.properties[prop.mappedBy]!;
    return { alias, joins: [`${join} ${targetTable} on ${on(alias, owning.joinColumns, from, owning.referencedColumnNames)}`], timestamps: targetTs };
  }
  // many-to-many: through the pivot table, from whichever side the relation is declared
  const owning = prop.owner ? prop : target.properties[prop.mappedBy]!;
  const pivot = em.getMetadata().find(owning.pivotEntity)!;
  const pivotAlias = `${alias}p`;
  const [nearColumns, farColumns] = prop.owner ? [owning.joinColumns, owning.inverseJoinColumns] : [owning.inverseJoinColumns, owning.joinColumns];
  const ownerKeys = prop.owner ? owning.referencedColumnNames : primaryColumns(target.properties[prop.mappedBy]!.targetMeta!);
  return {
    alias,
    joins: [
      `${join} ${tableName(em, pivot)} as ${quote(em, pivotAlias)} on ${on(pivotAlias, nearColumns, from, ownerKeys)}`,
      `${join} ${targetTable} on ${on(alias, primaryColumns(target), pivotAlias, farColumns)}`,
    ],
    timestamps: [...timestampOf(em, pivot, pivotAlias), ...targetTs],
  };
}

function primaryColumns(meta: EntityMetadata): string[] {
  return meta.primaryKeys.flatMap(pk => meta.properties[pk]!.fieldNames);
}

/** `updatedAt` if the entity has it, else `createdAt`, else nothing (its changes cannot be seen). */
function timestampField(meta: EntityMetadata, explicit?: string): string | undefined {
  const name = explicit ?? ['updatedAt', 'createdAt'].find(n => meta.properties[n]?.kind === ReferenceKind.SCALAR);
  return name ? meta.properties[name]!.fieldNames[0] : undefined;
}

function timestampOf(em: EntityManager, meta: EntityMetadata, alias: string): string[] {
  const field = timestampField(meta);
  return field ? [quote(em, `${alias}.${field}`)] : [];
}

function tableName(em: EntityManager, meta: EntityMetadata): string {
  const configured = em.config.get('schema');
  const schema = meta.schema && meta.schema !== '*' ? meta.schema : configured;
  return quote(em, schema ? `${schema}.${meta.tableName}` : meta.tableName);
}

/** Quotes `identifier` (a dot separates schema/alias from name) the platform's way. */
export function quote(em: EntityManager, identifier: string): string {
  return em.getPlatform().quoteIdentifier(identifier);
}
