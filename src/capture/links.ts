import { helper, ReferenceKind, type Collection, type EntityManager, type Transaction } from '@mikro-orm/core';
import { forkOnTransaction } from './removals.ts';

/** Links a many-to-many collection gained or lost between `owner` and `items`. */
export interface LinkChange {
  owner: object;
  property: string;
  inverse?: string;
  items: object[];
}

/**
 * Whether a many-to-many collection's previous links are unknown: `set()` or `removeAll()` on a
 * collection never loaded. The flush wipes them all, so they are looked up before it does.
 */
export function replacesUnknownLinks(collection: Collection<object, object>): boolean {
  return collection.property.kind === ReferenceKind.MANY_TO_MANY && collection.getSnapshot() === undefined;
}

/**
 * The links a many-to-many collection gained or lost since it was loaded (or last flushed). A
 * collection never loaded holds only the items added to it, and they are all new links.
 */
export function changedLinks(collection: Collection<object, object>): LinkChange[] {
  if (collection.property.kind !== ReferenceKind.MANY_TO_MANY) return [];
  const before = collection.getSnapshot() ?? [];
  const after = collection.getItems(false);
  return linkChange(collection, [...after.filter(item => !before.includes(item)), ...before.filter(item => !after.includes(item))]);
}

/**
 * For collections whose previous links are unknown: reads them on the flush's transaction before its
 * statements run, and compares them with the collection's items (by primary key: they were loaded
 * apart).
 */
export async function replacedLinks(em: EntityManager, transaction: Transaction, collections: Collection<object, object>[]): Promise<LinkChange[]> {
  const fork = forkOnTransaction(em, transaction);
  const changes: LinkChange[] = [];
  for (const group of Map.groupBy(collections, c => `${helper(c.owner).__meta.className}.${c.property.name}`).values()) {
    const meta = helper(group[0]!.owner).__meta;
    const pk = meta.primaryKeys[0]!;
    const property = group[0]!.property.name;
    const owners = await fork.find(meta.class, { [pk]: { $in: group.map(c => helper(c.owner).getPrimaryKey()) } } as never, { populate: [property] as never[], filters: false });
    const previousOf = new Map(owners.map(owner => [keyOf(owner), ((owner as Record<string, unknown>)[property] as Collection<object>).getItems(false)]));
    for (const collection of group) {
      const previous = previousOf.get(keyOf(collection.owner)) ?? [];
      const current = collection.getItems(false);
      const previousKeys = new Set(previous.map(keyOf));
      const currentKeys = new Set(current.map(keyOf));
      changes.push(...linkChange(collection, [...current.filter(item => !previousKeys.has(keyOf(item))), ...previous.filter(item => !currentKeys.has(keyOf(item)))]));
    }
  }
  return changes;
}

function linkChange(collection: Collection<object, object>, items: object[]): LinkChange[] {
  if (!items.length) return [];
  const property = collection.property;
  return [{ owner: collection.owner, property: property.name, inverse: property.owner ? property.inversedBy : property.mappedBy, items }];
}

/** An entity's primary key as a string, or the entity itself while it is new (it has no key yet). */
function keyOf(entity: object): unknown {
  const pk = helper(entity).getSerializedPrimaryKey();
  return pk == null ? entity : String(pk);
}
