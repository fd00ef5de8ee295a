import { raw, ReferenceKind, type EntityManager, type EntityMetadata, type EntityProperty } from '@mikro-orm/core';
import type { QueryBuilder, SqlEntityManager } from '@mikro-orm/postgresql';
import { resolveRelationPath } from '../entity/declarations.ts';
import { ConfigurationError } from '../errors.ts';
import { CrmSynchronisation } from '../state/entities.ts';
import { query } from '../state/sql.ts';
import type { StaleUnit } from './units.ts';

/** SQL with `?` placeholders and their values, as MikroORM's connection takes them. */
export interface Sql {
  sql: string;
  params: unknown[];
}

export interface StaleQueryOptions {
  /** Keyset pagination: only keys greater than this one. */
  after?: string | number;
  limit?: number;
  /**
   * The oldest `last_synced_at` of the unit's sync rows (see `syncWatermark`): a child row older than
   * it cannot make any record stale, so the to-many branches skip it before joining the sync table.
   * Undefined: no pre-filter (same result, slower).
   */
  watermark?: Date;
  /** Incremental sweep: only the records that may have changed (see `changedKeys`). */
  changed?: ChangedKeys;
}

/**
 * What changed since the previous sweep, as queries selecting `id` (owner keys). Each branch looks
 * them up instead of scanning its tables: the base branch the `records`; a to-many branch its own
 * child rows changed `since`, plus the `syncStates` (a reset sync row can make an old child count).
 */
export interface ChangedKeys {
  since: Date;
  /** Owners changed, owners of changed to-one targets, changed sync rows, expired buffer rows. */
  records: Qb;
  /** Changed sync rows and expired buffer rows only. */
  syncStates: Qb;
}

const EPOCH = `timestamptz '1970-01-01 00:00:00+00'`;
/** Integer and uuid keys are compared in their own type (a text cast of every key costs ~12 %). */
export const TYPED_KEY = /^(smallint|integer|int|bigint|int2|int4|int8|serial|bigserial|smallserial|uuid)\b/i;

/**
 * The stale finder's query for one unit (entity × CRM): the primary keys of the records whose CRM copy
 * may be out of date, in key order. A record is stale when it has no sync row for the CRM, or when the
 * newest timestamp of the record and of its declared dependencies is later than `last_synced_at`.
 *
 * Shape (docs/stale-finder.md, measured on the research dataset): a base branch over the owner table
 * with its to-one dependencies left-joined, then one branch per path that reaches a to-many side, which
 * only has to find *one* child row newer than the last sync — no aggregate — and a UNION of them.
 * A to-many branch starts at the child (or pivot) row and joins the sync row on the child's foreign
 * key, never back through the owner table. Built with MikroORM's query builder from the metadata
 * (naming strategy, schemas, STI); raw SQL only for expressions it has no syntax for (casts, GREATEST,
 * COALESCE, NOT EXISTS), each marked.
 */
export function staleQuery(em: EntityManager, unit: StaleUnit, options: StaleQueryOptions = {}): Sql {
  const outer = staleSet(em, unit, options);
  if (options.after !== undefined) outer.andWhere(`${quote(em, 'u.id')} > ?`, [options.after]);
  outer.orderBy({ [raw(quote(em, 'u.id'))]: 'asc' });
  if (options.limit !== undefined) outer.limit(options.limit);
  return toSql(outer);
}

/** `staleQuery` with the unit's watermark read first (one aggregate over its sync rows). */
export async function prepareStaleQuery(em: EntityManager, unit: StaleUnit, options: Omit<StaleQueryOptions, 'watermark'> = {}): Promise<Sql> {
  return staleQuery(em, unit, { ...options, watermark: await syncWatermark(em, unit) });
}

/** How many records the unit's query returns. */
export function staleCountQuery(em: EntityManager, unit: StaleUnit, options: StaleQueryOptions = {}): Sql {
  const { sql: inner, params } = toSql(staleSet(em, unit, options));
  return { sql: `select count(*)::int as count from (${inner}) as ${quote(em, 'n')}`, params };
}

