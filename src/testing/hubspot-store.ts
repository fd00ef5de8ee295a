/**
 * The HubSpot simulator's object store: objects per type, archived objects kept apart (readable with
 * `archived=true`, as HubSpot keeps them 90 days), and indexes by property value and by token, so
 * lookups, unique checks and searches cost the same against 100,000 objects as against ten.
 */

export interface StoredObject {
  id: string;
  properties: Record<string, string>;
  createdAt: number;
  updatedAt: number;
  archivedAt?: number;
}

/** How HubSpot compares values in unique checks and `EQ` filters: trimmed, case-insensitive. */
export function comparable(value: string | null | undefined): string {
  return (value ?? '').trim().toLowerCase();
}

/** The tokens `CONTAINS_TOKEN` matches: words split on whitespace, `;` and `,`. */
export function tokensOf(value: string | null | undefined): string[] {
  return comparable(value).split(/[\s;,]+/).filter((token) => token !== '');
}

type Index = Map<string, Set<StoredObject>>;

function add(index: Index, key: string, object: StoredObject): void {
  let set = index.get(key);
  if (!set) index.set(key, (set = new Set()));
  set.add(object);
}

function drop(index: Index, key: string, object: StoredObject): void {
  const set = index.get(key);
  set?.delete(object);
  if (set?.size === 0) index.delete(key);
}

class ObjectTable {
  readonly live = new Map<string, StoredObject>();
  readonly archived = new Map<string, StoredObject>();
  /** Ids merged into another object → that object's id (HubSpot keeps answering for them). */
  readonly mergedInto = new Map<string, string>();
  /** property → comparable value → objects; built on first use, then kept current on every write. */
  readonly #values = new Map<string, Index>();
  /** property → token → objects. */
  readonly #tokens = new Map<string, Index>();

  #keysOf(object: StoredObject, property: string, tokens: boolean): string[] {
    const value = object.properties[property];
    if (tokens) return tokensOf(value);
    const key = comparable(value);
    return key === '' ? [] : [key];
  }

  #index(property: string, tokens: boolean): Index {
    const indexes = tokens ? this.#tokens : this.#values;
    let index = indexes.get(property);
    if (!index) {
      indexes.set(property, (index = new Map()));
      for (const object of this.live.values()) for (const key of this.#keysOf(object, property, tokens)) add(index, key, object);
    }
    return index;
  }

  /** Removes (before a write) or adds (after it) `object` in every index built so far. */
  reindex(object: StoredObject, present: boolean): void {
    for (const [indexes, tokens] of [[this.#values, false], [this.#tokens, true]] as const) {
      for (const [property, index] of indexes) {
        for (const key of this.#keysOf(object, property, tokens)) (present ? add : drop)(index, key, object);
      }
    }
  }

  /** Live objects whose property equals `value` (HubSpot's comparison), oldest first. */
  withValue(property: string, value: string): StoredObject[] {
    return [...(this.#index(property, false).get(comparable(value)) ?? [])].sort(byId);
  }

  withToken(property: string, token: string): StoredObject[] {
    return [...(this.#index(property, true).get(comparable(token)) ?? [])];
  }
}

export function byId(a: StoredObject, b: StoredObject): number {
  return Number(a.id) - Number(b.id);
}

export class ObjectStore {
  readonly #tables = new Map<string, ObjectTable>();
  #nextId = 1001;

  table(type: string): ObjectTable {
    let table = this.#tables.get(type);
    if (!table) this.#tables.set(type, (table = new ObjectTable()));
    return table;
  }

  /** A live object by id, or the object an id was merged into. */
  get(type: string, id: string): StoredObject | undefined {
    const table = this.table(type);
    return table.live.get(id) ?? table.live.get(table.mergedInto.get(id) ?? '');
  }

  /** A live object by id, or by a property's value when `property` is not `hs_object_id`. */
  find(type: string, property: string, value: string): StoredObject | undefined {
    if (property === 'hs_object_id') return this.get(type, value.trim());
    return this.table(type).withValue(property, value)[0];
  }

  create(type: string, properties: Record<string, string>): StoredObject {
    const now = Date.now();
    const object: StoredObject = { id: String(this.#nextId++), properties, createdAt: now, updatedAt: now };
    const table = this.table(type);
    table.live.set(object.id, object);
    table.reindex(object, true);
    return object;
  }

  update(type: string, object: StoredObject, properties: Record<string, string>): StoredObject {
    const table = this.table(type);
    table.reindex(object, false);
    Object.assign(object.properties, properties);
    object.updatedAt = Date.now();
    table.reindex(object, true);
    return object;
  }

  archive(type: string, id: string): StoredObject | undefined {
    const table = this.table(type);
    const object = table.live.get(id);
    if (!object) return undefined;
    table.reindex(object, false);
    table.live.delete(id);
    object.archivedAt = Date.now();
    table.archived.set(id, object);
    return object;
  }

  /**
   * HubSpot's merge of contacts and companies: a new object with a new id takes the primary's values
   * over the other's, lists both ids (and those merged into them before) in `hs_merged_object_ids`;
   * both are archived and their ids answer with the new object from then on.
   */
  merge(type: string, primary: StoredObject, other: StoredObject): StoredObject {
    const merged = [other, primary].flatMap((object) => [object.id, ...(object.properties.hs_merged_object_ids ?? '').split(';').filter(Boolean)]);
    const object = this.create(type, { ...other.properties, ...primary.properties, hs_merged_object_ids: merged.join(';') });
    const table = this.table(type);
    for (const old of [primary, other]) this.archive(type, old.id);
    for (const id of merged) table.mergedInto.set(id, object.id);
    return object;
  }

  /** Brings an archived object back (HubSpot's restore from the recycle bin, within 90 days). */
  restore(type: string, id: string): StoredObject | undefined {
    const table = this.table(type);
    const object = table.archived.get(id);
    if (!object) return undefined;
    table.archived.delete(id);
    delete object.archivedAt;
    table.live.set(id, object);
    table.reindex(object, true);
    return object;
  }

  clear(): void {
    this.#tables.clear();
  }
}
