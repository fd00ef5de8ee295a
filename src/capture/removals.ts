import { LockMode, ReferenceKind, type EntityManager, type EntityMetadata, type MetadataStorage, type Transaction } from '@mikro-orm/core';
import { declarationsOf } from '../entity/declarations.ts';
import { dependentsIndex, dependentsWhere } from '../entity/dependency-index.ts';

/**
 * What removing records does to records that have no change set of their own, found before the
 * removal runs: the database nulls their foreign key (`on delete set null`), deletes their pivot rows,
 * or deletes them (`on delete cascade`), and by the time a worker runs, the keys that named them are
 * gone.
 */
export interface RemovalEffects {
  /** Records whose payload changes: a dependency of theirs goes. */
  changed: { crm: string; entity: string; id: string }[];
  /** Etlified records the database deletes with them (`on delete cascade`). */
  removed: { meta: EntityMetadata; id: string }[];
}

/** Records of one entity removed by the flush. */
export interface RemovedSet {
  meta: EntityMetadata;
  ids: string[];
}

/** "Records of `entity` are deleted by the database with the record their `property` names." */
interface CascadingChild {
  meta: EntityMetadata;
  property: string;
}

const cascades = new WeakMap<MetadataStorage, Map<string, CascadingChild[]>>();

/** By root entity name: the owning relations pointing at it whose foreign key deletes on cascade. */
function cascadeIndex(metadata: MetadataStorage): Map<string, CascadingChild[]> {
  let index = cascades.get(metadata);
  if (index) return index;
  index = new Map();
  for (const meta of metadata.getAll().values()) {
    // pivot rows matter through the many-to-many dependents that name them, not on their own
    if (!meta.class || meta.embeddable || meta.pivotTable) continue;
    for (const prop of meta.relations) {
      const owning = prop.kind === ReferenceKind.MANY_TO_ONE || (prop.kind === ReferenceKind.ONE_TO_ONE && prop.owner);
      if (!owning || prop.deleteRule !== 'cascade' || !prop.targetMeta) continue;
      // an STI subclass repeats its root's relations: the root's query covers them
      if (meta.root !== meta && meta.root.properties[prop.name]) continue;
      const key = prop.targetMeta.root.className;
      index.set(key, [...(index.get(key) ?? []), { meta, property: prop.name }]);
    }
  }
  cascades.set(metadata, index);
  return index;
}

/** An EntityManager reading on `transaction` (the flush's), seeing what it sees and locking what it locks. */
export function forkOnTransaction(em: EntityManager, transaction: Transaction): EntityManager {
  const fork = em.fork({ clear: true, useContext: false });
  fork.setTransactionContext(transaction);
  return fork;
}

/** Whether removing records of this root entity can change or remove records Etlify syncs. */
export function removalMatters(metadata: MetadataStorage, root: string): boolean {
  return dependentsIndex(metadata).has(root) || cascadeIndex(metadata).has(root);
}

/**
 * Runs on the flush's transaction before any of its statements: locks the removed records (no other
 * transaction can point a record at them until this one ends), then finds, level by level, the
 * records the database will delete on cascade and the dependents whose payload the removals change.
 * A dependent named by the removed child itself (a one-to-many back reference) is already known from
 * its change set and is not looked up again.
 */
export async function findRemovalEffects(em: EntityManager, transaction: Transaction, removedByFlush: RemovedSet[], enabled: (crm: string) => boolean): Promise<RemovalEffects> {
  const metadata = em.getMetadata();
  const fork = forkOnTransaction(em, transaction);
  const find = async (meta: EntityMetadata, where: object, lock = false) => {
    const pk = meta.primaryKeys[0]!;
    const rows = await fork.find(meta.class, where as never, {
      fields: [pk] as never[], filters: false, disableIdentityMap: true, ...(lock ? { lockMode: LockMode.PESSIMISTIC_WRITE } : {}),
    });
    return rows.map(row => String((row as Record<string, unknown>)[pk]));
  };
  for (const set of removedByFlush) await find(set.meta, { [set.meta.primaryKeys[0]!]: { $in: set.ids } }, true);

  const gone = new Set(removedByFlush.flatMap(set => set.ids.map(id => `${set.meta.root.className}:${id}`)));
  const effects: RemovalEffects = { changed: [], removed: [] };
  const fromFlush = new Set(removedByFlush);
  for (let level = removedByFlush; level.length;) {
    const next: RemovedSet[] = [];
    for (const set of level) {
      const root = set.meta.root.className;
      for (const dependent of dependentsIndex(metadata).get(root) ?? []) {
        if (!enabled(dependent.crm) || (fromFlush.has(set) && dependent.backReference)) continue;
        for (const id of await find(metadata.getByClassName(dependent.entity), dependentsWhere(dependent, set.ids))) {
          effects.changed.push({ crm: dependent.crm, entity: dependent.entity, id });
        }
      }
      for (const child of cascadeIndex(metadata).get(root) ?? []) {
        const ids = (await find(child.meta, { [child.property]: { $in: set.ids } }))
          .filter(id => !gone.has(`${child.meta.root.className}:${id}`));
        if (!ids.length) continue;
        for (const id of ids) gone.add(`${child.meta.root.className}:${id}`);
        if (declarationsOf(child.meta.class).size) effects.removed.push(...ids.map(id => ({ meta: child.meta, id })));
        next.push({ meta: child.meta, ids });
      }
    }
    level = next;
  }
  // a record that goes needs its removal, not a sync
  effects.changed = effects.changed.filter(c => !gone.has(`${metadata.getByClassName(c.entity).root.className}:${c.id}`));
  return effects;
}