/**
 * The oldest last sync of the unit's records (`epoch` for a row never synced), or undefined when it
 * has no to-many branch or no sync row yet. One indexed aggregate; see `StaleQueryOptions.watermark`.
 */
export async function syncWatermark(em: EntityManager, unit: StaleUnit): Promise<Date | undefined> {
  const watermark = watermarkQuery(em, unit);
  if (!watermark) return undefined;
  const [row] = await query<{ watermark: Date | string | null }>(em, watermark.sql, watermark.params);
  return row?.watermark == null ? undefined : new Date(row.watermark);
}

/** The query behind `syncWatermark` (one row, column `watermark`), or undefined when it is not needed. */
export function watermarkQuery(em: EntityManager, unit: StaleUnit): Sql | undefined {
  if (!toManyPaths(unit).length) return undefined;
  return toSql(syncRows(em, unit, 'w').select(raw(`min(coalesce(${quote(em, 'w.last_synced_at')}, ${EPOCH})) as ${quote(em, 'watermark')}`)));
}

/** `select u.id from (<branches>) u where <not buffered> [and <in scope>]`, unordered. */
function staleSet(em: EntityManager, unit: StaleUnit, options: StaleQueryOptions) {
  const branches = buildBranches(em, unit, options);
  const union = branches.length === 1 ? branches[0]! : branches[0]!.union(...branches.slice(1));
  const id = quote(em, 'u.id');
  // the root class: a subclass' query builder would add its discriminator to this outer alias
  const outer = qbFactory(em).createQueryBuilder(unit.meta.root.class, 'u').select(raw(id)).from(union, 'u');
  // materialized: evaluated once, small sets the branches probe by key
  if (options.changed) {
    outer.with(CHANGED, options.changed.records, { materialized: true }).with(CHANGED_STATES, options.changed.syncStates, { materialized: true });
  }
  const blocking = blockingDependencyTypes(unit);
  // raw: NOT EXISTS on a table with no relation to the entity
  if (blocking.length) {
    outer.where(`not exists (select 1 from ${quote(em, 'etlify_pending_syncs')} as ${quote(em, 'p')} where ${quote(em, 'p.dependent_type')} = ? `
      + `and ${quote(em, 'p.dependent_id')} = cast(${id} as text) and ${quote(em, 'p.crm_name')} = ? and ${quote(em, 'p.expires_at')} > now() `
      + `and ${quote(em, 'p.dependency_type')} in (${blocking.map(() => '?').join(', ')}))`, [unit.meta.root.className, unit.crm.name, ...blocking]);
  }
  const scope = scopeQuery(em, unit);
  if (scope) outer.andWhere(`${id} in (${scope.sql})`, scope.params);
  return outer;
}

/**
 * The entity types (root class names) a unit's records wait for while buffered: the targets of its
 * to-one sync dependencies. A collection member without a CRM id also leaves a buffer row, but the
 * record does not wait for it (it was sent without that member, and the row only queues it again
 * once the member has its id): such a record is neither buffered nor hidden from the sweep. A type
 * that is both is taken as blocking.
 */
export function blockingDependencyTypes(unit: StaleUnit): string[] {
  const properties = unit.meta.properties as Record<string, EntityProperty>;
  const types = (unit.config.syncDependencies ?? []).map(name => properties[name])
    .filter(prop => prop && prop.kind !== ReferenceKind.ONE_TO_MANY && prop.kind !== ReferenceKind.MANY_TO_MANY)
    .map(prop => prop!.targetMeta!.root.className);
  return [...new Set(types)];
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
  return toSql(qbFactory(em).createQueryBuilder(unit.meta.class, 'sc').select(unit.meta.primaryKeys[0]!).where(where));
}

// ─── Query parts ─────────────────────────────────────────────────────────────────────────────────

