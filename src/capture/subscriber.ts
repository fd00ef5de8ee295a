import { ChangeSetType, helper, ReferenceKind, type ChangeSet, type Collection, type EntityManager, type EventSubscriber, type FlushEventArgs, type TransactionEventArgs } from '@mikro-orm/core';
import { declarationsOf } from '../entity/declarations.ts';
import { refuseUntransactedFlushes } from './transactions.ts';
import { dependentsIndex } from '../entity/dependency-index.ts';
import type { Etlify } from '../etlify.ts';
import { enqueueRequests, RequestBatch, type RemovedRecord } from '../queue/requests.ts';

/** What a flush changed that Etlify cares about. */
interface Captured {
  changeSets: ChangeSet<any>[];
  /** Many-to-many collections whose links changed, with the items added or removed. */
  links: { owner: object; property: string; inverse?: string; items: object[] }[];
}

/**
 * Change capture. `onFlush` only remembers the change sets and many-to-many link changes (it runs
 * before the flush's transaction opens); `beforeTransactionCommit` turns them into sync requests with
 * one statement on the flush's own transaction, so a rollback or a failed flush leaves nothing behind
 * and a commit cannot lose them.
 */
export class CaptureSubscriber implements EventSubscriber {
  readonly #etlify: Etlify;
  readonly #pending = new WeakMap<EntityManager, Captured>();

  constructor(etlify: Etlify) {
    this.#etlify = etlify;
  }

  onFlush({ em, uow }: FlushEventArgs): void {
    const index = dependentsIndex(em.getMetadata());
    const relevant = uow.getChangeSets().filter(cs => declarationsOf(cs.meta.class).size > 0 || index.has(cs.meta.root.className));
    const links = uow.getCollectionUpdates().flatMap(collection => changedLinks(collection));
    if (!relevant.length && !links.length) return;
    // the configuration was checked at init; a flush outside any transaction must not pass silently either
    if (!em.isInTransaction()) refuseUntransactedFlushes(em.config);
    const captured = this.#pending.get(em);
    if (captured) {
      captured.changeSets.push(...relevant);
      captured.links.push(...links);
    } else {
      this.#pending.set(em, { changeSets: relevant, links });
    }
  }

  async beforeTransactionCommit({ em, transaction }: TransactionEventArgs): Promise<void> {
    const captured = this.#pending.get(em);
    if (!captured) return;
    this.#pending.delete(em);
    const work = this.#toWork(em, captured);
    if (!work.requests.isEmpty || work.removed.length) {
      await enqueueRequests(em, { ...work, crms: this.#etlify.crms.all() }, transaction);
    }
  }

  afterTransactionRollback({ em }: TransactionEventArgs): void {
    this.#pending.delete(em);
  }

  #toWork(em: EntityManager, { changeSets, links }: Captured) {
    const crms = this.#etlify.crms;
    const enabled = (crm: string) => crms.has(crm) && crms.get(crm).enabled;
    const index = dependentsIndex(em.getMetadata());
    // both sides of a link change report it, a child and its owner may both name a record: the batch keeps one request each
    const requests = new RequestBatch();
    const removed: RemovedRecord[] = [];
    for (const cs of changeSets) {
      const meta = cs.meta;
      const id = primaryKeyOf(cs);
      if (id === undefined) continue;
      const isDelete = cs.type === ChangeSetType.DELETE;
      if (declarationsOf(meta.class).size) {
        if (isDelete) removed.push({ type: meta.root.className, entity: meta.className, id });
        for (const crm of declarationsOf(meta.class).keys()) {
          if (!enabled(crm)) continue;
          // a removal is queued like a sync, so it runs after any sync of the record in flight
          const kind = !isDelete ? 'sync' : crms.get(crm).deleteOnRemove ? 'delete' : 'forget';
          requests.add(kind, crm, meta.className, id);
        }
      }
      for (const dependent of index.get(meta.root.className) ?? []) {
        if (!enabled(dependent.crm)) continue;
        if (dependent.backReference) {
          // the child names its dependent (before and after the change, if it moved), even once deleted
          for (const owner of new Set([referencedId(cs.entity, dependent.backReference), referencedId(cs.originalEntity, dependent.backReference)])) {
            if (owner !== undefined) requests.add('sync', dependent.crm, dependent.entity, owner);
          }
        } else if (cs.type === ChangeSetType.UPDATE) {
          // a new or removed target is seen through the dependents' own foreign keys, which changed too
          requests.add('dependents', dependent.crm, meta.className, id);
        }
      }
    }
    for (const link of links) addLinkRequests(requests, index, link, enabled);
    return { requests, removed };
  }
}

/** The links a many-to-many collection gained or lost since it was loaded (or last flushed). */
function changedLinks(collection: Collection<object, object>): Captured['links'] {
  const property = collection.property;
  if (property.kind !== ReferenceKind.MANY_TO_MANY) return [];
  const before = collection.getSnapshot() ?? [];
  const after = collection.isInitialized() ? collection.getItems(false) : [];
  const items = [...after.filter(item => !before.includes(item)), ...before.filter(item => !after.includes(item))];
  if (!items.length) return [];
  return [{ owner: collection.owner, property: property.name, inverse: property.owner ? property.inversedBy : property.mappedBy, items }];
}

/**
 * A link changed between `owner` and `items`: each side whose declaration depends on the relation is
 * synced, and, where a longer dependency path runs through the relation, the side it continues from
 * fans out to its dependents.
 */
function addLinkRequests(requests: RequestBatch, index: ReturnType<typeof dependentsIndex>, link: Captured['links'][number], enabled: (crm: string) => boolean): void {
  const sides = [
    { records: [link.owner], via: link.property, across: link.items },
    { records: link.items, via: link.inverse, across: [link.owner] },
  ];
  for (const { records, via, across } of sides) {
    if (!via) continue;
    const acrossRoot = helper(across[0]!).__meta.root.className;
    for (const record of records) {
      const meta = helper(record).__meta;
      const id = String(helper(record).getSerializedPrimaryKey());
      for (const [crm, config] of declarationsOf(meta.class)) {
        if (enabled(crm) && config.dependencies?.some(path => path.split('.')[0] === via)) requests.add('sync', crm, meta.className, id);
      }
      for (const dependent of index.get(acrossRoot) ?? []) {
        if (enabled(dependent.crm) && dependent.path.endsWith(`.${via}`)) requests.add('dependents', dependent.crm, meta.className, id);
      }
    }
  }
}

/** The primary key held by a to-one property of an entity or of its original data, as a string. */
function referencedId(data: object | undefined, property: string): string | undefined {
  const value = (data as Record<string, unknown> | undefined)?.[property];
  if (value == null) return undefined;
  if (typeof value !== 'object') return String(value);
  const pk = helper(value).getSerializedPrimaryKey();
  return pk == null ? undefined : String(pk);
}

function primaryKeyOf(cs: ChangeSet<any>): string | undefined {
  const pk = helper(cs.entity).getSerializedPrimaryKey() ?? cs.getPrimaryKey();
  return pk == null ? undefined : String(pk);
}
