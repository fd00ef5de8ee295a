import { raw, type EntityManager, type EntityMetadata, type EntityProperty } from '@mikro-orm/core';
import { resolveRelationPath } from '../entity/declarations.ts';
import { PendingSync } from '../state/entities.ts';
import { isToMany, newerThan, sqlType, qbFactory, quote, syncRows, timestampColumn, TYPED_KEY, type ChangedKeys, type Qb } from './finder.ts';
import type { StaleUnit } from './units.ts';

/** A column the incremental sweep looks rows up by: without an index on it, a lookup is a table scan. */
export interface NeededIndex {
  table: string;
  column: string;
  /** Why the sweep reads it. */
  reason: string;
}

/**
 * The keys of the unit's records that may have become stale since `since`: the records whose own
 * timestamp, or the timestamp of a row on one of their to-one dependency paths, is at or after it;
 * whose sync row changed (a failure, a reset); or whose dependency buffer expired (to-many branches
 * look for their own changed rows). For `staleQuery`'s `changed`. Undefined when the owner has no
 * timestamp (a new record could not be seen): the sweep then scans everything.
 *
 * Not seen (the periodic full scan catches them): deleted sync rows, and timestamps written older than
 * the change (a raw `update … set updated_at = '2001-01-01'`).
 */
export function changedKeys(em: EntityManager, unit: StaleUnit, since: Date): ChangedKeys | undefined {
  const q = (identifier: string) => quote(em, identifier);
  const root = unit.meta.root;
  const pk = unit.meta.properties[unit.meta.primaryKeys[0]!]!;
  const ownerTs = timestampColumn(unit.meta, unit.config.timestampProperty);
  if (!ownerTs) return undefined;
  const atOrAfter = (ref: string, type: string) => newerThan([{ ref, type }], ref, since, '>=');
  const id = (ref: string) => raw(`${ref} as ${q('id')}`);
  const owner = () => qbFactory(em).createQueryBuilder(root.class, 'o').select(id(q(`o.${pk.fieldNames[0]}`)));
  const parts: Qb[] = [owner().where(...atOrAfter(q(`o.${ownerTs.field}`), ownerTs.type))];

  let aliasCount = 0;
  const nextAlias = () => `c${++aliasCount}`;
  for (const path of unit.config.dependencies ?? []) {
    const props = resolveRelationPath(unit.meta, path, `${unit.entity} (CRM \`${unit.crm.name}\`): dependency`);
    // every to-one hop before the first to-many: owners reached back from a changed target
    const first = props.findIndex(isToMany);
    for (let end = 0; end < (first < 0 ? props.length : first); end++) {
      const target = timestampColumn(props[end]!.targetMeta!);
      if (!target) continue;
      const qb = owner();
      let from = 'o';
      for (const prop of props.slice(0, end + 1)) {
        const alias = nextAlias();
        qb.join(`${from}.${prop.name}`, alias);
        from = alias;
      }
      parts.push(qb.where(...atOrAfter(q(`${from}.${target.field}`), target.type)));
    }
  }
  const type = pk.columnTypes?.[0] ?? '';
  const key = (column: string) => TYPED_KEY.test(type) ? `cast(${q(column)} as ${sqlType(type)})` : q(column);
  const syncStates = () => [
    syncRows(em, unit).select(id(key('s.resource_id'))).andWhere({ updatedAt: { $gte: since } }),
    qbFactory(em).createQueryBuilder(PendingSync, 'p').select(id(key('p.dependent_id')))
      .where({ dependentType: root.className, crmName: unit.crm.name, expiresAt: { $gte: since } })
      .andWhere(raw(`${q('p.expires_at')} <= now()`)),
  ];
  const [sync, pending] = syncStates();
  return { since, records: parts[0]!.unionAll(...parts.slice(1), ...syncStates()), syncStates: sync!.unionAll(pending!) };
}

/**
 * The indexes `changedKeys` and the restricted finder need to cost what changed: every timestamp it
 * compares with the watermark, and every foreign key it follows from a changed row to its owner.
 * (`crm_synchronisations` and `etlify_pending_syncs` get theirs from Etlify's migrations.)
 */
export function neededIndexes(em: EntityManager, unit: StaleUnit): NeededIndex[] {
  const needed: NeededIndex[] = [];
  const add = (meta: EntityMetadata, column: string | undefined, reason: string) => {
    if (column && !meta.primaryKeys.some(k => meta.properties[k]!.fieldNames[0] === column)) needed.push({ table: tableOf(em, meta), column, reason });
  };
  const ownerTs = timestampColumn(unit.meta, unit.config.timestampProperty);
  add(unit.meta.root, ownerTs?.field, `${unit.entity} changed since the last sweep`);
  for (const path of unit.config.dependencies ?? []) {
    const props = resolveRelationPath(unit.meta, path, `${unit.entity} (CRM \`${unit.crm.name}\`): dependency`);
    let owner: EntityMetadata = unit.meta.root;
    for (const prop of props) {
      const target = prop.targetMeta!;
      add(target, timestampColumn(target)?.field, `dependency \`${path}\` changed since the last sweep`);
      for (const [meta, column] of foreignKeys(em, owner, prop)) add(meta, column, `dependency \`${path}\`: from a changed row to its owner`);
      owner = target;
    }
  }
  const unique = new Map(needed.map(n => [`${n.table}.${n.column}`, n]));
  return [...unique.values()];
}

/** The referencing side of one hop: the column holding the key of the other side. */
function foreignKeys(em: EntityManager, owner: EntityMetadata, prop: EntityProperty): [EntityMetadata, string][] {
  if (!isToMany(prop)) return [[owner, prop.fieldNames[0]!]];
  if (prop.pivotEntity || prop.mappedBy && prop.targetMeta!.properties[prop.mappedBy]?.pivotEntity) {
    const owning = prop.owner ? prop : prop.targetMeta!.properties[prop.mappedBy]!;
    const pivot = em.getMetadata().find(owning.pivotEntity)!;
    return [[pivot, (prop.owner ? owning.joinColumns : owning.inverseJoinColumns)[0]!]];
  }
  return [[prop.targetMeta!, prop.targetMeta!.properties[prop.mappedBy]!.fieldNames[0]!]];
}

function tableOf(em: EntityManager, meta: EntityMetadata): string {
  const schema = meta.schema && meta.schema !== '*' ? meta.schema : em.config.get('schema');
  return schema ? `${schema}.${meta.tableName}` : meta.tableName;
}