/** The owner table of a unit: its name, key and discriminator filter (for `status` and `reset`). */
class Owner {
  readonly table: string;
  readonly key: string;
  readonly keyAsText: string;
  readonly filters: string[] = [];
  readonly params: unknown[] = [];

  constructor(em: EntityManager, meta: EntityMetadata, discriminatorValues?: string[]) {
    this.table = tableName(em, meta);
    this.key = quote(em, `o.${meta.properties[meta.primaryKeys[0]!]!.fieldNames[0]}`);
    this.keyAsText = `cast(${this.key} as text)`;
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

export type Qb = QueryBuilder<any, any, any, any>;
const CHANGED = 'etlify_changed';
const CHANGED_STATES = 'etlify_changed_states';
/**
 * A join condition: one raw `a = b` key with no value, so nothing of it becomes a parameter (MikroORM
 * binds a column reference given as a value, e.g. `sql.ref`, as if it were data).
 */
type JoinOn = Record<string, never[]>;

function joinOn(em: EntityManager, left: string, right: string): JoinOn {
  return { [raw(`${left} = ${right}`)]: [] };
}

/** The unit's sync rows (its root type × CRM), as a sub-query the planner flattens into the join. */
export function syncRows(em: EntityManager, unit: StaleUnit, alias = 's'): Qb {
  return qbFactory(em).createQueryBuilder(CrmSynchronisation, alias).where({ resourceType: unit.meta.root.className, crmName: unit.crm.name });
}

const SYNC_FIELDS = ['id', 'resourceId', 'crmId', 'payloadVersion', 'lastSyncedAt', 'lastErrorAt', 'errorCount'] as const;

/** The dependency paths of a unit that reach a to-many side. */
function toManyPaths(unit: StaleUnit): EntityProperty[][] {
  return (unit.config.dependencies ?? [])
    .map(path => resolveRelationPath(unit.meta, path, `${unit.entity} (CRM \`${unit.crm.name}\`): dependency`))
    .filter(props => props.some(isToMany));
}

function buildBranches(em: EntityManager, unit: StaleUnit, options: StaleQueryOptions): Qb[] {
  const q = (identifier: string) => quote(em, identifier);
  const root = unit.meta.root;
  const pk = unit.meta.properties[unit.meta.primaryKeys[0]!]!;
  const max = unit.crm.maxSyncErrors;
  const discriminator = (qb: Qb, alias: string) => {
    if (unit.discriminatorValues) qb.andWhere({ [`${alias}.${root.discriminatorColumn}`]: { $in: unit.discriminatorValues } });
  };
  let aliasCount = 0;
  const nextAlias = () => `d${++aliasCount}`;

  // Base branch: owner ⟕ sync ⟕ every to-one prefix of every dependency path (shared by path).
  const base = qbFactory(em).createQueryBuilder(root.class, 'o').select(raw(`${q(`o.${pk.fieldNames[0]}`)} as ${q('id')}`))
    .leftJoin(syncRows(em, unit).select([...SYNC_FIELDS]), 's', keyJoin(em, pk, `o.${pk.fieldNames[0]}`, !options.changed));
  const timestamps: string[] = [];
  const ownerTs = timestampField(unit.meta, unit.config.timestampProperty);
  if (ownerTs) timestamps.push(q(`o.${ownerTs}`));
  const toOneAliases = new Map<string, string>();
  for (const path of unit.config.dependencies ?? []) {
    const props = resolveRelationPath(unit.meta, path, `${unit.entity} (CRM \`${unit.crm.name}\`): dependency`);
    let from = 'o';
    for (const [i, prop] of props.entries()) {
      if (isToMany(prop)) break;
      const prefix = props.slice(0, i + 1).map(p => p.name).join('.');
      let alias = toOneAliases.get(prefix);
      if (!alias) {
        toOneAliases.set(prefix, alias = nextAlias());
        base.leftJoin(`${from}.${prop.name}`, alias);
        timestamps.push(...timestampOf(em, prop.targetMeta!, alias));
      }
      from = alias;
    }
  }
  const threshold = timestamps.length ? `coalesce(${newestOf(timestamps)}, ${EPOCH})` : EPOCH;
  const versionChanged = unit.payloadVersion === undefined ? '' : ` or (${q('s.crm_id')} is not null and ${q('s.payload_version')} is distinct from ?)`;
  // raw: COALESCE/GREATEST comparisons between columns of several joined tables
  base.where(`${q('s.id')} is null or ((coalesce(${q('s.last_synced_at')}, ${EPOCH}) < ${threshold}${versionChanged}) and (${q('s.error_count')} < ? or ${q('s.last_error_at')} < ${threshold}))`,
    [...(unit.payloadVersion === undefined ? [] : [unit.payloadVersion]), max]);
  discriminator(base, 'o');
  const among = (qb: Qb, key: string, cte: string) => qb.andWhere(raw(`${key} in (select ${q('id')} from ${q(cte)})`));
  if (options.changed) among(base, q(`o.${pk.fieldNames[0]}`), CHANGED);
  const branches: Qb[] = [base];

  // One branch per path through a to-many side: some row on the path newer than the last sync. In an
  // incremental sweep, two: the rows changed since the previous sweep, and the changed sync states.
  for (const props of toManyPaths(unit)) {
    for (const variant of options.changed ? ['changed rows', 'changed sync states'] as const : ['all'] as const) {
      const first = props.findIndex(isToMany);
      const branch = startBranch(em, unit, props, first, nextAlias, !options.changed);
      if (!branch) break;
      const { qb, key, timestamps: pathTs, watermarkColumns } = branch;
      const newest = newestOf(pathTs);
      qb.select(raw(`${key.ref} as ${q('id')}`))
        .join(syncRows(em, unit).select([...SYNC_FIELDS]), 's', key.syncJoin)
        // raw: the child's timestamps against the sync row's, several tables
        .where(`${newest} > coalesce(${q('s.last_synced_at')}, ${EPOCH}) and (${q('s.error_count')} < ? or ${q('s.last_error_at')} < ${newest})`, [max]);
      if (variant === 'changed rows') qb.andWhere(...newerThan(watermarkColumns, newest, options.changed!.since, '>='));
      else if (variant === 'changed sync states') among(qb, key.ref, CHANGED_STATES);
      else if (options.watermark) qb.andWhere(...newerThan(watermarkColumns, newest, options.watermark, '>'));
      if (first === 0) {
        // started at the child: the owner must still exist (and be of the unit's STI classes)
        const owners = qbFactory(em).createQueryBuilder(root.class, 'ox').select(pk.name);
        discriminator(owners, 'ox');
        qb.andWhere(`${key.ref} in (${owners.getQuery()})`, [...owners.getParams()]);
      } else {
        discriminator(qb, 'o');
      }
      branches.push(qb);
    }
  }
  return branches;
}

/**
 * `newest <op> bound` for a to-many branch, as a condition and its parameters for `andWhere`. With one
 * timestamp column, the constant is cast to the column's own type, so the column is compared as it is
 * stored (an index or its statistics apply).
 */
export function newerThan(columns: BranchStart['watermarkColumns'], newest: string, bound: Date, op: '>' | '>='): BoundCondition {
  return columns.length === 1
    ? [`${columns[0]!.ref} ${op} cast(cast(? as timestamptz) as ${sqlType(columns[0]!.type)})`, [bound.toISOString()]]
    : [`${newest} ${op} cast(? as timestamptz)`, [bound.toISOString()]];
}

/**
 * A condition with its values for `where`/`andWhere`, which keeps them bound. (`raw(sql, params)` is
 * not used for conditions with values: MikroORM inlines its parameters into the SQL text, where a `?`
 * inside a value would be read as a placeholder by the next formatting pass.)
 */
export type BoundCondition = [sql: string, params: unknown[]];

/** A column type from the metadata, checked before it goes into a `cast(… as <type>)`. */
export function sqlType(type: string): string {
  if (!SQL_TYPE.test(type)) throw new ConfigurationError(`column type ${JSON.stringify(type)} is not a plain SQL type name; Etlify casts to it and will not put it in SQL`);
  return type;
}
const SQL_TYPE = /^[a-z_][a-z0-9_]*(?: [a-z_][a-z0-9_]*)*(?:\(\d+(?:,\s*\d+)?\))?(?: with(?:out)? time zone)?(?:\[\])?$/i;

interface BranchStart {
  qb: Qb;
  /** The owner's key as found in the branch (`o.id`, or the child's foreign key) and its sync join. */
  key: { ref: string; syncJoin: JoinOn };
  /** Timestamps from the first to-many hop on (pivot rows included). */
  timestamps: string[];
  /** The timestamp columns the watermark can pre-filter, with their SQL types. */
  watermarkColumns: { ref: string; type: string }[];
}

/**
 * The FROM and JOINs of one to-many branch. A path whose first hop is to-many starts at the child (or
 * the pivot row), whose foreign key is the owner's key; otherwise at the owner, through its to-one hops.
 * Returns undefined when nothing past the to-many side has a timestamp (its changes cannot be seen).
 */
export function startBranch(em: EntityManager, unit: StaleUnit, props: EntityProperty[], first: number, nextAlias: () => string, typedKey = true): BranchStart | undefined {
  const q = (identifier: string) => quote(em, identifier);
  const timestamps: string[] = [];
  const watermarkColumns: { ref: string; type: string }[] = [];
  const collect = (meta: EntityMetadata, alias: string) => {
    const column = timestampColumn(meta);
    if (!column) return;
    timestamps.push(q(`${alias}.${column.field}`));
    watermarkColumns.push({ ref: q(`${alias}.${column.field}`), type: column.type });
  };
  const pk = unit.meta.properties[unit.meta.primaryKeys[0]!]!;
  let qb: Qb;
  let from: string;
  let key: BranchStart['key'];
  let rest: EntityProperty[];
  const head = props[first]!;
  if (first === 0 && head.kind !== ReferenceKind.MANY_TO_MANY) {
    // one-to-many or inverse one-to-one: the child's foreign key to the owner
    const alias = nextAlias();
    const owning = head.targetMeta!.properties[head.mappedBy]!;
    qb = qbFactory(em).createQueryBuilder(head.targetMeta!.class, alias);
    collect(head.targetMeta!, alias);
    key = childKey(em, pk, `${alias}.${owning.fieldNames[0]}`);
    from = alias;
    rest = props.slice(1);
  } else if (first === 0) {
    // many-to-many: the pivot row's column towards the owner, then the target
    const alias = nextAlias();
    const pivotAlias = `${alias}p`;
    const owning = head.owner ? head : head.targetMeta!.properties[head.mappedBy]!;
    const pivot = em.getMetadata().find(owning.pivotEntity)!;
    const nearColumn = (head.owner ? owning.joinColumns : owning.inverseJoinColumns)[0]!;
    const far = Object.values(pivot.properties).find(p => p.kind === ReferenceKind.MANY_TO_ONE && p.fieldNames[0] !== nearColumn)!;
    qb = qbFactory(em).createQueryBuilder(pivot.class, pivotAlias).join(`${pivotAlias}.${far.name}`, alias);
    collect(pivot, pivotAlias);
    collect(head.targetMeta!, alias);
    key = childKey(em, pk, `${pivotAlias}.${nearColumn}`);
    from = alias;
    rest = props.slice(1);
  } else {
    qb = qbFactory(em).createQueryBuilder(unit.meta.root.class, 'o');
    key = { ref: q(`o.${pk.fieldNames[0]}`), syncJoin: keyJoin(em, pk, `o.${pk.fieldNames[0]}`, typedKey) };
    from = 'o';
    rest = props;
  }
  let reachedMany = first === 0;
  for (const prop of rest) {
    reachedMany ||= isToMany(prop);
    const alias = nextAlias();
    // to-one hops after the first to-many may be empty; before it they are the way there
    if (reachedMany && !isToMany(prop)) qb.leftJoin(`${from}.${prop.name}`, alias);
    else qb.join(`${from}.${prop.name}`, alias);
    if (reachedMany) collect(prop.targetMeta!, alias);
    from = alias;
  }
  return timestamps.length ? { qb, key, timestamps, watermarkColumns } : undefined;
}

/**
 * Owner ⟕ sync on the owner's key. A full scan compares in the key's own type (integer, uuid), the
 * sync row's text cast to it — one cast per sync row, and a cheaper hash than text. Otherwise (other
 * key types, or few owner rows that each look their sync row up through the unique index) as text.
 */
function keyJoin(em: EntityManager, pk: EntityProperty, column: string, typed: boolean): JoinOn {
  const type = pk.columnTypes?.[0] ?? '';
  // raw: a cast on the join's left-hand side
  if (typed && TYPED_KEY.test(type)) return joinOn(em, `cast(${quote(em, 's.resource_id')} as ${sqlType(type)})`, quote(em, column));
  return joinOn(em, quote(em, 's.resource_id'), `cast(${quote(em, column)} as text)`);
}

/**
 * Child ⟕ sync on the child's foreign key, cast to text: after the watermark there are few children,
 * and the text key lets each find its sync row through the unique index.
 */
function childKey(em: EntityManager, pk: EntityProperty, column: string): BranchStart['key'] {
  return { ref: quote(em, column), syncJoin: joinOn(em, quote(em, 's.resource_id'), `cast(${quote(em, column)} as text)`) };
}

/** GREATEST ignores nulls, so a missing child or a null timestamp never hides the others. */
function newestOf(timestamps: string[]): string {
  return timestamps.length === 1 ? timestamps[0]! : `greatest(${timestamps.join(', ')})`;
}

export function isToMany(prop: EntityProperty): boolean {
  return prop.kind === ReferenceKind.ONE_TO_MANY || prop.kind === ReferenceKind.MANY_TO_MANY || (prop.kind === ReferenceKind.ONE_TO_ONE && !prop.owner);
}

/** `updatedAt` if the entity has it, else `createdAt`, else nothing (its changes cannot be seen). */
function timestampField(meta: EntityMetadata, explicit?: string): string | undefined {
  const name = explicit ?? ['updatedAt', 'createdAt'].find(n => meta.properties[n]?.kind === ReferenceKind.SCALAR);
  return name ? meta.properties[name]!.fieldNames[0] : undefined;
}

/** The timestamp column (see `timestampField`) with its SQL type. */
export function timestampColumn(meta: EntityMetadata, explicit?: string): { field: string; type: string } | undefined {
  const field = timestampField(meta, explicit);
  if (!field) return undefined;
  const prop = Object.values(meta.properties).find(p => p.fieldNames?.[0] === field)!;
  return { field, type: prop.columnTypes?.[0] ?? 'timestamptz' };
}

function timestampOf(em: EntityManager, meta: EntityMetadata, alias: string): string[] {
  const field = timestampField(meta);
  return field ? [quote(em, `${alias}.${field}`)] : [];
}

export function tableName(em: EntityManager, meta: EntityMetadata): string {
  const configured = em.config.get('schema');
  const schema = meta.schema && meta.schema !== '*' ? meta.schema : configured;
  return quote(em, schema ? `${schema}.${meta.tableName}` : meta.tableName);
}

export function qbFactory(em: EntityManager): SqlEntityManager {
  return em as unknown as SqlEntityManager;
}

function toSql(qb: Qb): Sql {
  return { sql: qb.getQuery(), params: [...qb.getParams()] };
}

/** Quotes `identifier` (a dot separates schema/alias from name) the platform's way. */
export function quote(em: EntityManager, identifier: string): string {
  return em.getPlatform().quoteIdentifier(identifier);
}
